// Tests for spoofd::decode against the fixtures made by tests/data/make_fixtures.sh
// (2 s of LibriVox speech, 1.0-3.0 s of samples/genuine_librivox_0870.wav, in
// many containers and codecs) and against in-test signals.
#include "dsp/decode.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spoofd::decode {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path& FixtureDir() {
  static const fs::path dir = fs::path(SPOOFD_SOURCE_DIR) / "tests" / "data" / "fixtures";
  return dir;
}

std::vector<std::uint8_t> ReadFixture(const std::string& name) {
  auto bytes = ReadFileBytes(FixtureDir() / name, std::int64_t{1} << 26);
  EXPECT_TRUE(bytes.ok()) << name << ": " << bytes.status() << " (run tests/data/make_fixtures.sh)";
  return bytes.ok() ? *std::move(bytes) : std::vector<std::uint8_t>{};
}

double Rms(std::span<const float> x) {
  double sum = 0.0;
  for (const float v : x) sum += static_cast<double>(v) * v;
  return x.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(x.size()));
}

// The payload of a RIFF/WAVE file's "data" chunk.
std::span<const std::uint8_t> WavData(std::span<const std::uint8_t> wav) {
  size_t pos = 12;  // "RIFF" size "WAVE"
  while (pos + 8 <= wav.size()) {
    std::uint32_t size = 0;
    std::memcpy(&size, wav.data() + pos + 4, 4);  // little-endian host
    if (std::memcmp(wav.data() + pos, "data", 4) == 0) {
      return wav.subspan(pos + 8, std::min<size_t>(size, wav.size() - pos - 8));
    }
    pos += 8 + size + (size & 1);
  }
  ADD_FAILURE() << "no data chunk";
  return {};
}

template <typename T>
std::vector<T> LittleEndianValues(std::span<const std::uint8_t> bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

void ExpectOneLineMessage(const absl::Status& status) {
  EXPECT_FALSE(status.message().empty());
  EXPECT_EQ(status.message().find('\n'), absl::string_view::npos) << status;
}

// A fresh directory under $TMPDIR, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "spoofd_decode_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? fs::path(pattern) : fs::path();
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------
// Every supported container/codec decodes to 16 kHz mono of the right length.

struct GoodFixture {
  const char* file;
  const char* container;  // FFmpeg demuxer name
  const char* codec;      // FFmpeg decoder name
  int source_rate_hz;
  int source_channels;
  double duration_s;
};

// Tolerance on the decoded duration: one codec frame of padding. The worst
// case is AAC in MP4, whose end padding FFmpeg 5.1 keeps: 2.048 s for 2.000 s
// (the first 1024-sample frame of priming is trimmed by the edit list).
constexpr double kDurationToleranceS = 0.064;
// The excerpt's RMS is about 0.075 in every format; silence or garbage is far off.
constexpr double kMinRms = 0.03;
constexpr double kMaxRms = 0.2;

class GoodFixtureTest : public ::testing::TestWithParam<GoodFixture> {};

TEST_P(GoodFixtureTest, DecodesTo16kMonoWithExpectedDurationAndSource) {
  const GoodFixture& f = GetParam();
  const fs::path path = FixtureDir() / f.file;
  absl::StatusOr<DecodedAudio> audio = DecodeFile(path);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_EQ(audio->sample_rate_hz, 16000);
  EXPECT_NEAR(audio->duration_s(), f.duration_s, kDurationToleranceS);
  const double rms = Rms(audio->samples);
  EXPECT_GT(rms, kMinRms);
  EXPECT_LT(rms, kMaxRms);
  for (const float v : audio->samples) {
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_LT(std::fabs(v), 1.5f);  // decoders may overshoot a little, not more
  }
  const SourceInfo& source = audio->source;
  EXPECT_EQ(source.container, f.container);
  EXPECT_EQ(source.codec, f.codec);
  EXPECT_EQ(source.sample_rate_hz, f.source_rate_hz);
  EXPECT_EQ(source.channels, f.source_channels);
  EXPECT_EQ(source.audio_streams, 1);
  EXPECT_EQ(source.input_bytes, static_cast<std::int64_t>(fs::file_size(path)));
}

TEST_P(GoodFixtureTest, BufferWithHintEqualsFile) {
  const GoodFixture& f = GetParam();
  const std::vector<std::uint8_t> bytes = ReadFixture(f.file);
  absl::StatusOr<DecodedAudio> from_file = DecodeFile(FixtureDir() / f.file);
  DecodeOptions options;
  options.format_hint = f.file;
  absl::StatusOr<DecodedAudio> from_buffer = DecodeBuffer(bytes, options);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  ASSERT_TRUE(from_buffer.ok()) << from_buffer.status();
  EXPECT_EQ(from_buffer->samples, from_file->samples);
  EXPECT_EQ(from_buffer->source.container, from_file->source.container);
  EXPECT_EQ(from_buffer->source.codec, from_file->source.codec);
}

INSTANTIATE_TEST_SUITE_P(
    AllFormats, GoodFixtureTest,
    ::testing::Values(GoodFixture{"wav_s16le_16k.wav", "wav", "pcm_s16le", 16000, 1, 2.0},
                      GoodFixture{"wav_u8_8k.wav", "wav", "pcm_u8", 8000, 1, 2.0},
                      GoodFixture{"wav_f32le_44k_stereo.wav", "wav", "pcm_f32le", 44100, 2, 0.5},
                      GoodFixture{"wav_mulaw_8k.wav", "wav", "pcm_mulaw", 8000, 1, 2.0},
                      GoodFixture{"wav_alaw_8k.wav", "wav", "pcm_alaw", 8000, 1, 2.0},
                      GoodFixture{"wav_gsm_ms_8k.wav", "wav", "gsm_ms", 8000, 1, 2.0},
                      GoodFixture{"wav_g722_16k.wav", "wav", "g722", 16000, 1, 2.0},
                      GoodFixture{"wav_g726_8k.wav", "wav", "g726", 8000, 1, 2.0},
                      GoodFixture{"speech.mp3", "mp3", "mp3float", 16000, 1, 2.0},
                      GoodFixture{"speech.flac", "flac", "flac", 16000, 1, 2.0},
                      GoodFixture{"speech_vorbis.ogg", "ogg", "vorbis", 16000, 1, 2.0},
                      GoodFixture{"speech_opus.ogg", "ogg", "opus", 48000, 1, 2.0},
                      GoodFixture{"speech_opus.webm", "matroska,webm", "opus", 48000, 1, 2.0},
                      GoodFixture{"speech_aac.m4a", "mov,mp4,m4a,3gp,3g2,mj2", "aac", 16000, 1,
                                  2.0},
                      GoodFixture{"speech_speex.ogg", "ogg", "speex", 16000, 1, 2.0},
                      GoodFixture{"speech.gsm", "gsm", "gsm", 8000, 1, 2.0},
                      GoodFixture{"video_aac.mp4", "mov,mp4,m4a,3gp,3g2,mj2", "aac", 16000, 1, 2.0},
                      GoodFixture{"video_opus.webm", "matroska,webm", "opus", 48000, 1, 2.0}),
    [](const ::testing::TestParamInfo<GoodFixture>& info) {
      std::string name = info.param.file;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(DecodeTest, AmrNbFixture) {
  const fs::path path = FixtureDir() / "speech_amrnb.amr";
  if (!fs::exists(path)) {
    GTEST_SKIP() << "speech_amrnb.amr not generated: this ffmpeg has no AMR-NB encoder "
                    "(Debian builds without libopencore-amrnb) and sox with amr-nb is absent";
  }
  absl::StatusOr<DecodedAudio> audio = DecodeFile(path);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_EQ(audio->source.codec, "amrnb");
  EXPECT_NEAR(audio->duration_s(), 2.0, kDurationToleranceS);
  EXPECT_GT(Rms(audio->samples), kMinRms);
}

// 16 kHz s16 in, 16 kHz out: no resampling, so every sample is exactly s16 / 32768.
TEST(DecodeTest, WavPcm16kIsBitExact) {
  const std::vector<std::uint8_t> wav = ReadFixture("wav_s16le_16k.wav");
  const std::vector<std::int16_t> pcm = LittleEndianValues<std::int16_t>(WavData(wav));
  absl::StatusOr<DecodedAudio> audio = DecodeBuffer(wav);
  ASSERT_TRUE(audio.ok()) << audio.status();
  ASSERT_EQ(audio->samples.size(), pcm.size());
  ASSERT_EQ(pcm.size(), 32000u);
  for (size_t i = 0; i < pcm.size(); ++i) {
    ASSERT_EQ(audio->samples[i], static_cast<float>(pcm[i]) / 32768.0f) << "sample " << i;
  }
}

// The fixture's right channel is half the left; mono must be the mean, 0.75 L
// (not swr's default L/sqrt2 + R/sqrt2). At 44.1 kHz out nothing is resampled.
TEST(DecodeTest, StereoIsAveragedToMono) {
  const std::vector<std::uint8_t> wav = ReadFixture("wav_f32le_44k_stereo.wav");
  const std::vector<float> interleaved = LittleEndianValues<float>(WavData(wav));
  DecodeOptions options;
  options.target_sample_rate_hz = 44100;
  absl::StatusOr<DecodedAudio> audio = DecodeBuffer(wav, options);
  ASSERT_TRUE(audio.ok()) << audio.status();
  ASSERT_EQ(audio->samples.size() * 2, interleaved.size());
  for (size_t i = 0; i < audio->samples.size(); ++i) {
    const float left = interleaved[2 * i];
    const float right = interleaved[2 * i + 1];
    ASSERT_NEAR(right, 0.5f * left, 1.0f / 32768);  // the pan ran on s16 samples
    ASSERT_NEAR(audio->samples[i], 0.5f * (left + right), 1e-6f) << "sample " << i;
  }
}

// The same mu-law bytes in a WAV and headerless must decode alike: the
// container path (whole frames into swr) and the raw path (20 ms blocks) only
// differ in how input is sliced for the resampler.
TEST(DecodeTest, WavAndRawMulawAgree) {
  const std::vector<std::uint8_t> wav = ReadFixture("wav_mulaw_8k.wav");
  const std::vector<std::uint8_t> raw = ReadFixture("raw_mulaw_8k.raw");
  const std::span<const std::uint8_t> wav_payload = WavData(wav);
  ASSERT_TRUE(std::equal(wav_payload.begin(), wav_payload.end(), raw.begin(), raw.end()));
  absl::StatusOr<DecodedAudio> from_wav = DecodeBuffer(wav);
  absl::StatusOr<DecodedAudio> from_raw = DecodeRaw(raw, {RawEncoding::kMulaw, 8000});
  ASSERT_TRUE(from_wav.ok()) << from_wav.status();
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  ASSERT_EQ(from_wav->samples.size(), from_raw->samples.size());
  for (size_t i = 0; i < from_raw->samples.size(); ++i) {
    ASSERT_NEAR(from_wav->samples[i], from_raw->samples[i], 1e-6f) << "sample " << i;
  }
  EXPECT_EQ(from_raw->source.container, "raw");
  EXPECT_EQ(from_raw->source.codec, "pcm_mulaw");
  EXPECT_EQ(from_raw->source.sample_rate_hz, 8000);
  EXPECT_EQ(from_raw->source.channels, 1);
  EXPECT_EQ(from_raw->source.input_bytes, static_cast<std::int64_t>(raw.size()));
}

// Headerless streams have no signature: only the hint (a file name or an
// extension) lets FFmpeg pick a demuxer, here Asterisk's .sln (8 kHz s16le).
TEST(DecodeTest, FormatHintProbesSignaturelessStreams) {
  const std::vector<std::uint8_t> raw = ReadFixture("raw_s16le_8k.raw");
  absl::StatusOr<DecodedAudio> no_hint = DecodeBuffer(raw);
  EXPECT_EQ(no_hint.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<DecodedAudio> reference = DecodeRaw(raw, {RawEncoding::kPcmS16le, 8000});
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (const char* hint : {"sln", ".sln", "call.SLN", "/var/spool/asterisk/call.sln"}) {
    DecodeOptions options;
    options.format_hint = hint;
    absl::StatusOr<DecodedAudio> audio = DecodeBuffer(raw, options);
    ASSERT_TRUE(audio.ok()) << hint << ": " << audio.status();
    EXPECT_EQ(audio->source.container, "sln");
    ASSERT_EQ(audio->samples.size(), reference->samples.size());
    for (size_t i = 0; i < audio->samples.size(); ++i) {
      ASSERT_NEAR(audio->samples[i], reference->samples[i], 1e-6f) << hint << " sample " << i;
    }
  }
}

TEST(DecodeTest, ConcurrentCallsAgree) {
  const std::vector<std::uint8_t> mp3 = ReadFixture("speech.mp3");
  absl::StatusOr<DecodedAudio> reference = DecodeBuffer(mp3);
  ASSERT_TRUE(reference.ok()) << reference.status();
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&mp3, &result] {
      absl::StatusOr<DecodedAudio> audio = DecodeBuffer(mp3);
      if (audio.ok()) result = std::move(audio->samples);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, reference->samples);
}

// ---------------------------------------------------------------------------
// Bad inputs fail with the documented code and a one-line message.

struct BadFixture {
  const char* file;
  absl::StatusCode code;
  const char* message_part;
};

class BadFixtureTest : public ::testing::TestWithParam<BadFixture> {};

TEST_P(BadFixtureTest, FailsWithDocumentedCode) {
  const BadFixture& f = GetParam();
  const absl::StatusOr<DecodedAudio> from_file = DecodeFile(FixtureDir() / f.file);
  EXPECT_EQ(from_file.status().code(), f.code) << from_file.status();
  EXPECT_THAT(std::string(from_file.status().message()), HasSubstr(f.message_part));
  ExpectOneLineMessage(from_file.status());
  // Same answer from memory, with and without the name as a hint.
  const std::vector<std::uint8_t> bytes = ReadFixture(f.file);
  EXPECT_EQ(DecodeBuffer(bytes).status().code(), f.code);
  DecodeOptions options;
  options.format_hint = f.file;
  EXPECT_EQ(DecodeBuffer(bytes, options).status().code(), f.code);
}

INSTANTIATE_TEST_SUITE_P(
    BadInputs, BadFixtureTest,
    ::testing::Values(BadFixture{"bad_empty.wav", absl::StatusCode::kInvalidArgument, "empty"},
                      BadFixture{"bad_random.bin", absl::StatusCode::kInvalidArgument,
                                 "not a recognised audio or video format"},
                      BadFixture{"bad_text.txt", absl::StatusCode::kInvalidArgument, ""},
                      BadFixture{"bad_truncated.wav", absl::StatusCode::kInvalidArgument,
                                 "no audio could be decoded"},
                      BadFixture{"bad_truncated.flac", absl::StatusCode::kInvalidArgument,
                                 "no audio could be decoded"},
                      BadFixture{"video_no_audio.mp4", absl::StatusCode::kInvalidArgument,
                                 "no audio stream in the input (container: mp4, 1 video stream)"},
                      // Headerless audio has no container: it must go through DecodeRaw.
                      BadFixture{"raw_s16le_8k.raw", absl::StatusCode::kInvalidArgument, ""}),
    [](const ::testing::TestParamInfo<BadFixture>& info) {
      std::string name = info.param.file;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

// A download cut at 40%: like a player, decode what is there.
TEST(DecodeTest, TruncatedMp3DecodesWhatIsThere) {
  absl::StatusOr<DecodedAudio> audio = DecodeFile(FixtureDir() / "bad_truncated.mp3");
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_GT(audio->duration_s(), 0.6);
  EXPECT_LT(audio->duration_s(), 0.9);
  EXPECT_GT(Rms(audio->samples), kMinRms);
}

// Corrupt bytes in the middle of an MP3: the damaged frames are skipped.
TEST(DecodeTest, CorruptMiddleOfMp3IsSkipped) {
  std::vector<std::uint8_t> mp3 = ReadFixture("speech.mp3");
  std::mt19937 rng(5);
  for (size_t i = mp3.size() / 3; i < mp3.size() / 2; ++i)
    mp3[i] = static_cast<std::uint8_t>(rng());
  absl::StatusOr<DecodedAudio> audio = DecodeBuffer(mp3);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_GT(audio->duration_s(), 1.0);
}

// WAV whose format tag no decoder knows (0x1234): kUnimplemented, not garbage.
TEST(DecodeTest, UnknownCodecIsUnimplemented) {
  std::vector<std::uint8_t> wav = ReadFixture("wav_s16le_16k.wav");
  ASSERT_EQ(std::memcmp(wav.data() + 12, "fmt ", 4), 0);
  wav[20] = 0x34;  // wFormatTag, little-endian
  wav[21] = 0x12;
  absl::StatusOr<DecodedAudio> audio = DecodeBuffer(wav);
  EXPECT_EQ(audio.status().code(), absl::StatusCode::kUnimplemented) << audio.status();
  EXPECT_THAT(std::string(audio.status().message()), HasSubstr("cannot be decoded by this build"));
  ExpectOneLineMessage(audio.status());
}

// Playlists and concat scripts name other files; input must never make the
// decoder open them (local file disclosure, SSRF). Run from a directory that
// holds the named file, so a relative reference would resolve if followed.
TEST(DecodeTest, DoesNotFollowReferencesToOtherFiles) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  fs::copy_file(FixtureDir() / "wav_s16le_16k.wav", dir.path() / "seg.wav");
  const std::string absolute = (dir.path() / "seg.wav").string();
  const std::vector<std::string> inputs = {
      "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nseg.wav\n#EXT-X-ENDLIST\n",
      "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://" + absolute + "\n#EXT-X-ENDLIST\n",
      "ffconcat version 1.0\nfile 'seg.wav'\n",
      "ffconcat version 1.0\nfile '" + absolute + "'\n",
  };
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir.path());
  for (const std::string& text : inputs) {
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()),
                                              text.size());
    for (const char* hint : {"", "list.m3u8", "list.ffconcat"}) {
      DecodeOptions options;
      options.format_hint = hint;
      absl::StatusOr<DecodedAudio> audio = DecodeBuffer(bytes, options);
      EXPECT_EQ(audio.status().code(), absl::StatusCode::kInvalidArgument)
          << text << " hint '" << hint << "' -> " << audio.status();
      ExpectOneLineMessage(audio.status());
    }
  }
  fs::current_path(old_cwd);
}

// ---------------------------------------------------------------------------
// Limits and options.

TEST(DecodeTest, InputLargerThanLimitIsRefused) {
  const fs::path path = FixtureDir() / "wav_s16le_16k.wav";
  const std::vector<std::uint8_t> bytes = ReadFixture("wav_s16le_16k.wav");
  DecodeOptions options;
  options.max_input_bytes = static_cast<std::int64_t>(bytes.size()) - 1;
  EXPECT_EQ(DecodeBuffer(bytes, options).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(DecodeFile(path, options).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadFileBytes(path, options.max_input_bytes).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(DecodeRaw(bytes, {RawEncoding::kPcmS16le, 16000}, options).status().code(),
            absl::StatusCode::kResourceExhausted);
  options.max_input_bytes = static_cast<std::int64_t>(bytes.size());
  EXPECT_TRUE(DecodeBuffer(bytes, options).ok());
}

TEST(DecodeTest, OutputLongerThanLimitIsRefused) {
  DecodeOptions options;
  options.max_duration_s = 0.5;
  for (const char* file : {"wav_s16le_16k.wav", "speech.mp3", "speech_opus.ogg", "video_aac.mp4"}) {
    absl::StatusOr<DecodedAudio> audio = DecodeFile(FixtureDir() / file, options);
    EXPECT_EQ(audio.status().code(), absl::StatusCode::kResourceExhausted) << file;
    EXPECT_EQ(audio.status().message(), "decoded audio exceeds the 0.5 s limit");
  }
}

// 11 minutes of FLAC silence in ~9 KB (one 65535-sample block per ~8 s):
// decoding stops at the limit instead of producing 11 minutes.
TEST(DecodeTest, DecompressionBombStopsAtLimit) {
  const std::vector<std::uint8_t> bomb = ReadFixture("bomb_silence_11min.flac");
  ASSERT_LT(bomb.size(), 16u * 1024);
  DecodeOptions options;
  options.max_duration_s = 600.0;
  absl::StatusOr<DecodedAudio> audio = DecodeBuffer(bomb, options);
  EXPECT_EQ(audio.status().code(), absl::StatusCode::kResourceExhausted) << audio.status();
  EXPECT_EQ(audio.status().message(), "decoded audio exceeds the 600 s limit");
  options.max_duration_s = 700.0;
  audio = DecodeBuffer(bomb, options);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_NEAR(audio->duration_s(), 660.0, 0.01);
}

TEST(DecodeTest, InvalidOptionsAreRejected) {
  const std::vector<std::uint8_t> wav = ReadFixture("wav_s16le_16k.wav");
  std::vector<DecodeOptions> bad(6);
  bad[0].target_sample_rate_hz = 0;
  bad[1].target_sample_rate_hz = -16000;
  bad[2].target_sample_rate_hz = 100'000'000;
  bad[3].max_input_bytes = 0;
  bad[4].max_duration_s = 0.0;
  bad[5].max_duration_s = std::numeric_limits<double>::quiet_NaN();
  for (const DecodeOptions& options : bad) {
    const absl::Status buffer = DecodeBuffer(wav, options).status();
    EXPECT_EQ(buffer.code(), absl::StatusCode::kInvalidArgument) << buffer;
    ExpectOneLineMessage(buffer);
    EXPECT_EQ(DecodeFile(FixtureDir() / "wav_s16le_16k.wav", options).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(DecodeRaw(wav, {RawEncoding::kPcmS16le, 16000}, options).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(RawStreamDecoder::Create({RawEncoding::kMulaw, 8000}, options).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  for (const int raw_rate_hz : {0, -8000, 10, 100'000'000}) {
    EXPECT_EQ(DecodeRaw(wav, {RawEncoding::kPcmS16le, raw_rate_hz}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << raw_rate_hz;
  }
}

TEST(DecodeTest, OtherTargetRates) {
  const std::vector<std::uint8_t> mp3 = ReadFixture("speech.mp3");
  for (const int rate_hz : {8000, 22050, 48000}) {
    DecodeOptions options;
    options.target_sample_rate_hz = rate_hz;
    absl::StatusOr<DecodedAudio> audio = DecodeBuffer(mp3, options);
    ASSERT_TRUE(audio.ok()) << audio.status();
    EXPECT_EQ(audio->sample_rate_hz, rate_hz);
    EXPECT_NEAR(audio->duration_s(), 2.0, kDurationToleranceS);
  }
}

// ---------------------------------------------------------------------------
// DecodeFile / ReadFileBytes and the file system.

TEST(DecodeFileTest, MissingFileIsNotFound) {
  const absl::Status status = DecodeFile(FixtureDir() / "no_such_file.wav").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("no_such_file.wav"));
  EXPECT_EQ(ReadFileBytes(FixtureDir() / "no_such_dir" / "x.wav", 1000).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(DecodeFileTest, NonRegularFilesAreFailedPrecondition) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const fs::path fifo = dir.path() / "fifo.wav";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A FIFO without a writer must neither block nor be read.
  for (const fs::path& path : {FixtureDir(), fs::path("/dev/null"), fifo}) {
    const absl::Status status = DecodeFile(path).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << path << ": " << status;
    ExpectOneLineMessage(status);
  }
}

TEST(DecodeFileTest, UnreadableFileIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: file permissions are not enforced";
  TempDir dir;
  const fs::path path = dir.path() / "secret.wav";
  fs::copy_file(FixtureDir() / "wav_s16le_16k.wav", path);
  fs::permissions(path, fs::perms::none);
  EXPECT_EQ(DecodeFile(path).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(DecodeFileTest, ExplicitHintOverridesFileName) {
  TempDir dir;
  const fs::path path = dir.path() / "upload.bin";
  fs::copy_file(FixtureDir() / "raw_s16le_8k.raw", path);
  EXPECT_EQ(DecodeFile(path).status().code(), absl::StatusCode::kInvalidArgument);
  DecodeOptions options;
  options.format_hint = "sln";
  absl::StatusOr<DecodedAudio> audio = DecodeFile(path, options);
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_EQ(audio->source.container, "sln");
  EXPECT_NEAR(audio->duration_s(), 2.0, kDurationToleranceS);
}

// ---------------------------------------------------------------------------
// Headerless telephony audio.

// ref: ITU-T G.711 decoding as in the public-domain Sun Microsystems g711.c
// (ulaw2linear / alaw2linear), which FFmpeg's tables reproduce.
std::int16_t MulawToLinear(std::uint8_t code) {
  code = ~code;
  int t = ((code & 0x0F) << 3) + 0x84;
  t <<= (code & 0x70) >> 4;
  return static_cast<std::int16_t>((code & 0x80) ? (0x84 - t) : (t - 0x84));
}

std::int16_t AlawToLinear(std::uint8_t code) {
  code ^= 0x55;
  int t = (code & 0x0F) << 4;
  const int segment = (code & 0x70) >> 4;
  if (segment == 0) {
    t += 8;
  } else {
    t += 0x108;
    t <<= segment - 1;
  }
  return static_cast<std::int16_t>((code & 0x80) ? t : -t);
}

TEST(RawDecodeTest, G711ReferenceValues) {
  // Spot checks from the standard's tables, then the reference for all 256 codes.
  EXPECT_EQ(MulawToLinear(0xFF), 0);
  EXPECT_EQ(MulawToLinear(0x7F), 0);
  EXPECT_EQ(MulawToLinear(0x00), -32124);
  EXPECT_EQ(MulawToLinear(0x80), 32124);
  EXPECT_EQ(AlawToLinear(0xD5), 8);
  EXPECT_EQ(AlawToLinear(0x55), -8);
  EXPECT_EQ(AlawToLinear(0xAA), 32256);
  EXPECT_EQ(AlawToLinear(0x2A), -32256);

  std::vector<std::uint8_t> all_codes(256);
  for (int i = 0; i < 256; ++i) all_codes[i] = static_cast<std::uint8_t>(i);
  DecodeOptions options;
  options.target_sample_rate_hz = 8000;  // == source rate: no resampling
  for (const RawEncoding encoding : {RawEncoding::kMulaw, RawEncoding::kAlaw}) {
    absl::StatusOr<DecodedAudio> audio = DecodeRaw(all_codes, {encoding, 8000}, options);
    ASSERT_TRUE(audio.ok()) << audio.status();
    ASSERT_EQ(audio->samples.size(), 256u);
    for (int i = 0; i < 256; ++i) {
      const auto code = static_cast<std::uint8_t>(i);
      const int expected =
          encoding == RawEncoding::kMulaw ? MulawToLinear(code) : AlawToLinear(code);
      ASSERT_EQ(audio->samples[i], static_cast<float>(expected) / 32768.0f)
          << RawEncodingName(encoding) << " code 0x" << std::hex << i;
    }
  }
}

TEST(RawDecodeTest, S16leValuesAndOddTrailingByte) {
  const std::vector<std::int16_t> values = {0, 1, -1, 32767, -32768, 12345};
  std::vector<std::uint8_t> bytes(values.size() * 2);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  bytes.push_back(0x7F);  // half a sample: dropped
  DecodeOptions options;
  options.target_sample_rate_hz = 8000;
  absl::StatusOr<DecodedAudio> audio = DecodeRaw(bytes, {RawEncoding::kPcmS16le, 8000}, options);
  ASSERT_TRUE(audio.ok()) << audio.status();
  ASSERT_EQ(audio->samples.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(audio->samples[i], static_cast<float>(values[i]) / 32768.0f);
  }
  EXPECT_EQ(audio->source.codec, "pcm_s16le");
}

TEST(RawDecodeTest, EmptyOrLessThanOneSampleIsInvalid) {
  const std::vector<std::uint8_t> one_byte = {0x12};
  EXPECT_EQ(DecodeRaw({}, {RawEncoding::kMulaw, 8000}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status status = DecodeRaw(one_byte, {RawEncoding::kPcmS16le, 8000}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ExpectOneLineMessage(status);
}

TEST(RawDecodeTest, RawFixturesDecode) {
  for (const auto& [file, encoding] : std::vector<std::pair<const char*, RawEncoding>>{
           {"raw_s16le_8k.raw", RawEncoding::kPcmS16le},
           {"raw_mulaw_8k.raw", RawEncoding::kMulaw},
           {"raw_alaw_8k.raw", RawEncoding::kAlaw}}) {
    absl::StatusOr<DecodedAudio> audio = DecodeRaw(ReadFixture(file), {encoding, 8000});
    ASSERT_TRUE(audio.ok()) << file << ": " << audio.status();
    EXPECT_EQ(audio->sample_rate_hz, 16000);
    // Rate conversion by an exact factor 2: 16000 samples in, 32000 out.
    EXPECT_EQ(audio->samples.size(), 32000u) << file;
    EXPECT_GT(Rms(audio->samples), kMinRms) << file;
  }
}

// Feeds `bytes` in random chunk sizes (runs of 1-byte chunks included) and
// returns everything the stream produced.
std::vector<float> DecodeChunked(std::span<const std::uint8_t> bytes, RawFormat format,
                                 const DecodeOptions& options, unsigned seed, int max_chunk_bytes) {
  auto decoder = RawStreamDecoder::Create(format, options);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  if (!decoder.ok()) return {};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> chunk(0, max_chunk_bytes);
  std::uniform_int_distribution<int> coin(0, 9);
  std::vector<float> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    // One time in ten, a run of single bytes (splits s16le samples in half).
    const int run = coin(rng) == 0 ? 7 : 1;
    for (int r = 0; r < run && pos < bytes.size(); ++r) {
      const size_t n = std::min<size_t>(run > 1 ? 1 : chunk(rng), bytes.size() - pos);
      EXPECT_TRUE((*decoder)->Feed(bytes.subspan(pos, n), &out).ok());
      pos += n;
    }
    EXPECT_EQ((*decoder)->samples_out(), static_cast<std::int64_t>(out.size()));
  }
  EXPECT_TRUE((*decoder)->Finish(&out).ok());
  EXPECT_EQ((*decoder)->samples_out(), static_cast<std::int64_t>(out.size()));
  return out;
}

std::vector<std::uint8_t> SyntheticS16le(int n, unsigned seed) {
  // Tones plus noise: energy across the band, so any resampler state shows.
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::vector<std::uint8_t> bytes(static_cast<size_t>(n) * 2);
  for (int i = 0; i < n; ++i) {
    const double v = 0.3 * std::sin(0.05 * i) + 0.2 * std::sin(1.3 * i) + noise(rng);
    const auto s = static_cast<std::int16_t>(std::lround(std::clamp(v, -1.0, 1.0) * 32767.0));
    std::memcpy(bytes.data() + 2 * i, &s, 2);
  }
  return bytes;
}

struct ChunkCase {
  const char* name;
  RawFormat format;
  const char* fixture;  // nullptr: synthetic s16le, 1.5 s
};

class RawChunkingTest : public ::testing::TestWithParam<ChunkCase> {};

TEST_P(RawChunkingTest, AnyChunkingEqualsWholeBuffer) {
  const ChunkCase& c = GetParam();
  const std::vector<std::uint8_t> bytes = c.fixture != nullptr
                                              ? ReadFixture(c.fixture)
                                              : SyntheticS16le(c.format.sample_rate_hz * 3 / 2, 11);
  const DecodeOptions options;
  absl::StatusOr<DecodedAudio> whole = DecodeRaw(bytes, c.format, options);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_FALSE(whole->samples.empty());
  for (unsigned seed = 1; seed <= 4; ++seed) {
    for (const int max_chunk : {3, 160, 4096}) {
      const std::vector<float> chunked = DecodeChunked(bytes, c.format, options, seed, max_chunk);
      // Bit-identical, not merely close.
      ASSERT_EQ(chunked.size(), whole->samples.size()) << "seed " << seed << " max " << max_chunk;
      ASSERT_EQ(std::memcmp(chunked.data(), whole->samples.data(), chunked.size() * sizeof(float)),
                0)
          << "seed " << seed << " max " << max_chunk;
    }
  }
  // Strictly one byte at a time.
  auto decoder = RawStreamDecoder::Create(c.format, options);
  ASSERT_TRUE(decoder.ok());
  std::vector<float> bytewise;
  for (const std::uint8_t& b : bytes) ASSERT_TRUE((*decoder)->Feed({&b, 1}, &bytewise).ok());
  ASSERT_TRUE((*decoder)->Finish(&bytewise).ok());
  EXPECT_EQ(bytewise, whole->samples);
}

INSTANTIATE_TEST_SUITE_P(
    Encodings, RawChunkingTest,
    ::testing::Values(ChunkCase{"S16le8k", {RawEncoding::kPcmS16le, 8000}, "raw_s16le_8k.raw"},
                      ChunkCase{"Mulaw8k", {RawEncoding::kMulaw, 8000}, "raw_mulaw_8k.raw"},
                      ChunkCase{"Alaw8k", {RawEncoding::kAlaw, 8000}, "raw_alaw_8k.raw"},
                      ChunkCase{"S16le16kNoResampling", {RawEncoding::kPcmS16le, 16000}, nullptr},
                      ChunkCase{"S16le44100", {RawEncoding::kPcmS16le, 44100}, nullptr}),
    [](const ::testing::TestParamInfo<ChunkCase>& info) { return std::string(info.param.name); });

TEST(RawStreamTest, FeedOrFinishAfterFinishIsFailedPrecondition) {
  auto decoder = RawStreamDecoder::Create({RawEncoding::kMulaw, 8000});
  ASSERT_TRUE(decoder.ok());
  const std::vector<std::uint8_t> bytes(800, 0xFF);
  std::vector<float> out;
  ASSERT_TRUE((*decoder)->Feed(bytes, &out).ok());
  ASSERT_TRUE((*decoder)->Finish(&out).ok());
  EXPECT_EQ(out.size(), 1600u);
  EXPECT_EQ((*decoder)->Feed(bytes, &out).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*decoder)->Finish(&out).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(out.size(), 1600u);
}

TEST(RawStreamTest, StreamsOutputBeforeFinish) {
  auto decoder = RawStreamDecoder::Create({RawEncoding::kMulaw, 8000});
  ASSERT_TRUE(decoder.ok());
  const std::vector<std::uint8_t> one_second(8000, 0xFF);
  std::vector<float> out;
  ASSERT_TRUE((*decoder)->Feed(one_second, &out).ok());
  // All but what the resampler holds back (soxr: about 66 ms here) is out already.
  EXPECT_GT(out.size(), 14500u);
}

TEST(RawStreamTest, DurationLimitAppendsUpToTheLimitThenStops) {
  DecodeOptions options;
  options.max_duration_s = 0.5;
  auto decoder = RawStreamDecoder::Create({RawEncoding::kMulaw, 8000}, options);
  ASSERT_TRUE(decoder.ok());
  const std::vector<std::uint8_t> raw = ReadFixture("raw_mulaw_8k.raw");
  std::vector<float> out;
  absl::Status status;
  for (size_t pos = 0; pos < raw.size() && status.ok(); pos += 100) {
    status = (*decoder)->Feed(std::span(raw).subspan(pos, std::min<size_t>(100, raw.size() - pos)),
                              &out);
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(status.message(), "decoded audio exceeds the 0.5 s limit");
  EXPECT_EQ(out.size(), 8000u);  // exactly 0.5 s at 16 kHz, nothing past it
  EXPECT_EQ((*decoder)->samples_out(), 8000);
  EXPECT_EQ((*decoder)->Feed(raw, &out).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*decoder)->Finish(&out).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.size(), 8000u);
  EXPECT_EQ(DecodeRaw(raw, {RawEncoding::kMulaw, 8000}, options).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(RawStreamTest, ParseRawEncoding) {
  const std::vector<std::pair<std::string, RawEncoding>> good = {
      {"s16le", RawEncoding::kPcmS16le}, {"PCM_S16LE", RawEncoding::kPcmS16le},
      {"pcm", RawEncoding::kPcmS16le},   {"mulaw", RawEncoding::kMulaw},
      {"uLaw", RawEncoding::kMulaw},     {"pcm_mulaw", RawEncoding::kMulaw},
      {"alaw", RawEncoding::kAlaw},      {"PCM_ALAW", RawEncoding::kAlaw},
  };
  for (const auto& [name, encoding] : good) {
    absl::StatusOr<RawEncoding> parsed = ParseRawEncoding(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, encoding) << name;
  }
  for (const char* junk : {"", "s16", "s16be", "mp3", "u-law", " mulaw", "alaw\n"}) {
    const absl::Status status = ParseRawEncoding(junk).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << junk;
  }
  for (const RawEncoding encoding :
       {RawEncoding::kPcmS16le, RawEncoding::kMulaw, RawEncoding::kAlaw}) {
    absl::StatusOr<RawEncoding> round_trip = ParseRawEncoding(RawEncodingName(encoding));
    ASSERT_TRUE(round_trip.ok());
    EXPECT_EQ(*round_trip, encoding);
  }
}

// ---------------------------------------------------------------------------
// Resampling quality: a 1 kHz sine at 8 kHz, upsampled to 16 kHz, must still be
// a clean 1 kHz sine. Least-squares fit of a*sin + b*cos at 1 kHz over the
// steady-state middle; the residual is everything else (images at 7 kHz,
// ripple, noise). Quantisation of the 16-bit input alone is about -98 dB.
TEST(ResampleQualityTest, SineStaysASine) {
  constexpr int kInRateHz = 8000;
  constexpr int kOutRateHz = 16000;
  constexpr double kFreqHz = 1000.0;
  constexpr double kAmplitude = 0.5;
  std::vector<std::uint8_t> bytes(2 * kInRateHz);
  for (int i = 0; i < kInRateHz; ++i) {
    const auto s = static_cast<std::int16_t>(std::lround(
        kAmplitude * 32768.0 * std::sin(2.0 * std::numbers::pi * kFreqHz * i / kInRateHz)));
    std::memcpy(bytes.data() + 2 * i, &s, 2);
  }
  absl::StatusOr<DecodedAudio> audio = DecodeRaw(bytes, {RawEncoding::kPcmS16le, kInRateHz});
  ASSERT_TRUE(audio.ok()) << audio.status();
  ASSERT_EQ(audio->samples.size(), static_cast<size_t>(kOutRateHz));
  // Skip 0.1 s at each end: filter start-up and tail.
  const int begin = kOutRateHz / 10;
  const int end = kOutRateHz - kOutRateHz / 10;
  double ss = 0, sc = 0, cc = 0, xs = 0, xc = 0;
  for (int i = begin; i < end; ++i) {
    const double w = 2.0 * std::numbers::pi * kFreqHz * i / kOutRateHz;
    const double s = std::sin(w), c = std::cos(w), x = audio->samples[i];
    ss += s * s, sc += s * c, cc += c * c, xs += x * s, xc += x * c;
  }
  const double det = ss * cc - sc * sc;
  const double a = (xs * cc - xc * sc) / det;
  const double b = (xc * ss - xs * sc) / det;
  double residual = 0.0;
  double image_re = 0.0, image_im = 0.0;  // DFT at the 7 kHz image
  for (int i = begin; i < end; ++i) {
    const double w = 2.0 * std::numbers::pi * kFreqHz * i / kOutRateHz;
    const double e = audio->samples[i] - (a * std::sin(w) + b * std::cos(w));
    residual += e * e;
    const double wi = 2.0 * std::numbers::pi * 7000.0 * i / kOutRateHz;
    image_re += audio->samples[i] * std::cos(wi);
    image_im -= audio->samples[i] * std::sin(wi);
  }
  const int n = end - begin;
  const double amplitude = std::hypot(a, b);
  const double residual_db =
      20.0 * std::log10(std::sqrt(residual / n) / (amplitude / std::sqrt(2.0)));
  const double image_db = 20.0 * std::log10(2.0 * std::hypot(image_re, image_im) / n / amplitude);
  RecordProperty("residual_db", std::to_string(residual_db));
  RecordProperty("image_db", std::to_string(image_db));
  RecordProperty("amplitude", std::to_string(amplitude));
  EXPECT_NEAR(amplitude, kAmplitude, kAmplitude * 1e-3);  // passband gain within 0.01 dB
  EXPECT_LT(residual_db, -80.0);
  EXPECT_LT(image_db, -90.0);
}

}  // namespace
}  // namespace spoofd::decode
