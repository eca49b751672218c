// The standard grpc.health.v1.Health service (Check and Watch), owned by
// spoofd rather than gRPC's default one, because the default starts out
// SERVING: here every service is NOT_SERVING until the server says otherwise
// (once the model has loaded and run its warm-up forward pass).
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"

namespace spoofd::service {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // `services`: the names Check knows besides "" (the whole server).
  explicit HealthService(const std::set<std::string>& services);
  ~HealthService() override;

  // Sets every known service (and "") to SERVING or NOT_SERVING; watchers
  // hear of the change. Ignored after Shutdown().
  void SetServing(bool serving);
  // NOT_SERVING for good; open Watch calls get that status, then end.
  void Shutdown();

  ServingStatus Status(const std::string& service) const;  // SERVICE_UNKNOWN if unknown

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class Watcher;
  void NotifyAll();

  mutable std::mutex mu_;
  std::map<std::string, ServingStatus> status_;
  bool shut_down_ = false;
  std::set<Watcher*> watchers_;
};

}  // namespace spoofd::service
