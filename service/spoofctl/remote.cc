#include "service/spoofctl/remote.h"

#include <cmath>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "dsp/decode.h"
#include "service/report.h"

namespace spoofd::cli {
namespace {

using report::Round;

models::Decision FromProto(v1::Decision d) {
  switch (d) {
    case v1::DECISION_GENUINE:
      return models::Decision::kGenuine;
    case v1::DECISION_SYNTHETIC:
      return models::Decision::kSynthetic;
    default:
      return models::Decision::kInconclusive;
  }
}

std::string ReasonName(v1::InconclusiveReason r) {
  switch (r) {
    case v1::REASON_TOO_SHORT:
      return "too_short";
    case v1::REASON_SILENCE:
      return "silence";
    case v1::REASON_TOO_LITTLE_SPEECH:
      return "too_little_speech";
    case v1::REASON_CLIPPED:
      return "clipped";
    case v1::REASON_NOT_CONFIDENT_YET:
      return "not_confident_yet";
    default:
      return "";
  }
}

}  // namespace

void AddServerFlags(CLI::App* cmd, ServerFlags* flags, bool multiple) {
  if (multiple) {
    // One value per occurrence, so that the FILE arguments after it stay files.
    cmd->add_option("--server", flags->servers,
                    "spoofd server HOST:PORT (repeatable: files are sent round-robin)")
        ->allow_extra_args(false);
  } else {
    cmd->add_option("--server", flags->servers, "spoofd server HOST:PORT")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  }
  cmd->add_flag("--tls", flags->tls, "Use TLS (implied by --ca / --cert)");
  cmd->add_option("--ca", flags->ca_file, "PEM CA certificates that verify the server (TLS)");
  cmd->add_option("--cert", flags->cert_file, "PEM client certificate (mutual TLS)");
  cmd->add_option("--key", flags->key_file, "PEM key of --cert");
  cmd->add_option("--server-name", flags->server_name,
                  "Name to verify the server certificate against");
  cmd->add_option("--token-file", flags->token_file,
                  "Bearer token file (default: $SPOOFD_TOKEN_FILE when set)");
  cmd->add_option("--timeout-s", flags->timeout_s, "Deadline per call in seconds (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const ServerFlags& flags,
                                                        const std::string& target) {
  client::ClientOptions options;
  options.target = target;
  options.tls = flags.tls;
  options.ca_file = flags.ca_file;
  options.cert_file = flags.cert_file;
  options.key_file = flags.key_file;
  options.server_name = flags.server_name;
  options.timeout_s = flags.timeout_s;
  std::string token_file = flags.token_file;
  if (token_file.empty()) {
    if (const char* env = std::getenv("SPOOFD_TOKEN_FILE"); env != nullptr) token_file = env;
  }
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = client::ReadTokenFile(token_file);
    if (!token.ok()) return token.status();
    options.token = *token;
  }
  return client::Client::Create(options);
}

models::Verdict VerdictFromResult(const v1::Result& r) {
  models::Verdict v;
  v.decision = FromProto(r.decision());
  v.reason = ReasonName(r.reason());
  v.llr = r.llr();
  v.probability = r.probability();
  v.threshold = r.threshold();
  v.operating_point = r.operating_point();
  v.max_segment_llr = r.max_segment_llr();
  for (const v1::Segment& s : r.segments()) {
    models::SegmentScore seg;
    seg.start_s = s.start_s();
    seg.end_s = s.end_s();
    seg.llr = s.llr();
    seg.probability = s.probability();
    seg.speech_fraction = s.speech_fraction();
    seg.counted = s.counted();
    v.segments.push_back(seg);
  }
  v.duration_s = r.duration_s();
  v.speech_s = r.speech_s();
  v.clipped_fraction = r.clipped_fraction();
  v.features_us = r.timing().features_us();
  v.model_us = r.timing().model_us();
  return v;
}

nlohmann::ordered_json ResultJson(const std::string& file, const v1::ScoreResponse& response,
                                  const std::string& server) {
  const v1::Result& r = response.result();
  report::FileFacts facts;
  facts.file = file;
  facts.sha256 = r.source().sha256();
  facts.bytes = r.source().input_bytes();
  facts.source.container = r.source().container();
  facts.source.codec = r.source().codec();
  facts.source.sample_rate_hz = r.source().sample_rate_hz();
  facts.source.channels = r.source().channels();
  facts.decode_us = r.timing().decode_us();
  const report::ModelFacts model{r.model().name(), r.model().version(), r.model().sha256()};
  // One JSON shape for offline and remote results; the server adds its queue
  // and total times, the request id and its address.
  nlohmann::ordered_json j = report::VerdictJson(facts, VerdictFromResult(r), model);
  j["timing_ms"]["queue"] = Round(r.timing().queue_us() / 1000.0, 1e-2);
  j["timing_ms"]["total"] = Round(r.timing().total_us() / 1000.0, 1e-2);
  j["request_id"] = response.request_id();
  j["server"] = server;
  return j;
}

int RunScoreRemote(const RemoteScoreOptions& options) {
  std::vector<std::unique_ptr<client::Client>> clients;
  for (const std::string& target : options.server.servers) {
    absl::StatusOr<std::unique_ptr<client::Client>> c = Connect(options.server, target);
    if (!c.ok()) {
      std::cerr << "spoofctl score: " << target << ": " << c.status().message() << "\n";
      return 1;
    }
    clients.push_back(*std::move(c));
  }
  v1::UploadConfig config;
  config.mutable_options()->set_operating_point(options.operating_point);
  config.mutable_options()->set_segment_s(options.segment_s);
  if (!options.input.raw_format.empty()) {
    absl::StatusOr<decode::RawEncoding> encoding =
        decode::ParseRawEncoding(options.input.raw_format);
    if (!encoding.ok()) {
      std::cerr << "spoofctl score: " << encoding.status().message() << "\n";
      return 2;
    }
    config.mutable_format()->set_encoding(
        *encoding == decode::RawEncoding::kMulaw  ? v1::AUDIO_ENCODING_MULAW
        : *encoding == decode::RawEncoding::kAlaw ? v1::AUDIO_ENCODING_ALAW
                                                  : v1::AUDIO_ENCODING_PCM_S16LE);
    config.mutable_format()->set_sample_rate_hz(options.input.raw_rate_hz);
  }
  if (!options.json) {
    std::cout << absl::StrFormat("%-40s %9s %8s %7s  %s\n", "FILE", "DURATION", "SPEECH", "SCORE",
                                 "VERDICT");
  }
  int failures = 0;
  v1::ModelRef model;
  for (size_t i = 0; i < options.files.size(); ++i) {
    const std::string& file = options.files[i];
    const size_t which = i % clients.size();
    absl::StatusOr<std::vector<std::uint8_t>> bytes =
        decode::ReadFileBytes(file, options.input.MaxInputBytes());
    absl::StatusOr<v1::ScoreResponse> response = absl::UnknownError("not sent");
    if (bytes.ok()) {
      v1::UploadConfig per_file = config;
      per_file.mutable_format()->set_format_hint(file);
      response = clients[which]->ScoreAny(per_file, *bytes);
    } else {
      response = bytes.status();
    }
    if (!response.ok()) {
      ++failures;
      if (options.json) {
        nlohmann::ordered_json j;
        j["file"] = file;
        j["error"] = {{"code", absl::StatusCodeToString(response.status().code())},
                      {"message", std::string(response.status().message())}};
        j["server"] = options.server.servers[which];
        std::cout << j.dump() << "\n";
      }
      std::cerr << "spoofctl score: " << file << ": " << response.status().message() << "\n";
      continue;
    }
    model = response->result().model();
    if (options.json) {
      std::cout << ResultJson(file, *response, options.server.servers[which]).dump() << "\n";
    } else {
      const models::Verdict v = VerdictFromResult(response->result());
      std::cout << absl::StrFormat("%-40s %7.2f s %6.2f s %7.3f  %s\n", file, v.duration_s,
                                   v.speech_s, v.probability, report::PlainVerdict(v));
    }
  }
  if (!options.json && !model.name().empty()) {
    std::cout << absl::StrFormat("model %s %s (sha256 %s…) on %d server(s)\n", model.name(),
                                 model.version(), model.sha256().substr(0, 12), clients.size());
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace spoofd::cli
