// A loaded TorchScript detector: immutable after Load(), safe to call from many
// threads at once. libtorch stays inside model.cc; no exception escapes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/contract.h"

namespace spoofd::models {

struct LoadOptions {
  // libtorch intra-op threads, set process-wide on first load. On small
  // machines one thread per forward and parallelism across requests is faster.
  int intra_op_threads = 1;
  // On first load, also raise glibc malloc's mmap and trim thresholds (32 and
  // 64 MiB) so that the forward pass's temporaries (a few MiB each) are reused
  // from the heap instead of being mapped, page-faulted in and unmapped on
  // every call: about a third of a batch's forward time on one core
  // (bench/RESULTS.md, 2026-12-08). The cost is that up to 64 MiB per malloc
  // arena stays reserved after a burst. Process-wide; a no-op without glibc.
  bool reuse_large_allocations = true;
};

class Model {
 public:
  // Errors: kNotFound (no such file), kInvalidArgument (not a TorchScript file,
  // no or bad contract, output shape wrong in the warm-up pass), kInternal.
  static absl::StatusOr<std::shared_ptr<const Model>> Load(const std::filesystem::path& path,
                                                           const LoadOptions& options = {});
  ~Model();

  const ModelContract& contract() const { return contract_; }
  const std::string& sha256() const { return sha256_; }  // hex digest of the file
  const std::filesystem::path& path() const { return path_; }

  // Raw logits for `batch` segments of `frames` x `dims` row-major floats laid
  // out contiguously (no copy is made). dims must equal the contract's Dims().
  absl::StatusOr<std::vector<float>> Forward(const float* features, std::int64_t batch,
                                             std::int64_t frames, std::int64_t dims) const;

  // Calibrated log-likelihood ratio of a logit.
  double Llr(float logit) const {
    return contract_.calibration_scale * logit + contract_.calibration_offset;
  }

 private:
  struct Impl;
  Model() = default;
  std::unique_ptr<Impl> impl_;
  ModelContract contract_;
  std::string sha256_;
  std::filesystem::path path_;
};

// Lower-case hex SHA-256 of a byte buffer (OpenSSL EVP).
std::string Sha256Hex(const void* data, std::size_t size);

}  // namespace spoofd::models
