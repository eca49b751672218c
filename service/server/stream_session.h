// One live call of StreamScore, without any gRPC: headerless audio in chunks of
// any size -> incremental decode -> streaming features and voice activity ->
// segments scored as soon as they are complete -> interim and final verdicts.
//
// Final result. It equals models::Scorer::Score on the same audio decoded in
// one piece (what Score / ScoreUpload do with the same bytes): the decoder and
// the streaming features are bit-identical to their whole-signal versions, the
// segments are the same windows (WindowStarts: every hop, the last aligned to
// the end, a short call tiled), the voice activity flags are recomputed over
// the whole call at the end, and the aggregation follows the same rules. The
// only difference is floating point inside batched forward passes: segment and
// overall LLRs agree within 1e-4.
//
// Interim results, each time the decoded audio passes a multiple of
// `interim_interval_s` (at most one per Feed call):
//   - llr = mean LLR of the counted segments scored so far (a segment counts
//     when its speech fraction >= the model's min_speech_fraction), i.e. the
//     final rule applied to the audio so far;
//   - segments = the segments scored since the previous result;
//   - before the first full segment, once min_segment_s of audio arrived, a
//     provisional score of the audio so far tiled to segment length;
//   - a decision only once confident: at least `min_segments_for_decision`
//     counted segments and |llr - threshold| >= decision_margin_llr;
//     otherwise INCONCLUSIVE with reason not_confident_yet (or too_short,
//     silence, too_little_speech, clipped).
//   Speech figures in interims judge loudness against the loudest frame so
//   far (the final result uses the loudest frame of the whole call).
//
// Memory per call is bounded by segment length, not call length, except for
// one float of voice-activity energy per 10 ms and one LLR per segment (about
// 1.5 MB per hour).
//
// Not thread-safe: one object per stream, fed from one task at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dsp/decode.h"
#include "dsp/features/streaming.h"
#include "dsp/features/vad.h"
#include "models/model.h"
#include "models/scorer.h"

namespace spoofd::service {

// Server-wide settings (flags).
struct StreamSettings {
  double default_interim_interval_s = 1.0;
  int min_segments_for_decision = 3;
  double decision_margin_llr = 1.0;
  double max_audio_s = 7200.0;  // decoded audio per call; beyond: kResourceExhausted
};

// Per-call parameters (the StreamConfig message).
struct StreamParams {
  decode::RawFormat format;
  double interim_interval_s = 0.0;  // 0: the server default; else in [0.1, 60]
  std::string operating_point;      // empty: the model's default
  double segment_s = 0.0;           // 0: the model's
};

struct StreamUpdate {
  bool is_final = false;
  // The score comes from less than one full segment (tiled audio so far).
  bool provisional = false;
  double audio_s = 0.0;     // decoded audio so far
  int segments_scored = 0;  // full segments scored so far
  // Interim: the rolling verdict, segments = those scored since the previous
  // update. Final: the whole call's verdict with every segment.
  models::Verdict verdict;
};

class StreamSession {
 public:
  // kInvalidArgument for a bad format (rate outside [1000, 768000]), interval,
  // operating point or segment length.
  static absl::StatusOr<std::unique_ptr<StreamSession>> Create(
      std::shared_ptr<const models::Model> model, const StreamParams& params,
      const StreamSettings& settings);
  ~StreamSession();

  // Decodes `bytes`, scores every segment that became complete through
  // `forward`, and sets *interim when an interim result is due (else resets it).
  // Errors: kResourceExhausted past max_audio_s, errors of `forward`; after an
  // error the session is unusable.
  absl::Status Feed(std::span<const std::uint8_t> bytes, const models::ForwardFn& forward,
                    std::optional<StreamUpdate>* interim);
  // Feed() in two steps, so that a caller can do the cheap part where it
  // stands (decoding, features, voice activity: tens of microseconds for a
  // 20 ms packet) and hand only model work to a worker: FeedAudio(), then,
  // when ModelWorkDue(), ScoreDue(). Feed() is exactly FeedAudio + ScoreDue,
  // and ScoreDue is a no-op (interim reset) when no work is due.
  absl::Status FeedAudio(std::span<const std::uint8_t> bytes);
  // A segment is complete and unscored, or an interim result is due.
  bool ModelWorkDue() const;
  absl::Status ScoreDue(const models::ForwardFn& forward, std::optional<StreamUpdate>* interim);
  // Flushes the decoder and features, scores the last segment and returns the
  // final verdict. Call once.
  absl::StatusOr<StreamUpdate> Finish(const models::ForwardFn& forward);

  double audio_s() const;
  const models::Model& model() const { return *model_; }
  const std::shared_ptr<const models::Model>& shared_model() const { return model_; }
  std::int64_t features_us() const { return features_us_; }
  std::int64_t model_us() const { return model_us_; }

 private:
  explicit StreamSession(std::shared_ptr<const models::Model> model) : model_(std::move(model)) {}
  absl::Status Process(const std::vector<float>& samples, const models::ForwardFn& forward);
  absl::Status ProcessAudio(const std::vector<float>& samples);
  void ProcessVad(const std::vector<float>& samples);
  absl::Status AppendRows(const dsp::FeatureMatrix& rows, const models::ForwardFn& forward);
  void AppendRowsOnly(const dsp::FeatureMatrix& rows);
  absl::Status ScoreAndCompact(const models::ForwardFn& forward);
  std::int64_t InterimsDue() const;
  absl::Status ScoreReadyWindows(const models::ForwardFn& forward);
  absl::StatusOr<double> ScoreTiled(const models::ForwardFn& forward);
  const float* Row(std::int64_t frame) const;
  double InterimSpeechFraction(std::int64_t first, std::int64_t end) const;
  absl::StatusOr<StreamUpdate> MakeInterim(const models::ForwardFn& forward);
  std::vector<std::uint8_t> FinalSpeechFlags() const;

  std::shared_ptr<const models::Model> model_;
  StreamSettings settings_;
  double interval_s_ = 1.0;
  std::string operating_point_;
  double threshold_ = 0.0;
  int rate_hz_ = 16000;
  double frame_s_ = 0.01;  // feature hop in seconds
  double segment_s_ = 0.0;
  std::int64_t window_ = 0;  // frames per segment
  std::int64_t hop_ = 0;     // frames between segment starts
  std::int64_t dims_ = 0;

  std::unique_ptr<decode::RawStreamDecoder> decoder_;
  std::shared_ptr<const dsp::FeatureExtractor> extractor_;
  std::unique_ptr<dsp::StreamingFeatures> features_;
  std::vector<float> samples_;  // scratch

  std::int64_t samples_total_ = 0;
  std::int64_t clipped_ = 0;

  // Voice activity: the energies of every frame so far, computed exactly as
  // dsp::DetectSpeech does, from a buffer starting at frame vad_frames().
  dsp::VadOptions vad_options_;
  int vad_frame_samples_ = 0;
  int vad_hop_samples_ = 0;
  std::vector<float> vad_buffer_;
  std::vector<float> energies_;
  float loudest_ = -1e30f;
  std::int64_t interim_marked_end_ = 0;  // frames below this are counted as speech (interim)
  std::int64_t interim_speech_frames_ = 0;

  // Feature rows from frame ring_first_ on (row-major, dims_ columns).
  std::vector<float> ring_;
  std::int64_t ring_first_ = 0;
  std::int64_t frames_total_ = 0;

  // Every full segment scored: its start frame and LLR.
  std::int64_t next_start_ = 0;
  std::vector<std::int64_t> starts_;
  std::vector<double> llrs_;
  // Interim bookkeeping.
  std::vector<models::SegmentScore> pending_;  // scored since the last update
  double counted_sum_ = 0.0;
  int counted_ = 0;
  std::int64_t interims_sent_ = 0;  // interval multiples already reported

  std::int64_t features_us_ = 0;
  std::int64_t model_us_ = 0;
  bool finished_ = false;
};

}  // namespace spoofd::service
