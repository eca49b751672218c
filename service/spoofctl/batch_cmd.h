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

// `spoofctl merge RESULTS... --manifest LIST --out merged.jsonl`: combines the
// results files of `batch --shard K/N` runs. Exit 0 when every input has
// exactly one final row; 1 with one line on stderr when an input is missing,
// scored twice, a row names a file outside the input list, or the shards used
// different models (nothing is written then); 2 usage.
void AddMergeCommand(CLI::App& app, int* exit_code);

}  // namespace spoofd::cli
