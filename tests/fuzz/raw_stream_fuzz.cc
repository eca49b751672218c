// libFuzzer harness: raw telephony chunks through decode::RawStreamDecoder, as
// StreamScore feeds them. The first two bytes pick the encoding and the input
// rate, the third the chunking; the rest is the audio.
//
// Properties checked: any chunking gives exactly (bit for bit) the samples of
// DecodeRaw on the whole buffer, as dsp/decode.h promises; every sample is
// finite; the duration limit (3 s here, to exercise it often) holds, with
// kResourceExhausted and nothing past the limit.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "dsp/decode.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "raw_stream_fuzz: property violated: %s\n", what);
  std::abort();
}

constexpr int kRates[] = {8000, 16000, 11025, 22050, 44100, 48000, 1000, 768000, 12345, 96000};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  using spoofd::decode::RawEncoding;
  spoofd::decode::RawFormat format;
  format.encoding = static_cast<RawEncoding>(data[0] % 3);
  format.sample_rate_hz = kRates[data[1] % (sizeof(kRates) / sizeof(kRates[0]))];
  const unsigned chunk_seed = data[2];
  std::span<const std::uint8_t> audio(data + 3, size - 3);

  spoofd::decode::DecodeOptions options;
  options.max_duration_s = 3.0;
  const std::size_t limit = static_cast<std::size_t>(3.0 * 16000);

  auto decoder = spoofd::decode::RawStreamDecoder::Create(format, options);
  if (!decoder.ok()) Fail("Create refused a valid format");
  std::vector<float> streamed;
  absl::Status status;
  // Chunk sizes from a small LCG seeded by the third byte: 1..(seed+1)*7 bytes.
  unsigned state = chunk_seed * 2654435761u + 1;
  std::size_t pos = 0;
  while (pos < audio.size() && status.ok()) {
    state = state * 1103515245u + 12345u;
    const std::size_t n = std::min<std::size_t>(audio.size() - pos, 1 + (state >> 8) % ((chunk_seed + 1) * 7));
    status = (*decoder)->Feed(audio.subspan(pos, n), &streamed);
    pos += n;
  }
  if (status.ok()) status = (*decoder)->Finish(&streamed);
  if (streamed.size() > limit) Fail("streamed output past the duration limit");
  for (float v : streamed) {
    if (!std::isfinite(v)) Fail("non-finite sample");
  }

  auto whole = spoofd::decode::DecodeRaw(audio, format, options);
  if (audio.empty()) {
    if (whole.ok()) Fail("empty input decoded");
    return 0;
  }
  if (!status.ok()) {
    if (status.code() != absl::StatusCode::kResourceExhausted) Fail("unexpected Feed error");
    if (whole.ok() || whole.status().code() != absl::StatusCode::kResourceExhausted) {
      Fail("stream hit the limit, whole-buffer decode did not");
    }
    return 0;
  }
  if (!whole.ok()) {
    // A lone s16le byte decodes to nothing: both sides agree on "no samples".
    if (whole.status().code() == absl::StatusCode::kInvalidArgument && streamed.empty()) return 0;
    Fail("whole-buffer decode failed where streaming succeeded");
  }
  if (whole->samples.size() != streamed.size()) Fail("streamed and whole sample counts differ");
  if (!streamed.empty() &&
      std::memcmp(whole->samples.data(), streamed.data(), streamed.size() * sizeof(float)) != 0) {
    Fail("streamed samples differ from whole-buffer samples");
  }
  return 0;
}
