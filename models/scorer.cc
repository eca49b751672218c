#include "models/scorer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "dsp/features/vad.h"

namespace spoofd::models {
namespace {

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start)
      .count();
}

// Less than this much speech in the whole recording cannot be judged.
constexpr double kMinSpeechS = 0.5;
// More than this share of samples at full scale: the signal is too damaged.
constexpr double kMaxClippedFraction = 0.05;

}  // namespace

std::string_view DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kGenuine:
      return "genuine";
    case Decision::kSynthetic:
      return "synthetic";
    case Decision::kInconclusive:
      return "inconclusive";
  }
  return "inconclusive";
}

void AggregateWindows(const ModelContract& contract, const std::vector<std::int64_t>& starts,
                      const std::vector<double>& llrs, double frame_s, double segment_s,
                      const dsp::VadResult& vad, int sample_rate_hz, Verdict* v) {
  const double vad_hop_s = static_cast<double>(vad.hop_samples) / sample_rate_hz;
  double sum = 0.0;
  int counted = 0;
  v->max_segment_llr = -1e300;
  for (size_t i = 0; i < starts.size(); ++i) {
    SegmentScore s;
    s.start_s = starts[i] * frame_s;
    s.end_s = std::min(v->duration_s, s.start_s + segment_s);
    s.llr = llrs[i];
    s.probability = Sigmoid(s.llr);
    s.speech_fraction =
        vad.SpeechFraction(std::llround(s.start_s / vad_hop_s), std::llround(s.end_s / vad_hop_s));
    s.counted = s.speech_fraction >= contract.min_speech_fraction;
    if (s.counted) {
      sum += s.llr;
      ++counted;
      v->max_segment_llr = std::max(v->max_segment_llr, s.llr);
    }
    v->segments.push_back(s);
  }
  if (counted == 0 || v->speech_s < kMinSpeechS) {
    v->reason = v->speech_s == 0.0 ? "silence" : "too_little_speech";
    v->max_segment_llr = 0.0;
    return;
  }
  v->llr = sum / counted;
  v->probability = Sigmoid(v->llr);
  v->decision = v->llr >= v->threshold ? Decision::kSynthetic : Decision::kGenuine;
}

std::vector<std::int64_t> WindowStarts(std::int64_t total, std::int64_t window, std::int64_t hop) {
  if (total <= window) return {0};
  std::vector<std::int64_t> starts;
  for (std::int64_t s = 0; s + window <= total; s += hop) starts.push_back(s);
  if (starts.back() + window < total) starts.push_back(total - window);
  return starts;
}

absl::StatusOr<std::unique_ptr<Scorer>> Scorer::Create(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  auto scorer = std::unique_ptr<Scorer>(new Scorer(model));
  absl::StatusOr<std::shared_ptr<const dsp::FeatureExtractor>> extractor =
      dsp::FeatureExtractor::Create(model->contract().features);
  if (!extractor.ok()) return extractor.status();
  scorer->extractor_ = *extractor;
  return scorer;
}

absl::StatusOr<Verdict> Scorer::Score(std::span<const float> samples, const ScoreOptions& options) const {
  const ModelContract& contract = model_->contract();
  const dsp::FeatureConfig& fc = contract.features;
  Verdict v;
  v.operating_point = options.operating_point.empty() ? contract.default_operating_point
                                                      : options.operating_point;
  const auto op = contract.operating_points.find(v.operating_point);
  if (op == contract.operating_points.end()) {
    std::string known;
    for (const auto& [name, _] : contract.operating_points) absl::StrAppend(&known, known.empty() ? "" : ", ", name);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown operating point '", v.operating_point, "' (this model has: ", known, ")"));
  }
  v.threshold = op->second.llr_threshold;
  double segment_s = contract.segment_s;
  double hop_s = contract.hop_s;
  if (options.segment_s != 0.0) {
    if (!(options.segment_s >= contract.min_segment_s && options.segment_s <= 60.0)) {
      return absl::InvalidArgumentError(absl::StrCat("segment length must be in [", contract.min_segment_s,
                                                     ", 60] s, got ", options.segment_s));
    }
    hop_s = contract.hop_s * options.segment_s / contract.segment_s;
    segment_s = options.segment_s;
  }
  const double rate = fc.sample_rate_hz;
  v.duration_s = static_cast<double>(samples.size()) / rate;

  const auto t_features = std::chrono::steady_clock::now();
  absl::StatusOr<dsp::FeatureMatrix> features = extractor_->Compute(samples);
  if (!features.ok()) return features.status();
  dsp::VadOptions vad_options;
  vad_options.sample_rate_hz = fc.sample_rate_hz;
  absl::StatusOr<dsp::VadResult> vad = dsp::DetectSpeech(samples, vad_options);
  if (!vad.ok()) return vad.status();
  v.speech_s = vad->SpeechSeconds(fc.sample_rate_hz);
  std::int64_t clipped = 0;
  for (float x : samples) clipped += std::abs(x) >= 0.999f;
  v.clipped_fraction = samples.empty() ? 0.0 : static_cast<double>(clipped) / samples.size();
  v.features_us = MicrosSince(t_features);

  const std::int64_t total = features->rows();
  const std::int64_t dims = features->cols();
  const std::int64_t min_frames = contract.MinFrames();
  if (v.duration_s < contract.min_segment_s || total < min_frames) {
    v.reason = "too_short";
    return v;
  }
  if (v.clipped_fraction > kMaxClippedFraction) {
    v.reason = "clipped";
    return v;
  }
  const std::int64_t window = std::lround(segment_s * rate / fc.hop_length);
  const std::int64_t hop = std::max<std::int64_t>(1, std::lround(hop_s * rate / fc.hop_length));
  const std::vector<std::int64_t> starts = WindowStarts(total, window, hop);

  // Each window as `window` contiguous rows; a recording shorter than one
  // window is tiled to full length, as in training.
  const auto t_model = std::chrono::steady_clock::now();
  std::vector<float> logits;
  logits.reserve(starts.size());
  const int max_batch = std::max(1, options.max_batch);
  std::vector<float> tiled;
  auto forward = [&](const float* x, std::int64_t n) {
    return options.forward ? options.forward(x, n, window, dims) : model_->Forward(x, n, window, dims);
  };
  for (size_t first = 0; first < starts.size(); first += max_batch) {
    const size_t count = std::min<size_t>(max_batch, starts.size() - first);
    absl::StatusOr<std::vector<float>> out;
    if (total < window) {
      tiled.resize(static_cast<size_t>(window * dims));
      for (std::int64_t r = 0; r < window; ++r) {
        std::copy_n(features->data() + (r % total) * dims, dims, tiled.data() + r * dims);
      }
      out = forward(tiled.data(), 1);
    } else if (count == 1) {
      out = forward(features->data() + starts[first] * dims, 1);
    } else {
      std::vector<float> batch(count * window * dims);
      for (size_t i = 0; i < count; ++i) {
        std::copy_n(features->data() + starts[first + i] * dims, window * dims,
                    batch.data() + i * window * dims);
      }
      out = forward(batch.data(), static_cast<std::int64_t>(count));
    }
    if (!out.ok()) return out.status();
    logits.insert(logits.end(), out->begin(), out->end());
  }
  v.model_us = MicrosSince(t_model);

  std::vector<double> llrs(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) llrs[i] = model_->Llr(logits[i]);
  AggregateWindows(contract, starts, llrs, fc.hop_length / rate, segment_s, *vad, fc.sample_rate_hz, &v);
  return v;
}

}  // namespace spoofd::models
