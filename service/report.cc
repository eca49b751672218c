#include "service/report.h"

#include <cmath>

#include "absl/strings/str_replace.h"

namespace spoofd::report {

// Dividing by the inverse keeps 7.1 printing as 7.1 rather than 7.1000000000000005.
double Round(double x, double unit) {
  const double scale = std::round(1.0 / unit);
  return std::round(x * scale) / scale;
}

ModelFacts ModelFacts::Of(const models::Model& model) {
  return {model.contract().name, model.contract().version, model.sha256()};
}

nlohmann::ordered_json ModelJson(const ModelFacts& model) {
  nlohmann::ordered_json j;
  j["name"] = model.name;
  j["version"] = model.version;
  j["sha256"] = model.sha256;
  return j;
}

nlohmann::ordered_json ModelJson(const models::Model& model) { return ModelJson(ModelFacts::Of(model)); }

nlohmann::ordered_json VerdictJson(const FileFacts& facts, const models::Verdict& v,
                                   const models::Model& model) {
  return VerdictJson(facts, v, ModelFacts::Of(model));
}

nlohmann::ordered_json VerdictJson(const FileFacts& facts, const models::Verdict& v,
                                   const ModelFacts& model) {
  nlohmann::ordered_json j;
  j["file"] = facts.file;
  j["sha256"] = facts.sha256;
  j["bytes"] = facts.bytes;
  j["duration_s"] = Round(v.duration_s, 1e-3);
  j["speech_s"] = Round(v.speech_s, 1e-2);
  j["score"] = Round(v.probability, 1e-4);
  j["llr"] = Round(v.llr, 1e-4);
  j["decision"] = models::DecisionName(v.decision);
  j["reason"] = v.reason;
  j["verdict"] = PlainVerdict(v);
  j["threshold"] = Round(v.threshold, 1e-4);
  j["operating_point"] = v.operating_point;
  j["max_segment_llr"] = Round(v.max_segment_llr, 1e-4);
  auto segments = nlohmann::ordered_json::array();
  for (const auto& s : v.segments) {
    nlohmann::ordered_json seg;
    seg["start_s"] = Round(s.start_s, 1e-3);
    seg["end_s"] = Round(s.end_s, 1e-3);
    seg["score"] = Round(s.probability, 1e-4);
    seg["llr"] = Round(s.llr, 1e-4);
    seg["speech_fraction"] = Round(s.speech_fraction, 1e-3);
    seg["counted"] = s.counted;
    segments.push_back(std::move(seg));
  }
  j["segments"] = std::move(segments);
  nlohmann::ordered_json source;
  source["container"] = facts.source.container;
  source["codec"] = facts.source.codec;
  source["sample_rate_hz"] = facts.source.sample_rate_hz;
  source["channels"] = facts.source.channels;
  j["source"] = std::move(source);
  j["model"] = ModelJson(model);
  nlohmann::ordered_json timing;
  timing["decode"] = Round(facts.decode_us / 1000.0, 1e-2);
  timing["features"] = Round(v.features_us / 1000.0, 1e-2);
  timing["model"] = Round(v.model_us / 1000.0, 1e-2);
  j["timing_ms"] = std::move(timing);
  return j;
}

nlohmann::ordered_json ErrorJson(const FileFacts& facts, const absl::Status& status,
                                 const models::Model& model) {
  nlohmann::ordered_json j;
  j["file"] = facts.file;
  if (!facts.sha256.empty()) j["sha256"] = facts.sha256;
  j["bytes"] = facts.bytes;
  nlohmann::ordered_json error;
  error["code"] = absl::StatusCodeToString(status.code());
  error["message"] = std::string(status.message());
  j["error"] = std::move(error);
  j["model"] = ModelJson(model);
  return j;
}

std::string PlainVerdict(const models::Verdict& v) {
  switch (v.decision) {
    case models::Decision::kSynthetic:
      return "likely synthetic";
    case models::Decision::kGenuine:
      return "likely genuine";
    case models::Decision::kInconclusive:
      break;
  }
  if (v.reason == "too_short") return "cannot tell: the recording is too short";
  if (v.reason == "silence") return "cannot tell: no speech, only silence";
  if (v.reason == "too_little_speech") return "cannot tell: too little speech";
  if (v.reason == "clipped") return "cannot tell: the audio is badly clipped";
  return "cannot tell: " + absl::StrReplaceAll(v.reason, {{"_", " "}});
}

}  // namespace spoofd::report
