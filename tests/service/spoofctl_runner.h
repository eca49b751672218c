// Runs the real spoofctl binary from tests: exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace spoofd::testing {

inline const std::filesystem::path kSource = SPOOFD_SOURCE_DIR;
inline const std::filesystem::path kSpoofctl =
    std::filesystem::path(SPOOFD_BINARY_DIR) / "bin" / "spoofctl";

struct Result {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline Result RunSpoofctl(const std::string& args) {
  // ctest runs tests in parallel processes: one stderr file each.
  static int calls = 0;
  const std::filesystem::path err_file =
      std::filesystem::path(::testing::TempDir()) /
      ("spoofctl_stderr_" + std::to_string(getpid()) + "_" + std::to_string(++calls));
  const std::string command = kSpoofctl.string() + " " + args + " 2>" + err_file.string();
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_file);
  result.err.assign(std::istreambuf_iterator<char>(err), {});
  return result;
}

inline std::string Quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace spoofd::testing
