// Decode stage alone: 60 s of speech from memory to 16 kHz mono float.
//
// Inputs are made by `tests/data/make_fixtures.sh bench` (60 s, the LibriVox
// sample looped) and read from $SPOOFD_BENCH_DATA, default build/bench-data
// relative to the working directory (run from the repository root). The
// library has no encoder, so the benchmark cannot make them itself.
//
// Counters: items_per_second = output samples per second; x_realtime = seconds
// of audio decoded per wall-clock second (UseRealTime, so rates use wall time).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "dsp/decode.h"

namespace spoofd::decode {
namespace {

std::filesystem::path BenchDataDir() {
  const char* dir = std::getenv("SPOOFD_BENCH_DATA");
  return dir != nullptr && dir[0] != '\0' ? std::filesystem::path(dir)
                                          : std::filesystem::path("build/bench-data");
}

// Reads the input or marks the benchmark skipped; empty on failure.
std::vector<std::uint8_t> LoadInput(benchmark::State& state, const char* file) {
  const std::filesystem::path path = BenchDataDir() / file;
  absl::StatusOr<std::vector<std::uint8_t>> bytes = ReadFileBytes(path, std::int64_t{1} << 30);
  if (!bytes.ok()) {
    const std::string message =
        std::string(bytes.status().message()) +
        " (run: tests/data/make_fixtures.sh bench, or set SPOOFD_BENCH_DATA)";
    state.SkipWithError(message.c_str());
    return {};
  }
  return *std::move(bytes);
}

void ReportRates(benchmark::State& state, std::int64_t input_bytes, const DecodedAudio& last) {
  const auto iterations = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(last.samples.size()));
  state.SetBytesProcessed(state.iterations() * input_bytes);
  state.counters["x_realtime"] =
      benchmark::Counter(last.duration_s() * iterations, benchmark::Counter::kIsRate);
  state.counters["audio_s"] = last.duration_s();
}

// Containers through DecodeBuffer (AVIO over memory, demux, decode, resample).
void BM_DecodeBuffer(benchmark::State& state, const char* file) {
  const std::vector<std::uint8_t> bytes = LoadInput(state, file);
  if (bytes.empty()) return;
  DecodedAudio last;
  for (auto _ : state) {
    absl::StatusOr<DecodedAudio> audio = DecodeBuffer(bytes);
    if (!audio.ok()) {
      state.SkipWithError(std::string(audio.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(audio->samples.data());
    last = *std::move(audio);
  }
  ReportRates(state, static_cast<std::int64_t>(bytes.size()), last);
}
BENCHMARK_CAPTURE(BM_DecodeBuffer, wav_s16le_16k, "speech_60s.wav")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeBuffer, mp3_64k_16k, "speech_60s.mp3")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeBuffer, opus_24k_ogg, "speech_60s_opus.ogg")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Headerless 8 kHz mu-law (a telephony stream) in one DecodeRaw call.
void BM_DecodeRawMulaw8k(benchmark::State& state) {
  const std::vector<std::uint8_t> bytes = LoadInput(state, "speech_60s_mulaw_8k.raw");
  if (bytes.empty()) return;
  DecodedAudio last;
  for (auto _ : state) {
    absl::StatusOr<DecodedAudio> audio = DecodeRaw(bytes, {RawEncoding::kMulaw, 8000});
    if (!audio.ok()) {
      state.SkipWithError(std::string(audio.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(audio->samples.data());
    last = *std::move(audio);
  }
  ReportRates(state, static_cast<std::int64_t>(bytes.size()), last);
}
BENCHMARK(BM_DecodeRawMulaw8k)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same stream fed as a live call delivers it: one 20 ms packet per Feed.
void BM_RawStreamMulaw8k20msPackets(benchmark::State& state) {
  const std::vector<std::uint8_t> bytes = LoadInput(state, "speech_60s_mulaw_8k.raw");
  if (bytes.empty()) return;
  constexpr size_t kPacketBytes = 160;  // 20 ms at 8 kHz, 1 byte per sample
  DecodedAudio last;
  last.sample_rate_hz = 16000;
  for (auto _ : state) {
    auto decoder = RawStreamDecoder::Create({RawEncoding::kMulaw, 8000});
    if (!decoder.ok()) {
      state.SkipWithError(std::string(decoder.status().message()).c_str());
      return;
    }
    std::vector<float> out;
    const std::span<const std::uint8_t> all(bytes);
    for (size_t pos = 0; pos < all.size(); pos += kPacketBytes) {
      const absl::Status status =
          (*decoder)->Feed(all.subspan(pos, std::min(kPacketBytes, all.size() - pos)), &out);
      if (!status.ok()) {
        state.SkipWithError(std::string(status.message()).c_str());
        return;
      }
    }
    if (!(*decoder)->Finish(&out).ok()) {
      state.SkipWithError("Finish failed");
      return;
    }
    benchmark::DoNotOptimize(out.data());
    last.samples = std::move(out);
  }
  ReportRates(state, static_cast<std::int64_t>(bytes.size()), last);
}
BENCHMARK(BM_RawStreamMulaw8k20msPackets)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace spoofd::decode
