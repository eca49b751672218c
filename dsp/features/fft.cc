#include "dsp/features/fft.h"

#include <fftw3.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace spoofd::dsp {
namespace {
// fftwf_plan_* and fftwf_destroy_plan touch global planner state.
std::mutex& PlannerMutex() {
  static std::mutex mutex;
  return mutex;
}
}  // namespace

absl::StatusOr<std::unique_ptr<RealFft>> RealFft::Create(int n) {
  if (n < 2 || n % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("FFT size must be even and >= 2, got ", n));
  }
  float* in = fftwf_alloc_real(n);
  fftwf_complex* out = fftwf_alloc_complex(n / 2 + 1);
  fftwf_plan plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(PlannerMutex());
    // FFTW_ESTIMATE: deterministic plans (the same arithmetic in every process,
    // so training and serving agree bit for bit) and no start-up cost. The
    // benchmark shows FFTW_MEASURE gains little at these sizes.
    plan = fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE | FFTW_PRESERVE_INPUT);
  }
  fftwf_free(in);
  fftwf_free(out);
  if (plan == nullptr) return absl::InternalError(absl::StrCat("FFTW could not plan size ", n));
  return std::unique_ptr<RealFft>(new RealFft(n, plan));
}

RealFft::~RealFft() {
  std::lock_guard<std::mutex> lock(PlannerMutex());
  fftwf_destroy_plan(static_cast<fftwf_plan>(plan_));
}

void RealFft::FreeDeleter::operator()(void* p) const { fftwf_free(p); }

std::unique_ptr<float[], RealFft::FreeDeleter> RealFft::AllocateInput() const {
  return std::unique_ptr<float[], FreeDeleter>(fftwf_alloc_real(n_));
}

std::unique_ptr<std::complex<float>[], RealFft::FreeDeleter> RealFft::AllocateOutput() const {
  return std::unique_ptr<std::complex<float>[], FreeDeleter>(
      reinterpret_cast<std::complex<float>*>(fftwf_alloc_complex(n_ / 2 + 1)));
}

void RealFft::Forward(float* in, std::complex<float>* out) const {
  // The new-array execute function is thread-safe; buffers from fftwf_alloc_*
  // have the SIMD alignment the plan assumed.
  fftwf_execute_dft_r2c(static_cast<fftwf_plan>(plan_), in,
                        reinterpret_cast<fftwf_complex*>(out));
}

}  // namespace spoofd::dsp
