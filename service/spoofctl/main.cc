// spoofctl — score recordings, compute features, talk to spoofd servers.
// Exit codes: 0 success, 1 some input could not be processed, 2 usage error.
#include <iostream>

#include "CLI/CLI.hpp"
#include "service/spoofctl/batch_cmd.h"
#include "service/spoofctl/features_cmd.h"
#include "service/spoofctl/info_cmd.h"
#include "service/spoofctl/score_cmd.h"
#include "service/spoofctl/stream_cmd.h"
#include "spoofd/version.h"

int main(int argc, char** argv) {
  CLI::App app{"spoofctl: tell genuine speech from synthetic speech"};
  app.set_version_flag("--version", std::string("spoofctl ") + spoofd::kVersion);
  app.require_subcommand(1);
  int exit_code = 0;
  spoofd::cli::AddScoreCommand(app, &exit_code);
  spoofd::cli::AddFeaturesCommand(app, &exit_code);
  spoofd::cli::AddInfoCommand(app, &exit_code);
  spoofd::cli::AddStreamCommand(app, &exit_code);
  spoofd::cli::AddBatchCommand(app, &exit_code);
  spoofd::cli::AddMergeCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // --help and --version are successes; everything else is a usage error.
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
