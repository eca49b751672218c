// Incremental feature computation for live calls.
//
// Feeding a signal in chunks of any size and then calling Finish() yields
// exactly the rows FeatureExtractor::Compute() gives for the whole signal (same
// arithmetic in the same order, so bit-identical). Memory stays bounded: about
// n_fft samples plus 4 frames of delta look-ahead, whatever the call length.
//
// Latency: a frame is emitted as soon as its last sample arrives, plus 2 frames
// per delta order (deltas look two frames ahead). With center=true the first
// frame waits for n_fft/2 + 1 samples (reflection padding needs them).
//
// Not thread-safe: one object per stream.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dsp/features/features.h"

namespace spoofd::dsp {

class StreamingFeatures {
 public:
  static absl::StatusOr<std::unique_ptr<StreamingFeatures>> Create(
      std::shared_ptr<const FeatureExtractor> extractor);
  ~StreamingFeatures();

  // Replaces *out with the rows that became ready (possibly none).
  // kInvalidArgument for NaN/Inf samples; kFailedPrecondition after Finish().
  absl::Status Feed(std::span<const float> samples, FeatureMatrix* out);
  // Emits the remaining rows (end padding and delta look-ahead). Errors as
  // FeatureExtractor::Compute for a too-short centred signal.
  absl::Status Finish(FeatureMatrix* out);

  std::int64_t samples_in() const { return samples_in_; }
  std::int64_t frames_out() const { return frames_out_; }

 private:
  class DeltaStage;
  explicit StreamingFeatures(std::shared_ptr<const FeatureExtractor> extractor);
  // Computes every whole frame in buffer_ and passes it through the delta stages.
  void Drain(FeatureMatrix* out);
  void Emit(const FeatureMatrix& statics, FeatureMatrix* out);
  void AppendSignal(std::span<const float> y);

  std::shared_ptr<const FeatureExtractor> extractor_;
  FeatureExtractor::Scratch scratch_;
  std::vector<float> buffer_;  // padded, pre-emphasised samples from the next frame's start
  std::vector<float> head_;    // centre mode: samples held until the left pad can be built
  std::vector<float> tail_;    // centre mode: last n_fft/2 + 1 samples for the right pad
  bool started_ = false;       // left pad emitted (always true without center)
  bool finished_ = false;
  float preemph_prev_ = 0.0f;
  std::int64_t samples_in_ = 0;
  std::int64_t frames_out_ = 0;
  std::vector<std::unique_ptr<DeltaStage>> deltas_;
};

}  // namespace spoofd::dsp
