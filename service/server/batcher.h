// Dynamic batching across requests, as Triton's dynamic batcher does: segments
// that concurrent requests submit are gathered into one Model::Forward call of
// at most max_batch_size segments, waiting at most max_queue_delay_us after the
// oldest pending submission for the batch to fill. Only submissions for the
// same model and the same segment shape share a batch (a reload or a segment
// length override makes a new shape).
//
// Forward() blocks its caller (a worker thread) until the logits are ready;
// `instances` threads run forward passes (like Triton's instance count; on a
// small machine one is fastest, with libtorch using one intra-op thread).
// Results equal Model::Forward on the same segments alone, up to floating-point
// differences of batched kernels (within 1e-4 in logit for spoofd's models).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "models/model.h"
#include "service/server/metrics.h"

namespace spoofd::service {

struct BatcherOptions {
  int max_batch_size = 32;                 // segments per forward pass, >= 1
  std::int64_t max_queue_delay_us = 2000;  // >= 0
  int instances = 1;                       // forward threads, >= 1
};

// Per-call accounting, filled by Forward().
struct ForwardStats {
  std::int64_t queue_us = 0;    // waiting for a batch to form / a forward thread
  std::int64_t forward_us = 0;  // the forward passes that carried this call's segments
};

class DynamicBatcher {
 public:
  // `metrics` (may be null) receives batch sizes, forward times and the queue gauge.
  DynamicBatcher(const BatcherOptions& options, Metrics* metrics);
  // Fails what is still queued with kUnavailable and joins the threads.
  ~DynamicBatcher();
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Same contract as Model::Forward; `features` must stay valid until it returns.
  // A call with more than max_batch_size segments runs as its own batch.
  absl::StatusOr<std::vector<float>> Forward(const std::shared_ptr<const models::Model>& model,
                                             const float* features, std::int64_t batch,
                                             std::int64_t frames, std::int64_t dims,
                                             ForwardStats* stats = nullptr);

  // Segments waiting for a forward pass.
  std::int64_t queued_segments() const;
  const BatcherOptions& options() const { return options_; }

 private:
  struct Job;
  void Run();
  void Execute(std::vector<Job*>& jobs);

  const BatcherOptions options_;
  Metrics* const metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::int64_t queued_segments_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace spoofd::service
