#include "dsp/features/filterbank.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace spoofd::dsp {
namespace {

// torch.linspace(start, end, steps) in double precision.
std::vector<double> Linspace(double start, double end, int steps) {
  std::vector<double> out(steps);
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const double step = (end - start) / (steps - 1);
  for (int i = 0; i < steps; ++i) out[i] = start + step * i;
  return out;
}

// ref: torchaudio.functional.functional._create_triangular_filterbank (0.13).
// Filter m rises from f_pts[m] to f_pts[m+1] and falls to f_pts[m+2]; bin
// frequencies are linspace(0, sample_rate // 2, n_freqs) (integer Nyquist, as
// torchaudio does).
std::vector<Filter> Triangular(int n_freqs, const std::vector<double>& f_pts, int sample_rate_hz) {
  const std::vector<double> bin_hz = Linspace(0.0, sample_rate_hz / 2, n_freqs);
  const int n_filters = static_cast<int>(f_pts.size()) - 2;
  std::vector<Filter> filters(n_filters);
  for (int m = 0; m < n_filters; ++m) {
    const double down_width = f_pts[m + 1] - f_pts[m];
    const double up_width = f_pts[m + 2] - f_pts[m + 1];
    int first = -1;
    std::vector<float> weights;
    for (int k = 0; k < n_freqs; ++k) {
      const double down = (bin_hz[k] - f_pts[m]) / down_width;  // rising edge
      const double up = (f_pts[m + 2] - bin_hz[k]) / up_width;  // falling edge
      const double w = std::max(0.0, std::min(down, up));
      if (w > 0.0) {
        if (first < 0) first = k;
        // Keep interior zeros so the run stays contiguous.
        weights.resize(k - first + 1, 0.0f);
        weights[k - first] = static_cast<float>(w);
      }
    }
    filters[m].first_bin = std::max(first, 0);
    filters[m].weights = std::move(weights);
  }
  return filters;
}

// n points from start to end (both > 0) with a constant ratio between neighbours.
std::vector<double> Geomspace(double start, double end, int n) {
  std::vector<double> out = Linspace(std::log(start), std::log(end), n);
  for (double& p : out) p = std::exp(p);
  out.front() = start;  // exact edges, free of exp(log(x)) rounding
  out.back() = end;
  return out;
}

double HzToMel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double MelToHz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

}  // namespace

std::vector<Filter> LinearFilterbank(int n_freqs, double f_min_hz, double f_max_hz, int n_filters,
                                     int sample_rate_hz) {
  return Triangular(n_freqs, Linspace(f_min_hz, f_max_hz, n_filters + 2), sample_rate_hz);
}

std::vector<Filter> MelFilterbank(int n_freqs, double f_min_hz, double f_max_hz, int n_filters,
                                  int sample_rate_hz) {
  std::vector<double> pts = Linspace(HzToMel(f_min_hz), HzToMel(f_max_hz), n_filters + 2);
  for (double& p : pts) p = MelToHz(p);
  return Triangular(n_freqs, pts, sample_rate_hz);
}

std::vector<Filter> ConstantQFilterbank(int n_freqs, double f_min_hz, double f_max_hz, int n_filters,
                                        int sample_rate_hz) {
  return Triangular(n_freqs, Geomspace(f_min_hz, f_max_hz, n_filters + 2), sample_rate_hz);
}

double ConstantQLowestWidthHz(double f_min_hz, double f_max_hz, int n_filters) {
  const std::vector<double> pts = Geomspace(f_min_hz, f_max_hz, n_filters + 2);
  return pts[2] - pts[0];
}

Eigen::MatrixXf DctMatrix(int n_coeffs, int n_filters) {
  Eigen::MatrixXf dct(n_filters, n_coeffs);
  const double scale = std::sqrt(2.0 / n_filters);
  for (int k = 0; k < n_coeffs; ++k) {
    const double norm = k == 0 ? scale / std::sqrt(2.0) : scale;
    for (int n = 0; n < n_filters; ++n) {
      dct(n, k) = static_cast<float>(norm * std::cos(std::numbers::pi / n_filters * (n + 0.5) * k));
    }
  }
  return dct;
}

std::vector<float> MakeWindow(bool hamming, int length) {
  std::vector<float> w(length);
  const double a0 = hamming ? 0.54 : 0.5;
  const double a1 = 1.0 - a0;
  for (int n = 0; n < length; ++n) {
    w[n] = static_cast<float>(a0 - a1 * std::cos(2.0 * std::numbers::pi * n / length));
  }
  return w;
}

}  // namespace spoofd::dsp
