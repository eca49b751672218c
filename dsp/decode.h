// spoofd::decode — turn whatever bytes a caller has into 16 kHz mono float32.
//
// Everything here is built on FFmpeg (libavformat, libavcodec, libswresample).
// The functions are thread-safe: each call owns its FFmpeg contexts. A
// RawStreamDecoder is a per-call object and must not be shared between threads
// without external locking. The first call installs a process-wide FFmpeg log
// callback that discards FFmpeg's messages, so corrupt input cannot spam the
// caller's terminal (set SPOOFD_FFMPEG_LOG=1 to keep them while debugging).
//
// Input is untrusted: probing reads at most 1 MiB, and containers that refer to
// other files or URLs (HLS/DASH playlists, ffconcat scripts, image sequences)
// are refused, never followed.
//
// Output samples are finite float32 in [-1, 1] (not clipped: a decoder may
// overshoot slightly), mono (all channels averaged with equal weights), at
// DecodeOptions::target_sample_rate_hz. Resampling uses libsoxr through
// libswresample where the FFmpeg build has it (Debian's does), else swr with a
// 64-tap filter. 16-bit mono PCM at the target rate comes out exactly as s16 / 32768.
//
// Error codes (absl::StatusCode), so callers can map them one-to-one to gRPC:
//   kInvalidArgument    empty input, bytes that are not a recognised container,
//                       no audio stream, a stream that decodes to zero samples,
//                       invalid options (a rate outside (0, 768000], limits <= 0),
//                       corrupt data from which nothing could be decoded, a
//                       playlist or other reference to further files, float
//                       samples that are NaN or infinite.
//   kUnimplemented      an audio stream whose codec this FFmpeg build cannot decode.
//   kResourceExhausted  input larger than max_input_bytes, or decoded audio longer
//                       than max_duration_s (decoding stops at the limit; nothing
//                       beyond it is allocated).
//   kNotFound / kPermissionDenied / kFailedPrecondition
//                       DecodeFile / ReadFileBytes only: the path does not exist,
//                       cannot be read, or is not a regular file (directory, FIFO,
//                       device: checked on the open descriptor, never blocks).
//   kInternal           an FFmpeg call failed for reasons unrelated to the input
//                       (allocation), or read() failed on an opened file.
// Every message is one line a person can act on, e.g.
//   "no audio stream in the input (container: mp4, 1 video stream)".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace spoofd::decode {

struct DecodeOptions {
  // Output sample rate, in (0, 768000]. 16000 is what every spoofd model consumes.
  int target_sample_rate_hz = 16000;
  // Inputs larger than this are refused before any decoding (kResourceExhausted).
  std::int64_t max_input_bytes = std::int64_t{2} << 30;  // 2 GiB
  // Decoding stops with kResourceExhausted once the output would exceed this
  // (floor(max_duration_s * target_sample_rate_hz) samples).
  double max_duration_s = 4.0 * 3600.0;
  // Optional file name, path or extension ("call.sln", "sln", ".g722",
  // "/in/call.g722") used to help FFmpeg probe containers without a signature
  // (Asterisk .sln, raw G.722). Only its extension is used; content probing
  // still wins over it when the bytes carry a signature.
  std::string format_hint;
};

// What the input was, for reports and for "why can this not be scored" messages.
struct SourceInfo {
  std::string container;     // FFmpeg demuxer short name, e.g. "wav", "mp3", "ogg", "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec;         // FFmpeg decoder name, e.g. "pcm_s16le", "mp3float", "opus"
  int sample_rate_hz = 0;    // of the decoded source stream
  int channels = 0;          // of the decoded source stream
  int audio_streams = 0;     // how many audio streams the container has (the best one is used)
  std::int64_t input_bytes = 0;
};

struct DecodedAudio {
  std::vector<float> samples;  // mono, float32
  int sample_rate_hz = 0;      // == DecodeOptions::target_sample_rate_hz
  SourceInfo source;

  double duration_s() const {
    return sample_rate_hz > 0 ? static_cast<double>(samples.size()) / sample_rate_hz : 0.0;
  }
};

// Decodes a whole container file held in memory (custom AVIOContext; the buffer
// is only read, never copied). Uses the "best" audio stream as FFmpeg ranks it,
// which is the first audio stream unless the container marks another as default.
// Corrupt packets in the middle of a stream are skipped (as players do), and a
// truncated file yields what precedes the cut; the call fails only if nothing
// at all could be decoded. Headerless PCM / G.711 is not a container: use
// DecodeRaw for it.
absl::StatusOr<DecodedAudio> DecodeBuffer(std::span<const std::uint8_t> data,
                                          const DecodeOptions& options = {});

// Reads the file (refusing files over max_input_bytes before reading them) and
// decodes it as DecodeBuffer does; the file name serves as the format hint when
// options.format_hint is empty.
absl::StatusOr<DecodedAudio> DecodeFile(const std::filesystem::path& path,
                                        const DecodeOptions& options = {});

// Reads a whole file into memory, refusing files over max_input_bytes (checked
// with fstat before reading). kInvalidArgument if max_input_bytes <= 0.
absl::StatusOr<std::vector<std::uint8_t>> ReadFileBytes(const std::filesystem::path& path,
                                                        std::int64_t max_input_bytes);

// ---------------------------------------------------------------------------
// Headerless telephony audio: what a live call stream carries.

enum class RawEncoding {
  kPcmS16le,  // signed 16-bit little-endian PCM
  kMulaw,     // G.711 mu-law, 8 bits per sample
  kAlaw,      // G.711 A-law, 8 bits per sample
};

// Accepts "s16le" / "pcm_s16le" / "pcm", "mulaw" / "ulaw" / "pcm_mulaw",
// "alaw" / "pcm_alaw" (case-insensitive); kInvalidArgument otherwise.
absl::StatusOr<RawEncoding> ParseRawEncoding(std::string_view name);
std::string_view RawEncodingName(RawEncoding encoding);

struct RawFormat {
  RawEncoding encoding = RawEncoding::kPcmS16le;
  int sample_rate_hz = 8000;  // of the raw input
};

// Incremental decoder for raw mono PCM / mu-law / A-law. Feed() accepts chunks of
// any size (an odd byte of s16le is held until its partner arrives) and appends
// the samples that are ready; Finish() flushes the resampler. Feeding a buffer in
// any chunking and then calling Finish() yields exactly the same samples
// (bit-identical) as DecodeRaw() on the whole buffer: input is decoded and
// resampled internally in fixed 20 ms blocks, whatever the chunking. Output
// therefore trails input by up to one block plus the resampler's delay (about
// 66 ms for 8 -> 16 kHz with soxr).
// RawFormat::sample_rate_hz must be in [1000, 768000] (kInvalidArgument).
class RawStreamDecoder {
 public:
  static absl::StatusOr<std::unique_ptr<RawStreamDecoder>> Create(
      RawFormat format, const DecodeOptions& options = {});
  ~RawStreamDecoder();
  RawStreamDecoder(const RawStreamDecoder&) = delete;
  RawStreamDecoder& operator=(const RawStreamDecoder&) = delete;

  // Appends decoded samples to *out. kResourceExhausted once the total output
  // passes options.max_duration_s: samples up to the limit are appended, nothing
  // past it. After any error every later Feed/Finish returns that same error.
  absl::Status Feed(std::span<const std::uint8_t> bytes, std::vector<float>* out);
  // Flushes what the resampler still holds. Further Feed/Finish calls fail with
  // kFailedPrecondition. A dangling odd byte of s16le input is dropped.
  absl::Status Finish(std::vector<float>* out);

  // Output samples produced so far.
  std::int64_t samples_out() const;

 private:
  struct Impl;
  explicit RawStreamDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whole-buffer raw decode (one Feed + Finish). kInvalidArgument for empty input.
absl::StatusOr<DecodedAudio> DecodeRaw(std::span<const std::uint8_t> data, RawFormat format,
                                       const DecodeOptions& options = {});

}  // namespace spoofd::decode
