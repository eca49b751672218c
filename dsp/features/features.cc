#include "dsp/features/features.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace spoofd::dsp {
namespace {

// Reflection padding as torch.nn.functional.pad(mode="reflect"): the edge sample
// is not repeated, padded[-i] = y[i] and padded[L-1+i] = y[L-1-i].
std::vector<float> ReflectPad(std::span<const float> y, int pad) {
  const std::int64_t n = static_cast<std::int64_t>(y.size());
  std::vector<float> out(n + 2 * pad);
  for (int i = 0; i < pad; ++i) out[i] = y[pad - i];
  std::copy(y.begin(), y.end(), out.begin() + pad);
  for (int i = 0; i < pad; ++i) out[pad + n + i] = y[n - 2 - i];
  return out;
}

// Group delay: P(k) is the mean power over bins k-8..k+8.
constexpr int kSmoothBins = 8;

// sign(x) |x|^0.4, within 4e-6 relative of std::pow for |x| in [1e-30, 1e30] (measured
// over that range when written; the impulse test in tests/dsp/features_test.cc checks
// values through the features), 0 below 2^-100 and for NaN. log2 and exp2 come from the
// float's exponent bits and short series in the mantissa, with masks instead of
// branches, so the compiler vectorises the loop over bins (-O3, SSE2). With std::pow
// per bin and frame the group delay cost more than the rest of scoring together
// (bench/RESULTS.md).
inline float SignedPow04(float x) {
  std::uint32_t xb;
  std::memcpy(&xb, &x, sizeof xb);
  const std::uint32_t sign = xb & 0x80000000u;
  const std::uint32_t abs_bits = xb & 0x7fffffffu;
  const int exponent = static_cast<int>(abs_bits >> 23) - 127;
  const std::uint32_t mbits = (abs_bits & 0x007fffffu) | 0x3f800000u;
  float m;
  std::memcpy(&m, &mbits, sizeof m);
  // log2 m = 2/ln2 (t + t^3/3 + t^5/5 + ...) with t = (m - 1) / (m + 1), m in [1, 2)
  const float t = (m - 1.0f) / (m + 1.0f);
  const float t2 = t * t;
  const float log2m =
      t * (2.885390082f + t2 * (0.961796694f + t2 * (0.577078016f + t2 * (0.412198583f + t2 * 0.320598898f))));
  const float y = 0.4f * (static_cast<float>(exponent) + log2m);
  // exp2(y) = 2^n 2^f, n the nearest integer, f in [-0.5, 0.5] (the series of exp)
  const float rounded = (y + 12582912.0f) - 12582912.0f;  // nearest integer, |y| < 2^22
  const float f = y - rounded;
  const float p = 1.0f + f * (0.693147181f + f * (0.240226507f + f * (0.0555041087f +
                  f * (0.00961812911f + f * (0.00133335581f + f * 0.000154035304f)))));
  const std::uint32_t scale_bits = static_cast<std::uint32_t>(static_cast<int>(rounded) + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof scale);
  const float r = p * scale;
  std::uint32_t rb;
  std::memcpy(&rb, &r, sizeof rb);
  // |x| below 2^-100 (and NaN, whose bits compare above) gives 0: a mask, not a branch
  const std::uint32_t keep = 0u - static_cast<std::uint32_t>(abs_bits >= 0x0d800000u && abs_bits <= 0x7f800000u);
  rb = (rb & keep) | (sign & keep);
  float out;
  std::memcpy(&out, &rb, sizeof out);
  return out;
}

// The compressed delay of each of n bins: out[k] = SignedPow04(scale Re(x[k]
// conj(y[k])) / max(P(k), floor)), P(k) the mean of |X|^2 over bins k-8..k+8
// (fewer at the edges; inv_width[k] = 1 / their number), `smoothed` scratch for P.
// P is summed directly rather than as a difference of running sums: where a codec
// left a band empty, such a difference is rounding noise (zero or negative), and
// the delay there came out as 1e8. Below the floor a bin's delay tends to 0, and
// where X is 0 (a silent frame) so is the delay.
//
// Branch-free loops, so they vectorise. On a CPU with AVX2 the loader picks a
// copy compiled for it (GCC's target_clones, dispatched once through an ifunc):
// eight lanes instead of SSE2's four. Neither copy contracts to FMA, so each lane
// runs the same IEEE single-precision operations and both give identical results.
__attribute__((target_clones("avx2", "default"))) void CompressedDelays(
    const std::complex<float>* x, const std::complex<float>* y, const float* bin_power,
    const float* inv_width, float scale, float floor, int n, float* smoothed, float* out) {
  const int inner_begin = std::min(kSmoothBins, n);
  const int inner_end = std::max(inner_begin, n - kSmoothBins);
  auto smooth_edge = [&](int k) {
    float p = 0.0f;
    for (int j = std::max(0, k - kSmoothBins); j < std::min(n, k + kSmoothBins + 1); ++j) p += bin_power[j];
    smoothed[k] = p * inv_width[k];
  };
  for (int k = 0; k < inner_begin; ++k) smooth_edge(k);
  // The offset outside and the bin inside, so the inner loop runs across bins and
  // vectorises; each bin still adds its 17 terms in the same order.
  std::fill(smoothed + inner_begin, smoothed + inner_end, 0.0f);
  for (int d = -kSmoothBins; d <= kSmoothBins; ++d) {
    for (int k = inner_begin; k < inner_end; ++k) smoothed[k] += bin_power[k + d];
  }
  for (int k = inner_begin; k < inner_end; ++k) smoothed[k] *= inv_width[k];
  for (int k = inner_end; k < n; ++k) smooth_edge(k);
  const float lowest = std::max(floor, std::numeric_limits<float>::min());
  for (int k = 0; k < n; ++k) {
    const float cross = x[k].real() * y[k].real() + x[k].imag() * y[k].imag();
    out[k] = scale * cross / std::max(smoothed[k], lowest);
  }
  for (int k = 0; k < n; ++k) out[k] = SignedPow04(out[k]);
}

// The sum of v[j] over j < n in double, in four independent partial sums (the
// remainder into the first), added as (s0 + s1) + (s2 + s3). One chain of dependent
// double additions waits on the latency of every add before it: over the 1024
// samples of a frame's DC mean it took 9% of the constant-Q front-end's time
// (perf, 2026-12-07). The order moves the double result in its last bits only, far
// below the float it is rounded to.
inline double Sum(const float* v, size_t n) {
  double part[4] = {0.0, 0.0, 0.0, 0.0};
  size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    for (size_t j = 0; j < 4; ++j) part[j] += v[k + j];
  }
  for (; k < n; ++k) part[0] += v[k];
  return (part[0] + part[1]) + (part[2] + part[3]);
}

// sum of w[j] v[j] over j < n in double, in four independent partial sums: one
// chain of dependent additions made each filter wait on the latency of every add
// before it, and the filterbank was the slowest part of the front-end. Summation
// order only moves the double result in its last bits.
inline double WeightedSum(const float* w, const float* v, size_t n) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    a0 += static_cast<double>(w[j]) * v[j];
    a1 += static_cast<double>(w[j + 1]) * v[j + 1];
    a2 += static_cast<double>(w[j + 2]) * v[j + 2];
    a3 += static_cast<double>(w[j + 3]) * v[j + 3];
  }
  for (; j < n; ++j) a0 += static_cast<double>(w[j]) * v[j];
  return (a0 + a1) + (a2 + a3);
}

// Coefficients k0..k0+B-1 of one row: out[k] = sum over m of in[m] basis[m][k], in
// double, filters added in order (basis is row-major [n_filters, n_coeffs]).
template <int B>
inline void DctBlock(const float* in, const double* basis, Eigen::Index n_filters, Eigen::Index n_coeffs,
                     Eigen::Index k0, float* out) {
  double acc[B] = {};
  for (Eigen::Index m = 0; m < n_filters; ++m) {
    const double v = in[m];
    const double* b = basis + m * n_coeffs + k0;
    for (int j = 0; j < B; ++j) acc[j] += v * b[j];
  }
  for (int j = 0; j < B; ++j) out[k0 + j] = static_cast<float>(acc[j]);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const FeatureExtractor>> FeatureExtractor::Create(
    const FeatureConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto extractor = std::shared_ptr<FeatureExtractor>(new FeatureExtractor(config));
  absl::StatusOr<std::unique_ptr<RealFft>> fft = RealFft::Create(config.n_fft);
  if (!fft.ok()) return fft.status();
  extractor->fft_ = std::move(*fft);
  extractor->window_ = MakeWindow(config.window == WindowType::kHamming, config.win_length);
  extractor->window_offset_ = (config.n_fft - config.win_length) / 2;
  const int n_freqs = config.n_fft / 2 + 1;
  switch (config.kind) {
    case FeatureKind::kLfcc:
      extractor->filters_ = LinearFilterbank(n_freqs, config.f_min_hz, config.EffectiveFMaxHz(),
                                             config.n_filters, config.sample_rate_hz);
      break;
    case FeatureKind::kMfcc:
    case FeatureKind::kLogMel:
      extractor->filters_ = MelFilterbank(n_freqs, config.f_min_hz, config.EffectiveFMaxHz(),
                                          config.n_filters, config.sample_rate_hz);
      break;
    case FeatureKind::kCqcc:
      extractor->filters_ = ConstantQFilterbank(n_freqs, config.f_min_hz, config.EffectiveFMaxHz(),
                                                config.n_filters, config.sample_rate_hz);
      break;
    case FeatureKind::kLogSpec:
      break;
  }
  if (config.group_delay) {
    // 1 / the number of bins in each bin's smoothing window (17 inside, fewer at the edges)
    for (int k = 0; k < n_freqs; ++k) {
      const int width = std::min(n_freqs, k + kSmoothBins + 1) - std::max(0, k - kSmoothBins);
      extractor->inv_width_.push_back(1.0f / static_cast<float>(width));
    }
    extractor->floor_ratio_ = std::pow(10.0, config.group_delay_floor_db / 10.0);
    // The window sits at window_offset_ inside the FFT frame, whose centre is
    // (n_fft - 1) / 2. The offsets are multiples of 1/2 below 2^23, exact in a float,
    // so a float product with one is as exact as a double one rounded to float.
    const double centre = (config.n_fft - 1) / 2.0 - extractor->window_offset_;
    for (int i = 0; i < config.win_length; ++i) {
      extractor->time_offsets_.push_back(static_cast<float>(i - centre));
    }
    for (const Filter& f : extractor->filters_) {
      double sum = 0.0;
      for (float w : f.weights) sum += w;
      extractor->filter_sums_.push_back(sum);
    }
  }
  if (config.IsCepstral()) extractor->dct_ = DctMatrix(config.n_coeffs, config.n_filters).cast<double>();
  return std::shared_ptr<const FeatureExtractor>(std::move(extractor));
}

std::int64_t FeatureExtractor::NumFrames(std::int64_t n) const {
  if (config_.center) return 1 + n / config_.hop_length;
  return n >= config_.n_fft ? 1 + (n - config_.n_fft) / config_.hop_length : 0;
}

int FeatureExtractor::LogDims() const {
  if (config_.kind == FeatureKind::kLogSpec) return config_.n_fft / 2 + 1;
  return config_.group_delay ? 2 * config_.n_filters : config_.n_filters;
}

FeatureExtractor::Scratch FeatureExtractor::MakeScratch() const {
  Scratch scratch{fft_->AllocateInput(), fft_->AllocateOutput(), nullptr, {}, {}, {}, {}};
  // Zeros outside the window never change (FFTW preserves the input of a 1-D
  // r2c transform), so they are written once here.
  std::fill_n(scratch.fft_in.get(), config_.n_fft, 0.0f);
  scratch.energies.resize(LogDims());
  scratch.power.resize(config_.n_fft / 2 + 1);
  if (config_.group_delay) {
    scratch.fft_out_weighted = fft_->AllocateOutput();
    scratch.delays.resize(config_.n_fft / 2 + 1);
    scratch.smoothed.resize(config_.n_fft / 2 + 1);
  }
  return scratch;
}

void FeatureExtractor::LogFrames(const float* frames, std::int64_t n_frames, Scratch& scratch,
                                 float* out) const {
  const int n_bins = config_.n_fft / 2 + 1;
  const int log_dims = LogDims();
  const int n_log = config_.group_delay ? config_.n_filters : log_dims;  // log-energy columns
  const bool db = config_.log == LogKind::kDb;
  const double floor = config_.log_floor;
  float* in = scratch.fft_in.get() + window_offset_;
  const std::complex<float>* spectrum = scratch.fft_out.get();
  double* energies = scratch.energies.data();
  float* power = scratch.power.data();
  for (std::int64_t t = 0; t < n_frames; ++t) {
    const float* frame = frames + t * config_.hop_length + window_offset_;
    // x - 0.0f == x exactly, so without remove_dc the features are unchanged.
    float mean = 0.0f;
    if (config_.remove_dc) {
      mean = static_cast<float>(Sum(frame, config_.win_length) / config_.win_length);
    }
    for (int i = 0; i < config_.win_length; ++i) in[i] = (frame[i] - mean) * window_[i];
    fft_->Forward(scratch.fft_in.get(), scratch.fft_out.get());
    for (int k = 0; k < n_bins; ++k) power[k] = std::norm(spectrum[k]);
    if (config_.kind == FeatureKind::kLogSpec) {
      for (int k = 0; k < n_bins; ++k) energies[k] = power[k];
    } else {
      for (int m = 0; m < n_log; ++m) {
        const Filter& filter = filters_[m];
        energies[m] = WeightedSum(filter.weights.data(), power + filter.first_bin, filter.weights.size());
      }
    }
    float* row = out + t * log_dims;
    if (db) {
      for (int m = 0; m < n_log; ++m) {
        row[m] = static_cast<float>(10.0 * std::log10(std::max(energies[m], floor)));
      }
    } else {
      for (int m = 0; m < n_log; ++m) row[m] = static_cast<float>(std::log(energies[m] + floor));
    }
    if (config_.group_delay) GroupDelayBands(frame, mean, scratch, row + n_log);
  }
}

void FeatureExtractor::GroupDelayBands(const float* frame, float mean, Scratch& scratch,
                                       float* out) const {
  const int n_bins = config_.n_fft / 2 + 1;
  const std::complex<float>* x = scratch.fft_out.get();
  const float* bin_power = scratch.power.data();  // |X|^2, from LogFrames
  // The time-weighted frame: each windowed sample times its distance from the FFT
  // frame's centre (time_offsets_).
  float* in = scratch.fft_in.get() + window_offset_;
  const float* offsets = time_offsets_.data();
  for (int i = 0; i < config_.win_length; ++i) in[i] = ((frame[i] - mean) * window_[i]) * offsets[i];
  std::complex<float>* y = scratch.fft_out_weighted.get();
  fft_->Forward(scratch.fft_in.get(), y);
  // The power floor: group_delay_floor_db below the frame's mean power per bin
  // (Sum: one chain of dependent additions over 513 bins cost as much as the band pooling).
  const float floor = static_cast<float>(Sum(bin_power, n_bins) / n_bins * floor_ratio_);
  float* compressed = scratch.delays.data();
  CompressedDelays(x, y, bin_power, inv_width_.data(), 2.0f / config_.n_fft, floor, n_bins,
                   scratch.smoothed.data(), compressed);
  for (int m = 0; m < config_.n_filters; ++m) {
    const Filter& filter = filters_[m];
    const double sum =
        WeightedSum(filter.weights.data(), compressed + filter.first_bin, filter.weights.size());
    out[m] = static_cast<float>(filter_sums_[m] > 0.0 ? sum / filter_sums_[m] : 0.0);
  }
}

// On a CPU with AVX2 a copy compiled for it (four doubles per instruction instead
// of two; the same operations per element, so identical results): see CompressedDelays.
__attribute__((target_clones("avx2", "default"))) FeatureMatrix FeatureExtractor::StaticFromLog(
    const FeatureMatrix& log_rows) const {
  if (dct_.size() == 0) return log_rows;
  // A fixed loop rather than an Eigen GEMM: the summation order must not depend
  // on how many rows arrive together, or streaming would differ from
  // whole-buffer computation in the last bit. Accumulating all coefficients of
  // a row side by side keeps the inner loop vectorisable.
  const Eigen::Index n_filters = dct_.rows();
  const Eigen::Index n_coeffs = dct_.cols();
  const Eigen::Index parts = config_.group_delay ? 2 : 1;  // [log energies, group delays]
  FeatureMatrix out(log_rows.rows(), parts * n_coeffs);
  for (Eigen::Index t = 0; t < log_rows.rows(); ++t) {
    for (Eigen::Index part = 0; part < parts; ++part) {
      const float* in = log_rows.data() + (t * parts + part) * n_filters;
      float* row = out.data() + (t * parts + part) * n_coeffs;
      // Eight, then four, then single coefficients at a time, each block's sums in
      // a fixed-size local array the compiler keeps in registers (a vector of all
      // n_coeffs sums went through memory on every filter); every coefficient still
      // adds its filters in order, so the result is the same to the bit.
      Eigen::Index k = 0;
      for (; k + 8 <= n_coeffs; k += 8) DctBlock<8>(in, dct_.data(), n_filters, n_coeffs, k, row);
      for (; k + 4 <= n_coeffs; k += 4) DctBlock<4>(in, dct_.data(), n_filters, n_coeffs, k, row);
      for (; k < n_coeffs; ++k) DctBlock<1>(in, dct_.data(), n_filters, n_coeffs, k, row);
    }
  }
  return out;
}

absl::StatusOr<FeatureMatrix> FeatureExtractor::Compute(std::span<const float> samples) const {
  for (float x : samples) {
    if (!std::isfinite(x)) {
      return absl::InvalidArgumentError("audio contains NaN or infinite samples");
    }
  }
  const int pad = config_.n_fft / 2;
  if (config_.center && static_cast<std::int64_t>(samples.size()) <= pad) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audio too short: ", samples.size(), " samples, center padding needs more than ", pad));
  }
  // Only copy the signal when pre-emphasis or padding require it.
  std::vector<float> emphasized;
  std::span<const float> signal = samples;
  if (config_.preemphasis > 0.0) {
    emphasized.resize(samples.size());
    PreEmphasize(samples, config_.preemphasis, 0.0f, emphasized.data());
    signal = emphasized;
  }
  std::vector<float> padded;
  if (config_.center) {
    padded = ReflectPad(signal, pad);
    signal = padded;
  }
  const std::int64_t n_frames = NumFrames(static_cast<std::int64_t>(samples.size()));
  FeatureMatrix log_rows(n_frames, LogDims());
  if (n_frames > 0) {
    Scratch scratch = MakeScratch();
    LogFrames(signal.data(), n_frames, scratch, log_rows.data());
  }
  FeatureMatrix statics = StaticFromLog(log_rows);
  if (config_.deltas == 0) return statics;
  return AppendDeltas(statics, config_.deltas);
}

FeatureMatrix AppendDeltas(const FeatureMatrix& statics, int order) {
  const Eigen::Index frames = statics.rows();
  const Eigen::Index dims = statics.cols();
  FeatureMatrix out(frames, dims * (1 + order));
  out.leftCols(dims) = statics;
  for (int level = 1; level <= order; ++level) {
    const Eigen::Index src = (level - 1) * dims;
    const Eigen::Index dst = level * dims;
    for (Eigen::Index t = 0; t < frames; ++t) {
      auto clamp = [&](Eigen::Index i) { return std::clamp<Eigen::Index>(i, 0, frames - 1); };
      out.row(t).segment(dst, dims) =
          ((out.row(clamp(t + 1)).segment(src, dims) - out.row(clamp(t - 1)).segment(src, dims)) +
           2.0f * (out.row(clamp(t + 2)).segment(src, dims) -
                   out.row(clamp(t - 2)).segment(src, dims))) /
          10.0f;
    }
  }
  return out;
}

void NormalizeFeatures(NormalizeKind kind, FeatureMatrix* features) {
  if (kind == NormalizeKind::kNone || features->rows() == 0) return;
  const double n = static_cast<double>(features->rows());
  for (Eigen::Index c = 0; c < features->cols(); ++c) {
    auto column = features->col(c);
    double sum = 0.0;
    for (Eigen::Index r = 0; r < column.size(); ++r) sum += column(r);
    const double mean = sum / n;
    double scale = 1.0;
    if (kind == NormalizeKind::kMeanVar) {
      double sq = 0.0;
      for (Eigen::Index r = 0; r < column.size(); ++r) sq += (column(r) - mean) * (column(r) - mean);
      scale = 1.0 / std::max(std::sqrt(sq / n), 1e-5);
    }
    for (Eigen::Index r = 0; r < column.size(); ++r) {
      column(r) = static_cast<float>((column(r) - mean) * scale);
    }
  }
}

float PreEmphasize(std::span<const float> x, double a, float previous, float* y) {
  const float coef = static_cast<float>(a);
  for (size_t i = 0; i < x.size(); ++i) {
    y[i] = x[i] - coef * previous;
    previous = x[i];
  }
  return previous;
}

}  // namespace spoofd::dsp
