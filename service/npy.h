// NumPy .npy files (format 1.0) holding little-endian float32 arrays: the
// exchange format between spoofctl and the Python training pipeline.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace spoofd::npy {

struct Float32Array {
  std::vector<std::int64_t> shape;
  std::vector<float> data;  // C order
};

// Writes a C-order float32 array with the given shape. The stream's state is the
// caller's to check.
void WriteFloat32(std::ostream& out, const float* data, const std::vector<std::int64_t>& shape);

// Writes to `path` atomically (a temporary file in the same folder, renamed).
absl::Status WriteFloat32File(const std::filesystem::path& path, const float* data,
                              const std::vector<std::int64_t>& shape);

// Reads a float32 ('<f4'), C-order .npy file (any number of dimensions).
// kInvalidArgument for anything else, kNotFound when the file is missing.
absl::StatusOr<Float32Array> ReadFloat32File(const std::filesystem::path& path);

}  // namespace spoofd::npy
