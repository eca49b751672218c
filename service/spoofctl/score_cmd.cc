#include "service/spoofctl/score_cmd.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "models/model.h"
#include "models/scorer.h"
#include "service/report.h"
#include "service/spoofctl/remote.h"
#include "service/spoofctl/scoring.h"
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

int RunScore(const ScoreCommandOptions& options) {
  if (!options.server.servers.empty()) {
    return RunScoreRemote({options.files, options.server, options.operating_point, options.segment_s,
                           options.raw_format, options.raw_rate_hz, options.max_input_mb, options.json});
  }
  absl::StatusOr<std::unique_ptr<models::Scorer>> scorer =
      LoadScorer(ResolveModelPath(options.model_path));
  if (!scorer.ok()) {
    std::cerr << "spoofctl score: " << scorer.status().message() << "\n";
    return 1;
  }
  const models::Model& model = (*scorer)->model();
  const LocalScoreOptions score_options{options.operating_point, options.segment_s,
                                        options.raw_format,      options.raw_rate_hz,
                                        options.max_duration_s,  options.max_input_mb};
  if (!options.json) {
    std::cout << absl::StrFormat("%-40s %9s %8s %7s  %s\n", "FILE", "DURATION", "SPEECH", "SCORE", "VERDICT");
  }
  int failures = 0;
  for (const std::string& file : options.files) {
    const FileScore scored = ScoreFileLocal(**scorer, file, score_options);
    if (options.json) std::cout << scored.row.dump() << "\n";
    if (!scored.status.ok()) {
      ++failures;
      std::cerr << "spoofctl score: " << file << ": " << scored.status.message() << "\n";
      continue;
    }
    if (!options.json) {
      const models::Verdict& verdict = *scored.verdict;
      std::cout << absl::StrFormat("%-40s %7.2f s %6.2f s %7.3f  %s\n", file, verdict.duration_s,
                                   verdict.speech_s, verdict.probability, report::PlainVerdict(verdict));
    }
  }
  if (!options.json) {
    std::cout << absl::StrFormat("model %s %s (sha256 %s…), operating point %s\n",
                                 model.contract().name, model.contract().version,
                                 model.sha256().substr(0, 12),
                                 options.operating_point.empty()
                                     ? model.contract().default_operating_point
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
