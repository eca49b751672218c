// spoofd's gRPC server: the spoofd.v1.Detector service (callback API), the
// grpc.health.v1 service, server reflection, the Prometheus endpoint and the
// optional HTTP API with its upload page (http_api.h).
//
// Lifecycle: Create (checks options, reads TLS files and tokens) -> Start
// (listens; health NOT_SERVING, scoring RPCs UNAVAILABLE) -> LoadModel (loads
// and warms up the model; health SERVING) -> Reload any number of times
// (SIGHUP: a new model and token file are swapped in atomically; requests in
// flight finish on the old model) -> Shutdown (health NOT_SERVING, new calls
// refused, in-flight calls drain up to the given time, then are cancelled).
//
// Handlers only authenticate and validate; decode, features and scoring run
// on the engine's bounded worker pool, forward passes go through the dynamic
// batcher. All methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/server/engine.h"
#include "service/server/metrics.h"
#include "service/server/stream_session.h"

namespace spoofd::service {

struct TlsOptions {
  std::string cert_file;  // PEM server certificate chain; empty: plaintext
  std::string key_file;   // PEM private key of cert_file
  std::string
      client_ca_file;  // PEM CA bundle; set: clients must present a certificate it signed (mTLS)
};

struct ServerOptions {
  std::string listen_address = "127.0.0.1:50051";  // port 0 picks a free port
  std::string metrics_address = "127.0.0.1:9464";  // empty: no metrics endpoint
  // HTTP API and upload page (http_api.h); empty: off. Uses the same TLS files
  // and tokens as gRPC. Equal to metrics_address: one listener serves both.
  std::string http_address;
  std::string model_path;                          // model file or directory
  EngineOptions engine;
  StreamSettings stream;
  std::int64_t max_message_bytes = std::int64_t{32}
                                   << 20;  // one gRPC message (Score's whole request)
  std::int64_t max_upload_bytes = std::int64_t{1} << 30;  // ScoreUpload total
  // All ScoreUploads in progress together: the audio they hold in memory.
  // A chunk that would go over it ends its upload with RESOURCE_EXHAUSTED.
  std::int64_t max_upload_buffer_bytes = std::int64_t{4} << 30;
  int max_streams = 64;                                   // concurrent StreamScore calls
  double stream_idle_timeout_s = 30.0;                    // no message for this long ends a stream
  // > 0: a client connection is closed (HTTP/2 GOAWAY) after this long, so
  // that clients reconnect and new calls rebalance over replicas; calls in
  // progress get max_connection_age_grace_s more to finish (0: unlimited).
  double max_connection_age_s = 0.0;
  double max_connection_age_grace_s = 0.0;
  TlsOptions tls;
  std::string auth_token_file;  // empty: no authentication
};

class Server {
 public:
  // kInvalidArgument for out-of-range options; kNotFound / kInvalidArgument
  // for unreadable TLS or token files.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options);
  ~Server();  // Shutdown(0) if still running

  // Binds the gRPC and metrics ports. kUnavailable if a port cannot be bound.
  absl::Status Start();
  int port() const { return port_; }
  int metrics_port() const;  // 0 without a metrics endpoint
  int http_port() const;     // 0 without the HTTP API

  // Loads options.model_path and, on success, reports SERVING.
  absl::Status LoadModel();
  // Loads the model path again (a directory: its newest file) and re-reads the
  // token file; each is swapped in only if it loads. The first error is returned.
  absl::Status Reload();
  bool ready() const;

  // Stops accepting calls, waits up to `drain` for calls in flight, cancels
  // the rest, stops the workers. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);
  // Blocks until Shutdown() has completed.
  void Wait();

  Metrics& metrics() { return *metrics_; }
  const ServerOptions& options() const { return options_; }

  struct State;  // shared with the RPC handlers (server.cc)

 private:
  explicit Server(const ServerOptions& options);
  absl::Status StartHttp();

  ServerOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<State> state_;
  int port_ = 0;
};

}  // namespace spoofd::service
