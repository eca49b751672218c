// Hostile inputs at the decoder (tests/RELIABILITY.md): lying headers, NaN and
// infinities in float PCM, 96 kHz 8-channel audio, decompression bombs, ten
// hours of silence, every fixture truncated at many points; and the inputs the
// fuzzers found (tests/fuzz/README.md), each kept as a regression case.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "dsp/decode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostile_audio.h"

namespace spoofd::decode {
namespace {

namespace fs = std::filesystem;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using spoofd::testing::FloatWav;
using spoofd::testing::MakeWav;
using spoofd::testing::ToneWav;
using spoofd::testing::WithFlacTotalSamples;

fs::path Source() { return SPOOFD_SOURCE_DIR; }

std::vector<std::uint8_t> Read(const fs::path& path) {
  auto bytes = ReadFileBytes(path, std::int64_t{1} << 26);
  EXPECT_TRUE(bytes.ok()) << path << ": " << bytes.status();
  return bytes.ok() ? *std::move(bytes) : std::vector<std::uint8_t>{};
}

// Found by decode_fuzz in its first seconds: a float WAV whose samples are
// NaN decoded "successfully" to NaN samples, which only the feature code
// refused later. Now the decoder refuses them itself.
TEST(DecodeHostileTest, NanAndInfinityInFloatPcmAreRefused) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {nan, inf, -inf}) {
    std::vector<float> x(16000, 0.1f);
    x[8000] = bad;
    for (int rate : {16000, 8000}) {  // without and with resampling
      SCOPED_TRACE(std::to_string(bad) + " at " + std::to_string(rate));
      auto audio = DecodeBuffer(FloatWav(1, rate, x));
      ASSERT_FALSE(audio.ok());
      EXPECT_EQ(audio.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(audio.status().message()), HasSubstr("NaN or infinite"));
    }
  }
  // Finite float PCM still decodes.
  auto fine = DecodeBuffer(FloatWav(1, 16000, std::vector<float>(16000, 0.25f)));
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->samples.size(), 16000u);
}

TEST(DecodeHostileTest, HeaderDeclaringHoursHoldingSecondsDecodesWhatIsThere) {
  // A WAV whose data chunk claims ~37 hours at 16 kHz s16 but holds 2 s.
  std::vector<std::uint8_t> wav = ToneWav(1, 16000, 2.0);
  std::vector<std::uint8_t> data(wav.begin() + 44, wav.end());
  auto audio = DecodeBuffer(MakeWav(1, 1, 16000, 16, data, 0xFFFFFFF0u));
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_NEAR(audio->duration_s(), 2.0, 0.01);
  // Nothing was reserved for the claimed hours.
  EXPECT_LT(audio->samples.capacity(), 4u * 16000u);

  // A FLAC whose STREAMINFO claims 2^36-1 samples (~50 days at 16 kHz).
  auto flac = WithFlacTotalSamples(Read(Source() / "tests/data/fixtures/speech.flac"),
                                   (std::uint64_t{1} << 36) - 1);
  auto from_flac = DecodeBuffer(flac);
  ASSERT_TRUE(from_flac.ok()) << from_flac.status();
  EXPECT_NEAR(from_flac->duration_s(), 2.0, 0.05);
  EXPECT_LT(from_flac->samples.capacity(), 4u * 16000u);
}

TEST(DecodeHostileTest, HighRateManyChannels) {
  auto audio = DecodeBuffer(ToneWav(8, 96000, 1.0));
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_EQ(audio->source.sample_rate_hz, 96000);
  EXPECT_EQ(audio->source.channels, 8);
  EXPECT_EQ(audio->sample_rate_hz, 16000);
  EXPECT_NEAR(audio->duration_s(), 1.0, 0.01);
  for (float v : audio->samples) ASSERT_TRUE(std::isfinite(v));
}

TEST(DecodeHostileTest, DecompressionBombsStopAtTheLimit) {
  // 72 KB of FLAC holding 10 h of silence; 21 KB of Opus holding 10 min.
  struct Case {
    const char* file;
    double limit_s;
  };
  for (const Case& c : {Case{"silence_10h_8k.flac", 60.0}, Case{"silence_10h_8k.flac", 600.0},
                        Case{"bomb_opus_10min.opus", 60.0}}) {
    SCOPED_TRACE(std::string(c.file) + " limit " + std::to_string(c.limit_s));
    const auto bytes = Read(Source() / "tests/data/hostile" / c.file);
    ASSERT_LT(bytes.size(), 100u * 1024u);
    DecodeOptions options;
    options.max_duration_s = c.limit_s;
    auto audio = DecodeBuffer(bytes, options);
    ASSERT_FALSE(audio.ok());
    EXPECT_EQ(audio.status().code(), absl::StatusCode::kResourceExhausted) << audio.status();
  }
  // The Opus bomb under a limit it fits: it is what it claims (10 min of silence).
  DecodeOptions options;
  options.max_duration_s = 700.0;
  auto opus = DecodeBuffer(Read(Source() / "tests/data/hostile/bomb_opus_10min.opus"), options);
  ASSERT_TRUE(opus.ok()) << opus.status();
  EXPECT_NEAR(opus->duration_s(), 600.0, 1.0);
}

TEST(DecodeHostileTest, EveryFixtureTruncatedAnywhere) {
  for (const auto& entry : fs::directory_iterator(Source() / "tests/data/fixtures")) {
    const auto bytes = Read(entry.path());
    if (bytes.empty()) continue;
    for (double fraction : {0.0, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9, 0.999}) {
      const std::size_t n = static_cast<std::size_t>(bytes.size() * fraction);
      for (std::size_t cut : {n, n + 1}) {
        if (cut >= bytes.size()) continue;
        SCOPED_TRACE(entry.path().filename().string() + " cut at " + std::to_string(cut));
        auto audio = DecodeBuffer(std::span<const std::uint8_t>(bytes.data(), cut));
        if (audio.ok()) {
          EXPECT_FALSE(audio->samples.empty());
          continue;
        }
        EXPECT_THAT(audio.status().code(),
                    AnyOf(absl::StatusCode::kInvalidArgument, absl::StatusCode::kUnimplemented))
            << audio.status();
        EXPECT_FALSE(audio.status().message().empty());
      }
    }
  }
}

}  // namespace
}  // namespace spoofd::decode
