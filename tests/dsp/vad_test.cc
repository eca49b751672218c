#include "dsp/features/vad.h"

#include "dsp/test_signals.h"
#include "gtest/gtest.h"

namespace spoofd::dsp {
namespace {

TEST(VadTest, FindsTheToneBetweenSilences) {
  // 1 s silence, 1 s of babble, 1 s silence.
  std::vector<float> x(48000, 0.0f);
  const std::vector<float> speech = spoofd::testing::Babble(16000);
  std::copy(speech.begin(), speech.end(), x.begin() + 16000);
  VadOptions options;
  auto vad = DetectSpeech(x, options);
  ASSERT_TRUE(vad.ok()) << vad.status();
  const std::int64_t frames = static_cast<std::int64_t>(vad->speech.size());
  EXPECT_EQ(frames, 1 + (48000 - 400) / 160);
  EXPECT_EQ(vad->SpeechFraction(0, 90), 0.0);         // well inside the first silence
  EXPECT_EQ(vad->SpeechFraction(110, 190), 1.0);      // inside the speech
  EXPECT_EQ(vad->SpeechFraction(215, frames), 0.0);   // well inside the last silence
  EXPECT_NEAR(vad->SpeechSeconds(16000), 1.0, 0.15);  // hangover widens it slightly
}

TEST(VadTest, AConstantOffsetIsNotSpeech) {
  // The layout above with -26 dBFS of DC on every sample: without removing each
  // frame's mean the silences would read as -26 dBFS and count as speech.
  std::vector<float> x(48000, 0.05f);
  const std::vector<float> speech = spoofd::testing::Babble(16000);
  for (int i = 0; i < 16000; ++i) x[16000 + i] += speech[i];
  auto vad = DetectSpeech(x, VadOptions{});
  ASSERT_TRUE(vad.ok()) << vad.status();
  const std::int64_t frames = static_cast<std::int64_t>(vad->speech.size());
  EXPECT_EQ(vad->SpeechFraction(0, 90), 0.0);
  EXPECT_EQ(vad->SpeechFraction(110, 190), 1.0);
  EXPECT_EQ(vad->SpeechFraction(215, frames), 0.0);
  EXPECT_LT(vad->energy_dbfs[10], -100.0f);
}

TEST(VadTest, SilenceAndQuietNoiseAreNotSpeech) {
  auto silent = DetectSpeech(std::vector<float>(16000, 0.0f), VadOptions{});
  ASSERT_TRUE(silent.ok());
  EXPECT_EQ(silent->SpeechSeconds(16000), 0.0);
  for (float e : silent->energy_dbfs) EXPECT_FLOAT_EQ(e, -120.0f);
  // -70 dBFS hiss stays below the absolute threshold.
  std::vector<float> hiss = spoofd::testing::Sine(3000.0, 16000, 16000, 0.0004);
  auto quiet = DetectSpeech(hiss, VadOptions{});
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(quiet->SpeechSeconds(16000), 0.0);
}

TEST(VadTest, EdgeCasesAndBadOptions) {
  auto empty = DetectSpeech({}, VadOptions{});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->speech.empty());
  EXPECT_EQ(empty->SpeechFraction(0, 10), 0.0);
  auto tiny = DetectSpeech(std::vector<float>(10, 0.5f), VadOptions{});
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->speech.size(), 1u);
  VadOptions bad;
  bad.hop_ms = 0.0;
  EXPECT_EQ(DetectSpeech(std::vector<float>(100), bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = VadOptions{};
  bad.hangover_frames = -1;
  EXPECT_FALSE(bad.Validate().ok());
}

}  // namespace
}  // namespace spoofd::dsp
