// A simple energy-based voice activity detector. It answers "is there enough
// speech here to score?" and "how much of this segment is speech?" — it does not
// try to separate speech from loud noise.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace spoofd::dsp {

struct VadOptions {
  int sample_rate_hz = 16000;
  double frame_ms = 25.0;
  double hop_ms = 10.0;
  // A frame is speech when its energy exceeds threshold_dbfs (0 dBFS is a
  // full-scale square wave) ...
  double threshold_dbfs = -50.0;
  // ... and lies within relative_db of the loudest frame of the span analysed
  // (0 disables the relative test, e.g. for streaming).
  double relative_db = 40.0;
  // Speech flags are extended by this many frames on both sides, so the short
  // pauses inside words and the soft edges of syllables count as speech.
  int hangover_frames = 5;

  absl::Status Validate() const;
};

struct VadResult {
  std::vector<std::uint8_t> speech;  // one flag per frame (frame t starts at t * hop)
  std::vector<float> energy_dbfs;    // per frame
  int hop_samples = 0;
  int frame_samples = 0;

  // Fraction of frames in [first, last) flagged as speech; 0 for an empty range.
  double SpeechFraction(std::int64_t first_frame, std::int64_t end_frame) const;
  double SpeechSeconds(int sample_rate_hz) const;
};

// Energy of one frame in dBFS: its power about its own mean (a constant offset
// from a faulty sound card is not speech) relative to a full-scale square wave
// (power 1), summed in double in sample order, floored at -120 dB. Shared with the
// streaming server so that both compute the same numbers.
float FrameEnergyDbfs(std::span<const float> frame);

// Frames: non-centred, frame t covers [t*hop, t*hop + frame); a signal shorter
// than one frame is a single (short) frame. kInvalidArgument for bad options.
absl::StatusOr<VadResult> DetectSpeech(std::span<const float> samples, const VadOptions& options);

}  // namespace spoofd::dsp
