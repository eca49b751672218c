// `spoofctl features`: decode a recording and write its feature matrix exactly
// as the service computes it. This is the path the training pipeline uses.
#pragma once

#include <string>

#include "service/spoofctl/input.h"

namespace CLI {
class App;
}

namespace spoofd::cli {

struct FeaturesOptions {
  std::string input;        // path, or "-" for standard input
  std::string config_path;  // FeatureConfig JSON; empty = built-in defaults
  std::string out_path;     // .npy path, "-" for standard output, empty = no output file
  InputFlags input_flags;  // how `input` is read and decoded
  bool json = false;        // summary as one JSON object
  bool quiet = false;       // no summary
  // Batch mode for training: each line "INPUT<TAB>OUTPUT.npy"; one process
  // computes them all (no per-file start-up cost), `jobs` threads at a time.
  std::string manifest;
  int jobs = 1;
  bool skip_existing = false;  // batch mode: leave outputs that already exist
};

// Registers the subcommand; `run` is called with the parsed options and its
// return value becomes the exit code.
void AddFeaturesCommand(CLI::App& app, int* exit_code);

// 0 on success, 1 when the input could not be processed (one line on stderr).
int RunFeatures(const FeaturesOptions& options);

// Batch mode: 0 when every line succeeded, 1 when some failed (one stderr line
// each: "spoofctl features: INPUT: reason"), 2 for an unreadable manifest.
int RunFeaturesManifest(const FeaturesOptions& options);

}  // namespace spoofd::cli
