#include "dsp/features/streaming.h"

#include <random>

#include "dsp/test_signals.h"
#include "gtest/gtest.h"

namespace spoofd::dsp {
namespace {

struct StreamCase {
  const char* name;
  FeatureConfig config;
};

FeatureConfig With(FeatureKind kind, bool center, int deltas, double preemphasis, int hop = 160) {
  FeatureConfig c;
  c.kind = kind;
  c.center = center;
  c.deltas = deltas;
  c.preemphasis = preemphasis;
  c.hop_length = hop;
  if (kind == FeatureKind::kLogMel) c.n_filters = 40;
  if (kind == FeatureKind::kCqcc) c.f_min_hz = 200.0;  // 20 filters from 200 Hz: wider than a bin
  return c;
}

class StreamingTest : public ::testing::TestWithParam<StreamCase> {};

// Feeds `x` in random chunks (1 sample up to 3 hops) and returns all rows.
FeatureMatrix Streamed(std::shared_ptr<const FeatureExtractor> extractor, const std::vector<float>& x,
                       unsigned seed) {
  auto stream = StreamingFeatures::Create(extractor);
  EXPECT_TRUE(stream.ok());
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> chunk(0, 3 * extractor->config().hop_length);
  FeatureMatrix all(0, extractor->config().Dims());
  auto append = [&](const FeatureMatrix& rows) {
    EXPECT_EQ(rows.cols(), all.cols());
    const Eigen::Index before = all.rows();
    all.conservativeResize(before + rows.rows(), Eigen::NoChange);
    all.bottomRows(rows.rows()) = rows;
  };
  size_t pos = 0;
  while (pos < x.size()) {
    const size_t n = std::min<size_t>(seed % 5 == 0 ? 1 : chunk(rng), x.size() - pos);
    FeatureMatrix rows;
    EXPECT_TRUE((*stream)->Feed(std::span(x).subspan(pos, n), &rows).ok());
    append(rows);
    pos += n;
  }
  FeatureMatrix rows;
  EXPECT_TRUE((*stream)->Finish(&rows).ok());
  append(rows);
  EXPECT_EQ((*stream)->frames_out(), all.rows());
  return all;
}

TEST_P(StreamingTest, AnyChunkingEqualsWholeBufferBitForBit) {
  auto extractor = FeatureExtractor::Create(GetParam().config);
  ASSERT_TRUE(extractor.ok()) << extractor.status();
  for (int length : {700, 4000, 16000}) {
    const std::vector<float> x = spoofd::testing::Babble(length, length);
    auto whole = (*extractor)->Compute(x);
    ASSERT_TRUE(whole.ok());
    for (unsigned seed : {1u, 2u, 5u}) {
      FeatureMatrix streamed = Streamed(*extractor, x, seed);
      ASSERT_EQ(streamed.rows(), whole->rows()) << "length " << length << " seed " << seed;
      EXPECT_TRUE(streamed == *whole) << "length " << length << " seed " << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Configs, StreamingTest,
    ::testing::Values(StreamCase{"lfcc", With(FeatureKind::kLfcc, false, 0, 0.0)},
                      StreamCase{"lfcc_deltas2", With(FeatureKind::kLfcc, false, 2, 0.0)},
                      StreamCase{"lfcc_center_deltas1", With(FeatureKind::kLfcc, true, 1, 0.0)},
                      StreamCase{"mfcc_center_preemph_d2", With(FeatureKind::kMfcc, true, 2, 0.97)},
                      StreamCase{"logmel_preemph", With(FeatureKind::kLogMel, false, 0, 0.97)},
                      StreamCase{"logspec_hop_eq_nfft", With(FeatureKind::kLogSpec, false, 1, 0.0, 512)},
                      StreamCase{"cqcc_deltas2", With(FeatureKind::kCqcc, false, 2, 0.0)},
                      StreamCase{"lfcc_remove_dc_d2", [] {
                                   FeatureConfig c = With(FeatureKind::kLfcc, false, 2, 0.0);
                                   c.remove_dc = true;
                                   return c;
                                 }()},
                      StreamCase{"cqcc_group_delay_d2", [] {
                                   FeatureConfig c = With(FeatureKind::kCqcc, false, 2, 0.0);
                                   c.remove_dc = true;
                                   c.group_delay = true;
                                   return c;
                                 }()}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(StreamingErrorsTest, TooShortCentredStreamFailsAtFinish) {
  FeatureConfig c;
  c.center = true;
  auto stream = StreamingFeatures::Create(*FeatureExtractor::Create(c));
  FeatureMatrix rows;
  ASSERT_TRUE((*stream)->Feed(std::vector<float>(100, 0.1f), &rows).ok());
  EXPECT_EQ(rows.rows(), 0);
  absl::Status s = (*stream)->Finish(&rows);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*stream)->Feed(std::vector<float>(10, 0.1f), &rows).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(StreamingErrorsTest, NanIsRefusedAndEmptyStreamIsEmpty) {
  auto stream = StreamingFeatures::Create(*FeatureExtractor::Create(FeatureConfig{}));
  FeatureMatrix rows;
  std::vector<float> bad(10, 0.0f);
  bad[3] = std::nanf("");
  EXPECT_EQ((*stream)->Feed(bad, &rows).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*stream)->Finish(&rows).ok());
  EXPECT_EQ(rows.rows(), 0);
  EXPECT_EQ(StreamingFeatures::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StreamingLatencyTest, RowsArriveAsSoonAsTheirSamplesDo) {
  FeatureConfig c;  // no deltas, no centring: frame t is ready at t*hop + n_fft samples
  auto stream = StreamingFeatures::Create(*FeatureExtractor::Create(c));
  FeatureMatrix rows;
  ASSERT_TRUE((*stream)->Feed(std::vector<float>(511, 0.1f), &rows).ok());
  EXPECT_EQ(rows.rows(), 0);
  ASSERT_TRUE((*stream)->Feed(std::vector<float>(1, 0.1f), &rows).ok());
  EXPECT_EQ(rows.rows(), 1);
  ASSERT_TRUE((*stream)->Feed(std::vector<float>(160, 0.1f), &rows).ok());
  EXPECT_EQ(rows.rows(), 1);
}

}  // namespace
}  // namespace spoofd::dsp
