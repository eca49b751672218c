#include "models/model.h"

#include <openssl/evp.h>
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <fstream>
#include <iterator>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace spoofd::models {

struct Model::Impl {
  // torch::jit::Module::forward is const-safe for concurrent inference when
  // the module is not mutated; a copy per thread is not needed.
  mutable torch::jit::Module module;
};

std::string Sha256Hex(const void* data, std::size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

Model::~Model() = default;

absl::StatusOr<std::shared_ptr<const Model>> Model::Load(const std::filesystem::path& path,
                                                         const LoadOptions& options) {
  static std::once_flag torch_setup;
  std::call_once(torch_setup, [&] {
    at::set_num_threads(std::max(1, options.intra_op_threads));
    // The profiling executor re-optimises during the first calls on every
    // thread (tens of ms each); the simple executor is steady from the start.
    torch::jit::getProfilingMode() = false;
    torch::jit::getExecutorMode() = false;
#if defined(__GLIBC__)
    if (options.reuse_large_allocations) {
      // Setting either threshold turns off glibc's own adjustment of both;
      // the mmap one cannot exceed 32 MiB on 64-bit systems.
      mallopt(M_MMAP_THRESHOLD, 32 << 20);
      mallopt(M_TRIM_THRESHOLD, 64 << 20);
    }
#endif
  });

  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model file not found: ", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (!in && !in.eof()) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));

  auto model = std::shared_ptr<Model>(new Model());
  model->impl_ = std::make_unique<Impl>();
  model->path_ = path;
  model->sha256_ = Sha256Hex(bytes.data(), bytes.size());
  torch::jit::ExtraFilesMap extra{{kContractFile, ""}};
  try {
    std::istringstream stream(bytes);
    model->impl_->module = torch::jit::load(stream, torch::kCPU, extra);
    model->impl_->module.eval();
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return absl::InvalidArgumentError(
        absl::StrCat("not a loadable TorchScript model: ", path.string(), ": ", what));
  }
  if (extra[kContractFile].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), " carries no ", kContractFile, " (export it with models/train/export.py)"));
  }
  absl::StatusOr<ModelContract> contract = ModelContract::FromJson(extra[kContractFile]);
  if (!contract.ok()) return contract.status();
  model->contract_ = *std::move(contract);

  // Warm-up: one forward pass at the serving shape proves the contract and the
  // network agree, and pays the first-call costs before any request does.
  const std::int64_t frames = model->contract_.SegmentFrames();
  const std::int64_t dims = model->contract_.features.Dims();
  std::vector<float> zeros(static_cast<size_t>(2 * frames * dims), 0.0f);
  for (size_t i = 0; i < zeros.size(); ++i) zeros[i] = static_cast<float>((i * 7919) % 101) / 101.0f;
  absl::StatusOr<std::vector<float>> warm = model->Forward(zeros.data(), 2, frames, dims);
  if (!warm.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model warm-up failed: ", warm.status().message()));
  }
  return std::shared_ptr<const Model>(std::move(model));
}

absl::StatusOr<std::vector<float>> Model::Forward(const float* features, std::int64_t batch,
                                                  std::int64_t frames, std::int64_t dims) const {
  if (batch <= 0 || frames <= 0) return std::vector<float>{};
  if (dims != contract_.features.Dims()) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature dims ", dims, " do not match the model's ", contract_.features.Dims()));
  }
  try {
    c10::InferenceMode guard;
    // from_blob: the caller's row-major features are used in place.
    at::Tensor input = torch::from_blob(const_cast<float*>(features), {batch, frames, dims},
                                        torch::TensorOptions().dtype(torch::kFloat32));
    at::Tensor output = impl_->module.forward({input}).toTensor().contiguous();
    if (output.dim() != 1 || output.size(0) != batch) {
      return absl::InternalError(absl::StrCat("model returned shape ", output.sizes().size(),
                                              "-d instead of [", batch, "]"));
    }
    output = output.to(torch::kFloat32);
    const float* p = output.data_ptr<float>();
    return std::vector<float>(p, p + batch);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::InternalError(absl::StrCat("model forward failed: ", what.substr(0, what.find('\n'))));
  }
}

}  // namespace spoofd::models
