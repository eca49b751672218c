#include "service/spoofctl/input.h"

#include "CLI/CLI.hpp"

namespace spoofd::cli {

void AddInputFlags(CLI::App* cmd, InputFlags* flags, bool headerless) {
  if (headerless) {
    cmd->add_option("--format", flags->raw_format,
                    "Headerless input encoding instead of a container: s16le, mulaw or alaw")
        ->check(CLI::IsMember({"s16le", "mulaw", "ulaw", "alaw"}));
    cmd->add_option("--rate", flags->raw_rate_hz, "Sample rate of headerless input in Hz")
        ->capture_default_str()
        ->check(CLI::Range(1000, 192000));
  }
  cmd->add_option("--max-duration-s", flags->max_duration_s, "Refuse audio longer than this")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-input-mb", flags->max_input_mb, "Refuse inputs larger than this (MiB)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

absl::StatusOr<decode::DecodedAudio> DecodeInput(std::span<const std::uint8_t> bytes,
                                                 const InputFlags& flags,
                                                 decode::DecodeOptions options) {
  options.max_duration_s = flags.max_duration_s;
  options.max_input_bytes = flags.MaxInputBytes();
  if (flags.raw_format.empty()) return decode::DecodeBuffer(bytes, options);
  absl::StatusOr<decode::RawEncoding> encoding = decode::ParseRawEncoding(flags.raw_format);
  if (!encoding.ok()) return encoding.status();
  return decode::DecodeRaw(bytes, {*encoding, flags.raw_rate_hz}, options);
}

}  // namespace spoofd::cli
