#include "service/spoofctl/features_cmd.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

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
  cmd->add_option("FILE", options->input, "Recording to read ('-' for standard input)")->required();
  cmd->add_option("--config", options->config_path,
                  "Feature configuration JSON (default: built-in LFCC configuration)");
  cmd->add_option("--out", options->out_path, "Write the features to this .npy file ('-' for stdout)");
  cmd->add_option("--format", options->raw_format,
                  "Headerless input encoding instead of a container: s16le, mulaw or alaw")
      ->check(CLI::IsMember({"s16le", "mulaw", "ulaw", "alaw"}));
  cmd->add_option("--rate", options->raw_rate_hz, "Sample rate of headerless input in Hz")
      ->capture_default_str()
      ->check(CLI::Range(1000, 192000));
  cmd->add_option("--max-duration-s", options->max_duration_s, "Refuse audio longer than this")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-input-mb", options->max_input_mb, "Refuse inputs larger than this (MiB)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", options->json, "Print the summary as one JSON object");
  cmd->add_flag("--quiet,-q", options->quiet, "Print no summary");
  cmd->callback([options, exit_code] { *exit_code = RunFeatures(*options); });
}

int RunFeatures(const FeaturesOptions& options) {
  dsp::FeatureConfig config;
  if (!options.config_path.empty()) {
    absl::StatusOr<std::string> text = ReadText(options.config_path);
    if (!text.ok()) return Fail(options.config_path, text.status());
    absl::StatusOr<dsp::FeatureConfig> parsed = dsp::FeatureConfig::FromJson(*text);
    if (!parsed.ok()) return Fail(options.config_path, parsed.status());
    config = *parsed;
  }
  absl::StatusOr<std::shared_ptr<const dsp::FeatureExtractor>> extractor =
      dsp::FeatureExtractor::Create(config);
  if (!extractor.ok()) return Fail("feature config", extractor.status());

  decode::DecodeOptions decode_options;
  decode_options.target_sample_rate_hz = config.sample_rate_hz;
  decode_options.max_duration_s = options.max_duration_s;
  decode_options.max_input_bytes = static_cast<std::int64_t>(options.max_input_mb * 1024 * 1024);
  if (options.input != "-") decode_options.format_hint = options.input;

  absl::StatusOr<std::vector<std::uint8_t>> bytes =
      ReadInput(options.input, decode_options.max_input_bytes);
  if (!bytes.ok()) return Fail(options.input, bytes.status());

  absl::StatusOr<decode::DecodedAudio> audio;
  if (!options.raw_format.empty()) {
    absl::StatusOr<decode::RawEncoding> encoding = decode::ParseRawEncoding(options.raw_format);
    if (!encoding.ok()) return Fail("--format", encoding.status());
    audio = decode::DecodeRaw(*bytes, {*encoding, options.raw_rate_hz}, decode_options);
  } else {
    audio = decode::DecodeBuffer(*bytes, decode_options);
  }
  if (!audio.ok()) return Fail(options.input, audio.status());

  absl::StatusOr<dsp::FeatureMatrix> features = (*extractor)->Compute(audio->samples);
  if (!features.ok()) return Fail(options.input, features.status());
  dsp::NormalizeFeatures(config.normalize, &*features);

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
    j["bytes"] = bytes->size();
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
                         bytes->size());
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
