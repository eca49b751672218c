// libFuzzer harness: any bytes as a file, through decode::DecodeBuffer exactly
// as the server calls it for Score / ScoreUpload (16 kHz target, the input
// size as max_input_bytes). The duration limit is far lower than the
// server's default (60 s instead of 2 h) so that a decompression bomb (the
// 11-minute FLAC fixture took 44 s per run under ASan with a 10-minute limit)
// costs a few seconds per input; the limit code path is the same.
//
// Properties checked beyond "no crash / no sanitizer report":
//   - success means samples at the requested rate, within the duration limit,
//     every sample finite;
//   - failure carries one of the documented status codes and a message.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "dsp/decode.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "decode_fuzz: property violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  spoofd::decode::DecodeOptions options;
  options.max_duration_s = 60.0;
  options.max_input_bytes = size > 0 ? static_cast<std::int64_t>(size) : 1;
  auto audio = spoofd::decode::DecodeBuffer(std::span<const std::uint8_t>(data, size), options);
  if (audio.ok()) {
    if (audio->sample_rate_hz != 16000) Fail("output rate differs from the target");
    if (audio->samples.empty()) Fail("success with zero samples");
    if (audio->samples.size() > static_cast<std::size_t>(60.0 * 16000)) Fail("over the limit");
    for (float v : audio->samples) {
      if (!std::isfinite(v)) Fail("non-finite sample");
    }
    return 0;
  }
  switch (audio.status().code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kResourceExhausted:
      break;
    default:
      Fail("undocumented status code");
  }
  if (audio.status().message().empty()) Fail("error without a message");
  return 0;
}
