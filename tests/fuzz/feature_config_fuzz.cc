// libFuzzer harness: the feature configuration JSON parser
// (dsp::FeatureConfig::FromJson), which reads the contract inside every model
// file. A config it accepts must validate, survive a ToJson/FromJson round
// trip unchanged, and drive FeatureExtractor::Create and Compute (on 0.25 s
// of a deterministic signal) and the streaming extractor without a sanitizer
// report.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "dsp/features/feature_config.h"
#include "dsp/features/features.h"
#include "dsp/features/streaming.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "feature_config_fuzz: property violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using spoofd::dsp::FeatureConfig;
  auto config = FeatureConfig::FromJson(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!config.ok()) {
    if (config.status().code() != absl::StatusCode::kInvalidArgument) Fail("undocumented code");
    if (config.status().message().empty()) Fail("error without a message");
    return 0;
  }
  if (!config->Validate().ok()) Fail("FromJson accepted an invalid config");
  auto again = FeatureConfig::FromJson(config->ToJson());
  if (!again.ok() || !(*again == *config)) Fail("ToJson/FromJson round trip changed the config");

  auto extractor = spoofd::dsp::FeatureExtractor::Create(*config);
  if (!extractor.ok()) return 0;  // e.g. a filterbank with empty channels: refused with a status
  std::vector<float> signal(config->sample_rate_hz / 4 + 1);
  std::uint32_t s = 12345;
  for (float& v : signal) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<std::int32_t>(s)) / 2147483648.0f * 0.5f;
  }
  auto features = (*extractor)->Compute(signal);
  if (!features.ok()) return 0;
  for (Eigen::Index i = 0; i < features->size(); ++i) {
    if (!std::isfinite(features->data()[i])) Fail("non-finite feature");
  }
  // The streaming extractor, fed in two uneven pieces, gives the same rows.
  auto streaming = spoofd::dsp::StreamingFeatures::Create(*extractor);
  if (!streaming.ok()) Fail("StreamingFeatures refused a config Compute accepted");
  std::vector<float> rows;
  spoofd::dsp::FeatureMatrix part;
  const std::size_t cut = signal.size() / 3;
  auto append = [&rows](const spoofd::dsp::FeatureMatrix& m) {
    rows.insert(rows.end(), m.data(), m.data() + m.size());
  };
  if (!(*streaming)->Feed(std::span<const float>(signal).first(cut), &part).ok()) Fail("Feed");
  append(part);
  if (!(*streaming)->Feed(std::span<const float>(signal).subspan(cut), &part).ok()) Fail("Feed");
  append(part);
  if (!(*streaming)->Finish(&part).ok()) Fail("Finish");
  append(part);
  if (rows.size() != static_cast<std::size_t>(features->size())) Fail("streamed row count differs");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] != features->data()[i]) Fail("streamed features differ from whole-signal features");
  }
  return 0;
}
