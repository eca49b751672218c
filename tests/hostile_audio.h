// Hostile audio made in memory for the reliability tests (tests/RELIABILITY.md):
// WAV files with any header values, lying length fields, float PCM with NaN /
// infinities, many channels at high rates, truncations. Header-only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace spoofd::testing {

inline void PutLe(std::vector<std::uint8_t>* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// A canonical 44-byte-header WAV: format_tag 1 (PCM) or 3 (IEEE float).
// `declared_data_bytes` replaces the data chunk's length field (and the RIFF
// size follows it), e.g. to claim hours of audio while holding seconds.
inline std::vector<std::uint8_t> MakeWav(int format_tag, int channels, int rate_hz, int bits,
                                         const std::vector<std::uint8_t>& data,
                                         std::optional<std::uint32_t> declared_data_bytes = {}) {
  const std::uint32_t data_bytes = declared_data_bytes.value_or(static_cast<std::uint32_t>(data.size()));
  std::vector<std::uint8_t> out;
  out.insert(out.end(), {'R', 'I', 'F', 'F'});
  PutLe(&out, std::min<std::uint64_t>(0xFFFFFFFFu, 36ull + data_bytes), 4);
  out.insert(out.end(), {'W', 'A', 'V', 'E', 'f', 'm', 't', ' '});
  PutLe(&out, 16, 4);
  PutLe(&out, format_tag, 2);
  PutLe(&out, channels, 2);
  PutLe(&out, rate_hz, 4);
  PutLe(&out, static_cast<std::uint64_t>(rate_hz) * channels * bits / 8, 4);
  PutLe(&out, channels * bits / 8, 2);
  PutLe(&out, bits, 2);
  out.insert(out.end(), {'d', 'a', 't', 'a'});
  PutLe(&out, data_bytes, 4);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// 32-bit float WAV from interleaved samples.
inline std::vector<std::uint8_t> FloatWav(int channels, int rate_hz, const std::vector<float>& x) {
  std::vector<std::uint8_t> data(x.size() * 4);
  std::memcpy(data.data(), x.data(), data.size());
  return MakeWav(3, channels, rate_hz, 32, data);
}

// A 16-bit PCM WAV of `seconds` of a 440 Hz-ish tone (a different frequency
// per channel), interleaved.
inline std::vector<std::uint8_t> ToneWav(int channels, int rate_hz, double seconds) {
  const auto frames = static_cast<std::size_t>(seconds * rate_hz);
  std::vector<std::uint8_t> data;
  data.reserve(frames * channels * 2);
  for (std::size_t i = 0; i < frames; ++i) {
    for (int c = 0; c < channels; ++c) {
      const double phase = 2.0 * 3.14159265358979 * (220.0 * (c + 1)) * i / rate_hz;
      const auto s = static_cast<std::int16_t>(8000.0 * std::sin(phase));
      PutLe(&data, static_cast<std::uint16_t>(s), 2);
    }
  }
  return MakeWav(1, channels, rate_hz, 16, data);
}

// A FLAC file with STREAMINFO's total-samples field (36 bits) set to `total`:
// the header then declares far more (or less) audio than the frames hold.
inline std::vector<std::uint8_t> WithFlacTotalSamples(std::vector<std::uint8_t> flac,
                                                      std::uint64_t total) {
  // "fLaC", a 4-byte metadata block header, then STREAMINFO; total samples are
  // the low 4 bits of STREAMINFO byte 13 and bytes 14..17.
  const std::size_t si = 8;
  if (flac.size() < si + 18 || std::memcmp(flac.data(), "fLaC", 4) != 0) return flac;
  flac[si + 13] = static_cast<std::uint8_t>((flac[si + 13] & 0xF0) | ((total >> 32) & 0x0F));
  for (int i = 0; i < 4; ++i) flac[si + 14 + i] = static_cast<std::uint8_t>(total >> (8 * (3 - i)));
  return flac;
}

}  // namespace spoofd::testing
