// Runs the real spoofctl binary: `spoofctl features` on the bundled sample and
// on every committed fixture, and its exit codes for bad input and bad usage.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/npy.h"
#include "service/spoofctl_runner.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using ::spoofd::testing::kSource;
using ::spoofd::testing::Quote;
using ::spoofd::testing::Result;
using ::spoofd::testing::RunSpoofctl;

TEST(SpoofctlFeaturesTest, BundledSampleWritesTheFeatureMatrix) {
  const fs::path out = fs::path(::testing::TempDir()) / "sample.npy";
  Result r = RunSpoofctl("features " + Quote(kSource / "samples/genuine_librivox_0870.wav") + " --out " +
                 Quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("lfcc: 707 frames x 20 dims"));
  EXPECT_THAT(r.out, HasSubstr("7.10 s"));
  auto features = spoofd::npy::ReadFloat32File(out);
  ASSERT_TRUE(features.ok()) << features.status();
  // 7.1 s at 16 kHz = 113600 samples; 1 + (113600 - 512) / 160 = 707 frames.
  ASSERT_EQ(features->shape.size(), 2u);
  EXPECT_EQ(features->shape[1], 20);
  EXPECT_EQ(features->shape[0], 707);
}

TEST(SpoofctlFeaturesTest, ConfigFileAndJsonSummary) {
  const fs::path config = kSource / "tests/golden/data/mfcc_ln.json";
  Result r = RunSpoofctl("features " + Quote(kSource / "samples/genuine_librivox_0870.wav") + " --config " +
                 Quote(config) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"kind\":\"mfcc\""));
  EXPECT_THAT(r.out, HasSubstr("\"dims\":20"));
  EXPECT_THAT(r.out, HasSubstr("\"container\":\"wav\""));
}

TEST(SpoofctlFeaturesTest, FeaturesToStdoutAreANpyStream) {
  Result r = RunSpoofctl("features " + Quote(kSource / "samples/genuine_librivox_0870.wav") + " --out -");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_GT(r.out.size(), 128u);
  EXPECT_EQ(r.out.substr(1, 5), "NUMPY");
  EXPECT_THAT(r.err, HasSubstr("frames"));  // the summary moved to stderr
}

TEST(SpoofctlFeaturesTest, EveryFixtureDecodesOrFailsWithOneLine) {
  const fs::path fixtures = kSource / "tests/data/fixtures";
  ASSERT_TRUE(fs::is_directory(fixtures)) << "run tests/data/make_fixtures.sh";
  const fs::path out_dir = fs::path(::testing::TempDir()) / ("fixtures_" + std::to_string(getpid()));
  fs::create_directories(out_dir);
  // Containers that must decode go through one manifest run (one process);
  // headerless and bad inputs run one process each to check exit codes.
  std::ofstream manifest(out_dir / "good.tsv");
  int good = 0, bad = 0;
  for (const auto& entry : fs::directory_iterator(fixtures)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".raw") {
      const std::string encoding = name.find("mulaw") != std::string::npos  ? "mulaw"
                                   : name.find("alaw") != std::string::npos ? "alaw"
                                                                             : "s16le";
      Result r = RunSpoofctl("features " + Quote(entry.path()) + " --quiet --format " + encoding + " --rate 8000");
      EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
      ++good;
      continue;
    }
    // A truncated file may still hold decodable audio (players play what is
    // there); it must either succeed or fail cleanly, never crash.
    const bool maybe = name.rfind("bad_truncated", 0) == 0;
    const bool expect_failure = !maybe && (name.rfind("bad_", 0) == 0 || name.find("no_audio") != std::string::npos);
    if (!maybe && !expect_failure) {
      manifest << entry.path().string() << "\t" << (out_dir / (name + ".npy")).string() << "\n";
      ++good;
      continue;
    }
    Result r = RunSpoofctl("features " + Quote(entry.path()) + " --quiet");
    if (maybe) {
      EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << name << ": " << r.exit_code;
    } else {
      ++bad;
      EXPECT_EQ(r.exit_code, 1) << name;
    }
    if (r.exit_code == 1) {
      EXPECT_THAT(r.err, HasSubstr("spoofctl features: ")) << name;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << name << ": " << r.err;
    }
  }
  manifest.close();
  Result all = RunSpoofctl("features --manifest " + Quote(out_dir / "good.tsv") + " --jobs 2");
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_GE(good, 20);
  EXPECT_GE(bad, 4);
  for (const auto& entry : fs::directory_iterator(fixtures)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("bad_", 0) == 0 || name.find("no_audio") != std::string::npos ||
        entry.path().extension() == ".raw") {
      continue;
    }
    auto features = spoofd::npy::ReadFloat32File(out_dir / (name + ".npy"));
    ASSERT_TRUE(features.ok()) << name << ": " << features.status();
    EXPECT_GT(features->shape[0], 30) << name;  // at least 0.3 s of frames
  }
}

TEST(SpoofctlFeaturesTest, ManifestComputesManyFilesInOneProcess) {
  const fs::path dir = fs::path(::testing::TempDir()) / "manifest";
  fs::create_directories(dir);
  const fs::path manifest = dir / "list.tsv";
  {
    std::ofstream out(manifest);
    out << "# comment lines are ignored\n";
    out << (kSource / "samples/genuine_librivox_0870.wav").string() << "\t" << (dir / "a.npy").string() << "\n";
    out << (kSource / "tests/data/fixtures/speech.mp3").string() << "\t" << (dir / "b.npy").string() << "\n";
    out << "/nonexistent.wav\t" << (dir / "c.npy").string() << "\n";
  }
  Result r = RunSpoofctl("features --manifest " + Quote(manifest) + " --jobs 2");
  EXPECT_EQ(r.exit_code, 1);  // one line failed
  EXPECT_THAT(r.err, HasSubstr("/nonexistent.wav"));
  EXPECT_THAT(r.out, HasSubstr("2 of 3 files written"));
  auto a = spoofd::npy::ReadFloat32File(dir / "a.npy");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->shape[0], 707);
  EXPECT_TRUE(fs::exists(dir / "b.npy"));
  EXPECT_FALSE(fs::exists(dir / "c.npy"));

  // Rerun with --skip-existing touches nothing that is already there.
  const auto before = fs::last_write_time(dir / "a.npy");
  Result again = RunSpoofctl("features --manifest " + Quote(manifest) + " --skip-existing");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(fs::last_write_time(dir / "a.npy"), before);

  std::ofstream(dir / "broken.tsv") << "no tab here\n";
  EXPECT_EQ(RunSpoofctl("features --manifest " + Quote(dir / "broken.tsv")).exit_code, 2);
  EXPECT_EQ(RunSpoofctl("features x.wav --manifest " + Quote(manifest)).exit_code, 2);  // both given
}

TEST(SpoofctlFeaturesTest, HeaderlessInputNeedsItsFormat) {
  const fs::path raw = fs::path(::testing::TempDir()) / "tone.ulaw";
  {
    std::ofstream out(raw, std::ios::binary);
    for (int i = 0; i < 8000; ++i) out.put(static_cast<char>(i % 256));
  }
  Result r = RunSpoofctl("features " + Quote(raw) + " --format mulaw --rate 8000 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"duration_s\":1.0"));
}

TEST(SpoofctlFeaturesTest, ExitCodes) {
  Result missing = RunSpoofctl("features /nonexistent/file.wav");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/file.wav"));

  const fs::path bad_config = fs::path(::testing::TempDir()) / "bad.json";
  std::ofstream(bad_config) << R"({"kind": "plp"})";
  Result config = RunSpoofctl("features " + Quote(kSource / "samples/genuine_librivox_0870.wav") +
                      " --config " + Quote(bad_config));
  EXPECT_EQ(config.exit_code, 1);
  EXPECT_THAT(config.err, HasSubstr("kind must be one of"));

  EXPECT_EQ(RunSpoofctl("features").exit_code, 2);                       // missing FILE
  EXPECT_EQ(RunSpoofctl("features x.wav --format mp9").exit_code, 2);    // not an encoding
  EXPECT_EQ(RunSpoofctl("nonsense").exit_code, 2);                       // unknown subcommand
  EXPECT_EQ(RunSpoofctl("--help").exit_code, 0);
  EXPECT_EQ(RunSpoofctl("--version").exit_code, 0);
}

}  // namespace
