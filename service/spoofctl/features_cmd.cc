#include "service/spoofctl/features_cmd.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dsp/decode.h"
#include "dsp/features/features.h"
#include "dsp/features/vad.h"
#include "nlohmann/json.hpp"
#include "service/npy.h"

namespace spoofd::cli {
namespace {

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << "spoofctl features: " << what << ": " << status.message() << "\n";
  return 1;
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open feature config ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::StatusOr<std::vector<std::uint8_t>> ReadInput(const std::string& input,
                                                    std::int64_t max_bytes) {
  if (input != "-") return decode::ReadFileBytes(input, max_bytes);
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
    if (static_cast<std::int64_t>(bytes.size() + n) > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("standard input exceeds the ", max_bytes, "-byte limit"));
    }
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  return bytes;
}

}  // namespace

void AddFeaturesCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<FeaturesOptions>();
  CLI::App* cmd = app.add_subcommand(
      "features", "Decode a recording and write its feature matrix (frames x dims, float32 .npy)");
  cmd->add_option("FILE", options->input, "Recording to read ('-' for standard input)");
  cmd->add_option("--config", options->config_path,
                  "Feature configuration JSON (default: built-in LFCC configuration)");
  cmd->add_option("--out", options->out_path, "Write the features to this .npy file ('-' for stdout)");
  AddInputFlags(cmd, &options->input_flags, /*headerless=*/true);
  cmd->add_flag("--json", options->json, "Print the summary as one JSON object");
  cmd->add_flag("--quiet,-q", options->quiet, "Print no summary");
  cmd->add_option("--manifest", options->manifest,
                  "Batch mode: a file of lines 'INPUT<TAB>OUTPUT.npy' (instead of FILE)");
  cmd->add_option("--jobs,-j", options->jobs, "Batch mode: files processed in parallel")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--skip-existing", options->skip_existing,
                "Batch mode: skip lines whose output file already exists");
  cmd->callback([cmd, options, exit_code] {
    if (options->manifest.empty() == options->input.empty()) {
      throw CLI::ValidationError("features", "give exactly one of FILE or --manifest");
    }
    *exit_code = options->manifest.empty() ? RunFeatures(*options) : RunFeaturesManifest(*options);
  });
}

namespace {

struct FileFeatures {
  std::int64_t bytes = 0;
  decode::DecodedAudio audio;
  dsp::FeatureMatrix features;
};

absl::StatusOr<dsp::FeatureConfig> LoadConfig(const FeaturesOptions& options) {
  if (options.config_path.empty()) return dsp::FeatureConfig{};
  absl::StatusOr<std::string> text = ReadText(options.config_path);
  if (!text.ok()) return text.status();
  return dsp::FeatureConfig::FromJson(*text);
}

// Read -> decode (container or headerless) -> features -> normalisation: the
// same chain the service runs.
absl::StatusOr<FileFeatures> ComputeFileFeatures(const std::string& input,
                                                 const dsp::FeatureExtractor& extractor,
                                                 const FeaturesOptions& options) {
  const dsp::FeatureConfig& config = extractor.config();
  decode::DecodeOptions decode_options;
  decode_options.target_sample_rate_hz = config.sample_rate_hz;
  if (input != "-") decode_options.format_hint = input;

  absl::StatusOr<std::vector<std::uint8_t>> bytes =
      ReadInput(input, options.input_flags.MaxInputBytes());
  if (!bytes.ok()) return bytes.status();
  FileFeatures result;
  result.bytes = static_cast<std::int64_t>(bytes->size());
  absl::StatusOr<decode::DecodedAudio> audio =
      DecodeInput(*bytes, options.input_flags, decode_options);
  if (!audio.ok()) return audio.status();
  result.audio = *std::move(audio);
  absl::StatusOr<dsp::FeatureMatrix> features = extractor.Compute(result.audio.samples);
  if (!features.ok()) return features.status();
  result.features = *std::move(features);
  dsp::NormalizeFeatures(config.normalize, &result.features);
  return result;
}

}  // namespace

int RunFeaturesManifest(const FeaturesOptions& options) {
  absl::StatusOr<dsp::FeatureConfig> config = LoadConfig(options);
  if (!config.ok()) return Fail(options.config_path, config.status());
  absl::StatusOr<std::shared_ptr<const dsp::FeatureExtractor>> extractor =
      dsp::FeatureExtractor::Create(*config);
  if (!extractor.ok()) return Fail("feature config", extractor.status());

  std::ifstream manifest(options.manifest);
  if (!manifest) {
    std::cerr << "spoofctl features: cannot open manifest " << options.manifest << "\n";
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> jobs;
  std::string line;
  for (int number = 1; std::getline(manifest, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || tab + 1 == line.size()) {
      std::cerr << "spoofctl features: " << options.manifest << ":" << number
                << ": expected 'INPUT<TAB>OUTPUT.npy'\n";
      return 2;
    }
    jobs.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }

  std::atomic<size_t> next{0};
  std::atomic<int> failures{0};
  std::mutex stderr_mutex;
  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      const auto& [input, output] = jobs[i];
      if (options.skip_existing && std::filesystem::exists(output)) continue;
      absl::Status status;
      absl::StatusOr<FileFeatures> result = ComputeFileFeatures(input, **extractor, options);
      if (result.ok()) {
        status = npy::WriteFloat32File(output, result->features.data(),
                                       {result->features.rows(), result->features.cols()});
      } else {
        status = result.status();
      }
      if (!status.ok()) {
        ++failures;
        std::lock_guard<std::mutex> lock(stderr_mutex);
        std::cerr << "spoofctl features: " << input << ": " << status.message() << "\n";
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < options.jobs; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!options.quiet) {
    std::cout << "features: " << jobs.size() - failures << " of " << jobs.size() << " files written\n";
  }
  return failures == 0 ? 0 : 1;
}

int RunFeatures(const FeaturesOptions& options) {
  absl::StatusOr<dsp::FeatureConfig> config_or = LoadConfig(options);
  if (!config_or.ok()) return Fail(options.config_path, config_or.status());
  const dsp::FeatureConfig& config = *config_or;
  absl::StatusOr<std::shared_ptr<const dsp::FeatureExtractor>> extractor =
      dsp::FeatureExtractor::Create(config);
  if (!extractor.ok()) return Fail("feature config", extractor.status());

  absl::StatusOr<FileFeatures> result = ComputeFileFeatures(options.input, **extractor, options);
  if (!result.ok()) return Fail(options.input, result.status());
  const decode::DecodedAudio* audio = &result->audio;
  dsp::FeatureMatrix* features = &result->features;
  const std::int64_t bytes = result->bytes;

  if (!options.out_path.empty()) {
    const std::vector<std::int64_t> shape{features->rows(), features->cols()};
    if (options.out_path == "-") {
      npy::WriteFloat32(std::cout, features->data(), shape);
      std::cout.flush();
      if (!std::cout) return Fail("stdout", absl::DataLossError("write failed"));
    } else if (absl::Status s = npy::WriteFloat32File(options.out_path, features->data(), shape);
               !s.ok()) {
      return Fail(options.out_path, s);
    }
  }
  if (options.quiet) return 0;

  dsp::VadOptions vad_options;
  vad_options.sample_rate_hz = audio->sample_rate_hz;
  absl::StatusOr<dsp::VadResult> vad = dsp::DetectSpeech(audio->samples, vad_options);
  const double speech_s = vad.ok() ? vad->SpeechSeconds(audio->sample_rate_hz) : 0.0;
  // The summary goes to stderr when the features themselves go to stdout.
  std::ostream& out = options.out_path == "-" ? std::cerr : std::cout;
  const double hop_ms = 1000.0 * config.hop_length / config.sample_rate_hz;
  if (options.json) {
    nlohmann::ordered_json j;
    j["file"] = options.input;
    j["container"] = audio->source.container;
    j["codec"] = audio->source.codec;
    j["source_sample_rate_hz"] = audio->source.sample_rate_hz;
    j["source_channels"] = audio->source.channels;
    j["bytes"] = bytes;
    j["duration_s"] = audio->duration_s();
    j["speech_s"] = speech_s;
    j["frames"] = features->rows();
    j["dims"] = features->cols();
    j["hop_ms"] = hop_ms;
    j["feature_config"] = nlohmann::json::parse(config.ToJson());
    if (!options.out_path.empty()) j["out"] = options.out_path;
    out << j.dump() << "\n";
    return 0;
  }
  out << absl::StrFormat("file      %s\n", options.input);
  out << absl::StrFormat("source    %s / %s, %d Hz, %d ch, %d bytes\n", audio->source.container,
                         audio->source.codec, audio->source.sample_rate_hz, audio->source.channels,
                         bytes);
  out << absl::StrFormat("audio     %.2f s at %d Hz, speech %.2f s (%.0f%%)\n", audio->duration_s(),
                         audio->sample_rate_hz, speech_s,
                         audio->duration_s() > 0 ? 100.0 * speech_s / audio->duration_s() : 0.0);
  out << absl::StrFormat("features  %s: %d frames x %d dims, hop %.1f ms, normalize %s\n",
                         dsp::FeatureKindName(config.kind), features->rows(), features->cols(),
                         hop_ms, nlohmann::json::parse(config.ToJson())["normalize"].get<std::string>());
  if (features->rows() > 0) {
    const Eigen::RowVectorXf mean = features->colwise().mean();
    out << absl::StrFormat("range     min %.3f, max %.3f, first-dim mean %.3f\n",
                           features->minCoeff(), features->maxCoeff(), mean(0));
  }
  if (!options.out_path.empty() && options.out_path != "-") {
    out << absl::StrFormat("wrote     %s\n", options.out_path);
  }
  return 0;
}

}  // namespace spoofd::cli
