#include "service/server/stream_session.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace spoofd::service {
namespace {

// These repeat models/scorer.cc (kMaxClippedFraction, the clipping level and
// Sigmoid) for the interim results; the final verdict uses
// models::AggregateWindows itself. The stream tests check the two agree.
constexpr double kMaxClippedFraction = 0.05;
constexpr float kClipLevel = 0.999f;
// Segments per forward call: what a single request may put in one batch.
constexpr std::int64_t kMaxSegmentsPerForward = 32;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

using Clock = std::chrono::steady_clock;
std::int64_t MicrosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

}  // namespace

StreamSession::~StreamSession() = default;

absl::StatusOr<std::unique_ptr<StreamSession>> StreamSession::Create(
    std::shared_ptr<const models::Model> model, const StreamParams& params,
    const StreamSettings& settings) {
  if (model == nullptr) return absl::FailedPreconditionError("no model loaded");
  const models::ModelContract& contract = model->contract();
  const dsp::FeatureConfig& fc = contract.features;
  auto session = std::unique_ptr<StreamSession>(new StreamSession(model));
  session->settings_ = settings;
  session->interval_s_ = params.interim_interval_s == 0.0 ? settings.default_interim_interval_s
                                                          : params.interim_interval_s;
  if (!(session->interval_s_ >= 0.1 && session->interval_s_ <= 60.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("interim_interval_s must be in [0.1, 60] s (or 0 for 1 s), got ",
                     params.interim_interval_s));
  }
  session->operating_point_ =
      params.operating_point.empty() ? contract.default_operating_point : params.operating_point;
  const auto op = contract.operating_points.find(session->operating_point_);
  if (op == contract.operating_points.end()) {
    std::string known;
    for (const auto& [name, _] : contract.operating_points)
      absl::StrAppend(&known, known.empty() ? "" : ", ", name);
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown operating point '", session->operating_point_, "' (this model has: ", known, ")"));
  }
  session->threshold_ = op->second.llr_threshold;
  // Segment and hop lengths exactly as Scorer::Score computes them.
  double segment_s = contract.segment_s;
  double hop_s = contract.hop_s;
  if (params.segment_s != 0.0) {
    if (!(params.segment_s >= contract.min_segment_s && params.segment_s <= 60.0)) {
      return absl::InvalidArgumentError(absl::StrCat("segment length must be in [",
                                                     contract.min_segment_s, ", 60] s, got ",
                                                     params.segment_s));
    }
    hop_s = contract.hop_s * params.segment_s / contract.segment_s;
    segment_s = params.segment_s;
  }
  const double rate = fc.sample_rate_hz;
  session->rate_hz_ = fc.sample_rate_hz;
  session->segment_s_ = segment_s;
  session->frame_s_ = fc.hop_length / rate;
  session->window_ = std::lround(segment_s * rate / fc.hop_length);
  session->hop_ = std::max<std::int64_t>(1, std::lround(hop_s * rate / fc.hop_length));
  session->dims_ = fc.Dims();

  decode::DecodeOptions decode_options;
  decode_options.target_sample_rate_hz = fc.sample_rate_hz;
  decode_options.max_duration_s = settings.max_audio_s;
  absl::StatusOr<std::unique_ptr<decode::RawStreamDecoder>> decoder =
      decode::RawStreamDecoder::Create(params.format, decode_options);
  if (!decoder.ok()) return decoder.status();
  session->decoder_ = *std::move(decoder);
  absl::StatusOr<std::shared_ptr<const dsp::FeatureExtractor>> extractor =
      dsp::FeatureExtractor::Create(fc);
  if (!extractor.ok()) return extractor.status();
  session->extractor_ = *extractor;
  absl::StatusOr<std::unique_ptr<dsp::StreamingFeatures>> features =
      dsp::StreamingFeatures::Create(session->extractor_);
  if (!features.ok()) return features.status();
  session->features_ = *std::move(features);

  session->vad_options_.sample_rate_hz = fc.sample_rate_hz;  // the rest as Scorer: defaults
  if (absl::Status s = session->vad_options_.Validate(); !s.ok()) return s;
  session->vad_frame_samples_ = std::max<int>(
      1,
      static_cast<int>(std::lround(session->vad_options_.frame_ms * fc.sample_rate_hz / 1000.0)));
  session->vad_hop_samples_ =
      static_cast<int>(std::lround(session->vad_options_.hop_ms * fc.sample_rate_hz / 1000.0));
  return session;
}

double StreamSession::audio_s() const { return static_cast<double>(samples_total_) / rate_hz_; }

absl::Status StreamSession::Feed(std::span<const std::uint8_t> bytes,
                                 const models::ForwardFn& forward,
                                 std::optional<StreamUpdate>* interim) {
  interim->reset();
  if (absl::Status s = FeedAudio(bytes); !s.ok()) return s;
  return ScoreDue(forward, interim);
}

absl::Status StreamSession::FeedAudio(std::span<const std::uint8_t> bytes) {
  if (finished_) return absl::FailedPreconditionError("the stream has already finished");
  samples_.clear();
  const auto start = Clock::now();
  absl::Status decoded = decoder_->Feed(bytes, &samples_);
  features_us_ += MicrosSince(start);
  if (!decoded.ok()) {
    if (decoded.code() == absl::StatusCode::kResourceExhausted) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the call is longer than the server's limit of ", settings_.max_audio_s,
                       " s of audio (--max-audio-s)"));
    }
    return decoded;
  }
  return ProcessAudio(samples_);
}

// Interims fall due at every multiple of the interval of decoded audio (one
// per call however many multiples the chunk crossed), so the cadence does
// not drift with the chunk sizes.
std::int64_t StreamSession::InterimsDue() const {
  const double interval_samples = interval_s_ * rate_hz_;
  return static_cast<std::int64_t>(std::floor(samples_total_ / interval_samples));
}

bool StreamSession::ModelWorkDue() const {
  return next_start_ + window_ <= frames_total_ || InterimsDue() > interims_sent_;
}

absl::Status StreamSession::ScoreDue(const models::ForwardFn& forward,
                                     std::optional<StreamUpdate>* interim) {
  interim->reset();
  if (finished_) return absl::FailedPreconditionError("the stream has already finished");
  if (absl::Status s = ScoreAndCompact(forward); !s.ok()) return s;
  const std::int64_t due = InterimsDue();
  if (due > interims_sent_) {
    absl::StatusOr<StreamUpdate> update = MakeInterim(forward);
    if (!update.ok()) return update.status();
    *interim = *std::move(update);
    interims_sent_ = due;
  }
  return absl::OkStatus();
}

absl::Status StreamSession::Process(const std::vector<float>& samples,
                                    const models::ForwardFn& forward) {
  if (absl::Status s = ProcessAudio(samples); !s.ok()) return s;
  return ScoreAndCompact(forward);
}

// Decoded samples -> totals, voice activity and feature rows (no model work).
absl::Status StreamSession::ProcessAudio(const std::vector<float>& samples) {
  if (samples.empty()) return absl::OkStatus();
  const auto start = Clock::now();
  samples_total_ += static_cast<std::int64_t>(samples.size());
  for (float x : samples) clipped_ += std::abs(x) >= kClipLevel;
  ProcessVad(samples);
  dsp::FeatureMatrix rows;
  absl::Status s = features_->Feed(samples, &rows);
  features_us_ += MicrosSince(start);
  if (!s.ok()) return s;
  AppendRowsOnly(rows);
  return absl::OkStatus();
}

// Energies exactly as dsp::DetectSpeech computes them (dsp::FrameEnergyDbfs):
// frame t covers samples [t*hop, t*hop + frame). A frame is computed once all
// its samples arrived.
void StreamSession::ProcessVad(const std::vector<float>& samples) {
  vad_buffer_.insert(vad_buffer_.end(), samples.begin(), samples.end());
  const double h = vad_options_.hangover_frames;
  size_t offset = 0;
  while (vad_buffer_.size() - offset >= static_cast<size_t>(vad_frame_samples_)) {
    const float energy = dsp::FrameEnergyDbfs(
        std::span<const float>(vad_buffer_).subspan(offset, static_cast<size_t>(vad_frame_samples_)));
    energies_.push_back(energy);
    loudest_ = std::max(loudest_, energy);
    // Interim speech count: DetectSpeech's rule with the loudest frame so far,
    // hangover applied as frames arrive.
    const double e = energy;
    const bool loud = e > vad_options_.threshold_dbfs;
    const bool near_peak =
        vad_options_.relative_db == 0.0 || e > loudest_ - vad_options_.relative_db;
    if (loud && near_peak) {
      const std::int64_t t = static_cast<std::int64_t>(energies_.size()) - 1;
      const std::int64_t lo =
          std::max<std::int64_t>(interim_marked_end_, t - static_cast<std::int64_t>(h));
      const std::int64_t hi = t + static_cast<std::int64_t>(h) + 1;
      if (hi > lo) interim_speech_frames_ += hi - lo;
      interim_marked_end_ = std::max(interim_marked_end_, hi);
    }
    offset += static_cast<size_t>(vad_hop_samples_);
  }
  vad_buffer_.erase(vad_buffer_.begin(), vad_buffer_.begin() + static_cast<std::ptrdiff_t>(offset));
}

absl::Status StreamSession::AppendRows(const dsp::FeatureMatrix& rows,
                                       const models::ForwardFn& forward) {
  if (rows.rows() == 0) return absl::OkStatus();
  AppendRowsOnly(rows);
  return ScoreAndCompact(forward);
}

void StreamSession::AppendRowsOnly(const dsp::FeatureMatrix& rows) {
  if (rows.rows() == 0) return;
  ring_.insert(ring_.end(), rows.data(), rows.data() + rows.size());
  frames_total_ += rows.rows();
}

absl::Status StreamSession::ScoreAndCompact(const models::ForwardFn& forward) {
  if (absl::Status s = ScoreReadyWindows(forward); !s.ok()) return s;
  // Keep what a later segment can still need: from the next segment start, and
  // the last `window_` rows (the final segment is aligned to the end, a call
  // shorter than one segment is tiled). Compact once a segment's worth is dead.
  const std::int64_t keep_from =
      std::max<std::int64_t>(0, std::min(next_start_, frames_total_ - window_));
  if (keep_from - ring_first_ >= window_) {
    ring_.erase(ring_.begin(),
                ring_.begin() + static_cast<std::ptrdiff_t>((keep_from - ring_first_) * dims_));
    ring_first_ = keep_from;
  }
  return absl::OkStatus();
}

const float* StreamSession::Row(std::int64_t frame) const {
  return ring_.data() + (frame - ring_first_) * dims_;
}

absl::Status StreamSession::ScoreReadyWindows(const models::ForwardFn& forward) {
  std::vector<std::int64_t> ready;
  while (next_start_ + window_ <= frames_total_) {
    ready.push_back(next_start_);
    next_start_ += hop_;
  }
  const double vad_hop_s = static_cast<double>(vad_hop_samples_) / rate_hz_;
  const double min_speech = model_->contract().min_speech_fraction;
  std::vector<float> batch;
  for (size_t first = 0; first < ready.size(); first += kMaxSegmentsPerForward) {
    const size_t count = std::min<size_t>(kMaxSegmentsPerForward, ready.size() - first);
    batch.resize(count * window_ * dims_);
    for (size_t i = 0; i < count; ++i) {
      std::copy_n(Row(ready[first + i]), window_ * dims_, batch.data() + i * window_ * dims_);
    }
    const auto start = Clock::now();
    absl::StatusOr<std::vector<float>> logits =
        forward(batch.data(), static_cast<std::int64_t>(count), window_, dims_);
    model_us_ += MicrosSince(start);
    if (!logits.ok()) return logits.status();
    if (logits->size() != count)
      return absl::InternalError("forward returned the wrong number of logits");
    for (size_t i = 0; i < count; ++i) {
      const std::int64_t s = ready[first + i];
      const double llr = model_->Llr((*logits)[i]);
      starts_.push_back(s);
      llrs_.push_back(llr);
      models::SegmentScore seg;
      seg.start_s = s * frame_s_;
      seg.end_s = seg.start_s + segment_s_;
      seg.llr = llr;
      seg.probability = Sigmoid(llr);
      seg.speech_fraction = InterimSpeechFraction(std::llround(seg.start_s / vad_hop_s),
                                                  std::llround(seg.end_s / vad_hop_s));
      seg.counted = seg.speech_fraction >= min_speech;
      if (seg.counted) {
        counted_sum_ += llr;
        ++counted_;
      }
      pending_.push_back(seg);
    }
  }
  return absl::OkStatus();
}

// Speech fraction of VAD frames [first, end) with the flags known so far:
// DetectSpeech's rule against the loudest frame so far, hangover included,
// computed locally (the flags of [first - h, end + h) decide those of [first, end)).
double StreamSession::InterimSpeechFraction(std::int64_t first, std::int64_t end) const {
  const std::int64_t n = static_cast<std::int64_t>(energies_.size());
  first = std::max<std::int64_t>(first, 0);
  end = std::min(end, n);
  if (end <= first) return 0.0;
  const std::int64_t h = vad_options_.hangover_frames;
  const std::int64_t lo = std::max<std::int64_t>(0, first - h);
  const std::int64_t hi = std::min(n, end + h);
  std::vector<std::uint8_t> speech(static_cast<size_t>(end - first), 0);
  for (std::int64_t t = lo; t < hi; ++t) {
    const double e = energies_[t];
    const bool raw = e > vad_options_.threshold_dbfs &&
                     (vad_options_.relative_db == 0.0 || e > loudest_ - vad_options_.relative_db);
    if (!raw) continue;
    for (std::int64_t u = std::max(first, t - h); u < std::min(end, t + h + 1); ++u)
      speech[u - first] = 1;
  }
  std::int64_t count = 0;
  for (auto s : speech) count += s;
  return static_cast<double>(count) / static_cast<double>(end - first);
}

// The audio so far tiled to one segment (Scorer's rule for short recordings).
absl::StatusOr<double> StreamSession::ScoreTiled(const models::ForwardFn& forward) {
  const std::int64_t total = frames_total_ - ring_first_;
  if (total <= 0) return absl::InternalError("no feature rows to score");
  std::vector<float> tiled(static_cast<size_t>(window_ * dims_));
  for (std::int64_t r = 0; r < window_; ++r) {
    std::copy_n(Row(ring_first_ + r % total), dims_, tiled.data() + r * dims_);
  }
  const auto start = Clock::now();
  absl::StatusOr<std::vector<float>> logits = forward(tiled.data(), 1, window_, dims_);
  model_us_ += MicrosSince(start);
  if (!logits.ok()) return logits.status();
  if (logits->size() != 1)
    return absl::InternalError("forward returned the wrong number of logits");
  return model_->Llr((*logits)[0]);
}

absl::StatusOr<StreamUpdate> StreamSession::MakeInterim(const models::ForwardFn& forward) {
  const models::ModelContract& contract = model_->contract();
  StreamUpdate u;
  u.audio_s = audio_s();
  u.segments_scored = static_cast<int>(starts_.size());
  models::Verdict& v = u.verdict;
  v.operating_point = operating_point_;
  v.threshold = threshold_;
  v.duration_s = u.audio_s;
  v.speech_s = static_cast<double>(std::min<std::int64_t>(
                   interim_speech_frames_, static_cast<std::int64_t>(energies_.size()))) *
               vad_hop_samples_ / rate_hz_;
  v.clipped_fraction = samples_total_ == 0 ? 0.0 : static_cast<double>(clipped_) / samples_total_;
  v.segments = std::move(pending_);
  pending_.clear();
  v.features_us = features_us_;
  v.model_us = model_us_;
  v.decision = models::Decision::kInconclusive;
  if (v.duration_s < contract.min_segment_s || frames_total_ < contract.MinFrames()) {
    v.reason = "too_short";
    return u;
  }
  if (v.clipped_fraction > kMaxClippedFraction) {
    v.reason = "clipped";
    return u;
  }
  if (starts_.empty()) {
    // Less than one segment so far: a provisional score, never a decision.
    absl::StatusOr<double> llr = ScoreTiled(forward);
    if (!llr.ok()) return llr.status();
    u.provisional = true;
    v.llr = *llr;
    v.probability = Sigmoid(v.llr);
    v.max_segment_llr = v.llr;
    v.reason = v.speech_s == 0.0 ? "silence" : "not_confident_yet";
    return u;
  }
  if (counted_ == 0) {
    v.reason = v.speech_s == 0.0 ? "silence" : "too_little_speech";
    return u;
  }
  v.llr = counted_sum_ / counted_;
  v.probability = Sigmoid(v.llr);
  v.max_segment_llr = v.llr;
  for (const auto& s : v.segments) v.max_segment_llr = std::max(v.max_segment_llr, s.llr);
  if (counted_ < settings_.min_segments_for_decision ||
      std::abs(v.llr - v.threshold) < settings_.decision_margin_llr) {
    v.reason = "not_confident_yet";
    return u;
  }
  v.decision = v.llr >= v.threshold ? models::Decision::kSynthetic : models::Decision::kGenuine;
  return u;
}

// DetectSpeech's flags over the whole call (relative to its loudest frame).
std::vector<std::uint8_t> StreamSession::FinalSpeechFlags() const {
  const std::int64_t frames = static_cast<std::int64_t>(energies_.size());
  std::vector<std::uint8_t> raw(static_cast<size_t>(frames), 0);
  for (std::int64_t t = 0; t < frames; ++t) {
    const double e = energies_[t];
    const bool loud = e > vad_options_.threshold_dbfs;
    const bool near_peak =
        vad_options_.relative_db == 0.0 || e > loudest_ - vad_options_.relative_db;
    raw[t] = loud && near_peak;
  }
  std::vector<std::uint8_t> speech(static_cast<size_t>(frames), 0);
  const std::int64_t h = vad_options_.hangover_frames;
  for (std::int64_t t = 0; t < frames; ++t) {
    if (!raw[t]) continue;
    const std::int64_t lo = std::max<std::int64_t>(0, t - h);
    const std::int64_t hi = std::min<std::int64_t>(frames, t + h + 1);
    std::fill(speech.begin() + lo, speech.begin() + hi, 1);
  }
  return speech;
}

absl::StatusOr<StreamUpdate> StreamSession::Finish(const models::ForwardFn& forward) {
  if (finished_) return absl::FailedPreconditionError("the stream has already finished");
  finished_ = true;
  samples_.clear();
  if (absl::Status s = decoder_->Finish(&samples_); !s.ok()) return s;
  if (absl::Status s = Process(samples_, forward); !s.ok()) return s;
  {
    const auto start = Clock::now();
    // A call shorter than one VAD frame is one short frame (DetectSpeech's rule).
    if (energies_.empty() && !vad_buffer_.empty()) {
      double sum = 0.0;
      for (float x : vad_buffer_) sum += static_cast<double>(x) * x;
      const double power = sum / static_cast<double>(vad_buffer_.size());
      energies_.push_back(static_cast<float>(10.0 * std::log10(std::max(power, 1e-12))));
      loudest_ = std::max(loudest_, energies_.back());
    }
    dsp::FeatureMatrix rows;
    absl::Status s = features_->Finish(&rows);
    features_us_ += MicrosSince(start);
    if (!s.ok()) return s;
    if (s = AppendRows(rows, forward); !s.ok()) return s;
  }

  // From here on, Scorer::Score's rules on the whole call.
  const models::ModelContract& contract = model_->contract();
  StreamUpdate u;
  u.is_final = true;
  u.audio_s = audio_s();
  models::Verdict& v = u.verdict;
  v.operating_point = operating_point_;
  v.threshold = threshold_;
  v.duration_s = u.audio_s;
  dsp::VadResult vad;
  vad.speech = FinalSpeechFlags();
  vad.hop_samples = vad_hop_samples_;
  vad.frame_samples = vad_frame_samples_;
  v.speech_s = vad.SpeechSeconds(rate_hz_);
  v.clipped_fraction = samples_total_ == 0 ? 0.0 : static_cast<double>(clipped_) / samples_total_;
  const std::int64_t total = frames_total_;
  if (v.duration_s < contract.min_segment_s || total < contract.MinFrames()) {
    v.reason = "too_short";
  } else if (v.clipped_fraction > kMaxClippedFraction) {
    v.reason = "clipped";
  } else {
    std::vector<std::int64_t> starts = starts_;
    std::vector<double> llrs = llrs_;
    const std::vector<std::int64_t> expected = models::WindowStarts(total, window_, hop_);
    if (total < window_) {
      absl::StatusOr<double> llr = ScoreTiled(forward);
      if (!llr.ok()) return llr.status();
      starts = {0};
      llrs = {*llr};
    } else if (expected.back() != starts.back()) {
      // The last segment, aligned to the end of the call.
      const std::int64_t s = expected.back();
      const auto start = Clock::now();
      absl::StatusOr<std::vector<float>> logits = forward(Row(s), 1, window_, dims_);
      model_us_ += MicrosSince(start);
      if (!logits.ok()) return logits.status();
      if (logits->size() != 1)
        return absl::InternalError("forward returned the wrong number of logits");
      starts.push_back(s);
      llrs.push_back(model_->Llr((*logits)[0]));
    }
    if (starts != expected)
      return absl::InternalError("streamed segments differ from the whole-call segments");
    models::AggregateWindows(contract, starts, llrs, frame_s_, segment_s_, vad, rate_hz_, &v);
  }
  u.segments_scored = static_cast<int>(v.segments.size());
  v.features_us = features_us_;
  v.model_us = model_us_;
  return u;
}

}  // namespace spoofd::service
