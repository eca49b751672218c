// The model contract: everything the server needs to use a model file,
// carried inside the TorchScript file as the extra file "spoofd/contract.json"
// (written by models/train/export.py). Parsing needs no libtorch.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "dsp/features/feature_config.h"

namespace spoofd::models {

inline constexpr char kContractFile[] = "spoofd/contract.json";
inline constexpr int kContractVersion = 1;

struct OperatingPoint {
  double llr_threshold = 0.0;  // file-level LLR at or above which the decision is "synthetic"
  std::string description;
};

struct ModelContract {
  std::string name;
  std::string version;
  dsp::FeatureConfig features;
  double segment_s = 4.0;      // window the model scores
  double hop_s = 2.0;          // step between windows
  double min_segment_s = 1.0;  // shorter audio is "too short"
  // llr = calibration_scale * logit + calibration_offset
  double calibration_scale = 1.0;
  double calibration_offset = 0.0;
  double min_speech_fraction = 0.3;  // segments with less speech do not vote
  std::map<std::string, OperatingPoint> operating_points;
  std::string default_operating_point;
  std::string json;  // the contract exactly as stored, for GetModelInfo

  // kInvalidArgument naming the missing or bad field.
  static absl::StatusOr<ModelContract> FromJson(std::string_view json);

  int SegmentFrames() const;
  int HopFrames() const;
  int MinFrames() const;
};

}  // namespace spoofd::models
