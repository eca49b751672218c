#include "service/server/health.h"

#include <atomic>
#include <vector>

namespace spoofd::service {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch call. Reference-counted: gRPC holds one reference until OnDone,
// and HealthService takes one while it notifies, so a watcher is never
// deleted under a notification. gRPC calls (StartWrite, Finish) are made
// without holding any lock, as their reactions may run inline.
class HealthService::Watcher final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService* health, std::string service)
      : health_(health), service_(std::move(service)) {}

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Writes the current status if it differs from the last one written;
  // finishes the call once the service shut down and that was written.
  void Notify() {
    bool write = false, finish = false;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (writing_) {
        dirty_ = true;
        return;
      }
      const ServingStatus status = health_->Status(service_);
      if (!sent_any_ || status != last_sent_) {
        sent_any_ = true;
        last_sent_ = status;
        response_.set_status(status);
        writing_ = write = true;
      } else if (shutting_down_) {
        finished_ = finish = true;
      }
    }
    if (write) StartWrite(&response_);
    if (finish) Finish(grpc::Status::OK);
  }

  void BeginShutdown() {
    {
      std::lock_guard lock(mu_);
      shutting_down_ = true;
    }
    Notify();
  }

  void OnWriteDone(bool ok) override {
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok || cancelled_) {
        if (!finished_) finished_ = finish = true;
      }
      dirty_ = false;
    }
    if (finish) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Notify();  // a change that came while writing, or the end after shutdown
  }

  void OnCancel() override {
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      if (!writing_ && !finished_) finished_ = finish = true;
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      std::lock_guard lock(health_->mu_);
      health_->watchers_.erase(this);
    }
    Unref();
  }

 private:
  HealthService* const health_;
  const std::string service_;
  std::atomic<int> refs_{1};
  std::mutex mu_;
  HealthCheckResponse response_;
  ServingStatus last_sent_ = HealthCheckResponse::UNKNOWN;
  bool sent_any_ = false, writing_ = false, dirty_ = false, finished_ = false;
  bool cancelled_ = false, shutting_down_ = false;
};

HealthService::HealthService(const std::set<std::string>& services) {
  status_[""] = HealthCheckResponse::NOT_SERVING;
  for (const std::string& s : services) status_[s] = HealthCheckResponse::NOT_SERVING;
}

HealthService::~HealthService() = default;

HealthService::ServingStatus HealthService::Status(const std::string& service) const {
  std::lock_guard lock(mu_);
  const auto it = status_.find(service);
  return it == status_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void HealthService::SetServing(bool serving) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    for (auto& [_, status] : status_)
      status = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  }
  NotifyAll();
}

void HealthService::Shutdown() {
  std::vector<Watcher*> watchers;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    for (auto& [_, status] : status_) status = HealthCheckResponse::NOT_SERVING;
    for (Watcher* w : watchers_) {
      w->Ref();
      watchers.push_back(w);
    }
  }
  for (Watcher* w : watchers) {
    w->BeginShutdown();
    w->Unref();
  }
}

void HealthService::NotifyAll() {
  std::vector<Watcher*> watchers;
  {
    std::lock_guard lock(mu_);
    for (Watcher* w : watchers_) {
      w->Ref();
      watchers.push_back(w);
    }
  }
  for (Watcher* w : watchers) {
    w->Notify();
    w->Unref();
  }
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const ServingStatus status = Status(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service '" + request->service() + "'"));
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  auto* watcher = new Watcher(this, request->service());
  bool shut_down;
  {
    std::lock_guard lock(mu_);
    watchers_.insert(watcher);
    shut_down = shut_down_;
  }
  if (shut_down) {
    watcher->BeginShutdown();
  } else {
    watcher->Notify();
  }
  return watcher;
}

}  // namespace spoofd::service
