// The shipped model (models/spoofd-default.pt) on bundled clips that were not
// in its training data: genuine LibriVox readings (an eval-only source) and
// synthetic versions of the same sentences made after training (see
// samples/README.md). The test checks separation, not exact scores.
#include <filesystem>
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

  static Verdict ScoreSample(const std::string& name) {
    auto audio = decode::DecodeFile(fs::path(SPOOFD_SOURCE_DIR) / "samples" / name);
    EXPECT_TRUE(audio.ok()) << name << ": " << audio.status();
    auto verdict = scorer_->Score(audio->samples);
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

// The shipped model is not perfect (see models/MODEL_CARD.md: ~20% EER on
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

}  // namespace
}  // namespace spoofd::models
