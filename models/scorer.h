// Scoring pipeline: 16 kHz samples -> features -> segments -> model -> calibrated
// per-segment LLRs -> file verdict. Immutable and thread-safe; the service,
// spoofctl and the tests all score through this one class.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dsp/features/features.h"
#include "dsp/features/vad.h"
#include "models/model.h"

namespace spoofd::models {

enum class Decision { kGenuine, kSynthetic, kInconclusive };
std::string_view DecisionName(Decision decision);  // "genuine", "synthetic", "inconclusive"

struct SegmentScore {
  double start_s = 0.0;
  double end_s = 0.0;
  double llr = 0.0;
  double probability = 0.0;      // of synthetic speech, equal priors: sigmoid(llr)
  double speech_fraction = 0.0;  // of the segment's frames, from the energy VAD
  bool counted = false;          // had enough speech to vote in the file verdict
};

struct Verdict {
  Decision decision = Decision::kInconclusive;
  // Why the decision is inconclusive: "too_short", "silence", "too_little_speech",
  // "clipped"; empty otherwise.
  std::string reason;
  double llr = 0.0;          // file level: mean of the counted segments' LLRs
  double probability = 0.5;  // sigmoid(llr)
  double threshold = 0.0;    // LLR threshold of the operating point used
  std::string operating_point;
  double max_segment_llr = 0.0;
  std::vector<SegmentScore> segments;
  double duration_s = 0.0;
  double speech_s = 0.0;
  double clipped_fraction = 0.0;  // samples at full scale
  // Stage timings for this call, microseconds.
  std::int64_t features_us = 0;
  std::int64_t model_us = 0;
};

// Runs `batch` segments of `frames` x `dims` features through a model, as
// Model::Forward does (same arguments, same result).
using ForwardFn = std::function<absl::StatusOr<std::vector<float>>(
    const float* features, std::int64_t batch, std::int64_t frames, std::int64_t dims)>;

struct ScoreOptions {
  std::string operating_point;  // empty: the model's default
  double segment_s = 0.0;       // 0: the model's; otherwise in [min_segment_s, 60]
  int max_batch = 32;           // segments per forward pass
  // Optional replacement for model().Forward, called from the scoring thread
  // with pointers valid until it returns. The server uses it to batch segments
  // of concurrent requests into one forward pass and to stop work whose
  // deadline passed; an error it returns ends Score() with that error.
  ForwardFn forward;
};

class Scorer {
 public:
  static absl::StatusOr<std::unique_ptr<Scorer>> Create(std::shared_ptr<const Model> model);

  const Model& model() const { return *model_; }
  const std::shared_ptr<const Model>& shared_model() const { return model_; }

  // `samples` are mono at the model's sample rate. kInvalidArgument for an
  // unknown operating point, a bad segment length or NaN/Inf samples; audio that
  // cannot be judged is not an error but an inconclusive verdict with a reason.
  absl::StatusOr<Verdict> Score(std::span<const float> samples, const ScoreOptions& options = {}) const;

 private:
  explicit Scorer(std::shared_ptr<const Model> model) : model_(std::move(model)) {}
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const dsp::FeatureExtractor> extractor_;
};

// The verdict from per-window LLRs, the one rule the scorer and the live-call
// session share: fills the timeline (speech fraction of each window from
// `vad`), lets windows with at least min_speech_fraction speech vote, and sets
// llr / probability / decision, or an inconclusive reason when too little
// speech voted. `v` must already hold duration_s, speech_s and threshold.
void AggregateWindows(const ModelContract& contract, const std::vector<std::int64_t>& starts,
                      const std::vector<double>& llrs, double frame_s, double segment_s,
                      const dsp::VadResult& vad, int sample_rate_hz, Verdict* v);

// Window start frames for `total` frames: every `hop`, the last window aligned
// to the end; one window when total <= window. Same rule as the training code
// (models/train/data.py: windows).
std::vector<std::int64_t> WindowStarts(std::int64_t total, std::int64_t window, std::int64_t hop);

}  // namespace spoofd::models
