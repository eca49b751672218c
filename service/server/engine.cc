#include "service/server/engine.h"

#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"

namespace spoofd::service {
namespace {

using Clock = std::chrono::steady_clock;
std::int64_t MicrosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

}  // namespace

absl::StatusOr<std::filesystem::path> ResolveModelPath(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  std::filesystem::path best;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.path().extension() == ".pt" && entry.is_regular_file(ec) &&
        (best.empty() || entry.path().filename() > best.filename())) {
      best = entry.path();
    }
  }
  if (ec)
    return absl::NotFoundError(
        absl::StrCat("cannot list model directory ", path.string(), ": ", ec.message()));
  if (best.empty())
    return absl::NotFoundError(absl::StrCat("no *.pt model file in directory ", path.string()));
  return best;
}

Engine::Engine(const EngineOptions& options, Metrics* metrics)
    : options_(options),
      metrics_(metrics),
      batcher_(std::make_unique<DynamicBatcher>(options.batcher, metrics)),
      pool_(std::make_unique<WorkerPool>(options.workers, options.max_queue)) {}

Engine::~Engine() {
  pool_.reset();  // finishes queued tasks, which may still use the batcher
  batcher_.reset();
}

absl::Status Engine::Load(const std::filesystem::path& path) {
  std::lock_guard load_lock(load_mu_);
  absl::StatusOr<std::filesystem::path> resolved = ResolveModelPath(path);
  if (!resolved.ok()) return resolved.status();
  models::LoadOptions load_options;
  load_options.intra_op_threads = options_.intra_op_threads;
  load_options.reuse_large_allocations = options_.reuse_large_allocations;
  absl::StatusOr<std::shared_ptr<const models::Model>> model =
      models::Model::Load(*resolved, load_options);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::unique_ptr<models::Scorer>> scorer = models::Scorer::Create(*model);
  if (!scorer.ok()) return scorer.status();
  auto loaded = std::make_shared<LoadedModel>();
  loaded->model = *model;
  loaded->scorer = *std::move(scorer);
  loaded->path = *resolved;
  std::lock_guard lock(mu_);
  current_ = std::move(loaded);
  return absl::OkStatus();
}

std::shared_ptr<const LoadedModel> Engine::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

models::ForwardFn Engine::MakeForward(std::shared_ptr<const models::Model> model, CheckFn check,
                                      ForwardStats* stats) {
  return [this, model = std::move(model), check = std::move(check), stats](
             const float* features, std::int64_t batch, std::int64_t frames,
             std::int64_t dims) -> absl::StatusOr<std::vector<float>> {
    if (check) {
      if (absl::Status s = check(); !s.ok()) return s;
    }
    absl::StatusOr<std::vector<float>> logits =
        batcher_->Forward(model, features, batch, frames, dims, stats);
    if (check && logits.ok()) {
      if (absl::Status s = check(); !s.ok()) return s;  // expired while waiting for a batch
    }
    return logits;
  };
}

absl::StatusOr<ScoreOutcome> Engine::Score(const LoadedModel& loaded, const AudioInput& input,
                                           const models::ScoreOptions& options,
                                           const CheckFn& check) {
  ScoreOutcome out;
  if (absl::Status s = check(); !s.ok()) return s;
  const auto decode_start = Clock::now();
  out.input_sha256 = models::Sha256Hex(input.bytes.data(), input.bytes.size());
  decode::DecodeOptions decode_options;
  decode_options.target_sample_rate_hz = loaded.model->contract().features.sample_rate_hz;
  decode_options.max_duration_s = options_.max_audio_s;
  decode_options.max_input_bytes =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(input.bytes.size()));
  decode_options.format_hint = input.format_hint;
  absl::StatusOr<decode::DecodedAudio> audio =
      input.raw ? decode::DecodeRaw(input.bytes, *input.raw, decode_options)
                : decode::DecodeBuffer(input.bytes, decode_options);
  out.decode_us = MicrosSince(decode_start);
  if (metrics_ != nullptr) metrics_->stage_seconds.Observe({"decode"}, out.decode_us / 1e6);
  if (!audio.ok()) {
    if (audio.status().code() == absl::StatusCode::kResourceExhausted) {
      return absl::ResourceExhaustedError(absl::StrCat(
          audio.status().message(), " (server limit --max-audio-s ", options_.max_audio_s, ")"));
    }
    return audio.status();
  }
  out.source = audio->source;
  if (absl::Status s = check(); !s.ok()) return s;

  models::ScoreOptions score_options = options;
  score_options.max_batch = options_.batcher.max_batch_size;
  score_options.forward = MakeForward(loaded.model, check, &out.forward);
  absl::StatusOr<models::Verdict> verdict = loaded.scorer->Score(audio->samples, score_options);
  if (!verdict.ok()) return verdict.status();
  out.verdict = *std::move(verdict);
  if (metrics_ != nullptr) {
    metrics_->stage_seconds.Observe({"features"}, out.verdict.features_us / 1e6);
    metrics_->stage_seconds.Observe({"model"}, out.verdict.model_us / 1e6);
  }
  return out;
}

}  // namespace spoofd::service
