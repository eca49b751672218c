#include "dsp/features/vad.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace spoofd::dsp {

absl::Status VadOptions::Validate() const {
  if (sample_rate_hz <= 0) return absl::InvalidArgumentError("vad: sample_rate_hz must be > 0");
  if (!(frame_ms > 0.0) || !(hop_ms > 0.0)) {
    return absl::InvalidArgumentError("vad: frame_ms and hop_ms must be > 0");
  }
  if (std::lround(hop_ms * sample_rate_hz / 1000.0) < 1) {
    return absl::InvalidArgumentError("vad: hop_ms is shorter than one sample");
  }
  if (!(relative_db >= 0.0)) return absl::InvalidArgumentError("vad: relative_db must be >= 0");
  if (hangover_frames < 0) return absl::InvalidArgumentError("vad: hangover_frames must be >= 0");
  return absl::OkStatus();
}

double VadResult::SpeechFraction(std::int64_t first, std::int64_t end) const {
  first = std::max<std::int64_t>(first, 0);
  end = std::min<std::int64_t>(end, static_cast<std::int64_t>(speech.size()));
  if (end <= first) return 0.0;
  std::int64_t count = 0;
  for (std::int64_t t = first; t < end; ++t) count += speech[t];
  return static_cast<double>(count) / static_cast<double>(end - first);
}

double VadResult::SpeechSeconds(int sample_rate_hz) const {
  std::int64_t count = 0;
  for (auto s : speech) count += s;
  return static_cast<double>(count) * hop_samples / sample_rate_hz;
}

float FrameEnergyDbfs(std::span<const float> frame) {
  if (frame.empty()) return -120.0f;
  double sum = 0.0;
  double sum_sq = 0.0;
  for (float x : frame) {
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  const double count = static_cast<double>(frame.size());
  const double mean = sum / count;
  const double power = std::max(0.0, sum_sq / count - mean * mean);
  return static_cast<float>(10.0 * std::log10(std::max(power, 1e-12)));
}

absl::StatusOr<VadResult> DetectSpeech(std::span<const float> samples, const VadOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  VadResult result;
  result.frame_samples =
      std::max<int>(1, static_cast<int>(std::lround(options.frame_ms * options.sample_rate_hz / 1000.0)));
  result.hop_samples = static_cast<int>(std::lround(options.hop_ms * options.sample_rate_hz / 1000.0));
  const std::int64_t n = static_cast<std::int64_t>(samples.size());
  if (n == 0) return result;
  const std::int64_t frames =
      n <= result.frame_samples ? 1 : 1 + (n - result.frame_samples) / result.hop_samples;
  result.energy_dbfs.resize(frames);
  float loudest = -1e30f;
  for (std::int64_t t = 0; t < frames; ++t) {
    const std::int64_t begin = t * result.hop_samples;
    const std::int64_t end = std::min<std::int64_t>(begin + result.frame_samples, n);
    result.energy_dbfs[t] = FrameEnergyDbfs(samples.subspan(begin, end - begin));
    loudest = std::max(loudest, result.energy_dbfs[t]);
  }
  std::vector<std::uint8_t> raw(frames, 0);
  for (std::int64_t t = 0; t < frames; ++t) {
    const double e = result.energy_dbfs[t];
    const bool loud = e > options.threshold_dbfs;
    const bool near_peak = options.relative_db == 0.0 || e > loudest - options.relative_db;
    raw[t] = loud && near_peak;
  }
  result.speech.assign(frames, 0);
  const std::int64_t h = options.hangover_frames;
  for (std::int64_t t = 0; t < frames; ++t) {
    if (!raw[t]) continue;
    const std::int64_t lo = std::max<std::int64_t>(0, t - h);
    const std::int64_t hi = std::min<std::int64_t>(frames, t + h + 1);
    std::fill(result.speech.begin() + lo, result.speech.begin() + hi, 1);
  }
  return result;
}

}  // namespace spoofd::dsp
