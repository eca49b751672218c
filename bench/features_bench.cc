// Feature extraction over 60 s of 16 kHz audio, one thread. The counter
// x_realtime is audio seconds per wall second (multiples of real time per core).
#include <random>

#include "benchmark/benchmark.h"
#include "dsp/features/features.h"
#include "dsp/features/streaming.h"
#include "dsp/features/vad.h"

namespace {

constexpr int kRate = 16000;
constexpr double kSeconds = 60.0;

const std::vector<float>& Audio() {
  static const std::vector<float> audio = [] {
    std::mt19937 rng(3);
    std::normal_distribution<float> d(0.0f, 0.1f);
    std::vector<float> x(static_cast<size_t>(kSeconds * kRate));
    for (auto& v : x) v = d(rng);
    return x;
  }();
  return audio;
}

void Report(benchmark::State& state) {
  state.counters["x_realtime"] =
      benchmark::Counter(kSeconds * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Features(benchmark::State& state, spoofd::dsp::FeatureConfig config) {
  auto extractor = *spoofd::dsp::FeatureExtractor::Create(config);
  for (auto _ : state) {
    auto features = extractor->Compute(Audio());
    benchmark::DoNotOptimize(features->data());
  }
  Report(state);
}

spoofd::dsp::FeatureConfig Config(spoofd::dsp::FeatureKind kind, int n_filters, int n_coeffs,
                                  int deltas) {
  spoofd::dsp::FeatureConfig c;
  c.kind = kind;
  c.n_filters = n_filters;
  c.n_coeffs = n_coeffs;
  c.deltas = deltas;
  return c;
}

// models/train/configs/cqcc60.json: 60 constant-Q filters from 125 Hz on a
// 1024-point FFT (the lowest filter must span a bin), 20 coefficients + deltas.
spoofd::dsp::FeatureConfig Cqcc60() {
  spoofd::dsp::FeatureConfig c = Config(spoofd::dsp::FeatureKind::kCqcc, 60, 20, 2);
  c.n_fft = 1024;
  c.win_length = 1024;
  c.f_min_hz = 125.0;
  c.remove_dc = true;
  return c;
}

// models/train/configs/cqcc60gd.json: the same plus the bands' group delays.
spoofd::dsp::FeatureConfig Cqcc60GroupDelay() {
  spoofd::dsp::FeatureConfig c = Cqcc60();
  c.group_delay = true;
  return c;
}

using spoofd::dsp::FeatureKind;
BENCHMARK_CAPTURE(BM_Features, lfcc_20, Config(FeatureKind::kLfcc, 20, 20, 0))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Features, lfcc_20_deltas2, Config(FeatureKind::kLfcc, 20, 20, 2))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Features, lfcc_70x60, Config(FeatureKind::kLfcc, 70, 60, 0))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Features, mfcc_40x20, Config(FeatureKind::kMfcc, 40, 20, 0))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Features, logmel_80, Config(FeatureKind::kLogMel, 80, 0, 0))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Features, logspec_257, Config(FeatureKind::kLogSpec, 0, 0, 0))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Features, cqcc60, Cqcc60())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Features, cqcc60gd, Cqcc60GroupDelay())->Unit(benchmark::kMillisecond);

void BM_StreamingLfcc20ms(benchmark::State& state) {
  // Live-call shape: 20 ms packets (320 samples) through the streaming path.
  auto extractor = *spoofd::dsp::FeatureExtractor::Create(Config(FeatureKind::kLfcc, 20, 20, 2));
  const auto& x = Audio();
  for (auto _ : state) {
    auto stream = *spoofd::dsp::StreamingFeatures::Create(extractor);
    spoofd::dsp::FeatureMatrix rows;
    for (size_t pos = 0; pos < x.size(); pos += 320) {
      (void)stream->Feed(std::span(x).subspan(pos, std::min<size_t>(320, x.size() - pos)), &rows);
    }
    (void)stream->Finish(&rows);
    benchmark::DoNotOptimize(rows.data());
  }
  Report(state);
}
BENCHMARK(BM_StreamingLfcc20ms)->Unit(benchmark::kMillisecond);

void BM_Vad(benchmark::State& state) {
  for (auto _ : state) {
    auto vad = spoofd::dsp::DetectSpeech(Audio(), spoofd::dsp::VadOptions{});
    benchmark::DoNotOptimize(vad->speech.data());
  }
  Report(state);
}
BENCHMARK(BM_Vad)->Unit(benchmark::kMillisecond);

// How the cost grows with length: the default model's front-end (LFCC 20 + deltas,
// 60 dims) over 10 s, 60 s and 1 h. Linear growth shows as a flat x_realtime.
void BM_FeaturesLength(benchmark::State& state) {
  const double seconds = static_cast<double>(state.range(0));
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 0.1f);
  std::vector<float> x(static_cast<size_t>(seconds * kRate));
  for (auto& v : x) v = d(rng);
  auto extractor = *spoofd::dsp::FeatureExtractor::Create(Config(FeatureKind::kLfcc, 20, 20, 2));
  for (auto _ : state) {
    auto features = extractor->Compute(x);
    benchmark::DoNotOptimize(features->data());
  }
  state.counters["x_realtime"] = benchmark::Counter(
      seconds * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FeaturesLength)->ArgName("seconds")->Arg(10)->Arg(60)->Arg(3600)->Unit(benchmark::kMillisecond);

}  // namespace
