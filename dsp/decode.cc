#include "dsp/decode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dsp/decode_internal.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
}

namespace spoofd::decode {
namespace internal {
namespace {

void DropFfmpegLog(void* /*avcl*/, int /*level*/, const char* /*fmt*/, va_list /*args*/) {}

// One attempt at building the resampler with a given engine.
absl::StatusOr<SwrPtr> TryMakeResampler(const AVChannelLayout& in_layout_hint,
                                        AVSampleFormat in_format, int in_rate_hz, int out_rate_hz,
                                        bool use_soxr) {
  const int channels = in_layout_hint.nb_channels;
  if (channels <= 0) return absl::InvalidArgumentError("the audio stream has no channels");
  // Every channel gets the same weight, so which channel sits where does not
  // matter: a default layout for the channel count sidesteps layouts swr cannot
  // take (unspecified or custom order).
  AVChannelLayout in_layout{};
  av_channel_layout_default(&in_layout, channels);
  AVChannelLayout out_layout = AV_CHANNEL_LAYOUT_MONO;
  SwrContext* raw = nullptr;
  int rc = swr_alloc_set_opts2(&raw, &out_layout, AV_SAMPLE_FMT_FLT, out_rate_hz, &in_layout,
                               in_format, in_rate_hz, 0, nullptr);
  av_channel_layout_uninit(&in_layout);
  SwrPtr swr(raw);
  if (rc < 0 || swr == nullptr) {
    return absl::InternalError(absl::StrCat("cannot allocate a resampler: ", AvErrorString(rc)));
  }
  if (use_soxr) {
    rc = av_opt_set_int(swr.get(), "resampler", SWR_ENGINE_SOXR, 0);
  } else {
    // swr's default 32-tap filter lets visible aliasing through near Nyquist.
    rc = av_opt_set_int(swr.get(), "filter_size", 64, 0);
  }
  if (rc < 0) {
    return absl::InternalError(absl::StrCat("cannot configure the resampler: ", AvErrorString(rc)));
  }
  if (channels > 1) {
    // swr's default down-mix adds stereo channels at -3 dB each, which is +3 dB
    // for correlated channels and can leave [-1, 1]; the contract is a mean.
    std::vector<double> matrix(static_cast<size_t>(channels), 1.0 / channels);
    rc = swr_set_matrix(swr.get(), matrix.data(), channels);
    if (rc < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot down-mix ", channels, " channels: ", AvErrorString(rc)));
    }
  }
  rc = swr_init(swr.get());
  if (rc < 0) {
    const char* format_name = av_get_sample_fmt_name(in_format);
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot convert ", channels, "-channel ", format_name != nullptr ? format_name : "unknown",
        " audio at ", in_rate_hz, " Hz to ", out_rate_hz, " Hz: ", AvErrorString(rc)));
  }
  return swr;
}

bool HaveSoxr() {
  // swr_init fails with "engine unavailable" on builds without libsoxr; ask once.
  static const bool kHaveSoxr = [] {
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    return TryMakeResampler(mono, AV_SAMPLE_FMT_S16, 8000, 16000, /*use_soxr=*/true).ok();
  }();
  return kHaveSoxr;
}

}  // namespace

void SilenceFfmpegLogsOnce() {
  // Function-local static: thread-safe one-time initialisation. av_log's
  // callback is process-global; nothing else in spoofd logs through FFmpeg.
  static const bool kSilenced = [] {
    const char* keep = std::getenv("SPOOFD_FFMPEG_LOG");
    if (keep != nullptr && keep[0] != '\0' && keep[0] != '0') return false;
    av_log_set_callback(DropFfmpegLog);
    return true;
  }();
  (void)kSilenced;
}

absl::Status ValidateOptions(const DecodeOptions& options) {
  if (options.target_sample_rate_hz <= 0 || options.target_sample_rate_hz > kMaxSampleRateHz) {
    return absl::InvalidArgumentError(absl::StrCat("target_sample_rate_hz must be in (0, ",
                                                   kMaxSampleRateHz, "], got ",
                                                   options.target_sample_rate_hz));
  }
  if (options.max_input_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_input_bytes must be > 0, got ", options.max_input_bytes));
  }
  if (!(options.max_duration_s > 0.0)) {  // also rejects NaN
    return absl::InvalidArgumentError(
        absl::StrCat("max_duration_s must be > 0, got ", options.max_duration_s));
  }
  return absl::OkStatus();
}

std::int64_t MaxOutputSamples(const DecodeOptions& options) {
  // 2^60 floats is beyond any vector's max_size on 64-bit; also absorbs +inf.
  constexpr double kCeiling = static_cast<double>(std::int64_t{1} << 60);
  const double samples = std::floor(options.max_duration_s * options.target_sample_rate_hz);
  return static_cast<std::int64_t>(std::min(samples, kCeiling));
}

std::string DurationLimitMessage(double max_duration_s) {
  return absl::StrCat("decoded audio exceeds the ", max_duration_s, " s limit");
}

std::string AvErrorString(int errnum) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(errnum, buffer, sizeof(buffer));
  return buffer;
}

absl::StatusOr<SwrPtr> MakeMonoFloatResampler(const AVChannelLayout& in_layout,
                                              AVSampleFormat in_format, int in_rate_hz,
                                              int out_rate_hz) {
  return TryMakeResampler(in_layout, in_format, in_rate_hz, out_rate_hz, HaveSoxr());
}

}  // namespace internal

namespace {

using internal::AvErrorString;
using internal::CodecContextPtr;
using internal::FormatContextPtr;
using internal::FramePtr;
using internal::PacketPtr;
using internal::SwrPtr;

// AVIO reads through this buffer; 64 KiB is FFmpeg's own default for files.
constexpr int kAvioBufferBytes = 64 * 1024;
// Probing reads at most this much (format detection and stream analysis), so a
// hostile input cannot make probing run long; real headers are far smaller.
constexpr std::int64_t kProbeBytes = std::int64_t{1} << 20;
constexpr std::int64_t kMaxAnalyzeDurationUs = 5 * std::int64_t{AV_TIME_BASE};
// Output samples per swr_convert call: bounds the scratch buffer whatever the
// resampling ratio or frame size a header claims.
constexpr std::int64_t kScratchSamples = std::int64_t{1} << 16;
// Reservation ceiling, relative to the input size: assumes no stream codes
// below 4 kbit/s (500 B/s). Lower-rate (or bomb) inputs still decode; their
// vector just grows instead of being reserved from a header's claim.
constexpr double kMinPlausibleInputBytesPerSecond = 500.0;

// The caller's span, seen by AVIO as a seekable read-only file.
struct MemoryReader {
  std::span<const std::uint8_t> data;
  std::int64_t position = 0;
};

int ReadFromMemory(void* opaque, std::uint8_t* buffer, int buffer_bytes) {
  auto* reader = static_cast<MemoryReader*>(opaque);
  const std::int64_t left = static_cast<std::int64_t>(reader->data.size()) - reader->position;
  const int n = static_cast<int>(std::min<std::int64_t>(left, buffer_bytes));
  if (n <= 0) return AVERROR_EOF;
  std::memcpy(buffer, reader->data.data() + reader->position, static_cast<size_t>(n));
  reader->position += n;
  return n;
}

std::int64_t SeekInMemory(void* opaque, std::int64_t offset, int whence) {
  auto* reader = static_cast<MemoryReader*>(opaque);
  const auto size = static_cast<std::int64_t>(reader->data.size());
  whence &= ~AVSEEK_FORCE;
  if (whence == AVSEEK_SIZE) return size;
  std::int64_t base = 0;
  switch (whence) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = reader->position;
      break;
    case SEEK_END:
      base = size;
      break;
    default:
      return AVERROR(EINVAL);
  }
  std::int64_t target = 0;
  // Offsets come from the demuxer, i.e. from the input's own fields.
  if (__builtin_add_overflow(base, offset, &target) || target < 0 || target > size) {
    return AVERROR(EINVAL);
  }
  reader->position = target;
  return target;
}

struct AvioDeleter {
  void operator()(AVIOContext* avio) const {
    // AVIO may have replaced the buffer it was given; free the current one.
    av_freep(&avio->buffer);
    avio_context_free(&avio);
  }
};
using AvioPtr = std::unique_ptr<AVIOContext, AvioDeleter>;

// Demuxers such as HLS, DASH, IMF, concat or image sequences open further URLs
// named inside the input. Input bytes must never make us read local files or
// the network, so every nested open is refused, twice over: this callback
// covers demuxers that open through AVFormatContext::io_open (HLS, DASH,
// image2), and an unsatisfiable protocol whitelist covers those that open a
// nested AVFormatContext of their own (concat copies the whitelist, not
// io_open).
constexpr char kNoProtocols[] = "none";

// Where RefuseNestedOpen records a refusal, for the error message. Thread-local
// rather than AVFormatContext::opaque: nested contexts that demuxers create
// reach the callback too, and their opaque is not ours to interpret.
thread_local bool* tls_refused_nested_open = nullptr;

int RefuseNestedOpen(AVFormatContext* /*s*/, AVIOContext** /*pb*/, const char* /*url*/,
                     int /*flags*/, AVDictionary** /*options*/) {
  if (tls_refused_nested_open != nullptr) *tls_refused_nested_open = true;
  return AVERROR(EPERM);
}

// Points tls_refused_nested_open at a flag for the duration of one call.
class ScopedRefusalFlag {
 public:
  explicit ScopedRefusalFlag(bool* flag) { tls_refused_nested_open = flag; }
  ~ScopedRefusalFlag() { tls_refused_nested_open = nullptr; }
  ScopedRefusalFlag(const ScopedRefusalFlag&) = delete;
  ScopedRefusalFlag& operator=(const ScopedRefusalFlag&) = delete;
};

// "call.GSM" / ".gsm" / "gsm" / "/x/y/call.gsm" -> "gsm". Only [a-z0-9] survive:
// the hint becomes a fake file name for probing and must not look like a URL.
std::string HintExtension(std::string_view hint) {
  if (const size_t slash = hint.find_last_of("/\\"); slash != std::string_view::npos) {
    hint.remove_prefix(slash + 1);
  }
  if (const size_t dot = hint.rfind('.'); dot != std::string_view::npos) {
    hint.remove_prefix(dot + 1);
  }
  std::string ext;
  for (const char c : hint) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return "";
    ext.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return ext.size() <= 16 ? ext : "";
}

// FFmpeg names some demuxers by all their aliases ("mov,mp4,m4a,3gp,3g2,mj2");
// messages use the alias matching the file's extension, else the first.
std::string ContainerDisplayName(const char* name, const std::string& extension) {
  const std::vector<std::string> aliases = absl::StrSplit(name, ',');
  for (const std::string& alias : aliases) {
    if (alias == extension) return alias;
  }
  return aliases.front();
}

std::string CountNoun(int count, const char* noun) {
  return absl::StrCat(count, " ", noun, count == 1 ? "" : "s");
}

// "1 video stream, 2 subtitle streams" / "no streams"
std::string StreamSummary(const AVFormatContext& fmt) {
  int video = 0, subtitle = 0, other = 0;
  for (unsigned i = 0; i < fmt.nb_streams; ++i) {
    switch (fmt.streams[i]->codecpar->codec_type) {
      case AVMEDIA_TYPE_VIDEO:
        ++video;
        break;
      case AVMEDIA_TYPE_SUBTITLE:
        ++subtitle;
        break;
      case AVMEDIA_TYPE_AUDIO:
        break;
      default:
        ++other;
        break;
    }
  }
  std::vector<std::string> parts;
  if (video > 0) parts.push_back(CountNoun(video, "video stream"));
  if (subtitle > 0) parts.push_back(CountNoun(subtitle, "subtitle stream"));
  if (other > 0) parts.push_back(CountNoun(other, "data stream"));
  if (parts.empty()) return "no streams";
  std::string summary = parts.front();
  for (size_t i = 1; i < parts.size(); ++i) absl::StrAppend(&summary, ", ", parts[i]);
  return summary;
}

// Decoded frames -> mono float at the target rate, appended to *out with the
// duration limit enforced before anything is appended or reserved.
class MonoSink {
 public:
  MonoSink(const DecodeOptions& options, std::vector<float>* out)
      : out_rate_hz_(options.target_sample_rate_hz),
        max_samples_(internal::MaxOutputSamples(options)),
        max_duration_s_(options.max_duration_s),
        out_(out) {}

  absl::Status Push(const AVFrame& frame) {
    if (frame.nb_samples <= 0) return absl::OkStatus();
    const auto format = static_cast<AVSampleFormat>(frame.format);
    const int channels = frame.ch_layout.nb_channels;
    if (frame.sample_rate < internal::kMinSourceRateHz ||
        frame.sample_rate > internal::kMaxSampleRateHz) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported source sample rate: ", frame.sample_rate, " Hz"));
    }
    // Some streams change rate or channel count midway (chained Ogg, ADTS,
    // broadcast MP3): finish the old resampler's tail and start a new one.
    if (swr_ == nullptr || format != format_ || frame.sample_rate != rate_hz_ ||
        channels != channels_) {
      if (auto status = Flush(); !status.ok()) return status;
      auto swr = internal::MakeMonoFloatResampler(frame.ch_layout, format, frame.sample_rate,
                                                  out_rate_hz_);
      if (!swr.ok()) return swr.status();
      swr_ = *std::move(swr);
      format_ = format;
      rate_hz_ = frame.sample_rate;
      channels_ = channels;
    }
    const bool planar = av_sample_fmt_is_planar(format) != 0;
    const int bytes_per_sample = av_get_bytes_per_sample(format);
    const int planes = planar ? channels : 1;
    const int stride_bytes = planar ? bytes_per_sample : bytes_per_sample * channels;
    // Input per call such that the output stays near kScratchSamples.
    const int max_slice =
        static_cast<int>(std::max<std::int64_t>(1, kScratchSamples * rate_hz_ / out_rate_hz_));
    planes_.resize(static_cast<size_t>(planes));
    for (int done = 0; done < frame.nb_samples;) {
      const int slice = std::min(max_slice, frame.nb_samples - done);
      for (int p = 0; p < planes; ++p) {
        planes_[p] = frame.extended_data[p] + static_cast<std::ptrdiff_t>(done) * stride_bytes;
      }
      if (auto status = Convert(planes_.data(), slice); !status.ok()) return status;
      done += slice;
    }
    return absl::OkStatus();
  }

  // Drains the resampler's delay line (end of stream or format change).
  absl::Status Flush() {
    if (swr_ == nullptr) return absl::OkStatus();
    // swr returns what it holds over one or more calls; 0 means empty.
    for (int guard = 0; guard < 64; ++guard) {
      int produced = 0;
      if (auto status = Convert(nullptr, 0, &produced); !status.ok()) return status;
      if (produced == 0) break;
    }
    swr_.reset();
    return absl::OkStatus();
  }

 private:
  absl::Status Convert(const std::uint8_t** in, int in_samples, int* produced = nullptr) {
    int capacity = swr_get_out_samples(swr_.get(), in_samples);
    if (capacity < 0) {
      return absl::InternalError(absl::StrCat("resampler failed: ", AvErrorString(capacity)));
    }
    if (in == nullptr) capacity = std::max(capacity, 4096);  // flush: bound is an estimate
    scratch_.resize(static_cast<size_t>(capacity));
    std::uint8_t* out_planes[1] = {reinterpret_cast<std::uint8_t*>(scratch_.data())};
    const int got = swr_convert(swr_.get(), out_planes, capacity, in, in_samples);
    if (got < 0) return absl::InternalError(absl::StrCat("resampler failed: ", AvErrorString(got)));
    if (produced != nullptr) *produced = got;
    return Append(got);
  }

  absl::Status Append(int n) {
    if (n <= 0) return absl::OkStatus();
    const auto size = static_cast<std::int64_t>(out_->size());
    if (size + n > max_samples_) {
      return absl::ResourceExhaustedError(internal::DurationLimitMessage(max_duration_s_));
    }
    // Float PCM can carry NaN or infinities (and a corrupt stream can make a
    // float decoder produce them); nothing downstream can score them, so the
    // input is refused here rather than deep inside the feature code.
    for (int i = 0; i < n; ++i) {
      if (!std::isfinite(scratch_[static_cast<size_t>(i)])) {
        return absl::InvalidArgumentError(
            "the audio contains NaN or infinite sample values (float PCM?)");
      }
    }
    // Grow geometrically, but never reserve past the limit (std::vector's own
    // doubling could allocate up to twice the limit).
    if (static_cast<size_t>(size + n) > out_->capacity()) {
      const auto capacity = static_cast<std::int64_t>(out_->capacity());
      const std::int64_t wanted = std::max<std::int64_t>({capacity * 2, size + n, 4096});
      out_->reserve(static_cast<size_t>(std::min(wanted, max_samples_)));
    }
    out_->insert(out_->end(), scratch_.begin(), scratch_.begin() + n);
    return absl::OkStatus();
  }

  const int out_rate_hz_;
  const std::int64_t max_samples_;
  const double max_duration_s_;
  std::vector<float>* const out_;
  SwrPtr swr_;
  AVSampleFormat format_ = AV_SAMPLE_FMT_NONE;
  int rate_hz_ = 0;
  int channels_ = 0;
  std::vector<const std::uint8_t*> planes_;
  std::vector<float> scratch_;
};

// A first guess at the output size from the container's duration, capped by the
// limit and by the input size so that a lying header cannot make us reserve
// gigabytes for a small file.
std::int64_t ReservationGuess(const AVFormatContext& fmt, const AVStream& stream,
                              std::int64_t input_bytes, const DecodeOptions& options) {
  double duration_s = 0.0;
  if (stream.duration != AV_NOPTS_VALUE && stream.duration > 0) {
    duration_s = static_cast<double>(stream.duration) * av_q2d(stream.time_base);
  } else if (fmt.duration != AV_NOPTS_VALUE && fmt.duration > 0) {
    duration_s = static_cast<double>(fmt.duration) / AV_TIME_BASE;
  }
  if (!(duration_s > 0.0) || !std::isfinite(duration_s)) return 0;
  const double rate = options.target_sample_rate_hz;
  // +1% and +0.5 s: codec padding and resampler tail, so we rarely regrow.
  double guess = duration_s * rate * 1.01 + rate * 0.5;
  guess =
      std::min(guess, static_cast<double>(input_bytes) / kMinPlausibleInputBytesPerSecond * rate);
  guess = std::min(guess, static_cast<double>(internal::MaxOutputSamples(options)));
  return static_cast<std::int64_t>(guess);
}

// Sends one packet (nullptr: end of stream) and feeds every frame it yields to
// the sink. Packets the decoder rejects are skipped and counted: players skip
// corrupt packets too, and the caller only fails when nothing decoded at all.
// ENOMEM gets no special treatment here or in the demuxer: FFmpeg returns it
// for sizes read from damaged input (e.g. "Failed to read extradata"), so it
// says nothing about the machine.
absl::Status DecodePacket(AVCodecContext* decoder, const AVPacket* packet, AVFrame* frame,
                          MonoSink* sink, SourceInfo* info, int* rejected_packets) {
  int rc = avcodec_send_packet(decoder, packet);
  if (rc < 0 && rc != AVERROR_EOF) {
    ++*rejected_packets;
    if (packet != nullptr) return absl::OkStatus();
  }
  for (;;) {
    rc = avcodec_receive_frame(decoder, frame);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return absl::OkStatus();
    if (rc < 0) {
      // The decoder has dropped the packet that failed; move on to the next.
      ++*rejected_packets;
      return absl::OkStatus();
    }
    if (info->channels == 0) {  // first frame: the truth (e.g. AAC SBR doubles the rate)
      info->sample_rate_hz = frame->sample_rate;
      info->channels = frame->ch_layout.nb_channels;
    }
    absl::Status status = sink->Push(*frame);
    av_frame_unref(frame);
    if (!status.ok()) return status;
  }
}

}  // namespace

absl::StatusOr<DecodedAudio> DecodeBuffer(std::span<const std::uint8_t> data,
                                          const DecodeOptions& options) {
  if (auto status = internal::ValidateOptions(options); !status.ok()) return status;
  if (data.empty()) return absl::InvalidArgumentError("the input is empty");
  const auto input_bytes = static_cast<std::int64_t>(data.size());
  if (input_bytes > options.max_input_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "input of ", input_bytes, " bytes exceeds the ", options.max_input_bytes, "-byte limit"));
  }
  internal::SilenceFfmpegLogsOnce();

  // Declaration order is destruction order in reverse: the format context goes
  // first, then the AVIO context, then the reader they both point to.
  MemoryReader reader{data, 0};
  bool refused_nested_open = false;
  const ScopedRefusalFlag refusal_flag(&refused_nested_open);
  auto* avio_buffer = static_cast<std::uint8_t*>(av_malloc(kAvioBufferBytes));
  if (avio_buffer == nullptr) return absl::InternalError("out of memory");
  AVIOContext* avio_raw = avio_alloc_context(avio_buffer, kAvioBufferBytes, /*write_flag=*/0,
                                             &reader, ReadFromMemory, nullptr, SeekInMemory);
  if (avio_raw == nullptr) {
    av_free(avio_buffer);
    return absl::InternalError("out of memory");
  }
  AvioPtr avio(avio_raw);

  AVFormatContext* fmt_raw = avformat_alloc_context();
  if (fmt_raw == nullptr) return absl::InternalError("out of memory");
  fmt_raw->pb = avio.get();
  fmt_raw->flags |= AVFMT_FLAG_CUSTOM_IO;  // close_input must leave our AVIO alone
  fmt_raw->probesize = kProbeBytes;
  fmt_raw->format_probesize = static_cast<int>(kProbeBytes);
  fmt_raw->max_analyze_duration = kMaxAnalyzeDurationUs;
  fmt_raw->io_open = RefuseNestedOpen;
  fmt_raw->protocol_whitelist = av_strdup(kNoProtocols);  // freed with the context
  if (fmt_raw->protocol_whitelist == nullptr) {
    avformat_free_context(fmt_raw);
    return absl::InternalError("out of memory");
  }
  // With custom I/O the "URL" is never opened; FFmpeg matches its extension
  // while probing, which is how signature-less streams (.sln, .g722) are found.
  // Never empty: some demuxers (HLS) fail with ENOMEM on an empty name.
  const std::string extension = HintExtension(options.format_hint);
  const std::string probe_name = extension.empty() ? "input" : "input." + extension;
  int rc = avformat_open_input(&fmt_raw, probe_name.c_str(), nullptr, nullptr);
  if (rc < 0) {
    // avformat_open_input has freed fmt_raw (not our AVIO) on failure.
    if (rc == AVERROR(EPERM) || refused_nested_open) {
      return absl::InvalidArgumentError(
          "the input is a playlist or list of other files, which are not followed");
    }
    if (rc == AVERROR_INVALIDDATA) {
      return absl::InvalidArgumentError("not a recognised audio or video format");
    }
    // Anything else (EOF, ENOMEM for sizes a header claims, ...) comes from a
    // header that was recognised but cannot be read.
    return absl::InvalidArgumentError("cannot read the header: the input is truncated or damaged");
  }
  FormatContextPtr fmt(fmt_raw);
  const std::string container = fmt->iformat->name;
  const std::string container_shown = ContainerDisplayName(fmt->iformat->name, extension);

  // Fills in parameters that headers leave out (ADTS, MPEG-TS, raw streams).
  // Failure here is not fatal: the decoder may still cope.
  avformat_find_stream_info(fmt.get(), nullptr);

  int audio_streams = 0;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) ++audio_streams;
  }
  const int index = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (index < 0) {
    if (audio_streams > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the audio stream's sample rate or channel count could not be read "
                       "(container: ",
                       container_shown, ")"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("no audio stream in the input (container: ", container_shown, ", ",
                     StreamSummary(*fmt), ")"));
  }
  AVStream* stream = fmt->streams[index];
  // Let the demuxer skip everything else (video in a screen recording, etc.).
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (static_cast<int>(i) != index) fmt->streams[i]->discard = AVDISCARD_ALL;
  }

  const AVCodecParameters* params = stream->codecpar;
  const AVCodec* codec = avcodec_find_decoder(params->codec_id);
  if (codec == nullptr) {
    if (params->codec_id == AV_CODEC_ID_NONE) {
      return absl::UnimplementedError(
          absl::StrCat("the audio codec (unknown, tag 0x", absl::Hex(params->codec_tag),
                       ") cannot be decoded by this build (container: ", container_shown, ")"));
    }
    return absl::UnimplementedError(absl::StrCat("the audio codec '",
                                                 avcodec_get_name(params->codec_id),
                                                 "' cannot be decoded by this build"));
  }
  CodecContextPtr decoder(avcodec_alloc_context3(codec));
  if (decoder == nullptr) return absl::InternalError("out of memory");
  rc = avcodec_parameters_to_context(decoder.get(), params);
  if (rc < 0) {  // only copies fields: fails on allocation alone
    return absl::InternalError(absl::StrCat("cannot set up the decoder: ", AvErrorString(rc)));
  }
  // Without it the MP3 decoder warns about every file and timestamps are off.
  decoder->pkt_timebase = stream->time_base;
  decoder->thread_count = 1;  // audio decoders gain nothing from threads
  rc = avcodec_open2(decoder.get(), codec, nullptr);
  if (rc < 0) {
    // Decoders parse the stream's header (extradata) here: bad input, not us.
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open the ", codec->name, " decoder for this stream: ", AvErrorString(rc)));
  }

  DecodedAudio result;
  result.sample_rate_hz = options.target_sample_rate_hz;
  SourceInfo& info = result.source;
  info.container = container;
  info.codec = codec->name;
  info.audio_streams = audio_streams;
  info.input_bytes = input_bytes;
  result.samples.reserve(
      static_cast<size_t>(ReservationGuess(*fmt, *stream, input_bytes, options)));

  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (packet == nullptr || frame == nullptr) return absl::InternalError("out of memory");
  MonoSink sink(options, &result.samples);
  int rejected_packets = 0;
  for (;;) {
    rc = av_read_frame(fmt.get(), packet.get());
    // EOF, or a demuxer that cannot resync after damage: stop where a player would.
    if (rc < 0) break;
    absl::Status status = absl::OkStatus();
    if (packet->stream_index == index) {
      status =
          DecodePacket(decoder.get(), packet.get(), frame.get(), &sink, &info, &rejected_packets);
    }
    av_packet_unref(packet.get());
    if (!status.ok()) return status;
  }
  if (auto status =
          DecodePacket(decoder.get(), nullptr, frame.get(), &sink, &info, &rejected_packets);
      !status.ok()) {
    return status;
  }
  if (auto status = sink.Flush(); !status.ok()) return status;

  if (info.channels == 0) {  // no frame came out at all
    info.sample_rate_hz = decoder->sample_rate;
    info.channels = decoder->ch_layout.nb_channels;
  }
  if (result.samples.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no audio could be decoded: the ", codec->name, " stream (container: ", container_shown,
        ") is ", rejected_packets > 0 ? "corrupt or truncated" : "empty"));
  }
  // Hand back at most 25% slack; beyond that a copy is cheaper than the memory.
  if (result.samples.capacity() > result.samples.size() + result.samples.size() / 4) {
    result.samples.shrink_to_fit();
  }
  return result;
}

namespace {

// Closes a POSIX file descriptor on scope exit.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

}  // namespace

absl::StatusOr<std::vector<std::uint8_t>> ReadFileBytes(const std::filesystem::path& path,
                                                        std::int64_t max_input_bytes) {
  if (max_input_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_input_bytes must be > 0, got ", max_input_bytes));
  }
  const std::string name = path.string();
  // O_NONBLOCK: opening a FIFO must not hang waiting for a writer; the type
  // check below then refuses it. fstat on the open descriptor (not stat on the
  // path) so the checks apply to the very file we read.
  const ScopedFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("no such file: ", name));
    }
    if (error == EACCES || error == EPERM) {
      return absl::PermissionDeniedError(absl::StrCat("cannot read ", name, ": permission denied"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", name, ": ", std::strerror(error)));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat ", name, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot decode ", name, ": it is ", FileTypeName(info.st_mode)));
  }
  const std::int64_t size = info.st_size;
  if (size > max_input_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(name, " is ", size, " bytes, over the ", max_input_bytes, "-byte limit"));
  }
  std::vector<std::uint8_t> bytes(static_cast<size_t>(size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("reading ", name, " failed: ", std::strerror(errno)));
    }
    if (n == 0) break;  // the file shrank while we read it: keep what is there
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

absl::StatusOr<DecodedAudio> DecodeFile(const std::filesystem::path& path,
                                        const DecodeOptions& options) {
  if (auto status = internal::ValidateOptions(options); !status.ok()) return status;
  auto bytes = ReadFileBytes(path, options.max_input_bytes);
  if (!bytes.ok()) return bytes.status();
  DecodeOptions with_hint = options;
  if (with_hint.format_hint.empty()) with_hint.format_hint = path.filename().string();
  return DecodeBuffer(*bytes, with_hint);
}

}  // namespace spoofd::decode
