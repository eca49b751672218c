#include "service/server/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spoofd/version.h"

namespace spoofd::service {
namespace {

// Label values escape backslash, double quote and newline (exposition format).
std::string Escape(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::abs(v) < 1e15) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.9g", v);
}

// {a="x",b="y"} plus an optional extra label (le="..."); empty when no labels.
std::string Labels(const std::vector<std::string>& names, const LabelValues& values,
                   const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"", Escape(values[i]), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.empty() ? "" : ",", extra);
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

void Header(std::string* out, const std::string& name, const std::string& help, const char* type) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

std::vector<double> Exponential(double start, double factor, int count) {
  std::vector<double> bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start * std::pow(factor, i));
  return bounds;
}

}  // namespace

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void CounterFamily::Inc(const LabelValues& labels, double by) {
  std::lock_guard lock(mu_);
  values_[labels] += by;
}

double CounterFamily::Value(const LabelValues& labels) const {
  std::lock_guard lock(mu_);
  const auto it = values_.find(labels);
  return it == values_.end() ? 0.0 : it->second;
}

void CounterFamily::Render(std::string* out) const {
  Header(out, name_, help_, "counter");
  std::lock_guard lock(mu_);
  if (values_.empty() && label_names_.empty()) absl::StrAppend(out, name_, " 0\n");
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(out, name_, Labels(label_names_, labels), " ", Number(value), "\n");
  }
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void GaugeFamily::Set(const LabelValues& labels, double value) {
  std::lock_guard lock(mu_);
  values_[labels] = value;
}

void GaugeFamily::Add(const LabelValues& labels, double by) {
  std::lock_guard lock(mu_);
  values_[labels] += by;
}

void GaugeFamily::Clear() {
  std::lock_guard lock(mu_);
  values_.clear();
}

double GaugeFamily::Value(const LabelValues& labels) const {
  std::lock_guard lock(mu_);
  const auto it = values_.find(labels);
  return it == values_.end() ? 0.0 : it->second;
}

void GaugeFamily::Render(std::string* out) const {
  Header(out, name_, help_, "gauge");
  std::lock_guard lock(mu_);
  if (values_.empty() && label_names_.empty()) absl::StrAppend(out, name_, " 0\n");
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(out, name_, Labels(label_names_, labels), " ", Number(value), "\n");
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

void HistogramFamily::Observe(const LabelValues& labels, double value) {
  std::lock_guard lock(mu_);
  Series& s = series_[labels];
  if (s.buckets.empty()) s.buckets.assign(upper_bounds_.size(), 0);
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (value <= upper_bounds_[i]) {
      ++s.buckets[i];
      break;
    }
  }
  ++s.count;
  s.sum += value;
}

std::uint64_t HistogramFamily::Count(const LabelValues& labels) const {
  std::lock_guard lock(mu_);
  const auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

double HistogramFamily::Sum(const LabelValues& labels) const {
  std::lock_guard lock(mu_);
  const auto it = series_.find(labels);
  return it == series_.end() ? 0.0 : it->second.sum;
}

void HistogramFamily::Render(std::string* out) const {
  Header(out, name_, help_, "histogram");
  std::lock_guard lock(mu_);
  for (const auto& [labels, s] : series_) {
    std::uint64_t cumulative = 0;
    for (size_t i = 0; i < upper_bounds_.size(); ++i) {
      cumulative += s.buckets[i];
      absl::StrAppend(
          out, name_, "_bucket",
          Labels(label_names_, labels, absl::StrCat("le=\"", Number(upper_bounds_[i]), "\"")), " ",
          cumulative, "\n");
    }
    absl::StrAppend(out, name_, "_bucket", Labels(label_names_, labels, "le=\"+Inf\""), " ",
                    s.count, "\n");
    absl::StrAppend(out, name_, "_sum", Labels(label_names_, labels), " ", Number(s.sum), "\n");
    absl::StrAppend(out, name_, "_count", Labels(label_names_, labels), " ", s.count, "\n");
  }
}

Metrics::Metrics()
    : requests("spoofd_requests_total", "RPCs answered, by method and gRPC status code.",
               {"method", "code"}),
      request_seconds("spoofd_request_duration_seconds",
                      "Latency: arrival to response (StreamScore: half-close to final result).",
                      {"method"}, Exponential(0.001, 2.0, 16)),
      stage_seconds("spoofd_stage_duration_seconds",
                    "Time per processing stage: queue, decode, features, model (per request), "
                    "forward (per batched forward pass).",
                    {"stage"}, Exponential(0.0001, 2.0, 18)),
      audio_seconds("spoofd_audio_seconds_total", "Seconds of audio scored, by method.",
                    {"method"}),
      decisions("spoofd_decisions_total", "Final decisions, by method and decision.",
                {"method", "decision"}),
      interim_results("spoofd_interim_results_total", "StreamScore interim results sent.", {}),
      batch_size("spoofd_batch_size", "Segments per model forward pass.", {},
                 {1, 2, 4, 8, 16, 32, 64, 128, 256}),
      queue_depth("spoofd_queue_depth", "Tasks waiting for a worker thread.", {}),
      batch_queue_segments("spoofd_batch_queue_segments", "Segments waiting for a forward pass.",
                           {}),
      active_streams("spoofd_active_streams", "StreamScore calls in progress.", {}),
      upload_buffer_bytes("spoofd_upload_buffer_bytes",
                          "Audio bytes held by ScoreUploads in progress.", {}),
      ready("spoofd_ready", "1 once a model is loaded and warmed up, else 0.", {}),
      model_reloads("spoofd_model_reloads_total", "Model (re)loads, by result.", {"result"}),
      model_info("spoofd_model_info", "The model serving requests (value 1).",
                 {"name", "version", "sha256"}),
      build_info("spoofd_build_info", "spoofd version (value 1).", {"version"}) {
  build_info.Set({kVersion}, 1.0);
}

std::string Metrics::Render() const {
  if (before_render) before_render();
  std::string out;
  requests.Render(&out);
  request_seconds.Render(&out);
  stage_seconds.Render(&out);
  audio_seconds.Render(&out);
  decisions.Render(&out);
  interim_results.Render(&out);
  batch_size.Render(&out);
  queue_depth.Render(&out);
  batch_queue_segments.Render(&out);
  active_streams.Render(&out);
  upload_buffer_bytes.Render(&out);
  ready.Render(&out);
  model_reloads.Render(&out);
  model_info.Render(&out);
  build_info.Render(&out);
  return out;
}

}  // namespace spoofd::service
