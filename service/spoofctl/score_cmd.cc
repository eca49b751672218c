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
  InputFlags input;
  bool json = false;
  ServerFlags server;  // non-empty servers: score remotely (remote.cc)
};

int RunScore(const ScoreCommandOptions& options) {
  if (!options.server.servers.empty()) {
    return RunScoreRemote({options.files, options.server, options.operating_point, options.segment_s,
                           options.input, options.json});
  }
  absl::StatusOr<std::unique_ptr<models::Scorer>> scorer =
      LoadScorer(ResolveModelPath(options.model_path));
  if (!scorer.ok()) {
    std::cerr << "spoofctl score: " << scorer.status().message() << "\n";
    return 1;
  }
  const models::Model& model = (*scorer)->model();
  const LocalScoreOptions score_options{options.operating_point, options.segment_s, options.input};
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
  AddInputFlags(cmd, &options->input, /*headerless=*/true);
  AddServerFlags(cmd, &options->server, /*multiple=*/true);
  cmd->callback([options, exit_code] { *exit_code = RunScore(*options); });
}

}  // namespace spoofd::cli
