// Decode stage alone: 10 s, 60 s and 1 h of speech from memory to 16 kHz mono
// float, and resampling alone.
//
// Inputs are made by `tests/data/make_fixtures.sh bench` (the LibriVox
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

#include "absl/strings/str_cat.h"
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
// Headerless 8 kHz mu-law (a telephony stream) in one DecodeRaw call.
void BM_DecodeRawMulaw8k(benchmark::State& state, const char* file) {
  const std::vector<std::uint8_t> bytes = LoadInput(state, file);
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

// The same stream fed as a live call delivers it: one 20 ms packet per Feed.
void BM_RawStreamMulaw8k20msPackets(benchmark::State& state, const char* file) {
  const std::vector<std::uint8_t> bytes = LoadInput(state, file);
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

// Resampling alone: headerless s16le at 8, 16 (no resampling) and 48 kHz to
// 16 kHz. The 16 kHz case is the decode cost; the others add soxr's.
void BM_ResampleS16le(benchmark::State& state) {
  const int rate_hz = static_cast<int>(state.range(0));
  const double seconds = static_cast<double>(state.range(1));
  std::vector<std::uint8_t> bytes(static_cast<size_t>(seconds * rate_hz) * 2);
  std::uint32_t noise = 12345;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    noise = noise * 1664525u + 1013904223u;  // LCG: deterministic noise at -20 dBFS-ish
    const auto v = static_cast<std::int16_t>(static_cast<std::int32_t>(noise >> 16) / 10 - 1638);
    bytes[i] = static_cast<std::uint8_t>(v & 0xFF);
    bytes[i + 1] = static_cast<std::uint8_t>((v >> 8) & 0xFF);
  }
  DecodedAudio last;
  for (auto _ : state) {
    absl::StatusOr<DecodedAudio> audio = DecodeRaw(bytes, {RawEncoding::kPcmS16le, rate_hz});
    if (!audio.ok()) {
      state.SkipWithError(std::string(audio.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(audio->samples.data());
    last = *std::move(audio);
  }
  ReportRates(state, static_cast<std::int64_t>(bytes.size()), last);
}
BENCHMARK(BM_ResampleS16le)
    ->ArgNames({"rate_hz", "seconds"})
    ->ArgsProduct({{8000, 16000, 48000}, {10, 60, 3600}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Every input at 10 s, 60 s and 1 h (files from make_fixtures.sh bench).
const bool kRegistered = [] {
  struct Input {
    const char* name;
    const char* suffix;  // file: speech_<length><suffix>
  };
  const Input inputs[] = {
      {"wav_s16le_16k", ".wav"}, {"mp3_64k_16k", ".mp3"}, {"opus_24k_ogg", "_opus.ogg"}};
  // Benchmark arguments outlive registration: the names are never freed.
  auto keep = [](std::string name) { return (new std::string(std::move(name)))->c_str(); };
  for (const char* length : {"10s", "60s", "3600s"}) {
    for (const Input& input : inputs) {
      const char* file = keep(absl::StrCat("speech_", length, input.suffix));
      benchmark::RegisterBenchmark(absl::StrCat("BM_DecodeBuffer/", input.name, "/", length).c_str(),
                                   BM_DecodeBuffer, file)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
    const char* raw = keep(absl::StrCat("speech_", length, "_mulaw_8k.raw"));
    benchmark::RegisterBenchmark(absl::StrCat("BM_DecodeRawMulaw8k/", length).c_str(),
                                 BM_DecodeRawMulaw8k, raw)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(absl::StrCat("BM_RawStreamMulaw8k20msPackets/", length).c_str(),
                                 BM_RawStreamMulaw8k20msPackets, raw)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace spoofd::decode
