#include "service/npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace spoofd::npy {
namespace {
constexpr char kMagic[] = "\x93NUMPY";
static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");
}  // namespace

void WriteFloat32(std::ostream& out, const float* data, const std::vector<std::int64_t>& shape) {
  std::string dims = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) dims += ",";
  std::string header = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", dims, "), }");
  // Magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  out.write(kMagic, 6);
  out.put(1);
  out.put(0);
  const auto len = static_cast<std::uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::int64_t count = 1;
  for (std::int64_t d : shape) count *= d;
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(float)));
}

absl::Status WriteFloat32File(const std::filesystem::path& path, const float* data,
                              const std::vector<std::int64_t>& shape) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp.string()));
    WriteFloat32(out, data, shape);
    out.flush();
    if (!out) return absl::DataLossError(absl::StrCat("write failed: ", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot rename to ", path.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<Float32Array> ReadFloat32File(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  char prefix[10];
  if (!in.read(prefix, 10) || std::memcmp(prefix, kMagic, 6) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a .npy file"));
  }
  size_t header_len = 0;
  if (prefix[6] == 1) {
    header_len = static_cast<unsigned char>(prefix[8]) | (static_cast<unsigned char>(prefix[9]) << 8);
  } else {
    char extra[2];
    if (!in.read(extra, 2)) return absl::InvalidArgumentError("truncated .npy header");
    header_len = static_cast<unsigned char>(prefix[8]) | (static_cast<unsigned char>(prefix[9]) << 8) |
                 (static_cast<unsigned char>(extra[0]) << 16) | (static_cast<unsigned char>(extra[1]) << 24);
  }
  std::string header(header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_len))) {
    return absl::InvalidArgumentError("truncated .npy header");
  }
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": expected a C-order float32 ('<f4') array"));
  }
  std::smatch match;
  static const std::regex kShape(R"('shape': \(([0-9, ]*)\))");
  if (!std::regex_search(header, match, kShape)) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": no shape in .npy header"));
  }
  Float32Array array;
  std::stringstream dims(match[1].str());
  std::string item;
  std::int64_t count = 1;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    array.shape.push_back(std::stoll(item));
    count *= array.shape.back();
  }
  array.data.resize(count);
  if (!in.read(reinterpret_cast<char*>(array.data.data()), static_cast<std::streamsize>(count * sizeof(float)))) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": truncated data"));
  }
  return array;
}

}  // namespace spoofd::npy
