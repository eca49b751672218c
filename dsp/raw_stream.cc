#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "dsp/decode.h"
#include "dsp/decode_internal.h"

namespace spoofd::decode {
namespace {

using internal::AvErrorString;
using internal::CodecContextPtr;
using internal::FramePtr;
using internal::PacketPtr;
using internal::SwrPtr;

// Input is decoded and resampled in blocks of 20 ms (at the source rate),
// whatever chunks the caller feeds. swr's output for a given call sequence is
// deterministic, but the sequence itself would follow the caller's chunking;
// fixed blocks make every chunking produce the same calls, hence bit-identical
// samples. 20 ms (160 samples at 8 kHz) is one telephony packet, so live
// streams gain no latency beyond what their packets already carry.
constexpr int kBlocksPerSecond = 50;

AVCodecID CodecFor(RawEncoding encoding) {
  switch (encoding) {
    case RawEncoding::kPcmS16le:
      return AV_CODEC_ID_PCM_S16LE;
    case RawEncoding::kMulaw:
      return AV_CODEC_ID_PCM_MULAW;
    case RawEncoding::kAlaw:
      return AV_CODEC_ID_PCM_ALAW;
  }
  return AV_CODEC_ID_NONE;
}

int BytesPerSample(RawEncoding encoding) { return encoding == RawEncoding::kPcmS16le ? 2 : 1; }

}  // namespace

absl::StatusOr<RawEncoding> ParseRawEncoding(std::string_view name) {
  // Debian's abseil is built without std::string_view aliasing: go through std::string.
  const std::string original(name);
  const std::string lower = absl::AsciiStrToLower(original);
  if (lower == "s16le" || lower == "pcm_s16le" || lower == "pcm") return RawEncoding::kPcmS16le;
  if (lower == "mulaw" || lower == "ulaw" || lower == "pcm_mulaw") return RawEncoding::kMulaw;
  if (lower == "alaw" || lower == "pcm_alaw") return RawEncoding::kAlaw;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown raw encoding '", original, "' (expected s16le, mulaw or alaw)"));
}

std::string_view RawEncodingName(RawEncoding encoding) {
  switch (encoding) {
    case RawEncoding::kPcmS16le:
      return "s16le";
    case RawEncoding::kMulaw:
      return "mulaw";
    case RawEncoding::kAlaw:
      return "alaw";
  }
  return "unknown";
}

struct RawStreamDecoder::Impl {
  RawFormat format;
  int out_rate_hz = 0;
  std::int64_t max_samples = 0;
  double max_duration_s = 0.0;
  size_t bytes_per_sample = 1;
  size_t block_bytes = 0;
  CodecContextPtr decoder;
  SwrPtr swr;
  PacketPtr packet;
  FramePtr frame;
  std::vector<std::uint8_t> pending;  // always shorter than block_bytes
  std::vector<float> scratch;
  std::int64_t samples_out = 0;
  bool finished = false;
  absl::Status failure;  // first error; every later call repeats it

  // Decodes one block and appends its resampled output.
  absl::Status DecodeBlock(const std::uint8_t* bytes, size_t size, std::vector<float>* out) {
    int rc = av_new_packet(packet.get(), static_cast<int>(size));
    if (rc < 0) return absl::InternalError("out of memory");
    std::memcpy(packet->data, bytes, size);
    rc = avcodec_send_packet(decoder.get(), packet.get());
    av_packet_unref(packet.get());
    if (rc < 0) {
      return absl::InternalError(absl::StrCat("the ", decoder->codec->name,
                                              " decoder rejected a block: ", AvErrorString(rc)));
    }
    return ReceiveFrames(out);
  }

  absl::Status ReceiveFrames(std::vector<float>* out) {
    for (;;) {
      const int rc = avcodec_receive_frame(decoder.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return absl::OkStatus();
      if (rc < 0) {
        return absl::InternalError(
            absl::StrCat("the ", decoder->codec->name, " decoder failed: ", AvErrorString(rc)));
      }
      // The resampler was built for S16 mono at the input rate; PCM and G.711
      // decoders always emit exactly that.
      if (frame->format != AV_SAMPLE_FMT_S16 || frame->ch_layout.nb_channels != 1) {
        av_frame_unref(frame.get());
        return absl::InternalError("unexpected sample format from the raw decoder");
      }
      absl::Status status =
          Resample(const_cast<const std::uint8_t**>(frame->extended_data), frame->nb_samples, out);
      av_frame_unref(frame.get());
      if (!status.ok()) return status;
    }
  }

  // in == nullptr flushes the resampler; *produced (if given) gets the count.
  absl::Status Resample(const std::uint8_t** in, int in_samples, std::vector<float>* out,
                        int* produced = nullptr) {
    int capacity = swr_get_out_samples(swr.get(), in_samples);
    if (capacity < 0) {
      return absl::InternalError(absl::StrCat("resampler failed: ", AvErrorString(capacity)));
    }
    if (in == nullptr) capacity = std::max(capacity, 4096);  // flush: bound is an estimate
    scratch.resize(static_cast<size_t>(capacity));
    std::uint8_t* out_planes[1] = {reinterpret_cast<std::uint8_t*>(scratch.data())};
    const int got = swr_convert(swr.get(), out_planes, capacity, in, in_samples);
    if (got < 0) return absl::InternalError(absl::StrCat("resampler failed: ", AvErrorString(got)));
    if (produced != nullptr) *produced = got;
    // Append up to the limit, then stop for good.
    const std::int64_t room = max_samples - samples_out;
    const std::int64_t take = std::min<std::int64_t>(got, room);
    out->insert(out->end(), scratch.begin(), scratch.begin() + take);
    samples_out += take;
    if (got > room) {
      return absl::ResourceExhaustedError(internal::DurationLimitMessage(max_duration_s));
    }
    return absl::OkStatus();
  }

  absl::Status Feed(std::span<const std::uint8_t> bytes, std::vector<float>* out) {
    size_t offset = 0;
    if (!pending.empty()) {
      offset = std::min(block_bytes - pending.size(), bytes.size());
      pending.insert(pending.end(), bytes.begin(), bytes.begin() + offset);
      if (pending.size() < block_bytes) return absl::OkStatus();
      if (auto status = DecodeBlock(pending.data(), pending.size(), out); !status.ok()) {
        return status;
      }
      pending.clear();
    }
    while (bytes.size() - offset >= block_bytes) {
      if (auto status = DecodeBlock(bytes.data() + offset, block_bytes, out); !status.ok()) {
        return status;
      }
      offset += block_bytes;
    }
    pending.insert(pending.end(), bytes.begin() + offset, bytes.end());
    return absl::OkStatus();
  }

  absl::Status Finish(std::vector<float>* out) {
    // The last partial block, minus a dangling odd byte of s16le.
    const size_t usable = pending.size() / bytes_per_sample * bytes_per_sample;
    if (usable > 0) {
      if (auto status = DecodeBlock(pending.data(), usable, out); !status.ok()) return status;
    }
    pending.clear();
    if (const int rc = avcodec_send_packet(decoder.get(), nullptr); rc < 0 && rc != AVERROR_EOF) {
      return absl::InternalError(absl::StrCat("decoder flush failed: ", AvErrorString(rc)));
    }
    if (auto status = ReceiveFrames(out); !status.ok()) return status;
    for (int guard = 0; guard < 64; ++guard) {
      int produced = 0;
      if (auto status = Resample(nullptr, 0, out, &produced); !status.ok()) return status;
      if (produced == 0) break;
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<RawStreamDecoder>> RawStreamDecoder::Create(
    RawFormat format, const DecodeOptions& options) {
  if (auto status = internal::ValidateOptions(options); !status.ok()) return status;
  if (format.sample_rate_hz < internal::kMinSourceRateHz ||
      format.sample_rate_hz > internal::kMaxSampleRateHz) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw sample_rate_hz must be in [", internal::kMinSourceRateHz, ", ",
                     internal::kMaxSampleRateHz, "], got ", format.sample_rate_hz));
  }
  const AVCodecID codec_id = CodecFor(format.encoding);
  if (codec_id == AV_CODEC_ID_NONE) return absl::InvalidArgumentError("unknown raw encoding");
  internal::SilenceFfmpegLogsOnce();

  auto impl = std::make_unique<Impl>();
  impl->format = format;
  impl->out_rate_hz = options.target_sample_rate_hz;
  impl->max_samples = internal::MaxOutputSamples(options);
  impl->max_duration_s = options.max_duration_s;
  impl->bytes_per_sample = static_cast<size_t>(BytesPerSample(format.encoding));
  const int block_samples = std::max(1, format.sample_rate_hz / kBlocksPerSecond);
  impl->block_bytes = static_cast<size_t>(block_samples) * impl->bytes_per_sample;

  const AVCodec* codec = avcodec_find_decoder(codec_id);
  if (codec == nullptr) {
    return absl::UnimplementedError(absl::StrCat("the audio codec '", avcodec_get_name(codec_id),
                                                 "' cannot be decoded by this build"));
  }
  impl->decoder.reset(avcodec_alloc_context3(codec));
  impl->packet.reset(av_packet_alloc());
  impl->frame.reset(av_frame_alloc());
  if (impl->decoder == nullptr || impl->packet == nullptr || impl->frame == nullptr) {
    return absl::InternalError("out of memory");
  }
  AVCodecContext* ctx = impl->decoder.get();
  ctx->sample_rate = format.sample_rate_hz;
  const AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  if (const int rc = av_channel_layout_copy(&ctx->ch_layout, &mono); rc < 0) {
    return absl::InternalError("out of memory");
  }
  ctx->pkt_timebase = AVRational{1, format.sample_rate_hz};
  if (const int rc = avcodec_open2(ctx, codec, nullptr); rc < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open the ", codec->name, " decoder: ", AvErrorString(rc)));
  }
  auto swr = internal::MakeMonoFloatResampler(mono, AV_SAMPLE_FMT_S16, format.sample_rate_hz,
                                              options.target_sample_rate_hz);
  if (!swr.ok()) return swr.status();
  impl->swr = *std::move(swr);
  impl->pending.reserve(impl->block_bytes);
  return std::unique_ptr<RawStreamDecoder>(new RawStreamDecoder(std::move(impl)));
}

RawStreamDecoder::RawStreamDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RawStreamDecoder::~RawStreamDecoder() = default;

absl::Status RawStreamDecoder::Feed(std::span<const std::uint8_t> bytes, std::vector<float>* out) {
  if (out == nullptr) return absl::InvalidArgumentError("Feed: out must not be null");
  if (!impl_->failure.ok()) return impl_->failure;
  if (impl_->finished) return absl::FailedPreconditionError("Feed called after Finish");
  absl::Status status = impl_->Feed(bytes, out);
  if (!status.ok()) impl_->failure = status;
  return status;
}

absl::Status RawStreamDecoder::Finish(std::vector<float>* out) {
  if (out == nullptr) return absl::InvalidArgumentError("Finish: out must not be null");
  if (!impl_->failure.ok()) return impl_->failure;
  if (impl_->finished) return absl::FailedPreconditionError("Finish called twice");
  impl_->finished = true;
  absl::Status status = impl_->Finish(out);
  if (!status.ok()) impl_->failure = status;
  return status;
}

std::int64_t RawStreamDecoder::samples_out() const { return impl_->samples_out; }

absl::StatusOr<DecodedAudio> DecodeRaw(std::span<const std::uint8_t> data, RawFormat format,
                                       const DecodeOptions& options) {
  if (auto status = internal::ValidateOptions(options); !status.ok()) return status;
  if (data.empty()) return absl::InvalidArgumentError("the input is empty");
  const auto input_bytes = static_cast<std::int64_t>(data.size());
  if (input_bytes > options.max_input_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "input of ", input_bytes, " bytes exceeds the ", options.max_input_bytes, "-byte limit"));
  }
  auto decoder = RawStreamDecoder::Create(format, options);
  if (!decoder.ok()) return decoder.status();

  DecodedAudio result;
  result.sample_rate_hz = options.target_sample_rate_hz;
  // Exact output length is in_samples * out_rate / in_rate plus a few samples of
  // rounding; reserve that (never past the limit) so the vector does not regrow.
  const double in_samples = static_cast<double>(input_bytes / BytesPerSample(format.encoding));
  const double expected = in_samples * options.target_sample_rate_hz / format.sample_rate_hz + 64.0;
  result.samples.reserve(static_cast<size_t>(
      std::min(expected, static_cast<double>(internal::MaxOutputSamples(options)))));
  if (auto status = (*decoder)->Feed(data, &result.samples); !status.ok()) return status;
  if (auto status = (*decoder)->Finish(&result.samples); !status.ok()) return status;
  if (result.samples.empty()) {
    return absl::InvalidArgumentError(
        "no audio could be decoded: the input is shorter than one sample");
  }
  SourceInfo& info = result.source;
  info.container = "raw";
  info.codec = avcodec_get_name(CodecFor(format.encoding));
  info.sample_rate_hz = format.sample_rate_hz;
  info.channels = 1;
  info.audio_streams = 1;
  info.input_bytes = input_bytes;
  return result;
}

}  // namespace spoofd::decode
