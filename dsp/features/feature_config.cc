#include "dsp/features/feature_config.h"

#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "dsp/features/filterbank.h"
#include "nlohmann/json.hpp"

namespace spoofd::dsp {
namespace {

using Json = nlohmann::json;

template <typename Enum>
struct EnumName {
  Enum value;
  std::string_view name;
};

constexpr std::array<EnumName<FeatureKind>, 5> kKindNames{{{FeatureKind::kLfcc, "lfcc"},
                                                            {FeatureKind::kMfcc, "mfcc"},
                                                            {FeatureKind::kLogMel, "logmel"},
                                                            {FeatureKind::kLogSpec, "logspec"},
                                                            {FeatureKind::kCqcc, "cqcc"}}};
constexpr std::array<EnumName<WindowType>, 2> kWindowNames{
    {{WindowType::kHann, "hann"}, {WindowType::kHamming, "hamming"}}};
constexpr std::array<EnumName<LogKind>, 2> kLogNames{{{LogKind::kLn, "ln"}, {LogKind::kDb, "db"}}};
constexpr std::array<EnumName<NormalizeKind>, 3> kNormalizeNames{{{NormalizeKind::kNone, "none"},
                                                                  {NormalizeKind::kMean, "mean"},
                                                                  {NormalizeKind::kMeanVar, "meanvar"}}};

template <typename Enum, size_t N>
std::string_view NameOf(const std::array<EnumName<Enum>, N>& table, Enum value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseEnum(const std::array<EnumName<Enum>, N>& table, std::string_view field,
                               std::string_view text) {
  const std::string lower = absl::AsciiStrToLower(std::string(text));
  std::string allowed;
  for (const auto& entry : table) {
    if (entry.name == lower) return entry.value;
    absl::StrAppend(&allowed, allowed.empty() ? "" : "|", std::string(entry.name));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("feature config: ", std::string(field), " must be one of ", allowed, ", got '",
                   std::string(text), "'"));
}

absl::Status Invalid(std::string_view field, std::string_view requirement, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat("feature config: ", std::string(field), " must be ",
                   std::string(requirement), ", got ", value));
}

// Reads one optional field of the expected JSON type into *out.
template <typename T>
absl::Status ReadField(const Json& json, const char* field, T* out) {
  const auto it = json.find(field);
  if (it == json.end()) return absl::OkStatus();
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError(absl::StrCat("feature config: ", field, " must be a boolean"));
    }
  } else if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat("feature config: ", field, " must be an integer"));
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("feature config: ", field, " must be a number"));
    }
  } else {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("feature config: ", field, " must be a string"));
    }
  }
  *out = it->get<T>();
  return absl::OkStatus();
}

template <typename Enum, size_t N>
absl::Status ReadEnumField(const Json& json, const char* field,
                           const std::array<EnumName<Enum>, N>& table, Enum* out) {
  std::string text;
  if (absl::Status s = ReadField(json, field, &text); !s.ok()) return s;
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<Enum> parsed = ParseEnum(table, field, text);
  if (!parsed.ok()) return parsed.status();
  *out = *parsed;
  return absl::OkStatus();
}

constexpr std::array<const char*, 19> kKnownFields{
    "kind",        "sample_rate_hz", "n_fft",       "win_length", "hop_length", "window",
    "center",      "n_filters",      "n_coeffs",    "f_min_hz",   "f_max_hz",   "deltas",
    "preemphasis", "remove_dc",      "group_delay", "group_delay_floor_db", "log", "log_floor",
    "normalize"};

}  // namespace

std::string_view FeatureKindName(FeatureKind kind) { return NameOf(kKindNames, kind); }

absl::StatusOr<FeatureKind> ParseFeatureKind(std::string_view name) {
  return ParseEnum(kKindNames, "kind", name);
}

int FeatureConfig::StaticDims() const {
  switch (kind) {
    case FeatureKind::kLfcc:
    case FeatureKind::kMfcc:
    case FeatureKind::kCqcc:
      return group_delay ? 2 * n_coeffs : n_coeffs;
    case FeatureKind::kLogMel:
      return n_filters;
    case FeatureKind::kLogSpec:
      return n_fft / 2 + 1;
  }
  return 0;
}

absl::Status FeatureConfig::Validate() const {
  if (sample_rate_hz < 1000 || sample_rate_hz > 192000) {
    return Invalid("sample_rate_hz", "in [1000, 192000]", sample_rate_hz);
  }
  if (n_fft < 16 || n_fft > 65536 || n_fft % 2 != 0) {
    return Invalid("n_fft", "even and in [16, 65536]", n_fft);
  }
  if (win_length < 2 || win_length > n_fft) return Invalid("win_length", "in [2, n_fft]", win_length);
  if (hop_length < 1 || hop_length > n_fft) return Invalid("hop_length", "in [1, n_fft]", hop_length);
  const bool has_filterbank = kind != FeatureKind::kLogSpec;
  if (has_filterbank && (n_filters < 1 || n_filters > n_fft / 2 + 1)) {
    return Invalid("n_filters", "in [1, n_fft/2 + 1]", n_filters);
  }
  if (IsCepstral() && (n_coeffs < 1 || n_coeffs > n_filters)) {
    return Invalid("n_coeffs", "in [1, n_filters]", n_coeffs);
  }
  if (!(f_min_hz >= 0.0)) return Invalid("f_min_hz", ">= 0", f_min_hz);
  if (!(f_max_hz >= 0.0) || f_max_hz > sample_rate_hz / 2.0) {
    return Invalid("f_max_hz", "in [0, sample_rate_hz/2] (0 = Nyquist)", f_max_hz);
  }
  if (has_filterbank && !(EffectiveFMaxHz() > f_min_hz)) {
    return Invalid("f_max_hz", "greater than f_min_hz", EffectiveFMaxHz());
  }
  if (kind == FeatureKind::kCqcc) {
    if (!(f_min_hz > 0.0)) return Invalid("f_min_hz", "> 0 for cqcc (a log-frequency scale)", f_min_hz);
    // A triangular filter holds a bin with non-zero weight only if it is wider than
    // the bin spacing; the lowest constant-Q filter is the narrowest.
    const double bin_hz = static_cast<double>(sample_rate_hz) / n_fft;
    if (!(ConstantQLowestWidthHz(f_min_hz, EffectiveFMaxHz(), n_filters) > bin_hz)) {
      return Invalid("f_min_hz",
                     absl::StrCat("high enough that the lowest cqcc filter is wider than one FFT bin (",
                                  bin_hz, " Hz); raise f_min_hz or n_fft, or lower n_filters"),
                     f_min_hz);
    }
  }
  if (group_delay && !IsCepstral()) {
    return absl::InvalidArgumentError(
        "feature config: group_delay needs a cepstral kind (lfcc, mfcc or cqcc)");
  }
  if (!(group_delay_floor_db >= -200.0 && group_delay_floor_db <= 0.0)) {
    return Invalid("group_delay_floor_db", "in [-200, 0]", group_delay_floor_db);
  }
  if (deltas < 0 || deltas > 2) return Invalid("deltas", "0, 1 or 2", deltas);
  if (!(preemphasis >= 0.0 && preemphasis < 1.0)) {
    return Invalid("preemphasis", "in [0, 1)", preemphasis);
  }
  if (!(log_floor > 0.0 && std::isfinite(log_floor))) return Invalid("log_floor", "> 0", log_floor);
  return absl::OkStatus();
}

std::string FeatureConfig::ToJson() const {
  // nlohmann's ordered_json keeps the field order readable in model files.
  nlohmann::ordered_json json;
  json["kind"] = NameOf(kKindNames, kind);
  json["sample_rate_hz"] = sample_rate_hz;
  json["n_fft"] = n_fft;
  json["win_length"] = win_length;
  json["hop_length"] = hop_length;
  json["window"] = NameOf(kWindowNames, window);
  json["center"] = center;
  json["n_filters"] = n_filters;
  json["n_coeffs"] = n_coeffs;
  json["f_min_hz"] = f_min_hz;
  json["f_max_hz"] = f_max_hz;
  json["deltas"] = deltas;
  json["preemphasis"] = preemphasis;
  json["remove_dc"] = remove_dc;
  json["group_delay"] = group_delay;
  // Only with group_delay, so the other configurations' JSON stays as it was.
  if (group_delay) json["group_delay_floor_db"] = group_delay_floor_db;
  json["log"] = NameOf(kLogNames, log);
  json["log_floor"] = log_floor;
  json["normalize"] = NameOf(kNormalizeNames, normalize);
  return json.dump();
}

absl::StatusOr<FeatureConfig> FeatureConfig::FromJson(std::string_view text) {
  Json json = Json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError("feature config: not valid JSON");
  }
  if (!json.is_object()) return absl::InvalidArgumentError("feature config: expected a JSON object");
  for (const auto& item : json.items()) {
    bool known = false;
    for (const char* field : kKnownFields) known = known || item.key() == field;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("feature config: unknown field '", item.key(), "'"));
    }
  }
  FeatureConfig config;
  absl::Status s;
  if (s = ReadEnumField(json, "kind", kKindNames, &config.kind); !s.ok()) return s;
  if (s = ReadField(json, "sample_rate_hz", &config.sample_rate_hz); !s.ok()) return s;
  if (s = ReadField(json, "n_fft", &config.n_fft); !s.ok()) return s;
  if (s = ReadField(json, "win_length", &config.win_length); !s.ok()) return s;
  if (s = ReadField(json, "hop_length", &config.hop_length); !s.ok()) return s;
  if (s = ReadEnumField(json, "window", kWindowNames, &config.window); !s.ok()) return s;
  if (s = ReadField(json, "center", &config.center); !s.ok()) return s;
  if (s = ReadField(json, "n_filters", &config.n_filters); !s.ok()) return s;
  if (s = ReadField(json, "n_coeffs", &config.n_coeffs); !s.ok()) return s;
  if (s = ReadField(json, "f_min_hz", &config.f_min_hz); !s.ok()) return s;
  if (s = ReadField(json, "f_max_hz", &config.f_max_hz); !s.ok()) return s;
  if (s = ReadField(json, "deltas", &config.deltas); !s.ok()) return s;
  if (s = ReadField(json, "preemphasis", &config.preemphasis); !s.ok()) return s;
  if (s = ReadField(json, "remove_dc", &config.remove_dc); !s.ok()) return s;
  if (s = ReadField(json, "group_delay", &config.group_delay); !s.ok()) return s;
  if (s = ReadField(json, "group_delay_floor_db", &config.group_delay_floor_db); !s.ok()) return s;
  if (s = ReadEnumField(json, "log", kLogNames, &config.log); !s.ok()) return s;
  if (s = ReadField(json, "log_floor", &config.log_floor); !s.ok()) return s;
  if (s = ReadEnumField(json, "normalize", kNormalizeNames, &config.normalize); !s.ok()) return s;
  if (s = config.Validate(); !s.ok()) return s;
  return config;
}

}  // namespace spoofd::dsp
