// spoofd — the genuine-vs-synthetic speech detection server.
//
//   spoofd                                    # bundled model, 127.0.0.1:50051, metrics on
//   127.0.0.1:9464 spoofd --listen 0.0.0.0:50051 --tls-cert server.pem --tls-key server.key
//   --auth-token-file tokens spoofd --config /etc/spoofd.toml          # every flag can come from
//   the file (key = value)
//
// Signals: SIGTERM / SIGINT drain in-flight calls (up to --drain-timeout-s)
// and exit 0; SIGHUP reloads the model (and the token file) atomically.
// Exit codes: 0 clean shutdown, 1 start-up failure (model, port, TLS files), 2 usage error.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "service/server/log.h"
#include "service/server/server.h"
#include "spoofd/version.h"

namespace {

using spoofd::service::LogEvent;
using spoofd::service::LogLevel;

std::string DefaultModel() {
  if (const char* env = std::getenv("SPOOFD_MODEL"); env != nullptr && *env != '\0') return env;
  return spoofd::kDefaultModelPath;
}

}  // namespace

int main(int argc, char** argv) {
  spoofd::service::ServerOptions o;
  o.model_path = DefaultModel();
  o.engine.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double max_message_mb = 32, max_upload_mb = 1024, max_upload_buffer_mb = 4096;
  double drain_timeout_s = 30;
  std::string log_level = "info";

  CLI::App app{"spoofd: tells genuine speech from synthetic speech (voice clones, TTS) over gRPC"};
  app.set_version_flag("--version", std::string("spoofd ") + spoofd::kVersion);
  app.set_config("--config", "",
                 "Read flags from this file (TOML-style 'name = value' lines, names without --)");
  app.get_formatter()->column_width(36);
  app.add_option("--listen", o.listen_address, "gRPC address HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option(
         "--model", o.model_path,
         "Model file, or a directory whose greatest-named *.pt is loaded (default: $SPOOFD_MODEL, "
         "else the bundled model)")
      ->capture_default_str();
  app.add_option("--metrics-listen", o.metrics_address,
                 "Prometheus endpoint HOST:PORT serving /metrics and /healthz (empty: off)")
      ->capture_default_str();
  app.add_option("--http-listen", o.http_address,
                 "HTTP API and upload page HOST:PORT (POST /v1/score, GET /); same TLS and tokens "
                 "as gRPC; equal to --metrics-listen: one port for both (empty: off)")
      ->capture_default_str();
  app.add_option("--workers", o.engine.workers, "Threads that decode, compute features and score")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-queue", o.engine.max_queue,
                 "Requests waiting for a worker before RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--max-batch-size", o.engine.batcher.max_batch_size,
                 "Segments per model forward pass (dynamic batching across requests)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-queue-delay-us", o.engine.batcher.max_queue_delay_us,
                 "Longest wait for a batch to fill, microseconds")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000000));
  app.add_option("--model-instances", o.engine.batcher.instances, "Threads running forward passes")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--intra-op-threads", o.engine.intra_op_threads,
                 "libtorch threads per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--reuse-large-allocations", o.engine.reuse_large_allocations,
                 "Keep freed multi-MiB buffers in the heap (glibc malloc thresholds 32/64 MiB) "
                 "instead of unmapping them; about 30% faster batch scoring, up to 64 MiB per "
                 "malloc arena kept after a burst (true/false)")
      ->capture_default_str();
  app.add_option("--max-audio-s", o.engine.max_audio_s,
                 "Longest decoded audio per request or stream, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-message-mb", max_message_mb,
                 "Largest gRPC message (a whole Score request), MiB")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 2047.0));
  app.add_option("--max-upload-mb", max_upload_mb, "Largest ScoreUpload in total, MiB")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-upload-buffer-mb", max_upload_buffer_mb,
                 "All ScoreUploads in progress together, MiB of audio held in memory")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-streams", o.max_streams, "Concurrent StreamScore calls")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--stream-idle-timeout-s", o.stream_idle_timeout_s,
                 "End a stream (DEADLINE_EXCEEDED) after this long without a message")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--interim-interval-s", o.stream.default_interim_interval_s,
                 "Default seconds of new audio between interim stream results")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 60.0));
  app.add_option("--stream-min-segments", o.stream.min_segments_for_decision,
                 "Counted segments needed before an interim result carries a decision")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--stream-decision-margin", o.stream.decision_margin_llr,
                 "Interim decisions need |rolling LLR - threshold| at least this")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1000.0));
  app.add_option("--max-connection-age-s", o.max_connection_age_s,
                 "Close each client connection after this long (GOAWAY) so that new calls "
                 "rebalance over replicas; 0: never")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--max-connection-age-grace-s", o.max_connection_age_grace_s,
                 "Time calls in progress get to finish after their connection's GOAWAY; 0: "
                 "unlimited")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--drain-timeout-s", drain_timeout_s,
                 "On SIGTERM, how long in-flight calls may finish")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tls-cert", o.tls.cert_file, "PEM server certificate chain (enables TLS)");
  app.add_option("--tls-key", o.tls.key_file, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", o.tls.client_ca_file,
                 "PEM CA bundle: require client certificates it signed (mutual TLS)");
  app.add_option(
      "--auth-token-file", o.auth_token_file,
      "Require 'authorization: Bearer <token>' with a token from this file (one per line)");
  app.add_option("--log-level", log_level, "debug, info, warn, error or off (JSON lines on stderr)")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  LogLevel level = LogLevel::kInfo;
  spoofd::service::ParseLogLevel(log_level, &level);
  spoofd::service::SetLogLevel(level);
  o.max_message_bytes = static_cast<std::int64_t>(max_message_mb * 1024 * 1024);
  o.max_upload_bytes = static_cast<std::int64_t>(max_upload_mb * 1024 * 1024);
  o.max_upload_buffer_bytes = static_cast<std::int64_t>(max_upload_buffer_mb * 1024 * 1024);

  // Signals are taken synchronously by this thread: block them before any
  // other thread exists so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<spoofd::service::Server>> server =
      spoofd::service::Server::Create(o);
  if (!server.ok()) {
    LogEvent(LogLevel::kError, "start_failed",
             {{"message", std::string(server.status().message())}});
    std::cerr << "spoofd: " << server.status().message() << "\n";
    return 1;
  }
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    LogEvent(LogLevel::kError, "start_failed", {{"message", std::string(s.message())}});
    std::cerr << "spoofd: " << s.message() << "\n";
    return 1;
  }
  // The model loads while the ports are up (health NOT_SERVING meanwhile), so
  // orchestrators can tell "alive" from "ready".
  std::atomic<bool> load_failed{false};
  std::thread loader([&] {
    if (!(*server)->LoadModel().ok()) {
      load_failed = true;
      kill(getpid(), SIGUSR1);
    }
  });

  int exit_code = 0;
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      if (loader.joinable()) loader.join();  // a reload waits for the first load
      LogEvent(LogLevel::kInfo, "reload_requested");
      (void)(*server)->Reload();  // logged inside; the old model stays on error
      continue;
    }
    if (sig == SIGUSR1) {
      if (!load_failed) continue;
      std::cerr << "spoofd: the model could not be loaded (see the log above)\n";
      exit_code = 1;
    } else {
      LogEvent(LogLevel::kInfo, "signal", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    }
    break;
  }
  (*server)->Shutdown(std::chrono::milliseconds(static_cast<std::int64_t>(drain_timeout_s * 1000)));
  if (loader.joinable()) loader.join();
  return exit_code;
}
