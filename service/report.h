// The JSON form of a scoring result, shared by `spoofctl score --json`,
// `spoofctl batch` rows and the HTTP endpoint, so every surface reports the
// same fields with the same names.
#pragma once

#include <cstdint>
#include <string>

#include "dsp/decode.h"
#include "models/scorer.h"
#include "nlohmann/json.hpp"

namespace spoofd::report {

struct FileFacts {
  std::string file;     // as given by the user
  std::string sha256;   // of the bytes as read
  std::int64_t bytes = 0;
  decode::SourceInfo source;
  std::int64_t decode_us = 0;
};

// Rounds to `unit` (a power of ten) for readable output; 7.1 stays 7.1.
double Round(double x, double unit);

// Which model produced a result: from a loaded Model offline, or from a
// server's response remotely.
struct ModelFacts {
  std::string name;
  std::string version;
  std::string sha256;
  static ModelFacts Of(const models::Model& model);
};

// {"file", "sha256", "bytes", "duration_s", "speech_s", "score", "llr", "decision",
//  "reason", "threshold", "operating_point", "max_segment_llr", "segments": [{"start_s",
//  "end_s", "score", "llr", "speech_fraction", "counted"}], "source": {...},
//  "model": {"name", "version", "sha256"}, "timing_ms": {...}}
nlohmann::ordered_json VerdictJson(const FileFacts& facts, const models::Verdict& verdict,
                                   const ModelFacts& model);
nlohmann::ordered_json VerdictJson(const FileFacts& facts, const models::Verdict& verdict,
                                   const models::Model& model);

// {"file", "sha256" (when known), "bytes", "error": {"code", "message"}, "model": {...}}
nlohmann::ordered_json ErrorJson(const FileFacts& facts, const absl::Status& status,
                                 const models::Model& model);

nlohmann::ordered_json ModelJson(const ModelFacts& model);
nlohmann::ordered_json ModelJson(const models::Model& model);

// "likely synthetic", "likely genuine", "cannot tell: too little speech", ...
std::string PlainVerdict(const models::Verdict& verdict);

}  // namespace spoofd::report
