// Scoring one file in-process: what `spoofctl score` and `spoofctl batch`
// share, so both read, hash, decode and score a file the same way and report
// it with the same JSON row.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/scorer.h"
#include "nlohmann/json.hpp"
#include "service/spoofctl/input.h"

namespace spoofd::cli {

struct LocalScoreOptions {
  std::string operating_point;  // empty: the model's default
  double segment_s = 0.0;
  InputFlags input;
};

struct FileScore {
  absl::Status status;                     // OK when `verdict` is set
  std::optional<models::Verdict> verdict;  // set on success
  std::string sha256;                      // of the bytes as read; empty if unreadable
  std::int64_t bytes = 0;
  // report::VerdictJson on success, report::ErrorJson otherwise.
  nlohmann::ordered_json row;
};

// --model, else $SPOOFD_MODEL, else the bundled model.
std::string ResolveModelPath(const std::string& flag);

// Loads the model at `model_path` and builds its scorer.
absl::StatusOr<std::unique_ptr<models::Scorer>> LoadScorer(const std::string& model_path);

// Decodes and scores `bytes`, already read from `file` (its path is the
// format hint and the row's "file"); `sha256` is their digest.
FileScore ScoreBytesLocal(const models::Scorer& scorer, const std::string& file,
                          const std::vector<std::uint8_t>& bytes, const std::string& sha256,
                          const LocalScoreOptions& options);

// Reads `file`, hashes the bytes as read, decodes and scores them. Never
// throws; a file that cannot be read or decoded yields an error FileScore.
// Thread-safe (Scorer and the decoder are).
FileScore ScoreFileLocal(const models::Scorer& scorer, const std::string& file,
                         const LocalScoreOptions& options);

}  // namespace spoofd::cli
