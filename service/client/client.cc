#include "service/client/client.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace spoofd::client {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the ", what, " file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, "token");
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line.front() != '#') return std::string(line);
  }
  return absl::InvalidArgumentError(absl::StrCat("token file ", path, " holds no token"));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("no server address given");
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs both its certificate and key files");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  const bool tls = options.tls || !options.ca_file.empty() || !options.cert_file.empty();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadFile(options.ca_file, "CA");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (!options.cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadFile(options.cert_file, "client certificate");
      absl::StatusOr<std::string> key = ReadFile(options.key_file, "client key");
      if (!cert.ok()) return cert.status();
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
  // A replica that went away (drained, restarted) is tried again within 5 s
  // rather than after gRPC's default backoff of up to 2 minutes.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  // dns:///name:port resolving to several replicas (a headless Service):
  // spread calls over all of them instead of pinning the first address.
  if (options.target.rfind("dns:", 0) == 0) args.SetLoadBalancingPolicyName("round_robin");
  auto client = std::unique_ptr<Client>(new Client());
  client->options_ = options;
  client->channel_ = grpc::CreateCustomChannel(options.target, credentials, args);
  client->stub_ = v1::Detector::NewStub(client->channel_);
  client->health_ = grpc::health::v1::Health::NewStub(client->channel_);
  return client;
}

void Client::Prepare(grpc::ClientContext* context) const {
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  if (options_.timeout_s > 0) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(options_.timeout_s)));
  }
}

absl::StatusOr<v1::ScoreResponse> Client::Score(const v1::ScoreRequest& request) {
  grpc::ClientContext context;
  Prepare(&context);
  v1::ScoreResponse response;
  grpc::Status status = stub_->Score(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::ScoreResponse> Client::ScoreUpload(const v1::UploadConfig& config,
                                                      std::span<const std::uint8_t> audio,
                                                      std::size_t chunk_bytes) {
  chunk_bytes = std::max<std::size_t>(1, chunk_bytes);
  grpc::ClientContext context;
  Prepare(&context);
  v1::ScoreResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ScoreUploadRequest>> writer =
      stub_->ScoreUpload(&context, &response);
  v1::ScoreUploadRequest message;
  *message.mutable_config() = config;
  bool ok = writer->Write(message);
  for (std::size_t offset = 0; ok && offset < audio.size(); offset += chunk_bytes) {
    const std::size_t n = std::min(chunk_bytes, audio.size() - offset);
    message.set_audio(reinterpret_cast<const char*>(audio.data() + offset), n);
    ok = writer->Write(message);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::ScoreResponse> Client::ScoreAny(const v1::UploadConfig& config,
                                                   std::span<const std::uint8_t> audio,
                                                   std::size_t single_message_bytes) {
  if (audio.size() > single_message_bytes) return ScoreUpload(config, audio);
  v1::ScoreRequest request;
  request.set_request_id(config.request_id());
  *request.mutable_format() = config.format();
  *request.mutable_options() = config.options();
  request.set_audio(reinterpret_cast<const char*>(audio.data()), audio.size());
  return Score(request);
}

absl::StatusOr<v1::StreamScoreResponse> Client::StreamScore(
    const v1::StreamConfig& config, std::span<const std::uint8_t> audio,
    const StreamOptions& options,
    const std::function<void(const v1::StreamScoreResponse&)>& on_response) {
  const std::size_t chunk_bytes = std::max<std::size_t>(1, options.chunk_bytes);
  grpc::ClientContext context;
  Prepare(&context);
  std::shared_ptr<grpc::ClientReaderWriter<v1::StreamScoreRequest, v1::StreamScoreResponse>>
      stream = stub_->StreamScore(&context);
  // The writer paces the audio; this thread reads responses as they come.
  std::thread writer([&] {
    v1::StreamScoreRequest message;
    *message.mutable_config() = config;
    bool ok = stream->Write(message);
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t offset = 0; ok && offset < audio.size(); offset += chunk_bytes) {
      if (options.bytes_per_second > 0 && offset > options.resume_bytes) {
        std::this_thread::sleep_until(
            start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>((offset - options.resume_bytes) /
                                                      options.bytes_per_second)));
      }
      const std::size_t n = std::min(chunk_bytes, audio.size() - offset);
      message.set_audio(reinterpret_cast<const char*>(audio.data() + offset), n);
      ok = stream->Write(message);
    }
    stream->WritesDone();
  });
  v1::StreamScoreResponse response, final_response;
  bool have_final = false;
  while (stream->Read(&response)) {
    if (on_response) on_response(response);
    if (response.is_final()) {
      final_response = response;
      have_final = true;
    }
  }
  writer.join();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!have_final) return absl::InternalError("the server ended the stream without a final result");
  return final_response;
}

absl::StatusOr<v1::GetModelInfoResponse> Client::GetModelInfo() {
  grpc::ClientContext context;
  Prepare(&context);
  v1::GetModelInfoResponse response;
  grpc::Status status = stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Client::CheckHealth(
    const std::string& service) {
  grpc::ClientContext context;
  Prepare(&context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health_->Check(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.status();
}

}  // namespace spoofd::client
