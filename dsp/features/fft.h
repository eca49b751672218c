// Real-input FFT used by the feature extractor: a thin owner of an FFTW plan.
//
// FFTW (single precision) was picked by measurement: bench/fft_bench.cc times
// FFTW, KissFFT and Eigen's FFT module on the frame sizes we use; see
// bench/RESULTS.md.
#pragma once

#include <complex>
#include <memory>

#include "absl/status/statusor.h"

namespace spoofd::dsp {

// Forward real FFT of size n (even). Create() plans once (planning is
// serialised internally: FFTW's planner is not thread-safe); Forward() is const
// and safe to call from many threads at once, each with its own buffers.
class RealFft {
 public:
  static absl::StatusOr<std::unique_ptr<RealFft>> Create(int n);
  ~RealFft();
  RealFft(const RealFft&) = delete;
  RealFft& operator=(const RealFft&) = delete;

  int size() const { return n_; }
  int bins() const { return n_ / 2 + 1; }

  // Buffers with the alignment the plan was made for. `in` holds size() floats,
  // `out` holds bins() complex values. Free with the matching deleter.
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  std::unique_ptr<float[], FreeDeleter> AllocateInput() const;
  std::unique_ptr<std::complex<float>[], FreeDeleter> AllocateOutput() const;

  // out[k] = sum_n in[n] exp(-2 pi i k n / size()), k = 0 .. size()/2.
  // `in` and `out` must come from AllocateInput/AllocateOutput. `in` is not modified.
  void Forward(float* in, std::complex<float>* out) const;

 private:
  RealFft(int n, void* plan) : n_(n), plan_(plan) {}
  int n_;
  void* plan_;  // fftwf_plan, kept opaque so callers need not include fftw3.h
};

}  // namespace spoofd::dsp
