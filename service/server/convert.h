// Conversions between the spoofd.v1 messages and the C++ types of the
// scoring pipeline, and the cheap request checks that run before any work is
// queued. Errors are absl::Status (kInvalidArgument with the field named).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "dsp/decode.h"
#include "models/model.h"
#include "models/scorer.h"
#include "service/server/stream_session.h"
#include "spoofd/v1/detector.pb.h"

namespace spoofd::service {

// Container (nullopt) or headerless format. kInvalidArgument for an unknown
// encoding, or a headerless encoding without a sample rate in [1000, 768000].
absl::StatusOr<std::optional<decode::RawFormat>> ToRawFormat(const v1::AudioFormat& format);

// Checks the options against the model (operating point known, segment_s 0 or
// in [min_segment_s, 60]) and converts them.
absl::StatusOr<models::ScoreOptions> ToScoreOptions(const v1::ScoreOptions& options,
                                                    const models::ModelContract& contract);

// kInvalidArgument unless the config names a headerless encoding and its rate.
absl::StatusOr<StreamParams> ToStreamParams(const v1::StreamConfig& config,
                                            const models::ModelContract& contract);

v1::Decision ToProtoDecision(models::Decision decision);
v1::InconclusiveReason ToProtoReason(const std::string& reason);

// Fills `result` from a verdict (every field but source and timing).
void FillResult(const models::Verdict& verdict, const models::Model& model, v1::Result* result);

// Model name, version, hash, features, calibration, thresholds, training summary.
v1::GetModelInfoResponse ModelInfo(const models::Model& model);

}  // namespace spoofd::service
