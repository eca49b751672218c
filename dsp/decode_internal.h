// Private to spoofd::decode (decode.cc, raw_stream.cc): FFmpeg ownership types
// and the helpers both decoders share. Not installed, not included by callers;
// FFmpeg headers must stay out of decode.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dsp/decode.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
}

namespace spoofd::decode::internal {

// FFmpeg's free functions take a pointer-to-pointer and null it; these adapt
// them to std::unique_ptr deleters.
struct FormatContextCloser {
  void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct PacketDeleter {
  void operator()(AVPacket* pkt) const { av_packet_free(&pkt); }
};
struct FrameDeleter {
  void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct SwrDeleter {
  void operator()(SwrContext* swr) const { swr_free(&swr); }
};
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextCloser>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;

// Highest sample rate accepted for the output and for raw input. Source streams
// are held to [kMinSourceRateHz, kMaxSampleRateHz] so the resampling ratio, and
// with it the per-call scratch buffer, stays bounded on hostile headers.
inline constexpr int kMaxSampleRateHz = 768000;
inline constexpr int kMinSourceRateHz = 1000;

// Routes FFmpeg's log output to nowhere, once per process: a library must not
// write to its caller's terminal, and corrupt input makes FFmpeg chatty. Set
// SPOOFD_FFMPEG_LOG=1 in the environment to keep FFmpeg's default logging
// while debugging.
void SilenceFfmpegLogsOnce();

// kInvalidArgument naming the bad field, or OK.
absl::Status ValidateOptions(const DecodeOptions& options);

// floor(max_duration_s * target_sample_rate_hz), clamped to what a vector can hold.
std::int64_t MaxOutputSamples(const DecodeOptions& options);

// "decoded audio exceeds the 600 s limit"
std::string DurationLimitMessage(double max_duration_s);

// av_strerror() as a std::string.
std::string AvErrorString(int errnum);

// A resampler from (layout, format, rate) to mono float at out_rate_hz. Several
// channels are averaged with equal weights (swr's default matrix would instead
// sum stereo at -3 dB each, giving up to +3 dB over the input). Uses the soxr
// engine when this FFmpeg build has it (quality "HQ": 20-bit precision), else
// swr's own with a 64-tap filter. kInvalidArgument if swr rejects the input
// parameters (e.g. more than 64 channels).
absl::StatusOr<SwrPtr> MakeMonoFloatResampler(const AVChannelLayout& in_layout,
                                              AVSampleFormat in_format, int in_rate_hz,
                                              int out_rate_hz);

}  // namespace spoofd::decode::internal
