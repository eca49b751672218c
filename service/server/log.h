// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"2024-05-01T12:00:00.123456Z","level":"info","event":"rpc",
//    "method":"Score","request_id":"…","code":"OK","duration_ms":41.2,…}
// Audio is never logged: only sizes, durations, scores and decisions.
// Thread-safe (spdlog's multi-threaded stderr sink).
#pragma once

#include <string_view>

#include "nlohmann/json.hpp"

namespace spoofd::service {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

// kInvalidArgument-free parse: "debug", "info", "warn", "error", "off"; false if unknown.
bool ParseLogLevel(std::string_view name, LogLevel* level);
void SetLogLevel(LogLevel level);

// Writes {"ts", "level", "event", ...fields} (fields must be an object or null).
void LogEvent(LogLevel level, std::string_view event, const nlohmann::ordered_json& fields = {});

}  // namespace spoofd::service
