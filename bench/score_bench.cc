// End-to-end offline scoring on one core: decode (10 s, 60 s and 1 h of 16 kHz
// WAV and MP3 from memory) + features + segmenting + model forward + calibration, with the
// bundled default model (or $SPOOFD_MODEL). Also the model forward alone at
// batch 1/8/32. Counter x_realtime = audio seconds per wall second.
// SPOOFD_BENCH_MALLOC=glibc loads the model with LoadOptions::reuse_large_allocations
// off (glibc's own malloc thresholds), to measure what that option buys.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "benchmark/benchmark.h"
#include "dsp/decode.h"
#include "models/model.h"
#include "models/scorer.h"
#include "spoofd/version.h"

namespace {

const std::shared_ptr<const spoofd::models::Model>& TheModel() {
  static std::shared_ptr<const spoofd::models::Model> model = [] {
    const char* env = std::getenv("SPOOFD_MODEL");
    const char* malloc_mode = std::getenv("SPOOFD_BENCH_MALLOC");
    spoofd::models::LoadOptions options;
    options.reuse_large_allocations = malloc_mode == nullptr || std::string(malloc_mode) != "glibc";
    auto m = spoofd::models::Model::Load(env != nullptr ? env : spoofd::kDefaultModelPath, options);
    return m.ok() ? *m : nullptr;
  }();
  return model;
}

std::vector<std::uint8_t> BenchFile(const std::string& name) {
  const char* dir = std::getenv("SPOOFD_BENCH_DATA");
  std::ifstream in(std::string(dir != nullptr ? dir : "build/bench-data") + "/" + name, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void BM_ScoreFile(benchmark::State& state, const std::string& name) {
  if (TheModel() == nullptr) return state.SkipWithError("model not found");
  const std::vector<std::uint8_t> bytes = BenchFile(name);
  if (bytes.empty()) return state.SkipWithError("run tests/data/make_fixtures.sh bench first");
  auto scorer = *spoofd::models::Scorer::Create(TheModel());
  double audio_s = 0;
  for (auto _ : state) {
    auto audio = spoofd::decode::DecodeBuffer(bytes);
    auto verdict = scorer->Score(audio->samples);
    benchmark::DoNotOptimize(verdict->llr);
    audio_s += audio->duration_s();
  }
  state.counters["x_realtime"] = benchmark::Counter(audio_s, benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_ScoreFile, wav_10s, std::string("speech_10s.wav"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreFile, wav_60s, std::string("speech_60s.wav"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreFile, wav_1h, std::string("speech_3600s.wav"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreFile, mp3_10s, std::string("speech_10s.mp3"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreFile, mp3_60s, std::string("speech_60s.mp3"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreFile, mp3_1h, std::string("speech_3600s.mp3"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreFile, opus_60s, std::string("speech_60s_opus.ogg"))->Unit(benchmark::kMillisecond)->UseRealTime();

// The scorer alone on decoded audio (features + segments + forward + verdict),
// so the decode share of BM_ScoreFile is visible.
void BM_ScoreSamples(benchmark::State& state, const std::string& name) {
  if (TheModel() == nullptr) return state.SkipWithError("model not found");
  const std::vector<std::uint8_t> bytes = BenchFile(name);
  if (bytes.empty()) return state.SkipWithError("run tests/data/make_fixtures.sh bench first");
  auto audio = spoofd::decode::DecodeBuffer(bytes);
  auto scorer = *spoofd::models::Scorer::Create(TheModel());
  for (auto _ : state) {
    auto verdict = scorer->Score(audio->samples);
    benchmark::DoNotOptimize(verdict->llr);
  }
  state.counters["x_realtime"] = benchmark::Counter(
      audio->duration_s() * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_ScoreSamples, 10s, std::string("speech_10s.wav"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreSamples, 60s, std::string("speech_60s.wav"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScoreSamples, 1h, std::string("speech_3600s.wav"))->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Forward(benchmark::State& state) {
  if (TheModel() == nullptr) return state.SkipWithError("model not found");
  const auto& c = TheModel()->contract();
  const std::int64_t batch = state.range(0);
  const std::int64_t frames = c.SegmentFrames();
  const std::int64_t dims = c.features.Dims();
  std::vector<float> x(static_cast<size_t>(batch * frames * dims), 0.1f);
  for (auto _ : state) {
    auto out = TheModel()->Forward(x.data(), batch, frames, dims);
    benchmark::DoNotOptimize(out->data());
  }
  state.counters["segments_per_s"] =
      benchmark::Counter(static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["x_realtime"] = benchmark::Counter(
      static_cast<double>(batch * state.iterations()) * c.segment_s, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Forward)->Arg(1)->Arg(8)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
