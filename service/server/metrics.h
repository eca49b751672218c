// Prometheus metrics of the server, rendered in the text exposition format
// (version 0.0.4) by MetricsHttpServer. Every family is thread-safe; label
// values are given in the order of the family's label names.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace spoofd::service {

using LabelValues = std::vector<std::string>;

// A monotonically increasing value per label set.
class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  void Inc(const LabelValues& labels, double by = 1.0);
  double Value(const LabelValues& labels) const;  // 0 for an unseen label set
  void Render(std::string* out) const;

 private:
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<LabelValues, double> values_;
};

// A value that goes up and down per label set.
class GaugeFamily {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);
  void Set(const LabelValues& labels, double value);
  void Add(const LabelValues& labels, double by);
  // Removes every label set (for info-style gauges whose labels change).
  void Clear();
  double Value(const LabelValues& labels) const;
  void Render(std::string* out) const;

 private:
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<LabelValues, double> values_;
};

// Observations counted into fixed buckets (upper bounds, ascending), per label set.
class HistogramFamily {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);
  void Observe(const LabelValues& labels, double value);
  std::uint64_t Count(const LabelValues& labels) const;
  double Sum(const LabelValues& labels) const;
  void Render(std::string* out) const;

 private:
  struct Series {
    std::vector<std::uint64_t> buckets;  // per upper bound, not cumulative
    std::uint64_t count = 0;
    double sum = 0.0;
  };
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> upper_bounds_;
  mutable std::mutex mu_;
  std::map<LabelValues, Series> series_;
};

// Every metric spoofd exports (service/README.md lists them).
struct Metrics {
  Metrics();

  // method: Score, ScoreUpload, StreamScore, GetModelInfo; code: OK, INVALID_ARGUMENT, ...
  CounterFamily requests;
  // Score / ScoreUpload / GetModelInfo: arrival to response. StreamScore: the
  // client's half-close to the final result.
  HistogramFamily request_seconds;
  // stage: queue (waiting for a worker), decode, features, model (per request,
  // including the wait for a batch), forward (per batched forward pass).
  HistogramFamily stage_seconds;
  CounterFamily audio_seconds;       // method
  CounterFamily decisions;           // method, decision
  CounterFamily interim_results;     // no labels
  HistogramFamily batch_size;        // segments per forward pass
  GaugeFamily queue_depth;           // tasks waiting for a worker
  GaugeFamily batch_queue_segments;  // segments waiting for a forward pass
  GaugeFamily active_streams;
  GaugeFamily upload_buffer_bytes;  // audio held by ScoreUploads in progress
  GaugeFamily ready;            // 1 once a model is loaded and warm
  CounterFamily model_reloads;  // result: ok, error
  GaugeFamily model_info;       // name, version, sha256 = 1
  GaugeFamily build_info;       // version = 1

  // Called at the start of Render() to refresh sampled gauges.
  std::function<void()> before_render;

  std::string Render() const;
};

}  // namespace spoofd::service
