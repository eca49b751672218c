// Deterministic signals shared by the feature tests.
#pragma once

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace spoofd::testing {

inline std::vector<float> Sine(double freq_hz, int sample_rate_hz, int n, double amplitude = 0.5) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) {
    x[i] = static_cast<float>(amplitude * std::sin(2.0 * std::numbers::pi * freq_hz * i / sample_rate_hz));
  }
  return x;
}

// Speech-like test signal: a few harmonics with a wobbling pitch plus noise.
inline std::vector<float> Babble(int n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  std::vector<float> x(n);
  double phase = 0.0;
  for (int i = 0; i < n; ++i) {
    const double f0 = 120.0 + 30.0 * std::sin(2.0 * std::numbers::pi * 3.0 * i / 16000.0);
    phase += 2.0 * std::numbers::pi * f0 / 16000.0;
    double v = 0.0;
    for (int h = 1; h <= 8; ++h) v += std::sin(h * phase) / h;
    x[i] = static_cast<float>(0.2 * v) + noise(rng);
  }
  return x;
}

}  // namespace spoofd::testing
