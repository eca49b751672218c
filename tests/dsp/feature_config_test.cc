#include "dsp/features/feature_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spoofd::dsp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(FeatureConfigTest, DefaultsValidate) { EXPECT_TRUE(FeatureConfig{}.Validate().ok()); }

TEST(FeatureConfigTest, JsonRoundTripKeepsEveryField) {
  FeatureConfig c;
  c.kind = FeatureKind::kMfcc;
  c.sample_rate_hz = 8000;
  c.n_fft = 256;
  c.win_length = 200;
  c.hop_length = 80;
  c.window = WindowType::kHamming;
  c.center = true;
  c.n_filters = 30;
  c.n_coeffs = 13;
  c.f_min_hz = 50.0;
  c.f_max_hz = 3800.0;
  c.deltas = 2;
  c.preemphasis = 0.97;
  c.remove_dc = true;
  c.group_delay = true;
  c.log = LogKind::kDb;
  c.log_floor = 1e-10;
  c.normalize = NormalizeKind::kMeanVar;
  absl::StatusOr<FeatureConfig> back = FeatureConfig::FromJson(c.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, c);
  EXPECT_THAT(c.ToJson(), HasSubstr("\"kind\":\"mfcc\""));
  EXPECT_THAT(c.ToJson(), HasSubstr("\"normalize\":\"meanvar\""));
  EXPECT_THAT(c.ToJson(), HasSubstr("\"remove_dc\":true"));
  EXPECT_THAT(c.ToJson(), HasSubstr("\"group_delay\":true"));
}

TEST(FeatureConfigTest, MissingFieldsTakeDefaults) {
  absl::StatusOr<FeatureConfig> c = FeatureConfig::FromJson(R"({"kind": "logmel", "n_filters": 64})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, FeatureKind::kLogMel);
  EXPECT_EQ(c->n_filters, 64);
  EXPECT_EQ(c->n_fft, FeatureConfig{}.n_fft);
  EXPECT_EQ(c->Dims(), 64);
  // Model files written before remove_dc existed must keep their features.
  EXPECT_FALSE(c->remove_dc);
  EXPECT_FALSE(c->group_delay);
}

TEST(FeatureConfigTest, GroupDelayDoublesTheCepstrumAndNeedsOne) {
  FeatureConfig c;
  c.kind = FeatureKind::kCqcc;
  c.n_fft = 1024;
  c.n_filters = 60;
  c.n_coeffs = 20;
  c.f_min_hz = 125.0;
  c.deltas = 2;
  c.group_delay = true;
  ASSERT_TRUE(c.Validate().ok()) << c.Validate();
  EXPECT_EQ(c.Dims(), 120);
  c.kind = FeatureKind::kLogMel;
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.Validate().message()), HasSubstr("group_delay"));
}

TEST(FeatureConfigTest, GroupDelayFloorIsReadWrittenAndChecked) {
  FeatureConfig c;
  c.group_delay = true;
  c.group_delay_floor_db = -45.0;
  absl::StatusOr<FeatureConfig> back = FeatureConfig::FromJson(c.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->group_delay_floor_db, -45.0);
  // Without group_delay the field is not written, so other configurations' JSON is unchanged.
  c.group_delay = false;
  EXPECT_THAT(c.ToJson(), Not(HasSubstr("group_delay_floor_db")));
  c.group_delay = true;
  for (double bad : {1.0, -250.0, std::nan("")}) {
    c.group_delay_floor_db = bad;
    EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(c.Validate().message()), HasSubstr("group_delay_floor_db"));
  }
}

TEST(FeatureConfigTest, DimsCountDeltas) {
  FeatureConfig c;
  c.n_coeffs = 20;
  c.deltas = 2;
  EXPECT_EQ(c.Dims(), 60);
  c.kind = FeatureKind::kLogSpec;
  c.n_fft = 512;
  EXPECT_EQ(c.Dims(), 257 * 3);
}

struct BadJson {
  const char* json;
  const char* message;
};

class FeatureConfigBadJsonTest : public ::testing::TestWithParam<BadJson> {};

TEST_P(FeatureConfigBadJsonTest, IsInvalidArgumentNamingTheProblem) {
  absl::StatusOr<FeatureConfig> c = FeatureConfig::FromJson(GetParam().json);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FeatureConfigBadJsonTest,
    ::testing::Values(BadJson{"not json", "not valid JSON"}, BadJson{"[1, 2]", "JSON object"},
                      BadJson{R"({"kind": "plp"})", "kind must be one of"},
                      BadJson{R"({"window": "kaiser"})", "window must be one of"},
                      BadJson{R"({"n_fft": "512"})", "n_fft must be an integer"},
                      BadJson{R"({"n_fft": 511})", "n_fft must be even"},
                      BadJson{R"({"win_length": 1024})", "win_length"},
                      BadJson{R"({"hop_length": 0})", "hop_length"},
                      BadJson{R"({"n_coeffs": 40, "n_filters": 20})", "n_coeffs"},
                      BadJson{R"({"f_max_hz": 9000})", "f_max_hz"},
                      BadJson{R"({"f_min_hz": 5000, "f_max_hz": 4000})", "greater than f_min_hz"},
                      BadJson{R"({"deltas": 3})", "deltas"},
                      BadJson{R"({"preemphasis": 1.5})", "preemphasis"},
                      BadJson{R"({"log_floor": 0})", "log_floor"},
                      BadJson{R"({"center": 1})", "center must be a boolean"},
                      BadJson{R"({"sample_rate": 16000})", "unknown field 'sample_rate'"},
                      // A log-frequency scale cannot start at 0 Hz.
                      BadJson{R"({"kind": "cqcc", "f_min_hz": 0})", "f_min_hz must be > 0 for cqcc"},
                      // 60 filters from 50 Hz: the lowest is 7.6 Hz wide, a 512-point FFT's
                      // bins are 31.25 Hz apart, so it would hold no bin.
                      BadJson{R"({"kind": "cqcc", "f_min_hz": 50, "n_filters": 60})",
                              "wider than one FFT bin"}));

TEST(FeatureConfigTest, CqccCountsCoefficientsAndRoundTrips) {
  absl::StatusOr<FeatureConfig> c = FeatureConfig::FromJson(
      R"({"kind": "cqcc", "n_fft": 1024, "win_length": 1024, "n_filters": 60, "n_coeffs": 20,
          "f_min_hz": 125, "deltas": 2})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, FeatureKind::kCqcc);
  EXPECT_EQ(c->Dims(), 60);
  EXPECT_THAT(c->ToJson(), HasSubstr("\"kind\":\"cqcc\""));
  absl::StatusOr<FeatureConfig> back = FeatureConfig::FromJson(c->ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *c);
}

}  // namespace
}  // namespace spoofd::dsp
