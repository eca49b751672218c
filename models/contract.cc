#include "models/contract.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace spoofd::models {
namespace {

using Json = nlohmann::json;

absl::Status Missing(std::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat("model contract: missing or invalid field '", std::string(field), "'"));
}

bool GetNumber(const Json& j, const char* key, double* out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return false;
  *out = it->get<double>();
  return std::isfinite(*out);
}

bool GetString(const Json& j, const char* key, std::string* out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

absl::StatusOr<ModelContract> ModelContract::FromJson(std::string_view text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("model contract: not a JSON object");
  }
  ModelContract c;
  c.json = std::string(text);
  double version = 0;
  if (!GetNumber(j, "contract_version", &version)) return Missing("contract_version");
  if (static_cast<int>(version) != kContractVersion) {
    return absl::InvalidArgumentError(absl::StrCat("model contract: version ", version,
                                                   " is not supported (expected ", kContractVersion, ")"));
  }
  if (!GetString(j, "name", &c.name)) return Missing("name");
  if (!GetString(j, "version", &c.version)) return Missing("version");
  const auto features = j.find("feature_config");
  if (features == j.end() || !features->is_object()) return Missing("feature_config");
  absl::StatusOr<dsp::FeatureConfig> config = dsp::FeatureConfig::FromJson(features->dump());
  if (!config.ok()) return config.status();
  c.features = *config;
  if (!GetNumber(j, "segment_s", &c.segment_s) || c.segment_s <= 0) return Missing("segment_s");
  if (!GetNumber(j, "hop_s", &c.hop_s) || c.hop_s <= 0) return Missing("hop_s");
  if (!GetNumber(j, "min_segment_s", &c.min_segment_s) || c.min_segment_s <= 0) {
    return Missing("min_segment_s");
  }
  const auto calibration = j.find("calibration");
  if (calibration == j.end() || !calibration->is_object() ||
      !GetNumber(*calibration, "scale", &c.calibration_scale) ||
      !GetNumber(*calibration, "offset", &c.calibration_offset)) {
    return Missing("calibration");
  }
  const auto aggregation = j.find("aggregation");
  if (aggregation != j.end() && aggregation->is_object()) {
    GetNumber(*aggregation, "min_speech_fraction", &c.min_speech_fraction);
  }
  const auto points = j.find("operating_points");
  if (points == j.end() || !points->is_object() || points->empty()) return Missing("operating_points");
  for (const auto& [key, value] : points->items()) {
    OperatingPoint op;
    if (!value.is_object() || !GetNumber(value, "llr_threshold", &op.llr_threshold)) {
      return Missing(absl::StrCat("operating_points.", key, ".llr_threshold"));
    }
    GetString(value, "description", &op.description);
    c.operating_points[key] = op;
  }
  if (!GetString(j, "default_operating_point", &c.default_operating_point) ||
      !c.operating_points.contains(c.default_operating_point)) {
    return Missing("default_operating_point");
  }
  if (c.SegmentFrames() < 1 || c.HopFrames() < 1) {
    return absl::InvalidArgumentError("model contract: segment or hop shorter than one frame");
  }
  return c;
}

int ModelContract::SegmentFrames() const {
  return static_cast<int>(std::lround(segment_s * features.sample_rate_hz / features.hop_length));
}
int ModelContract::HopFrames() const {
  return static_cast<int>(std::lround(hop_s * features.sample_rate_hz / features.hop_length));
}
int ModelContract::MinFrames() const {
  return static_cast<int>(std::lround(min_segment_s * features.sample_rate_hz / features.hop_length));
}

}  // namespace spoofd::models
