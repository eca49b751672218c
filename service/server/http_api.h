// spoofd's HTTP front door, for systems that cannot speak gRPC and for people
// with a browser (cpp-httplib, optionally TLS / mutual TLS):
//
//   POST /v1/score   the recording as the body, or as a multipart form file
//                    (any field name); query: filename, operating_point,
//                    segment_s, encoding (s16le|mulaw|alaw) + sample_rate_hz.
//                    200: report::VerdictJson (the same object as
//                    `spoofctl score --json`); errors: {"error": {"code",
//                    "message"}} with 400 / 401 / 413 / 415 / 429 / 503 / ...
//   GET  /           the upload page (service/web/index.html, compiled in)
//   GET  /healthz    200 while the process serves (live), 503 once draining
//   GET  /readyz     200 with the model once loaded and warmed up, else 503
//   GET  /metrics    Prometheus text format 0.0.4
//
// Scoring takes the same path as the gRPC Score call: bearer token, model
// readiness, the engine's bounded worker queue (full: 429), the dynamic
// batcher, --max-audio-s. Bodies are bounded by `max_body_bytes` (413 before
// the body is read when Content-Length says so). Thread-safe; the handlers
// run on the listener's own threads and wait for the engine's workers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "service/server/engine.h"
#include "service/server/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
class ContentReader;
}  // namespace httplib

namespace spoofd::service {

struct HttpOptions {
  std::string address;             // HOST:PORT; port 0 picks a free port
  std::string tls_cert_file;       // PEM; empty: plain HTTP
  std::string tls_key_file;        // PEM key of tls_cert_file
  std::string tls_client_ca_file;  // PEM CA bundle: clients need a certificate it signed
  std::int64_t max_body_bytes = std::int64_t{32} << 20;  // recording (raw or one form file)
  int threads = 4;                                       // connections served at once
};

// What the listener needs from the server around it.
struct HttpHooks {
  // `authorization` is the Authorization header ("" when absent): OkStatus or
  // kUnauthenticated.
  std::function<absl::Status(std::string_view authorization)> authorize;
  // The model for a new request, or kUnavailable (loading, shutting down).
  std::function<absl::StatusOr<std::shared_ptr<const LoadedModel>>()> model;
  std::function<bool()> live;
  std::function<std::string()> render_metrics;
  // One finished call: metrics and the log line (`method` "HttpScore").
  std::function<void(const absl::Status& status, std::chrono::steady_clock::time_point start,
                     const std::string& request_id, const std::string& peer,
                     const nlohmann::ordered_json& fields, const models::Verdict* verdict)>
      record;
};

class HttpApi {
 public:
  // kInvalidArgument for a malformed address, kInvalidArgument / kNotFound for
  // unusable TLS files, kUnavailable when the port cannot be bound.
  // `engine` and `metrics` must outlive the listener.
  static absl::StatusOr<std::unique_ptr<HttpApi>> Start(const HttpOptions& options, Engine* engine,
                                                        Metrics* metrics, HttpHooks hooks);
  ~HttpApi();  // Stop(0)

  int port() const { return port_; }
  bool tls() const { return tls_; }

  // Waits up to `drain` for scoring requests in flight, then cancels the rest
  // (they answer 503 at their next stage) and stops the listener. Idempotent.
  void Stop(std::chrono::milliseconds drain);

 private:
  HttpApi(const HttpOptions& options, Engine* engine, Metrics* metrics, HttpHooks hooks);
  void Routes();
  void Score(const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader);

  const HttpOptions options_;
  Engine* const engine_;
  Metrics* const metrics_;
  const HttpHooks hooks_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  int in_flight_ = 0;  // scoring requests inside the handler
  std::atomic<bool> cancel_{false};
  bool stopped_ = false;
};

// The HTTP status for an error of the scoring path: 400 kInvalidArgument, 401
// kUnauthenticated, 413 kResourceExhausted (body or audio over a limit), 415
// kUnimplemented (codec), 422 kFailedPrecondition / kOutOfRange, 503
// kUnavailable / kCancelled, 504 kDeadlineExceeded, 500 otherwise.
int HttpStatusFor(const absl::Status& status);

// {"error": {"code": "INVALID_ARGUMENT", "message": ...}}
nlohmann::ordered_json HttpErrorJson(const absl::Status& status);

}  // namespace spoofd::service
