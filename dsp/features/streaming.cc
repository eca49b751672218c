#include "dsp/features/streaming.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "absl/strings/str_cat.h"

namespace spoofd::dsp {

// Turns rows [x] into rows [x, d(src)], where src is the last `src_dims`
// columns of x, two rows late. The window starts with two copies of the first
// row and is closed with two copies of the last, which is exactly
// compute_deltas' replicate padding (see AppendDeltas).
class StreamingFeatures::DeltaStage {
 public:
  explicit DeltaStage(int src_dims) : src_dims_(src_dims) {}

  void Push(const FeatureMatrix& rows, FeatureMatrix* out) {
    std::vector<Eigen::RowVectorXf> ready;
    for (Eigen::Index r = 0; r < rows.rows(); ++r) {
      if (window_.empty()) {
        window_.push_back(rows.row(r));
        window_.push_back(rows.row(r));
      }
      PushOne(rows.row(r), &ready);
    }
    Collect(ready, rows.cols(), out);
  }

  void Finish(Eigen::Index in_dims, FeatureMatrix* out) {
    std::vector<Eigen::RowVectorXf> ready;
    if (!window_.empty()) {
      const Eigen::RowVectorXf last = window_.back();
      PushOne(last, &ready);
      PushOne(last, &ready);
    }
    Collect(ready, in_dims, out);
  }

 private:
  void PushOne(const Eigen::RowVectorXf& row, std::vector<Eigen::RowVectorXf>* ready) {
    window_.push_back(row);
    if (window_.size() < 5) return;
    const Eigen::Index dims = row.size();
    const Eigen::Index src = dims - src_dims_;
    Eigen::RowVectorXf joined(dims + src_dims_);
    joined.head(dims) = window_[2];
    // Same expression and evaluation order as AppendDeltas, for bit equality.
    joined.tail(src_dims_) = ((window_[3].segment(src, src_dims_) - window_[1].segment(src, src_dims_)) +
                              2.0f * (window_[4].segment(src, src_dims_) -
                                      window_[0].segment(src, src_dims_))) /
                             10.0f;
    ready->push_back(std::move(joined));
    window_.pop_front();
  }

  void Collect(const std::vector<Eigen::RowVectorXf>& ready, Eigen::Index in_dims,
               FeatureMatrix* out) {
    out->resize(static_cast<Eigen::Index>(ready.size()), in_dims + src_dims_);
    for (size_t i = 0; i < ready.size(); ++i) out->row(static_cast<Eigen::Index>(i)) = ready[i];
  }

  int src_dims_;
  std::deque<Eigen::RowVectorXf> window_;
};

StreamingFeatures::StreamingFeatures(std::shared_ptr<const FeatureExtractor> extractor)
    : extractor_(std::move(extractor)), scratch_(extractor_->MakeScratch()) {}

StreamingFeatures::~StreamingFeatures() = default;

absl::StatusOr<std::unique_ptr<StreamingFeatures>> StreamingFeatures::Create(
    std::shared_ptr<const FeatureExtractor> extractor) {
  if (extractor == nullptr) return absl::InvalidArgumentError("no feature extractor");
  auto stream = std::unique_ptr<StreamingFeatures>(new StreamingFeatures(extractor));
  const FeatureConfig& config = extractor->config();
  stream->started_ = !config.center;
  const int static_dims = config.StaticDims();
  for (int level = 0; level < config.deltas; ++level) {
    stream->deltas_.push_back(std::make_unique<DeltaStage>(static_dims));
  }
  return stream;
}

void StreamingFeatures::AppendSignal(std::span<const float> y) {
  buffer_.insert(buffer_.end(), y.begin(), y.end());
  if (!extractor_->config().center) return;
  const size_t keep = extractor_->config().n_fft / 2 + 1;
  tail_.insert(tail_.end(), y.begin(), y.end());
  if (tail_.size() > keep) tail_.erase(tail_.begin(), tail_.end() - keep);
}

absl::Status StreamingFeatures::Feed(std::span<const float> samples, FeatureMatrix* out) {
  if (finished_) return absl::FailedPreconditionError("feature stream already finished");
  for (float x : samples) {
    if (!std::isfinite(x)) {
      return absl::InvalidArgumentError("audio contains NaN or infinite samples");
    }
  }
  const FeatureConfig& config = extractor_->config();
  samples_in_ += static_cast<std::int64_t>(samples.size());
  std::vector<float> y(samples.begin(), samples.end());
  if (config.preemphasis > 0.0) {
    preemph_prev_ = PreEmphasize(samples, config.preemphasis, preemph_prev_, y.data());
  }
  if (started_) {
    AppendSignal(y);
  } else {
    // Centre mode: the left pad mirrors samples 1..n_fft/2, so wait for them.
    const size_t pad = config.n_fft / 2;
    head_.insert(head_.end(), y.begin(), y.end());
    if (head_.size() > pad) {
      for (size_t i = 0; i < pad; ++i) buffer_.push_back(head_[pad - i]);
      AppendSignal(head_);
      head_.clear();
      head_.shrink_to_fit();
      started_ = true;
    }
  }
  Drain(out);
  return absl::OkStatus();
}

absl::Status StreamingFeatures::Finish(FeatureMatrix* out) {
  if (finished_) return absl::FailedPreconditionError("feature stream already finished");
  finished_ = true;
  const FeatureConfig& config = extractor_->config();
  if (config.center) {
    const int pad = config.n_fft / 2;
    if (!started_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "audio too short: ", samples_in_, " samples, center padding needs more than ", pad));
    }
    // Right pad: y[L-2], y[L-3], ..., y[L-1-pad] (tail_ ends with y[L-1]).
    const size_t last = tail_.size() - 1;
    for (int i = 0; i < pad; ++i) buffer_.push_back(tail_[last - 1 - i]);
  }
  FeatureMatrix rows;
  Drain(&rows);  // counts its own rows in frames_out_
  // Close the delta stages in order: each one's leftovers feed the next.
  for (size_t level = 0; level < deltas_.size(); ++level) {
    const Eigen::Index in_dims = config.StaticDims() * static_cast<Eigen::Index>(level + 1);
    FeatureMatrix closing;
    deltas_[level]->Finish(in_dims, &closing);
    for (size_t next = level + 1; next < deltas_.size(); ++next) {
      FeatureMatrix passed;
      deltas_[next]->Push(closing, &passed);
      closing = std::move(passed);
    }
    const Eigen::Index before = rows.rows();
    rows.conservativeResize(before + closing.rows(), config.Dims());
    rows.bottomRows(closing.rows()) = closing;
    frames_out_ += closing.rows();
  }
  *out = std::move(rows);
  return absl::OkStatus();
}

void StreamingFeatures::Drain(FeatureMatrix* out) {
  const FeatureConfig& config = extractor_->config();
  const std::int64_t available = static_cast<std::int64_t>(buffer_.size());
  const std::int64_t n_frames =
      available >= config.n_fft ? 1 + (available - config.n_fft) / config.hop_length : 0;
  FeatureMatrix log_rows(n_frames, extractor_->LogDims());
  if (n_frames > 0) {
    extractor_->LogFrames(buffer_.data(), n_frames, scratch_, log_rows.data());
    buffer_.erase(buffer_.begin(), buffer_.begin() + n_frames * config.hop_length);
  }
  Emit(extractor_->StaticFromLog(log_rows), out);
}

void StreamingFeatures::Emit(const FeatureMatrix& statics, FeatureMatrix* out) {
  FeatureMatrix rows = statics;
  for (auto& stage : deltas_) {
    FeatureMatrix next;
    stage->Push(rows, &next);
    rows = std::move(next);
  }
  frames_out_ += rows.rows();
  *out = std::move(rows);
}

}  // namespace spoofd::dsp
