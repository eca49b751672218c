#include "service/server/batcher.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace spoofd::service {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t Micros(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

struct DynamicBatcher::Job {
  const models::Model* model = nullptr;
  const float* features = nullptr;
  std::int64_t batch = 0, frames = 0, dims = 0;
  Clock::time_point enqueued;
  // Filled by the forward thread, under the batcher's mutex.
  bool done = false;
  absl::StatusOr<std::vector<float>> result;
  ForwardStats stats;

  bool SameShape(const Job& other) const {
    return model == other.model && frames == other.frames && dims == other.dims;
  }
};

DynamicBatcher::DynamicBatcher(const BatcherOptions& options, Metrics* metrics)
    : options_{std::max(1, options.max_batch_size),
               std::max<std::int64_t>(0, options.max_queue_delay_us),
               std::max(1, options.instances)},
      metrics_(metrics) {
  for (int i = 0; i < options_.instances; ++i) threads_.emplace_back([this] { Run(); });
}

DynamicBatcher::~DynamicBatcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (Job* job : queue_) {
      job->result = absl::UnavailableError("the server is shutting down");
      job->done = true;
    }
    queue_.clear();
    queued_segments_ = 0;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::int64_t DynamicBatcher::queued_segments() const {
  std::lock_guard lock(mu_);
  return queued_segments_;
}

absl::StatusOr<std::vector<float>> DynamicBatcher::Forward(
    const std::shared_ptr<const models::Model>& model, const float* features, std::int64_t batch,
    std::int64_t frames, std::int64_t dims, ForwardStats* stats) {
  if (model == nullptr) return absl::FailedPreconditionError("no model");
  if (batch <= 0 || frames <= 0) return std::vector<float>{};
  Job job;
  job.model = model.get();
  job.features = features;
  job.batch = batch;
  job.frames = frames;
  job.dims = dims;
  job.enqueued = Clock::now();
  std::unique_lock lock(mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  queue_.push_back(&job);
  queued_segments_ += batch;
  cv_.notify_all();
  cv_.wait(lock, [&] { return job.done; });
  if (stats != nullptr) {
    stats->queue_us += job.stats.queue_us;
    stats->forward_us += job.stats.forward_us;
  }
  return std::move(job.result);
}

void DynamicBatcher::Run() {
  const auto max_delay = std::chrono::microseconds(options_.max_queue_delay_us);
  const std::int64_t max_batch = options_.max_batch_size;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    // Wait until the oldest job's shape has a full batch queued or its delay
    // has run out. New arrivals notify, so the check repeats as jobs come.
    for (;;) {
      if (stopping_ || queue_.empty()) break;
      const Job& first = *queue_.front();
      std::int64_t segments = 0;
      for (const Job* job : queue_) {
        if (job->SameShape(first)) segments += job->batch;
      }
      const auto deadline = first.enqueued + max_delay;
      if (segments >= max_batch || Clock::now() >= deadline) break;
      cv_.wait_until(lock, deadline);
    }
    if (stopping_) return;
    if (queue_.empty()) continue;  // another instance took the work
    // Take the oldest job, then later jobs of the same shape while they fit.
    std::vector<Job*> jobs{queue_.front()};
    queue_.pop_front();
    std::int64_t segments = jobs[0]->batch;
    for (auto it = queue_.begin(); it != queue_.end() && segments < max_batch;) {
      if ((*it)->SameShape(*jobs[0]) && segments + (*it)->batch <= max_batch) {
        segments += (*it)->batch;
        jobs.push_back(*it);
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    queued_segments_ -= segments;
    lock.unlock();
    Execute(jobs);
    lock.lock();
    for (Job* job : jobs) job->done = true;
    cv_.notify_all();
  }
}

// Runs one forward pass for `jobs` (same model and shape) and splits the
// logits; called without the mutex. Writes only to the jobs, which their
// callers do not read until `done` is set under the mutex.
void DynamicBatcher::Execute(std::vector<Job*>& jobs) {
  const Job& first = *jobs[0];
  const auto start = Clock::now();
  for (Job* job : jobs) job->stats.queue_us = Micros(start - job->enqueued);
  std::int64_t total = 0;
  for (const Job* job : jobs) total += job->batch;
  absl::StatusOr<std::vector<float>> logits;
  if (jobs.size() == 1) {
    logits = first.model->Forward(first.features, first.batch, first.frames, first.dims);
  } else {
    const std::int64_t segment_floats = first.frames * first.dims;
    std::vector<float> input(static_cast<size_t>(total * segment_floats));
    std::int64_t offset = 0;
    for (const Job* job : jobs) {
      std::memcpy(input.data() + offset * segment_floats, job->features,
                  sizeof(float) * static_cast<size_t>(job->batch * segment_floats));
      offset += job->batch;
    }
    logits = first.model->Forward(input.data(), total, first.frames, first.dims);
  }
  const std::int64_t forward_us = Micros(Clock::now() - start);
  if (metrics_ != nullptr) {
    metrics_->batch_size.Observe({}, static_cast<double>(total));
    metrics_->stage_seconds.Observe({"forward"}, forward_us / 1e6);
  }
  std::int64_t offset = 0;
  for (Job* job : jobs) {
    job->stats.forward_us = forward_us;
    if (!logits.ok()) {
      job->result = logits.status();
    } else if (static_cast<std::int64_t>(logits->size()) != total) {
      job->result = absl::InternalError("model returned the wrong number of logits");
    } else {
      job->result =
          std::vector<float>(logits->begin() + offset, logits->begin() + offset + job->batch);
    }
    offset += job->batch;
  }
}

}  // namespace spoofd::service
