// `spoofctl batch PATH... --out results.jsonl`: score many recordings (seized
// media, corpora) in parallel, one crash-safe JSON line per file, resumable.
#pragma once

namespace CLI {
class App;
}

namespace spoofd::cli {

// Registers the subcommand; the exit code (0 all scored, 1 some files are
// error rows, 2 usage) is written to *exit_code.
void AddBatchCommand(CLI::App& app, int* exit_code);

}  // namespace spoofd::cli
