// Frame-level features (LFCC, MFCC, log-mel, log-spectrogram) with deltas.
//
// Options -> immutable precomputed FeatureExtractor -> Compute(in) const.
// A FeatureExtractor is immutable after Create() and safe to share between
// threads; every call allocates its own scratch buffers.
//
// Shapes: a FeatureMatrix is row-major, frames x Dims(), so a block of rows can
// be handed to libtorch with from_blob and no copy.
//
// ref: torchaudio 0.13 transforms. With the same parameters and
//   log = kLn, log_floor = 1e-6:  LFCC(log_lf=True), MFCC(log_mels=True),
//                                 log(MelSpectrogram + 1e-6), log(Spectrogram + 1e-6)
//   log = kDb, log_floor = 1e-10: LFCC/MFCC(log_lf/log_mels=False) with the
//                                 transform's top_db set to None (torchaudio's
//                                 default top_db=80 clips relative to the loudest
//                                 bin of the whole utterance, which no streaming
//                                 computation can reproduce).
// Spectrogram arguments that correspond: n_fft, win_length, hop_length,
// window_fn=hann|hamming (periodic), center, pad_mode="reflect", power=2.
// tests/golden/make_golden.py produces the reference outputs; see its README.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dsp/features/feature_config.h"
#include "dsp/features/fft.h"
#include "dsp/features/filterbank.h"

namespace spoofd::dsp {

using FeatureMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

class FeatureExtractor {
 public:
  // kInvalidArgument if the config does not validate.
  static absl::StatusOr<std::shared_ptr<const FeatureExtractor>> Create(const FeatureConfig& config);

  const FeatureConfig& config() const { return config_; }

  // Frames produced for a signal of n samples: center ? 1 + n / hop
  // : (n >= n_fft ? 1 + (n - n_fft) / hop : 0).
  std::int64_t NumFrames(std::int64_t n_samples) const;

  // Whole-signal features, NumFrames(samples.size()) x config().Dims(), without
  // normalisation (apply NormalizeFeatures per segment). Samples are at
  // config().sample_rate_hz. kInvalidArgument when center=true and the signal
  // has no more than n_fft/2 samples (reflection padding needs more), or when a
  // sample is NaN or infinite.
  absl::StatusOr<FeatureMatrix> Compute(std::span<const float> samples) const;

  // --- Building blocks shared with StreamingFeatures -------------------------
  // Per-call scratch: FFT buffers with the plan's alignment.
  struct Scratch {
    std::unique_ptr<float[], RealFft::FreeDeleter> fft_in;
    std::unique_ptr<std::complex<float>[], RealFft::FreeDeleter> fft_out;
    // group_delay only: the spectrum Y of the time-weighted frame (the frame's
    // own spectrum X stays in fft_out).
    std::unique_ptr<std::complex<float>[], RealFft::FreeDeleter> fft_out_weighted;
    std::vector<double> energies;
    std::vector<float> power;  // |X|^2 per bin
    // group_delay only: the compressed delay of each bin.
    std::vector<float> delays;
    std::vector<float> smoothed;  // P(k)
  };
  Scratch MakeScratch() const;
  // Dimensions of the per-frame "log" row before the DCT: n_filters (twice that
  // with group_delay: the log energies, then the bands' group delays), or
  // n_fft/2+1 for logspec.
  int LogDims() const;
  // Log filterbank energies (or log power bins) of `n_frames` frames; frame t
  // starts at frames + t * hop and spans n_fft samples of the already padded and
  // pre-emphasised signal. Writes n_frames x LogDims() values row by row.
  //
  // With group_delay, each row continues with one value per filter: the group
  // delay tau(k) = Re(X conj(Y)) / P(k), where X is the frame's spectrum, Y the
  // spectrum of the same windowed frame multiplied by (n - (n_fft-1)/2), and P(k)
  // the mean of |X|^2 over bins k-8..k+8 (a smoothed power spectrum, as the
  // modified group delay of Hegde, Murthy and Gadde, IEEE TASLP 2007, divides by
  // a cepstrally smoothed one), raised to at least group_delay_floor_db below the
  // frame's mean |X|^2 per bin, so bands a codec or a resampler left empty give
  // delays near 0 rather than the delay of rounding noise. tau is in samples
  // from the frame centre; it is scaled by 2/n_fft, compressed as sign(tau)
  // |tau|^0.4, and averaged over each filter with the filter's weights. Every
  // step is level-invariant.
  void LogFrames(const float* frames, std::int64_t n_frames, Scratch& scratch, float* out) const;
  // Static features from log rows: the DCT for lfcc/mfcc/cqcc (applied to each
  // half with group_delay), identity otherwise.
  FeatureMatrix StaticFromLog(const FeatureMatrix& log_rows) const;

 private:
  explicit FeatureExtractor(const FeatureConfig& config) : config_(config) {}
  // The group-delay half of one LogFrames row (n_filters values); the frame's
  // spectrum is in scratch.fft_out and its DC mean is `mean`.
  void GroupDelayBands(const float* frame, float mean, Scratch& scratch, float* out) const;

  FeatureConfig config_;
  std::unique_ptr<RealFft> fft_;
  std::vector<float> window_;  // win_length samples
  int window_offset_ = 0;      // (n_fft - win_length) / 2, as torch.stft centres a short window
  std::vector<Filter> filters_;
  std::vector<double> filter_sums_;  // each filter's total weight (group_delay)
  std::vector<float> inv_width_;     // group_delay: 1 / bins in P(k)'s window, per bin
  std::vector<float> time_offsets_;  // group_delay: each window sample's distance from the frame centre
  double floor_ratio_ = 0.0;         // group_delay: 10^(group_delay_floor_db / 10)
  // n_filters x n_coeffs, row-major (empty for logmel/logspec).
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> dct_;
};

// Appends delta (and delta-delta) columns: returns [x, d(x)] or [x, d(x), d(d(x))].
// ref: torchaudio.functional.compute_deltas(win_length=5, mode="replicate") (0.13):
//   d[t] = sum_{k=1..2} k (x[t+k] - x[t-k]) / 10, indices clamped to [0, T-1].
FeatureMatrix AppendDeltas(const FeatureMatrix& statics, int order);

// In-place per-column normalisation over the rows given (one segment or one
// utterance): subtract the mean (kMean) and divide by the standard deviation
// (kMeanVar; population std, floored at 1e-5 so constant columns become 0).
void NormalizeFeatures(NormalizeKind kind, FeatureMatrix* features);

// Applies y[n] = x[n] - a x[n-1] with x[-1] = `previous` and returns the last x.
float PreEmphasize(std::span<const float> x, double a, float previous, float* y);

}  // namespace spoofd::dsp
