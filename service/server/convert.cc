#include "service/server/convert.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "service/report.h"
#include "spoofd/version.h"

namespace spoofd::service {

absl::StatusOr<std::optional<decode::RawFormat>> ToRawFormat(const v1::AudioFormat& format) {
  decode::RawFormat raw;
  switch (format.encoding()) {
    case v1::AUDIO_ENCODING_UNSPECIFIED:
      return std::optional<decode::RawFormat>();
    case v1::AUDIO_ENCODING_PCM_S16LE:
      raw.encoding = decode::RawEncoding::kPcmS16le;
      break;
    case v1::AUDIO_ENCODING_MULAW:
      raw.encoding = decode::RawEncoding::kMulaw;
      break;
    case v1::AUDIO_ENCODING_ALAW:
      raw.encoding = decode::RawEncoding::kAlaw;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown audio encoding ", format.encoding()));
  }
  if (format.sample_rate_hz() < 1000 || format.sample_rate_hz() > 768000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "headerless audio (", std::string(decode::RawEncodingName(raw.encoding)),
        ") needs format.sample_rate_hz in [1000, 768000], got ", format.sample_rate_hz()));
  }
  raw.sample_rate_hz = format.sample_rate_hz();
  return std::optional<decode::RawFormat>(raw);
}

absl::StatusOr<models::ScoreOptions> ToScoreOptions(const v1::ScoreOptions& options,
                                                    const models::ModelContract& contract) {
  models::ScoreOptions out;
  out.operating_point = options.operating_point();
  if (!out.operating_point.empty() && !contract.operating_points.contains(out.operating_point)) {
    std::string known;
    for (const auto& [name, _] : contract.operating_points)
      absl::StrAppend(&known, known.empty() ? "" : ", ", name);
    return absl::InvalidArgumentError(absl::StrCat("unknown operating point '", out.operating_point,
                                                   "' (this model has: ", known, ")"));
  }
  out.segment_s = options.segment_s();
  if (out.segment_s != 0.0 && !(out.segment_s >= contract.min_segment_s && out.segment_s <= 60.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.segment_s must be 0 (the model's ", contract.segment_s, " s) or in [",
                     contract.min_segment_s, ", 60] s, got ", out.segment_s));
  }
  return out;
}

absl::StatusOr<StreamParams> ToStreamParams(const v1::StreamConfig& config,
                                            const models::ModelContract& contract) {
  absl::StatusOr<models::ScoreOptions> options = ToScoreOptions(config.options(), contract);
  if (!options.ok()) return options.status();
  if (config.encoding() == v1::AUDIO_ENCODING_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "StreamConfig.encoding is required: PCM_S16LE, MULAW or ALAW (containers cannot be "
        "streamed; "
        "send them with ScoreUpload)");
  }
  v1::AudioFormat format;
  format.set_encoding(config.encoding());
  format.set_sample_rate_hz(config.sample_rate_hz());
  absl::StatusOr<std::optional<decode::RawFormat>> raw = ToRawFormat(format);
  if (!raw.ok()) return raw.status();
  const double interval = config.interim_interval_s();
  if (interval != 0.0 && !(interval >= 0.1 && interval <= 60.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "StreamConfig.interim_interval_s must be 0 (1 s) or in [0.1, 60], got ", interval));
  }
  StreamParams params;
  params.format = **raw;
  params.interim_interval_s = interval;
  params.operating_point = options->operating_point;
  params.segment_s = options->segment_s;
  return params;
}

v1::Decision ToProtoDecision(models::Decision decision) {
  switch (decision) {
    case models::Decision::kGenuine:
      return v1::DECISION_GENUINE;
    case models::Decision::kSynthetic:
      return v1::DECISION_SYNTHETIC;
    case models::Decision::kInconclusive:
      return v1::DECISION_INCONCLUSIVE;
  }
  return v1::DECISION_UNSPECIFIED;
}

v1::InconclusiveReason ToProtoReason(const std::string& reason) {
  if (reason == "too_short") return v1::REASON_TOO_SHORT;
  if (reason == "silence") return v1::REASON_SILENCE;
  if (reason == "too_little_speech") return v1::REASON_TOO_LITTLE_SPEECH;
  if (reason == "clipped") return v1::REASON_CLIPPED;
  if (reason == "not_confident_yet") return v1::REASON_NOT_CONFIDENT_YET;
  return v1::REASON_UNSPECIFIED;
}

void FillResult(const models::Verdict& v, const models::Model& model, v1::Result* result) {
  result->set_decision(ToProtoDecision(v.decision));
  result->set_reason(ToProtoReason(v.reason));
  result->set_summary(v.reason == "not_confident_yet" ? "cannot tell yet: keep listening"
                                                      : report::PlainVerdict(v));
  result->set_probability(v.probability);
  result->set_llr(v.llr);
  result->set_threshold(v.threshold);
  result->set_operating_point(v.operating_point);
  result->set_max_segment_llr(v.max_segment_llr);
  result->mutable_segments()->Reserve(static_cast<int>(v.segments.size()));
  for (const auto& s : v.segments) {
    v1::Segment* seg = result->add_segments();
    seg->set_start_s(s.start_s);
    seg->set_end_s(s.end_s);
    seg->set_probability(s.probability);
    seg->set_llr(s.llr);
    seg->set_speech_fraction(s.speech_fraction);
    seg->set_counted(s.counted);
  }
  result->set_duration_s(v.duration_s);
  result->set_speech_s(v.speech_s);
  result->set_clipped_fraction(v.clipped_fraction);
  v1::ModelRef* ref = result->mutable_model();
  ref->set_name(model.contract().name);
  ref->set_version(model.contract().version);
  ref->set_sha256(model.sha256());
}

v1::GetModelInfoResponse ModelInfo(const models::Model& model) {
  const models::ModelContract& c = model.contract();
  v1::GetModelInfoResponse info;
  info.set_name(c.name);
  info.set_version(c.version);
  info.set_sha256(model.sha256());
  info.set_feature_config_json(c.features.ToJson());
  info.set_feature_kind(std::string(dsp::FeatureKindName(c.features.kind)));
  info.set_sample_rate_hz(c.features.sample_rate_hz);
  info.set_feature_dims(c.features.Dims());
  info.set_segment_s(c.segment_s);
  info.set_hop_s(c.hop_s);
  info.set_min_segment_s(c.min_segment_s);
  info.set_min_speech_fraction(c.min_speech_fraction);
  info.mutable_calibration()->set_scale(c.calibration_scale);
  info.mutable_calibration()->set_offset(c.calibration_offset);
  info.mutable_calibration()->set_kind("affine_logit_to_llr");
  for (const auto& [name, op] : c.operating_points) {
    v1::OperatingPointInfo* p = info.add_operating_points();
    p->set_name(name);
    p->set_llr_threshold(op.llr_threshold);
    p->set_description(op.description);
  }
  info.set_default_operating_point(c.default_operating_point);
  info.set_training_json("{}");
  info.set_dev_metrics_json("{}");
  const nlohmann::json j = nlohmann::json::parse(c.json, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (auto it = j.find("training"); it != j.end() && it->is_object())
      info.set_training_json(it->dump());
    if (auto it = j.find("dev_metrics"); it != j.end() && it->is_object())
      info.set_dev_metrics_json(it->dump());
    if (auto it = j.find("calibration"); it != j.end() && it->is_object()) {
      if (auto kind = it->find("kind"); kind != it->end() && kind->is_string()) {
        info.mutable_calibration()->set_kind(kind->get<std::string>());
      }
    }
  }
  info.set_contract_json(c.json);
  info.set_server_version(kVersion);
  info.set_model_file(model.path().filename().string());
  return info;
}

}  // namespace spoofd::service
