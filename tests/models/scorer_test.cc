// Loads small random-weight TorchScript models (tests/models/make_test_models.py)
// and checks loading, the contract, segmenting, calibration and verdict rules.
#include "models/scorer.h"

#include <cstdlib>
#include <filesystem>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "dsp/test_signals.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/contract.h"
#include "models/model.h"

namespace spoofd::models {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const fs::path kModels = fs::path(SPOOFD_SOURCE_DIR) / "tests/data/models";

std::shared_ptr<const Model> Tiny() {
  static std::shared_ptr<const Model> model = [] {
    auto m = Model::Load(kModels / "tiny.pt");
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : nullptr;
  }();
  return model;
}

TEST(ModelTest, LoadsContractAndHash) {
  auto model = Tiny();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->contract().name, "tiny-test-model");
  EXPECT_EQ(model->contract().version, "0.0.1-test");
  EXPECT_EQ(model->contract().features.Dims(), 20);
  EXPECT_EQ(model->contract().SegmentFrames(), 200);
  EXPECT_EQ(model->contract().HopFrames(), 100);
  EXPECT_EQ(model->contract().default_operating_point, "balanced");
  EXPECT_EQ(model->sha256().size(), 64u);
  EXPECT_DOUBLE_EQ(model->Llr(1.0f), 1.5);  // 2 * 1 - 0.5
}

TEST(ModelTest, ForwardIsBatchConsistent) {
  auto model = Tiny();
  const std::vector<float> x = spoofd::testing::Babble(3 * 200 * 20);
  auto batch = model->Forward(x.data(), 3, 200, 20);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    auto one = model->Forward(x.data() + i * 200 * 20, 1, 200, 20);
    ASSERT_TRUE(one.ok());
    EXPECT_NEAR((*one)[0], (*batch)[i], 1e-4);
  }
  EXPECT_EQ(model->Forward(x.data(), 1, 200, 19).status().code(), absl::StatusCode::kInvalidArgument);
}

// LoadOptions::reuse_large_allocations (on by default) raises glibc's mmap threshold
// to 32 MiB, so a 24 MiB block comes from the heap. glibc alone maps it: its adaptive
// threshold starts at 128 KiB and only rises to the size of a mapped block once one is
// freed (a standalone program without the setting maps all 24 MiB).
TEST(ModelTest, LoadKeepsMultiMebibyteBuffersInTheHeap) {
#if !defined(__GLIBC__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "glibc's malloc only (a sanitizer replaces it)";
#else
  ASSERT_NE(Tiny(), nullptr);
  static void* volatile sink = nullptr;
  const std::size_t mapped_before = mallinfo2().hblkhd;
  sink = std::malloc(24u << 20);
  ASSERT_NE(sink, nullptr);
  const std::size_t mapped_during = mallinfo2().hblkhd;
  std::free(sink);
  EXPECT_EQ(mapped_during, mapped_before) << "the 24 MiB block was mapped, not taken from the heap";
#endif
}

TEST(ModelTest, BadFilesAreRefusedWithTheRightCode) {
  EXPECT_EQ(Model::Load(kModels / "missing.pt").status().code(), absl::StatusCode::kNotFound);
  auto no_contract = Model::Load(kModels / "tiny_no_contract.pt");
  EXPECT_EQ(no_contract.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_contract.status().message()), HasSubstr("spoofd/contract.json"));
  auto wrong_dims = Model::Load(kModels / "tiny_wrong_dims.pt");
  EXPECT_EQ(wrong_dims.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong_dims.status().message()), HasSubstr("warm-up"));
  auto not_torch = Model::Load(fs::path(SPOOFD_SOURCE_DIR) / "README.md");
  EXPECT_EQ(not_torch.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ContractTest, RequiredFieldsAreChecked) {
  EXPECT_FALSE(ModelContract::FromJson("{}").ok());
  EXPECT_FALSE(ModelContract::FromJson("[]").ok());
  const std::string good = Tiny()->contract().json;
  ASSERT_TRUE(ModelContract::FromJson(good).ok());
  auto without = [&](const std::string& field) {
    std::string broken = good;
    const size_t at = broken.find("\"" + field + "\"");
    EXPECT_NE(at, std::string::npos) << field;
    broken.replace(at, field.size() + 2, "\"x_" + field + "\"");
    return ModelContract::FromJson(broken);
  };
  for (const char* field : {"name", "version", "feature_config", "segment_s", "hop_s", "calibration",
                            "operating_points", "default_operating_point", "contract_version"}) {
    auto c = without(field);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(field));
  }
}

TEST(WindowStartsTest, CoversTheWholeSignal) {
  EXPECT_THAT(WindowStarts(150, 200, 100), ::testing::ElementsAre(0));
  EXPECT_THAT(WindowStarts(200, 200, 100), ::testing::ElementsAre(0));
  EXPECT_THAT(WindowStarts(450, 200, 100), ::testing::ElementsAre(0, 100, 200, 250));
  EXPECT_THAT(WindowStarts(500, 200, 100), ::testing::ElementsAre(0, 100, 200, 300));
}

class ScorerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto scorer = Scorer::Create(Tiny());
    ASSERT_TRUE(scorer.ok()) << scorer.status();
    scorer_ = *std::move(scorer);
  }
  std::unique_ptr<Scorer> scorer_;
};

TEST_F(ScorerTest, SegmentsCalibrationAndDecision) {
  const std::vector<float> x = spoofd::testing::Babble(16000 * 5);  // 5 s of "speech"
  auto v = scorer_->Score(x);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_NEAR(v->duration_s, 5.0, 1e-9);
  // 498 frames, windows of 200 every 100: 0, 100, 200, 298.
  ASSERT_EQ(v->segments.size(), 4u);
  EXPECT_DOUBLE_EQ(v->segments[1].start_s, 1.0);
  EXPECT_DOUBLE_EQ(v->segments[1].end_s, 3.0);
  EXPECT_NE(v->decision, Decision::kInconclusive) << v->reason;
  double sum = 0;
  for (const auto& s : v->segments) {
    EXPECT_TRUE(s.counted);
    EXPECT_GT(s.speech_fraction, 0.9);
    EXPECT_NEAR(s.probability, 1.0 / (1.0 + std::exp(-s.llr)), 1e-12);
    sum += s.llr;
  }
  EXPECT_NEAR(v->llr, sum / 4, 1e-9);
  EXPECT_EQ(v->decision, v->llr >= 0.0 ? Decision::kSynthetic : Decision::kGenuine);
  EXPECT_EQ(v->operating_point, "balanced");

  ScoreOptions strict;
  strict.operating_point = "strict";
  auto s = scorer_->Score(x, strict);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->threshold, 3.0);
  EXPECT_NEAR(s->llr, v->llr, 1e-9);
}

TEST_F(ScorerTest, BatchSizeDoesNotChangeScores) {
  const std::vector<float> x = spoofd::testing::Babble(16000 * 7, 3);
  ScoreOptions one;
  one.max_batch = 1;
  auto a = scorer_->Score(x, one);
  auto b = scorer_->Score(x);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->segments.size(), b->segments.size());
  for (size_t i = 0; i < a->segments.size(); ++i) {
    EXPECT_NEAR(a->segments[i].llr, b->segments[i].llr, 1e-4);
  }
}

TEST_F(ScorerTest, InconclusiveReasons) {
  auto too_short = scorer_->Score(spoofd::testing::Babble(8000));
  ASSERT_TRUE(too_short.ok());
  EXPECT_EQ(too_short->decision, Decision::kInconclusive);
  EXPECT_EQ(too_short->reason, "too_short");

  auto silence = scorer_->Score(std::vector<float>(16000 * 3, 0.0f));
  ASSERT_TRUE(silence.ok());
  EXPECT_EQ(silence->decision, Decision::kInconclusive);
  EXPECT_EQ(silence->reason, "silence");

  std::vector<float> blip(16000 * 6, 0.0f);  // 0.2 s of sound in 6 s of silence
  const auto b = spoofd::testing::Babble(3200);
  std::copy(b.begin(), b.end(), blip.begin() + 16000);
  auto little = scorer_->Score(blip);
  ASSERT_TRUE(little.ok());
  EXPECT_EQ(little->reason, "too_little_speech");

  std::vector<float> clipped = spoofd::testing::Babble(16000 * 3);
  for (auto& x : clipped) x = x > 0 ? 1.0f : -1.0f;
  auto c = scorer_->Score(clipped);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->reason, "clipped");
}

TEST_F(ScorerTest, BadRequestsAreInvalidArgument) {
  const std::vector<float> x = spoofd::testing::Babble(16000 * 3);
  ScoreOptions unknown;
  unknown.operating_point = "paranoid";
  auto u = scorer_->Score(x, unknown);
  EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(u.status().message()), HasSubstr("balanced"));
  ScoreOptions tiny_segment;
  tiny_segment.segment_s = 0.1;
  EXPECT_EQ(scorer_->Score(x, tiny_segment).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> nan = x;
  nan[5] = std::nanf("");
  EXPECT_EQ(scorer_->Score(nan).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ScorerTest, SegmentOverrideChangesTheTimeline) {
  const std::vector<float> x = spoofd::testing::Babble(16000 * 8);
  ScoreOptions longer;
  longer.segment_s = 4.0;  // hop scales with it: 2 s
  auto v = scorer_->Score(x, longer);
  ASSERT_TRUE(v.ok()) << v.status();
  // 797 frames, windows of 400 every 200: 0, 200 and the last aligned to the end, 397.
  ASSERT_EQ(v->segments.size(), 3u);
  EXPECT_DOUBLE_EQ(v->segments[1].start_s, 2.0);
  EXPECT_NEAR(v->segments[2].start_s, 3.97, 1e-9);
  EXPECT_NEAR(v->segments[2].end_s, 7.97, 1e-9);
}

TEST_F(ScorerTest, ConcurrentScoringMatchesSerial) {
  const std::vector<float> x = spoofd::testing::Babble(16000 * 4, 11);
  const double expected = scorer_->Score(x)->llr;
  std::vector<double> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { got[i] = scorer_->Score(x)->llr; });
  for (auto& t : threads) t.join();
  for (double g : got) EXPECT_NEAR(g, expected, 1e-5);
}

}  // namespace
}  // namespace spoofd::models
