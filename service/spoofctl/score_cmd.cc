#include "service/spoofctl/score_cmd.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "dsp/decode.h"
#include "models/model.h"
#include "models/scorer.h"
#include "service/report.h"
#include "service/spoofctl/remote.h"
#include "spoofd/version.h"

namespace spoofd::cli {
namespace {

struct ScoreCommandOptions {
  std::vector<std::string> files;
  std::string model_path;
  std::string operating_point;
  double segment_s = 0.0;
  std::string raw_format;
  int raw_rate_hz = 8000;
  double max_duration_s = 4.0 * 3600.0;
  double max_input_mb = 2048.0;
  bool json = false;
  ServerFlags server;  // non-empty servers: score remotely (remote.cc)
};

std::string ResolveModelPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("SPOOFD_MODEL"); env != nullptr && *env != '\0') return env;
  return kDefaultModelPath;
}

int RunScore(const ScoreCommandOptions& options) {
  if (!options.server.servers.empty()) {
    return RunScoreRemote({options.files, options.server, options.operating_point, options.segment_s,
                           options.raw_format, options.raw_rate_hz, options.max_input_mb, options.json});
  }
  const std::string model_path = ResolveModelPath(options.model_path);
  absl::StatusOr<std::shared_ptr<const models::Model>> model = models::Model::Load(model_path);
  if (!model.ok()) {
    std::cerr << "spoofctl score: " << model.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<models::Scorer>> scorer = models::Scorer::Create(*model);
  if (!scorer.ok()) {
    std::cerr << "spoofctl score: " << scorer.status().message() << "\n";
    return 1;
  }
  models::ScoreOptions score_options;
  score_options.operating_point = options.operating_point;
  score_options.segment_s = options.segment_s;
  decode::DecodeOptions decode_options;
  decode_options.target_sample_rate_hz = (*model)->contract().features.sample_rate_hz;
  decode_options.max_duration_s = options.max_duration_s;
  decode_options.max_input_bytes = static_cast<std::int64_t>(options.max_input_mb * 1024 * 1024);

  if (!options.json) {
    std::cout << absl::StrFormat("%-40s %9s %8s %7s  %s\n", "FILE", "DURATION", "SPEECH", "SCORE", "VERDICT");
  }
  int failures = 0;
  for (const std::string& file : options.files) {
    report::FileFacts facts;
    facts.file = file;
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<models::Verdict> verdict;
    absl::StatusOr<std::vector<std::uint8_t>> bytes = decode::ReadFileBytes(file, decode_options.max_input_bytes);
    absl::Status status = bytes.status();
    if (bytes.ok()) {
      facts.bytes = static_cast<std::int64_t>(bytes->size());
      facts.sha256 = models::Sha256Hex(bytes->data(), bytes->size());
      decode::DecodeOptions per_file = decode_options;
      per_file.format_hint = file;
      absl::StatusOr<decode::DecodedAudio> audio;
      if (!options.raw_format.empty()) {
        absl::StatusOr<decode::RawEncoding> encoding = decode::ParseRawEncoding(options.raw_format);
        audio = encoding.ok() ? decode::DecodeRaw(*bytes, {*encoding, options.raw_rate_hz}, per_file)
                              : absl::StatusOr<decode::DecodedAudio>(encoding.status());
      } else {
        audio = decode::DecodeBuffer(*bytes, per_file);
      }
      facts.decode_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      status = audio.status();
      if (audio.ok()) {
        facts.source = audio->source;
        verdict = (*scorer)->Score(audio->samples, score_options);
        status = verdict.status();
      }
    }
    if (!status.ok()) {
      ++failures;
      if (options.json) {
        std::cout << report::ErrorJson(facts, status, **model).dump() << "\n";
      }
      std::cerr << "spoofctl score: " << file << ": " << status.message() << "\n";
      continue;
    }
    if (options.json) {
      std::cout << report::VerdictJson(facts, *verdict, **model).dump() << "\n";
    } else {
      std::cout << absl::StrFormat("%-40s %7.2f s %6.2f s %7.3f  %s\n", file, verdict->duration_s,
                                   verdict->speech_s, verdict->probability, report::PlainVerdict(*verdict));
    }
  }
  if (!options.json) {
    std::cout << absl::StrFormat("model %s %s (sha256 %s…), operating point %s\n",
                                 (*model)->contract().name, (*model)->contract().version,
                                 (*model)->sha256().substr(0, 12),
                                 options.operating_point.empty()
                                     ? (*model)->contract().default_operating_point
                                     : options.operating_point);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void AddScoreCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<ScoreCommandOptions>();
  CLI::App* cmd = app.add_subcommand("score", "Score recordings: genuine or synthetic speech?");
  cmd->add_option("FILE", options->files, "Recordings to score (any format FFmpeg reads)")->required();
  cmd->add_option("--model", options->model_path,
                  "TorchScript model file (default: $SPOOFD_MODEL, else the bundled model)");
  cmd->add_option("--operating-point", options->operating_point,
                  "Named threshold from the model (e.g. balanced, strict; default: the model's)");
  cmd->add_option("--segment-s", options->segment_s, "Segment length override in seconds");
  cmd->add_flag("--json", options->json, "One JSON object per file on stdout");
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
  AddServerFlags(cmd, &options->server, /*multiple=*/true);
  cmd->callback([options, exit_code] { *exit_code = RunScore(*options); });
}

}  // namespace spoofd::cli
