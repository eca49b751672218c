// The scoring engine behind the RPCs: the current model (swapped atomically on
// reload), the bounded worker pool and the dynamic batcher, and the pipeline
// decode -> features -> batched forward -> verdict that runs on a worker.
// No gRPC here; the RPC layer (server.cc) validates, submits and converts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "dsp/decode.h"
#include "models/model.h"
#include "models/scorer.h"
#include "service/server/batcher.h"
#include "service/server/metrics.h"
#include "service/server/worker_pool.h"

namespace spoofd::service {

// A model ready to serve: immutable, shared by the requests that started on it.
struct LoadedModel {
  std::shared_ptr<const models::Model> model;
  std::unique_ptr<models::Scorer> scorer;
  std::filesystem::path path;
};

// Where the audio comes from and how to read it.
struct AudioInput {
  std::span<const std::uint8_t> bytes;
  std::optional<decode::RawFormat> raw;  // nullopt: a container FFmpeg probes
  std::string format_hint;
};

struct ScoreOutcome {
  models::Verdict verdict;
  decode::SourceInfo source;
  std::string input_sha256;
  std::int64_t decode_us = 0;
  ForwardStats forward;
};

struct EngineOptions {
  int workers = 2;     // threads for decode / features / scoring
  int max_queue = 64;  // requests waiting for a worker before RESOURCE_EXHAUSTED
  BatcherOptions batcher;
  double max_audio_s = 7200.0;  // decoded audio per request
  int intra_op_threads = 1;     // libtorch threads per forward pass
  bool reuse_large_allocations = true;  // models::LoadOptions, process-wide
};

// Returns cancellation / deadline status of the request (OkStatus to go on).
using CheckFn = std::function<absl::Status()>;

class Engine {
 public:
  Engine(const EngineOptions& options, Metrics* metrics);
  ~Engine();

  // Loads the model (a file, or a directory: its greatest-named *.pt), runs its
  // warm-up forward pass, and installs it. Requests already running keep the
  // model they started with. On error the current model stays.
  absl::Status Load(const std::filesystem::path& path);
  // The model serving new requests; null before the first successful Load.
  std::shared_ptr<const LoadedModel> current() const;

  WorkerPool& pool() { return *pool_; }
  DynamicBatcher& batcher() { return *batcher_; }
  const EngineOptions& options() const { return options_; }

  // Model::Forward through the batcher; `check` runs first (a cancelled or
  // expired request stops before queuing more work). Adds to *stats.
  models::ForwardFn MakeForward(std::shared_ptr<const models::Model> model, CheckFn check,
                                ForwardStats* stats);

  // Decodes and scores on the calling thread (a worker), batching forward
  // passes with concurrent requests. Errors: those of decode (kInvalidArgument,
  // kUnimplemented, kResourceExhausted past max_audio_s), of the options
  // (kInvalidArgument), and of `check`.
  absl::StatusOr<ScoreOutcome> Score(const LoadedModel& loaded, const AudioInput& input,
                                     const models::ScoreOptions& options, const CheckFn& check);

 private:
  const EngineOptions options_;
  Metrics* const metrics_;
  mutable std::mutex mu_;
  std::shared_ptr<const LoadedModel> current_;
  std::mutex load_mu_;  // one load at a time
  // Declared before pool_ so that it outlives the tasks the pool drains.
  std::unique_ptr<DynamicBatcher> batcher_;
  std::unique_ptr<WorkerPool> pool_;
};

// A model path as --model gives it: a file as is; a directory: the *.pt file
// in it with the greatest name (name versions so they sort, e.g. by date).
// kNotFound when there is none.
absl::StatusOr<std::filesystem::path> ResolveModelPath(const std::filesystem::path& path);

}  // namespace spoofd::service
