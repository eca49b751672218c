// `spoofctl score FILE...`: score recordings offline with a model loaded
// in-process (the bundled default unless --model says otherwise).
#pragma once

namespace CLI {
class App;
}

namespace spoofd::cli {

// Registers the subcommand; the exit code (0 all scored, 1 some could not be)
// is written to *exit_code.
void AddScoreCommand(CLI::App& app, int* exit_code);

}  // namespace spoofd::cli
