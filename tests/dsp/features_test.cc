#include "dsp/features/features.h"

#include <cmath>
#include <numbers>
#include <thread>

#include "dsp/features/filterbank.h"
#include "dsp/test_signals.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spoofd::dsp {
namespace {

using ::spoofd::testing::Babble;
using ::spoofd::testing::Sine;

std::shared_ptr<const FeatureExtractor> Make(const FeatureConfig& config) {
  auto extractor = FeatureExtractor::Create(config);
  EXPECT_TRUE(extractor.ok()) << extractor.status();
  return extractor.ok() ? *extractor : nullptr;
}

// The constant-Q layout of models/train/configs/cqcc60.json: 60 filters from 125 Hz
// to 8 kHz on a 1024-point frame.
FeatureConfig ConstantQ60(int n_coeffs) {
  FeatureConfig c;
  c.kind = FeatureKind::kCqcc;
  c.n_fft = 1024;
  c.win_length = 1024;
  c.n_filters = 60;
  c.n_coeffs = n_coeffs;
  c.f_min_hz = 125.0;
  c.f_max_hz = 8000.0;
  return c;
}

TEST(FeaturesTest, SinePeaksInItsBin) {
  FeatureConfig c;
  c.kind = FeatureKind::kLogSpec;
  c.n_fft = 512;
  c.win_length = 512;
  // 1000 Hz at 16 kHz with a 512-point FFT is exactly bin 32.
  auto features = Make(c)->Compute(Sine(1000.0, 16000, 16000));
  ASSERT_TRUE(features.ok());
  ASSERT_EQ(features->cols(), 257);
  for (Eigen::Index t = 0; t < features->rows(); ++t) {
    Eigen::Index peak;
    features->row(t).maxCoeff(&peak);
    EXPECT_EQ(peak, 32) << "frame " << t;
  }
}

TEST(FeaturesTest, LinearFilterbankPutsSineInTheRightFilter) {
  FeatureConfig c;
  c.kind = FeatureKind::kLfcc;  // use the log energies before the DCT
  c.n_filters = 16;
  c.n_coeffs = 16;
  auto extractor = Make(c);
  std::vector<float> x = Sine(3000.0, 16000, 4000);
  FeatureExtractor::Scratch scratch = extractor->MakeScratch();
  FeatureMatrix log_rows(1, 16);
  extractor->LogFrames(x.data(), 1, scratch, log_rows.data());
  Eigen::Index peak;
  log_rows.row(0).maxCoeff(&peak);
  // Filter m peaks at (m + 1) * 8000 / 17 Hz; 3000 Hz is nearest to m = 5 (2824 Hz).
  EXPECT_EQ(peak, 5);
}

TEST(FeaturesTest, SilenceHitsTheLogFloorWithoutNan) {
  FeatureConfig c;  // LFCC, ln(x + 1e-6), 20 filters
  auto features = Make(c)->Compute(std::vector<float>(16000, 0.0f));
  ASSERT_TRUE(features.ok());
  ASSERT_GT(features->rows(), 0);
  // The ortho DCT of a constant vector a is (a * sqrt(N), 0, 0, ...).
  const float expected_c0 = static_cast<float>(std::log(1e-6) * std::sqrt(20.0));
  for (Eigen::Index t = 0; t < features->rows(); ++t) {
    EXPECT_NEAR((*features)(t, 0), expected_c0, 1e-3);
    for (Eigen::Index k = 1; k < features->cols(); ++k) EXPECT_NEAR((*features)(t, k), 0.0f, 1e-4);
  }
  c.log = LogKind::kDb;
  c.log_floor = 1e-10;
  c.kind = FeatureKind::kLogMel;
  auto db = Make(c)->Compute(std::vector<float>(16000, 0.0f));
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE((db->array() == -100.0f).all());
}

TEST(FeaturesTest, FrameCountsFollowTorchStft) {
  FeatureConfig c;
  c.n_fft = 512;
  c.hop_length = 160;
  auto plain = Make(c);
  EXPECT_EQ(plain->NumFrames(0), 0);
  EXPECT_EQ(plain->NumFrames(511), 0);
  EXPECT_EQ(plain->NumFrames(512), 1);
  EXPECT_EQ(plain->NumFrames(16000), 1 + (16000 - 512) / 160);
  c.center = true;
  auto centred = Make(c);
  EXPECT_EQ(centred->NumFrames(16000), 1 + 16000 / 160);
  auto features = centred->Compute(Babble(16000));
  ASSERT_TRUE(features.ok());
  EXPECT_EQ(features->rows(), 101);
}

TEST(FeaturesTest, ShortOrNonFiniteInputIsRefused) {
  FeatureConfig c;
  c.center = true;
  auto short_input = Make(c)->Compute(std::vector<float>(256, 0.1f));
  ASSERT_FALSE(short_input.ok());
  EXPECT_EQ(short_input.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_input.status().message()), ::testing::HasSubstr("too short"));

  std::vector<float> x = Babble(4000);
  x[1234] = std::nanf("");
  auto nan = Make(FeatureConfig{})->Compute(x);
  ASSERT_FALSE(nan.ok());
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  x[1234] = INFINITY;
  EXPECT_FALSE(Make(FeatureConfig{})->Compute(x).ok());

  // Without centring a short input simply has no frames.
  auto none = Make(FeatureConfig{})->Compute(std::vector<float>(100, 0.1f));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->rows(), 0);
  EXPECT_EQ(none->cols(), 20);
}

TEST(FeaturesTest, InvalidConfigIsRefusedAtCreate) {
  FeatureConfig c;
  c.n_coeffs = 30;  // > n_filters
  auto extractor = FeatureExtractor::Create(c);
  ASSERT_FALSE(extractor.ok());
  EXPECT_EQ(extractor.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FeaturesTest, DeltasOfARampAreOneInsideAndClampedAtTheEdges) {
  FeatureMatrix ramp(12, 2);
  for (int t = 0; t < 12; ++t) ramp.row(t) << static_cast<float>(t), static_cast<float>(2 * t);
  FeatureMatrix out = AppendDeltas(ramp, 2);
  ASSERT_EQ(out.cols(), 6);
  for (int t = 2; t < 10; ++t) {
    EXPECT_FLOAT_EQ(out(t, 2), 1.0f);
    EXPECT_FLOAT_EQ(out(t, 3), 2.0f);
  }
  // t = 0: neighbours clamp to x[0]: (1*(1-0) + 2*(2-0)) / 10 = 0.5.
  EXPECT_FLOAT_EQ(out(0, 2), 0.5f);
  // t = 11: (1*(11-10) + 2*(11-9)) / 10 = 0.5.
  EXPECT_FLOAT_EQ(out(11, 2), 0.5f);
  // Delta-deltas are zero where the deltas are constant (d[2..9] = 1).
  for (int t = 4; t < 8; ++t) EXPECT_FLOAT_EQ(out(t, 4), 0.0f);
  // Next to the edge they are not: d[1] = 0.8, so dd[3] = 2 * (1 - 0.8) / 10.
  EXPECT_NEAR(out(3, 4), 0.04f, 1e-6);
  // A single frame has zero deltas.
  FeatureMatrix one = AppendDeltas(ramp.topRows(1), 1);
  EXPECT_FLOAT_EQ(one(0, 2), 0.0f);
}

TEST(FeaturesTest, NormalizeGivesZeroMeanUnitVariance) {
  FeatureConfig c;
  auto features = Make(c)->Compute(Babble(16000));
  ASSERT_TRUE(features.ok());
  FeatureMatrix f = *features;
  NormalizeFeatures(NormalizeKind::kMeanVar, &f);
  for (Eigen::Index k = 0; k < f.cols(); ++k) {
    const double mean = f.col(k).cast<double>().mean();
    const double var = (f.col(k).cast<double>().array() - mean).square().mean();
    EXPECT_NEAR(mean, 0.0, 1e-4);
    EXPECT_NEAR(var, 1.0, 1e-3);
  }
  FeatureMatrix constant = FeatureMatrix::Constant(5, 3, 2.5f);
  NormalizeFeatures(NormalizeKind::kMeanVar, &constant);
  EXPECT_TRUE(constant.isZero());
  FeatureMatrix same = *features;
  NormalizeFeatures(NormalizeKind::kNone, &same);
  EXPECT_EQ(same, *features);
}

TEST(FeaturesTest, PreEmphasisRaisesHighFrequencies) {
  std::vector<float> low = Sine(200.0, 16000, 8000);
  std::vector<float> high = Sine(6000.0, 16000, 8000);
  std::vector<float> mix(8000);
  for (int i = 0; i < 8000; ++i) mix[i] = low[i] + high[i];
  FeatureConfig c;
  c.kind = FeatureKind::kLogSpec;
  auto plain = Make(c)->Compute(mix);
  c.preemphasis = 0.97;
  auto emphasized = Make(c)->Compute(mix);
  ASSERT_TRUE(plain.ok() && emphasized.ok());
  const int low_bin = 200 * 512 / 16000 + 0;   // ~6
  const int high_bin = 6000 * 512 / 16000;     // 192
  const float plain_tilt = (*plain)(10, high_bin) - (*plain)(10, low_bin);
  const float emph_tilt = (*emphasized)(10, high_bin) - (*emphasized)(10, low_bin);
  EXPECT_GT(emph_tilt - plain_tilt, 5.0f);  // ln units: the 200 Hz tone drops by ~20 dB

  std::vector<float> y(3);
  const float x[] = {1.0f, 2.0f, 4.0f};
  EXPECT_EQ(PreEmphasize(x, 0.5, 0.0f, y.data()), 4.0f);
  EXPECT_THAT(y, ::testing::ElementsAre(1.0f, 1.5f, 3.0f));
}

TEST(FeaturesTest, RemoveDcMakesFeaturesBlindToAConstantOffset) {
  // Half a second of babble, then half a second of a pause 60 dB quieter: in the
  // pause the window's main lobe spreads the offset into the lowest filters.
  std::vector<float> x = Babble(16000);
  for (size_t i = 8000; i < x.size(); ++i) x[i] *= 1e-3f;
  std::vector<float> shifted(x);
  for (float& v : shifted) v += 0.02f;  // -34 dBFS of DC, as a faulty sound card leaves
  FeatureConfig c;                      // LFCC; the lowest filter starts at 0 Hz
  c.n_filters = 30;
  auto plain = Make(c);
  const FeatureMatrix a = *plain->Compute(x);
  const FeatureMatrix b = *plain->Compute(shifted);
  // Without removal the offset moves the pause's cepstra by whole log units.
  EXPECT_GT((a - b).cwiseAbs().maxCoeff(), 1.0f);
  c.remove_dc = true;
  auto removing = Make(c);
  const FeatureMatrix ra = *removing->Compute(x);
  const FeatureMatrix rb = *removing->Compute(shifted);
  // With it only float rounding of the subtraction is left.
  EXPECT_LT((ra - rb).cwiseAbs().maxCoeff(), 0.05f);
  // In the loud half removal changes little: the frame mean of babble is small.
  const Eigen::Index loud = 8000 / c.hop_length - 4;
  EXPECT_LT((ra - a).topRows(loud).cwiseAbs().mean(), 0.1f);
}

// An impulse at sample p of a frame has the same group delay at every frequency:
// p minus the frame centre. Each band's value is that delay, scaled by 2/n_fft and
// compressed with the power 0.4, whatever the band and the impulse's height.
TEST(FeaturesTest, GroupDelayOfAnImpulseIsItsPositionInEveryBand) {
  FeatureConfig c;
  c.n_fft = 512;
  c.win_length = 512;
  c.n_filters = 20;
  c.n_coeffs = 20;
  c.group_delay = true;
  auto extractor = Make(c);
  ASSERT_EQ(extractor->LogDims(), 40);
  FeatureExtractor::Scratch scratch = extractor->MakeScratch();
  const double centre = (c.n_fft - 1) / 2.0;
  for (int p : {356, 206, 300}) {
    for (float height : {1.0f, 0.001f}) {
      std::vector<float> frame(c.n_fft, 0.0f);
      frame[p] = height;
      std::vector<float> row(extractor->LogDims());
      extractor->LogFrames(frame.data(), 1, scratch, row.data());
      const double tau = 2.0 * (p - centre) / c.n_fft;
      const double expected = std::copysign(std::pow(std::abs(tau), 0.4), tau);
      for (int m = 0; m < c.n_filters; ++m) {
        EXPECT_NEAR(row[c.n_filters + m], expected, 1e-4) << "impulse at " << p << ", band " << m;
      }
    }
  }
}

// Level changes move the log energies by a constant but leave the delays alone; and
// two frames with the same magnitude spectrum but different timing differ in the
// group-delay half only.
TEST(FeaturesTest, GroupDelaySeesTimingThatTheMagnitudeMisses) {
  FeatureConfig c = ConstantQ60(20);
  c.group_delay = true;
  auto extractor = Make(c);
  const std::vector<float> x = Babble(16000);
  std::vector<float> quiet(x);
  for (float& v : quiet) v *= 0.01f;
  const FeatureMatrix a = *extractor->Compute(x);
  const FeatureMatrix b = *extractor->Compute(quiet);
  ASSERT_EQ(a.cols(), 40);
  EXPECT_LT((a.rightCols(20) - b.rightCols(20)).cwiseAbs().maxCoeff(), 1e-3f);
  // A frame holding a short decaying burst, and the same burst reversed in time,
  // both where the Hann window is flat to within 2%: nearly the same |X|, a
  // different phase.
  c.kind = FeatureKind::kLfcc;
  c.f_min_hz = 0.0;
  auto lfcc = Make(c);
  std::vector<float> burst(1024, 0.0f), reversed(1024, 0.0f);
  for (int i = 0; i < 64; ++i) {
    const float v = std::exp(-i / 12.0f) * std::sin(0.7f * i);
    burst[480 + i] = v;
    reversed[480 + 63 - i] = v;
  }
  const FeatureMatrix fb = *lfcc->Compute(burst);
  const FeatureMatrix fr = *lfcc->Compute(reversed);
  EXPECT_LT((fb.leftCols(20) - fr.leftCols(20)).cwiseAbs().maxCoeff(), 0.1f);
  EXPECT_GT((fb.rightCols(20) - fr.rightCols(20)).cwiseAbs().maxCoeff(), 1.0f);
}

// The group-delay half as its documentation in features.h defines it, in double
// with a direct DFT: tau(k) = (2/n_fft) Re(X conj Y) / P(k), P(k) the mean |X|^2 over
// bins k-8..k+8 (clipped at the ends) and at least group_delay_floor_db below the
// frame's mean power per bin, compressed as sign |tau|^0.4, averaged over
// each filter with its weights. A spectrum with fewer bins than the smoothing
// window (n_fft 32) and a normal one (n_fft 512) both have to match.
TEST(FeaturesTest, GroupDelayMatchesADirectComputation) {
  const std::vector<float> x = Babble(4096, /*seed=*/11);
  for (int n_fft : {32, 512}) {
    FeatureConfig c;
    c.n_fft = n_fft;
    c.win_length = n_fft;
    c.hop_length = n_fft / 2;
    c.n_filters = n_fft == 32 ? 8 : 20;
    c.n_coeffs = c.n_filters;
    c.remove_dc = true;
    c.group_delay = true;
    auto extractor = Make(c);
    FeatureExtractor::Scratch scratch = extractor->MakeScratch();
    const int n_bins = n_fft / 2 + 1;
    const std::vector<Filter> filters =
        LinearFilterbank(n_bins, c.f_min_hz, c.EffectiveFMaxHz(), c.n_filters, c.sample_rate_hz);
    const std::vector<float> window = MakeWindow(false, n_fft);
    for (int start : {0, 1000, 3000}) {
      const float* frame = x.data() + start;
      std::vector<float> row(extractor->LogDims());
      extractor->LogFrames(frame, 1, scratch, row.data());
      double mean = 0.0;
      for (int i = 0; i < n_fft; ++i) mean += frame[i];
      mean /= n_fft;
      const double centre = (n_fft - 1) / 2.0;
      std::vector<double> re_x(n_bins), im_x(n_bins), re_y(n_bins), im_y(n_bins), power(n_bins);
      for (int k = 0; k < n_bins; ++k) {
        for (int i = 0; i < n_fft; ++i) {
          const double v = (frame[i] - mean) * window[i];
          const double phase = -2.0 * std::numbers::pi * k * i / n_fft;
          re_x[k] += v * std::cos(phase);
          im_x[k] += v * std::sin(phase);
          re_y[k] += v * (i - centre) * std::cos(phase);
          im_y[k] += v * (i - centre) * std::sin(phase);
        }
        power[k] = re_x[k] * re_x[k] + im_x[k] * im_x[k];
      }
      std::vector<double> compressed(n_bins);
      double mean_power = 0.0;
      for (int k = 0; k < n_bins; ++k) mean_power += power[k] / n_bins;
      const double floor = mean_power * std::pow(10.0, c.group_delay_floor_db / 10.0);
      for (int k = 0; k < n_bins; ++k) {
        double p = 0.0;
        int count = 0;
        for (int j = std::max(0, k - 8); j <= std::min(n_bins - 1, k + 8); ++j, ++count) p += power[j];
        const double tau =
            2.0 / n_fft * (re_x[k] * re_y[k] + im_x[k] * im_y[k]) / std::max(p / count, floor);
        compressed[k] = std::copysign(std::pow(std::abs(tau), 0.4), tau);
      }
      for (int m = 0; m < c.n_filters; ++m) {
        double sum = 0.0, weight = 0.0;
        for (size_t j = 0; j < filters[m].weights.size(); ++j) {
          sum += filters[m].weights[j] * compressed[filters[m].first_bin + j];
          weight += filters[m].weights[j];
        }
        const double expected = weight > 0.0 ? sum / weight : 0.0;
        EXPECT_NEAR(row[c.n_filters + m], expected, 2e-4)
            << "n_fft " << n_fft << ", frame at " << start << ", band " << m;
      }
    }
  }
}

// Telephone speech resampled to 16 kHz leaves 4-8 kHz (nearly) empty. There the
// group delay is that of rounding noise; the floor keeps it near 0, so the bands
// above the telephone band stay small and every value stays bounded, and the
// result does not depend on how the empty band's few bits of noise fall.
TEST(FeaturesTest, GroupDelayStaysBoundedAboveATelephoneBand) {
  FeatureConfig c = ConstantQ60(20);
  c.group_delay = true;
  c.deltas = 0;
  auto extractor = Make(c);
  // Harmonics of 140 Hz up to 3.4 kHz, nothing above; then the same with a trace
  // (-130 dB) of noise over the whole band, as a resampler's stopband leaves.
  std::vector<float> tone(16000, 0.0f);
  for (int h = 1; h * 140 <= 3400; ++h) {
    for (size_t i = 0; i < tone.size(); ++i) {
      tone[i] += 0.05f * std::sin(2.0f * std::numbers::pi_v<float> * 140.0f * h * i / 16000.0f + h);
    }
  }
  std::vector<float> traced(tone);
  const std::vector<float> noise = Babble(16000, /*seed=*/5);
  for (size_t i = 0; i < traced.size(); ++i) traced[i] += 1.5e-5f * noise[i];
  FeatureExtractor::Scratch scratch = extractor->MakeScratch();
  for (const std::vector<float>* x : {&tone, &traced}) {
    std::vector<float> row(extractor->LogDims());
    for (int start : {0, 4000, 9000}) {
      extractor->LogFrames(x->data() + start, 1, scratch, row.data());
      for (int m = 0; m < c.n_filters; ++m) {
        const float delay = row[c.n_filters + m];
        ASSERT_TRUE(std::isfinite(delay));
        // |tau| <= 1 in a frame of n_fft samples, so its power 0.4 is <= 1 too.
        EXPECT_LE(std::abs(delay), 1.0f) << "band " << m << ", frame at " << start;
      }
      // The top ten bands (about 4.5-8 kHz) hold no tone: delays near 0.
      for (int m = c.n_filters - 10; m < c.n_filters; ++m) {
        EXPECT_LT(std::abs(row[c.n_filters + m]), 0.2f) << "band " << m << ", frame at " << start;
      }
    }
  }
  // The cepstra of the two signals agree: the trace of noise does not move them.
  const FeatureMatrix a = *extractor->Compute(tone);
  const FeatureMatrix b = *extractor->Compute(traced);
  EXPECT_LT((a.rightCols(20) - b.rightCols(20)).cwiseAbs().maxCoeff(), 0.05f);
}

TEST(FeaturesTest, SharedExtractorGivesTheSameResultOnEveryThread) {
  FeatureConfig c;
  c.deltas = 2;
  auto extractor = Make(c);
  const std::vector<float> x = Babble(32000);
  const FeatureMatrix expected = *extractor->Compute(x);
  std::vector<FeatureMatrix> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = *extractor->Compute(x); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

TEST(FilterbankTest, TrianglesPeakAtOneAndCoverTheBand) {
  std::vector<Filter> mel = MelFilterbank(257, 0.0, 8000.0, 40, 16000);
  ASSERT_EQ(mel.size(), 40u);
  for (const Filter& f : mel) {
    ASSERT_FALSE(f.weights.empty());
    const float peak = *std::max_element(f.weights.begin(), f.weights.end());
    EXPECT_LE(peak, 1.0f + 1e-6f);
    EXPECT_GT(peak, 0.3f);
  }
  // Linear filters are equally wide: same number of non-zero bins (+-1).
  std::vector<Filter> lin = LinearFilterbank(257, 0.0, 8000.0, 20, 16000);
  for (const Filter& f : lin) EXPECT_NEAR(f.weights.size(), lin[5].weights.size(), 1.0);
}

TEST(FilterbankTest, ConstantQFiltersKeepTheirBandwidthToCentreRatio) {
  // 1024-point FFT at 16 kHz: bins 15.625 Hz apart.
  const std::vector<Filter> cq = ConstantQFilterbank(513, 125.0, 8000.0, 60, 16000);
  ASSERT_EQ(cq.size(), 60u);
  // Centre and width in Hz from the weights themselves, so the test checks the
  // filters, not the formula that placed them.
  auto centre_hz = [](const Filter& f) {
    double sum = 0.0, weighted = 0.0;
    for (size_t j = 0; j < f.weights.size(); ++j) {
      sum += f.weights[j];
      weighted += f.weights[j] * (f.first_bin + static_cast<double>(j)) * 15.625;
    }
    return weighted / sum;
  };
  for (const Filter& f : cq) ASSERT_FALSE(f.weights.empty());
  // Ten filters per octave: a filter's centre is twice that of the filter ten below
  // (2^(60/61) = 1.977 by construction; the bin grid moves the centroids a little).
  for (int m = 20; m + 10 < 60; ++m) {
    EXPECT_NEAR(centre_hz(cq[m + 10]) / centre_hz(cq[m]), 1.977, 0.04) << "filter " << m;
  }
  // Constant Q: the number of bins under a filter grows with its centre frequency.
  EXPECT_NEAR(static_cast<double>(cq[55].weights.size()) / cq[45].weights.size(), 2.0, 0.25);
  EXPECT_LT(cq[10].weights.size(), cq[30].weights.size());
  EXPECT_NEAR(ConstantQLowestWidthHz(125.0, 8000.0, 60), 125.0 * (std::pow(64.0, 2.0 / 61.0) - 1.0), 1e-9);
}

TEST(FeaturesTest, ConstantQFilterbankPutsLowSinesInSeparateFilters) {
  // 200 Hz and 300 Hz fall under the same linear filter at 30 filters (258 Hz
  // spacing), but six constant-Q filters apart at ten per octave.
  auto extractor = Make(ConstantQ60(60));
  ASSERT_NE(extractor, nullptr);
  auto peak_filter = [&](double hz) {
    std::vector<float> x = Sine(hz, 16000, 4000);
    FeatureExtractor::Scratch scratch = extractor->MakeScratch();
    FeatureMatrix log_rows(1, 60);
    extractor->LogFrames(x.data(), 1, scratch, log_rows.data());
    Eigen::Index peak;
    log_rows.row(0).maxCoeff(&peak);
    return static_cast<int>(peak);
  };
  // Centre of filter m: 125 * 64^((m + 1) / 61) Hz.
  auto centre = [](int m) { return 125.0 * std::pow(64.0, (m + 1) / 61.0); };
  // Below ~250 Hz neighbouring filters are closer than the window's resolution
  // (16 Hz bins), so the peak may land one filter off there.
  EXPECT_NEAR(peak_filter(centre(6)), 6, 1);
  for (int m : {20, 30, 45, 55}) EXPECT_EQ(peak_filter(centre(m)), m) << centre(m) << " Hz";
  EXPECT_GE(peak_filter(300.0) - peak_filter(200.0), 4);
}

TEST(FilterbankTest, DctIsOrthonormal) {
  Eigen::MatrixXf dct = DctMatrix(20, 20);
  Eigen::MatrixXf identity = dct.transpose() * dct;
  EXPECT_TRUE(identity.isIdentity(1e-5));
}

}  // namespace
}  // namespace spoofd::dsp
