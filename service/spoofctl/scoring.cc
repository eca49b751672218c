#include "service/spoofctl/scoring.h"

#include <chrono>
#include <cstdlib>
#include <vector>

#include "dsp/decode.h"
#include "models/model.h"
#include "service/report.h"
#include "spoofd/version.h"

namespace spoofd::cli {
std::string ResolveModelPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("SPOOFD_MODEL"); env != nullptr && *env != '\0') return env;
  return kDefaultModelPath;
}

absl::StatusOr<std::unique_ptr<models::Scorer>> LoadScorer(const std::string& model_path) {
  absl::StatusOr<std::shared_ptr<const models::Model>> model = models::Model::Load(model_path);
  if (!model.ok()) return model.status();
  return models::Scorer::Create(*std::move(model));
}

FileScore ScoreBytesLocal(const models::Scorer& scorer, const std::string& file,
                          const std::vector<std::uint8_t>& bytes, const std::string& sha256,
                          const LocalScoreOptions& options) {
  const models::Model& model = scorer.model();
  decode::DecodeOptions decode_options;
  decode_options.target_sample_rate_hz = model.contract().features.sample_rate_hz;
  decode_options.format_hint = file;

  FileScore result;
  result.bytes = static_cast<std::int64_t>(bytes.size());
  result.sha256 = sha256;
  report::FileFacts facts;
  facts.file = file;
  facts.bytes = result.bytes;
  facts.sha256 = sha256;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<decode::DecodedAudio> audio = DecodeInput(bytes, options.input, decode_options);
  facts.decode_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  result.status = audio.status();
  if (audio.ok()) {
    facts.source = audio->source;
    models::ScoreOptions score_options;
    score_options.operating_point = options.operating_point;
    score_options.segment_s = options.segment_s;
    absl::StatusOr<models::Verdict> verdict = scorer.Score(audio->samples, score_options);
    result.status = verdict.status();
    if (verdict.ok()) result.verdict = *std::move(verdict);
  }
  result.row = result.verdict ? report::VerdictJson(facts, *result.verdict, model)
                              : report::ErrorJson(facts, result.status, model);
  return result;
}

FileScore ScoreFileLocal(const models::Scorer& scorer, const std::string& file,
                         const LocalScoreOptions& options) {
  absl::StatusOr<std::vector<std::uint8_t>> bytes =
      decode::ReadFileBytes(file, options.input.MaxInputBytes());
  if (!bytes.ok()) {
    FileScore result;
    result.status = bytes.status();
    report::FileFacts facts;
    facts.file = file;
    result.row = report::ErrorJson(facts, result.status, scorer.model());
    return result;
  }
  // Hash exactly the bytes that get decoded: that is what the row vouches for.
  const std::string sha256 = models::Sha256Hex(bytes->data(), bytes->size());
  return ScoreBytesLocal(scorer, file, *bytes, sha256, options);
}

}  // namespace spoofd::cli
