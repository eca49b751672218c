// A small HTTP server for Prometheus: GET /metrics (text format 0.0.4) and
// GET /healthz (200 "SERVING" once ready, else 503 "NOT_SERVING"). It runs on
// its own thread (cpp-httplib) and never sees audio.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace spoofd::service {

class MetricsHttpServer {
 public:
  // `address` is HOST:PORT (port 0 picks a free port). kInvalidArgument for a
  // malformed address, kUnavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::function<std::string()> render, std::function<bool()> ready);
  ~MetricsHttpServer();  // stops the server and joins its thread

  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port" / "[v6]:port"; kInvalidArgument when malformed.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace spoofd::service
