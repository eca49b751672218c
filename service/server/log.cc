#include "service/server/log.h"

#include <memory>
#include <string>

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace spoofd::service {
namespace {

spdlog::logger& Logger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("spoofd",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    // The message is the rest of the JSON object; spdlog adds time and level.
    l->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                   spdlog::pattern_time_type::utc);
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  if (name == "debug") {
    *level = LogLevel::kDebug;
  } else if (name == "info") {
    *level = LogLevel::kInfo;
  } else if (name == "warn" || name == "warning") {
    *level = LogLevel::kWarn;
  } else if (name == "error") {
    *level = LogLevel::kError;
  } else if (name == "off") {
    *level = LogLevel::kOff;
  } else {
    return false;
  }
  return true;
}

void SetLogLevel(LogLevel level) { Logger().set_level(ToSpd(level)); }

void LogEvent(LogLevel level, std::string_view event, const nlohmann::ordered_json& fields) {
  spdlog::logger& logger = Logger();
  const auto spd_level = ToSpd(level);
  if (!logger.should_log(spd_level)) return;
  nlohmann::ordered_json j;
  j["event"] = event;
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) j[key] = value;
  }
  // Invalid UTF-8 (say, a request id of raw bytes) is replaced, never thrown.
  std::string text = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  // Strip the braces: the pattern supplies them around ts and level.
  logger.log(spd_level, std::string_view(text).substr(1, text.size() - 2));
}

}  // namespace spoofd::service
