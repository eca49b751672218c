// How spoofctl reads a recording: the input flags that score, batch and
// features share, and the one way they decode a file with them.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "dsp/decode.h"

namespace CLI {
class App;
}

namespace spoofd::cli {

struct InputFlags {
  std::string raw_format;  // empty: a container; else s16le, mulaw (ulaw) or alaw
  int raw_rate_hz = 8000;  // of headerless input
  double max_duration_s = 4.0 * 3600.0;
  double max_input_mb = 2048.0;

  std::int64_t MaxInputBytes() const {
    return static_cast<std::int64_t>(max_input_mb * 1024 * 1024);
  }
};

// --max-duration-s and --max-input-mb; with `headerless` also --format and --rate.
void AddInputFlags(CLI::App* cmd, InputFlags* flags, bool headerless);

// Decodes `bytes` as a container, or as the headerless encoding of --format at
// --rate. `options` gives the target rate and format hint; the limits come from
// `flags`.
absl::StatusOr<decode::DecodedAudio> DecodeInput(std::span<const std::uint8_t> bytes,
                                                 const InputFlags& flags,
                                                 decode::DecodeOptions options);

}  // namespace spoofd::cli
