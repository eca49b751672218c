// A fixed set of threads running tasks from a bounded FIFO queue. Request
// handlers validate cheaply and hand decode -> features -> scoring here, so
// gRPC's own threads never block on audio work.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace spoofd::service {

class WorkerPool {
 public:
  // threads >= 1; at most max_queued tasks wait for a thread (TrySubmit),
  // beyond those an idle thread takes at once.
  WorkerPool(int threads, int max_queued);
  // Runs what is still queued, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a task; false (and the task is dropped) when every thread is busy
  // and max_queued tasks are already waiting: the caller answers
  // RESOURCE_EXHAUSTED instead of letting memory grow.
  bool TrySubmit(std::function<void()> task);
  // Queues a task whatever the queue length. For work that is already bounded
  // elsewhere: each live stream has at most one task queued or running, and
  // the number of streams is limited.
  void Submit(std::function<void()> task);

  std::size_t queued() const;
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Run();

  const std::size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::size_t idle_ = 0;  // threads waiting for a task
  std::vector<std::thread> threads_;
};

}  // namespace spoofd::service
