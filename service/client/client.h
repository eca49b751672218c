// spoofd::client — a C++ client for the spoofd server (spoofctl uses it).
// Thin and synchronous: one call at a time per method invocation, any number
// of invocations concurrently (a Client is thread-safe; its channel is shared).
// gRPC errors come back as absl::Status with the same code and message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "spoofd/v1/detector.grpc.pb.h"

namespace spoofd::client {

struct ClientOptions {
  std::string target;  // HOST:PORT
  // TLS: set `tls`, or give ca_file (PEM roots that verify the server; without
  // it the system roots are used). cert_file + key_file: a client certificate
  // for mutual TLS.
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Name to verify the server certificate against instead of the target's host.
  std::string server_name;
  std::string token;     // bearer token; empty: none
  double timeout_s = 0;  // deadline per call; 0: none
};

// Reads a token file as the server does: the first non-blank line not starting with '#'.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

class Client {
 public:
  // kNotFound / kInvalidArgument for unreadable PEM files.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);

  absl::StatusOr<v1::ScoreResponse> Score(const v1::ScoreRequest& request);
  // The config, then `audio` in chunks of chunk_bytes.
  absl::StatusOr<v1::ScoreResponse> ScoreUpload(const v1::UploadConfig& config,
                                                std::span<const std::uint8_t> audio,
                                                std::size_t chunk_bytes = std::size_t{1} << 20);
  // Score when the audio fits comfortably in one message (<= single_message_bytes),
  // else ScoreUpload.
  absl::StatusOr<v1::ScoreResponse> ScoreAny(const v1::UploadConfig& config,
                                             std::span<const std::uint8_t> audio,
                                             std::size_t single_message_bytes = std::size_t{4}
                                                                                << 20);

  struct StreamOptions {
    std::size_t chunk_bytes = 3200;  // 200 ms of 8 kHz 16-bit audio
    // > 0: pace the chunks at this many bytes per second (real time); 0: as fast as possible.
    double bytes_per_second = 0.0;
    // With pacing: the first resume_bytes go out at once (a call continuing
    // on a new connection resends what the lost one had), then pacing goes on.
    std::size_t resume_bytes = 0;
  };
  // Sends the config and `audio`, calls on_response (may be null) for every
  // response as it arrives, and returns the final one.
  absl::StatusOr<v1::StreamScoreResponse> StreamScore(
      const v1::StreamConfig& config, std::span<const std::uint8_t> audio,
      const StreamOptions& options,
      const std::function<void(const v1::StreamScoreResponse&)>& on_response);

  absl::StatusOr<v1::GetModelInfoResponse> GetModelInfo();
  // grpc.health.v1 Check; "" is the whole server.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CheckHealth(
      const std::string& service = "");

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  Client() = default;
  void Prepare(grpc::ClientContext* context) const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Detector::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace spoofd::client
