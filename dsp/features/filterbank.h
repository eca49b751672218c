// Triangular filterbanks and the DCT-II matrix, built exactly as torchaudio 0.13
// builds them, stored sparsely (each filter is non-zero on a short run of bins).
#pragma once

#include <vector>

#include "Eigen/Core"

namespace spoofd::dsp {

// One triangular filter: weights for FFT bins [first_bin, first_bin + weights.size()).
struct Filter {
  int first_bin = 0;
  std::vector<float> weights;
};

// ref: torchaudio.functional.linear_fbanks(n_freqs, f_min, f_max, n_filter, sample_rate)
//      (0.13): centre frequencies equally spaced in Hz.
std::vector<Filter> LinearFilterbank(int n_freqs, double f_min_hz, double f_max_hz, int n_filters,
                                     int sample_rate_hz);

// ref: torchaudio.functional.melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate,
//      norm=None, mel_scale="htk") (0.13): centres equally spaced on the HTK mel
//      scale, mel = 2595 log10(1 + f / 700).
std::vector<Filter> MelFilterbank(int n_freqs, double f_min_hz, double f_max_hz, int n_filters,
                                  int sample_rate_hz);

// Constant-Q: centres equally spaced on a log-frequency scale, f_k = f_min r^k, so
// every filter's bandwidth is the same fraction of its centre frequency (the
// geometry of a constant-Q transform, computed on one STFT instead of one window
// length per bin). Same triangular shape and bin grid as above; requires
// f_min_hz > 0. A filter narrower than one FFT bin would be empty:
// ConstantQLowestWidthHz tells the validator how wide the lowest one is.
std::vector<Filter> ConstantQFilterbank(int n_freqs, double f_min_hz, double f_max_hz, int n_filters,
                                        int sample_rate_hz);
// Width in Hz of the lowest constant-Q filter (from its lower to its upper edge).
double ConstantQLowestWidthHz(double f_min_hz, double f_max_hz, int n_filters);

// ref: torchaudio.functional.create_dct(n_coeffs, n_filters, norm="ortho") (0.13),
// returned transposed as (n_filters x n_coeffs) so that coeffs = log_energies * dct.
Eigen::MatrixXf DctMatrix(int n_coeffs, int n_filters);

// ref: torch.hann_window / torch.hamming_window (periodic=True).
std::vector<float> MakeWindow(bool hamming, int length);

}  // namespace spoofd::dsp
