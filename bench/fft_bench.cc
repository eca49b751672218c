// Real-input FFT at the frame sizes spoofd uses: FFTW (estimate and measure
// plans), KissFFT and Eigen's FFT module (which wraps KissFFT-style code).
// The winner backs spoofd::dsp::RealFft; numbers go to bench/RESULTS.md.
#include <fftw3.h>
#include <kiss_fftr.h>

#include <complex>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "dsp/features/fft.h"
#include "unsupported/Eigen/FFT"

namespace {

std::vector<float> Noise(int n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  std::vector<float> x(n);
  for (auto& v : x) v = d(rng);
  return x;
}

void BM_SpoofdRealFft(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto fft = *spoofd::dsp::RealFft::Create(n);
  auto in = fft->AllocateInput();
  auto out = fft->AllocateOutput();
  const auto x = Noise(n);
  std::copy(x.begin(), x.end(), in.get());
  for (auto _ : state) {
    fft->Forward(in.get(), out.get());
    benchmark::DoNotOptimize(out.get());
  }
  state.SetItemsProcessed(state.iterations());
}

void FftwWithFlags(benchmark::State& state, unsigned flags) {
  const int n = static_cast<int>(state.range(0));
  float* in = fftwf_alloc_real(n);
  fftwf_complex* out = fftwf_alloc_complex(n / 2 + 1);
  fftwf_plan plan = fftwf_plan_dft_r2c_1d(n, in, out, flags);
  const auto x = Noise(n);
  std::copy(x.begin(), x.end(), in);
  for (auto _ : state) {
    fftwf_execute(plan);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  fftwf_destroy_plan(plan);
  fftwf_free(in);
  fftwf_free(out);
}
void BM_FftwEstimate(benchmark::State& state) { FftwWithFlags(state, FFTW_ESTIMATE); }
void BM_FftwMeasure(benchmark::State& state) { FftwWithFlags(state, FFTW_MEASURE); }

void BM_KissFft(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  kiss_fftr_cfg cfg = kiss_fftr_alloc(n, 0, nullptr, nullptr);
  const auto x = Noise(n);
  std::vector<kiss_fft_cpx> out(n / 2 + 1);
  for (auto _ : state) {
    kiss_fftr(cfg, x.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  kiss_fftr_free(cfg);
}

void BM_EigenFft(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Eigen::FFT<float> fft;
  fft.SetFlag(Eigen::FFT<float>::HalfSpectrum);
  const auto x = Noise(n);
  std::vector<std::complex<float>> out;
  for (auto _ : state) {
    fft.fwd(out, x);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_SpoofdRealFft)->Arg(256)->Arg(400)->Arg(512)->Arg(1024);
BENCHMARK(BM_FftwEstimate)->Arg(256)->Arg(400)->Arg(512)->Arg(1024);
BENCHMARK(BM_FftwMeasure)->Arg(256)->Arg(400)->Arg(512)->Arg(1024);
BENCHMARK(BM_KissFft)->Arg(256)->Arg(400)->Arg(512)->Arg(1024);
BENCHMARK(BM_EigenFft)->Arg(256)->Arg(400)->Arg(512)->Arg(1024);
