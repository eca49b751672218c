// Parity with torchaudio 0.13: tests/golden/make_golden.py writes, for each
// case, the spoofd FeatureConfig (JSON) and torchaudio's features computed in
// float64 from the same input. spoofd computes in float32 storage with double
// accumulators.
//
// Tolerance: max |spoofd - torchaudio| <= 1e-3 for natural-log features and
// <= 1e-3 * 10/ln(10) (= 4.3e-3, the same relative error) for dB features,
// over every frame and dimension.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "dsp/features/features.h"
#include "gtest/gtest.h"
#include "service/npy.h"

namespace spoofd::dsp {
namespace {

const std::filesystem::path kGoldenDir = std::filesystem::path(SPOOFD_SOURCE_DIR) / "tests/golden/data";

std::vector<std::string> Cases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kGoldenDir)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesTorchaudio) {
  std::ifstream json_file(kGoldenDir / (GetParam() + ".json"));
  const std::string json((std::istreambuf_iterator<char>(json_file)), {});
  absl::StatusOr<FeatureConfig> config = FeatureConfig::FromJson(json);
  ASSERT_TRUE(config.ok()) << config.status();
  auto input = npy::ReadFloat32File(kGoldenDir / "input.npy");
  ASSERT_TRUE(input.ok()) << input.status();
  auto expected = npy::ReadFloat32File(kGoldenDir / (GetParam() + ".npy"));
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_EQ(expected->shape.size(), 2u);

  auto extractor = FeatureExtractor::Create(*config);
  ASSERT_TRUE(extractor.ok()) << extractor.status();
  auto features = (*extractor)->Compute(input->data);
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->rows(), expected->shape[0]);
  ASSERT_EQ(features->cols(), expected->shape[1]);

  const double tolerance = config->log == LogKind::kDb ? 1e-3 * 10.0 / std::log(10.0) : 1e-3;
  double max_error = 0.0;
  Eigen::Index worst = 0;
  for (Eigen::Index i = 0; i < features->size(); ++i) {
    const double error = std::abs(features->data()[i] - expected->data[i]);
    if (error > max_error) {
      max_error = error;
      worst = i;
    }
  }
  RecordProperty("max_abs_error", std::to_string(max_error));
  EXPECT_LE(max_error, tolerance) << "worst at frame " << worst / features->cols() << ", dim "
                                  << worst % features->cols() << ": spoofd "
                                  << features->data()[worst] << " vs torchaudio "
                                  << expected->data[worst];
  std::cout << "[ golden   ] " << GetParam() << ": max abs error " << max_error << "\n";
}

INSTANTIATE_TEST_SUITE_P(Torchaudio, GoldenTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param; });

TEST(GoldenSetTest, AllCasesPresent) { EXPECT_GE(Cases().size(), 7u); }

}  // namespace
}  // namespace spoofd::dsp
