#include "service/spoofctl/stream_cmd.h"

#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "dsp/decode.h"
#include "google/protobuf/util/json_util.h"
#include "service/report.h"
#include "service/spoofctl/remote.h"

namespace spoofd::cli {
namespace {

struct StreamCommandOptions {
  std::string file;
  ServerFlags server;
  std::string encoding;  // empty: decode the file here and send 16 kHz s16le
  int rate_hz = 8000;
  bool realtime = false;
  int chunk_ms = 200;
  double interval_s = 0.0;
  std::string operating_point;
  double segment_s = 0.0;
  std::string call_id;
  bool json = false;
  int reconnects = 5;  // new connections after UNAVAILABLE before giving up
};

std::string Line(const v1::StreamScoreResponse& r) {
  const models::Verdict v = VerdictFromResult(r.result());
  std::string verdict =
      v.reason == "not_confident_yet" ? "not confident yet" : report::PlainVerdict(v);
  if (r.is_final()) {
    return absl::StrFormat("final   %7.1f s  score %.3f (llr %+.3f)  %d segments  %s", v.duration_s,
                           v.probability, v.llr, r.segments_scored(), verdict);
  }
  return absl::StrFormat("interim %7.1f s  score %.3f (llr %+.3f)  %d segments%s  %s",
                         r.audio_received_s(), v.probability, v.llr, r.segments_scored(),
                         r.provisional() ? " (provisional)" : "", verdict);
}

int RunStream(const StreamCommandOptions& options) {
  std::vector<std::uint8_t> audio;
  v1::StreamConfig config;
  config.set_call_id(options.call_id);
  config.set_interim_interval_s(options.interval_s);
  config.mutable_options()->set_operating_point(options.operating_point);
  config.mutable_options()->set_segment_s(options.segment_s);
  int bytes_per_sample = 2;
  int rate_hz = options.rate_hz;
  if (options.encoding.empty()) {
    // A container: decode here, send 16 kHz 16-bit PCM.
    decode::DecodeOptions decode_options;
    decode_options.target_sample_rate_hz = 16000;
    absl::StatusOr<decode::DecodedAudio> decoded = decode::DecodeFile(options.file, decode_options);
    if (!decoded.ok()) {
      std::cerr << "spoofctl stream: " << options.file << ": " << decoded.status().message()
                << "\n";
      return 1;
    }
    audio.reserve(decoded->samples.size() * 2);
    for (float x : decoded->samples) {
      const auto s = static_cast<std::int16_t>(
          std::lround(std::clamp(x, -1.0f, 32767.0f / 32768.0f) * 32768.0f));
      audio.push_back(static_cast<std::uint8_t>(s & 0xff));
      audio.push_back(static_cast<std::uint8_t>((s >> 8) & 0xff));
    }
    config.set_encoding(v1::AUDIO_ENCODING_PCM_S16LE);
    rate_hz = 16000;
  } else {
    absl::StatusOr<decode::RawEncoding> encoding = decode::ParseRawEncoding(options.encoding);
    absl::StatusOr<std::vector<std::uint8_t>> bytes =
        decode::ReadFileBytes(options.file, std::int64_t{4} << 30);
    if (!encoding.ok() || !bytes.ok()) {
      std::cerr << "spoofctl stream: " << options.file << ": "
                << (encoding.ok() ? bytes.status() : encoding.status()).message() << "\n";
      return 1;
    }
    audio = *std::move(bytes);
    bytes_per_sample = *encoding == decode::RawEncoding::kPcmS16le ? 2 : 1;
    config.set_encoding(*encoding == decode::RawEncoding::kMulaw  ? v1::AUDIO_ENCODING_MULAW
                        : *encoding == decode::RawEncoding::kAlaw ? v1::AUDIO_ENCODING_ALAW
                                                                  : v1::AUDIO_ENCODING_PCM_S16LE);
  }
  config.set_sample_rate_hz(rate_hz);

  client::Client::StreamOptions stream_options;
  stream_options.chunk_bytes = std::max<std::size_t>(
      static_cast<std::size_t>(bytes_per_sample),
      static_cast<std::size_t>(options.chunk_ms * rate_hz / 1000) * bytes_per_sample);
  if (options.realtime)
    stream_options.bytes_per_second = static_cast<double>(rate_hz) * bytes_per_sample;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  auto on_response = [&](const v1::StreamScoreResponse& r) {
    if (options.json) {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(r, &json, print);
      std::cout << json << std::endl;
    } else {
      std::cout << Line(r) << std::endl;
    }
  };
  // A call whose connection is lost (UNAVAILABLE: the replica drained, was
  // restarted, or closed the connection at its maximum age) continues on a
  // new connection -- the next --server, or the same name resolved again: the
  // audio of the call so far is resent at once, then the call goes on at its
  // pace, so that the final verdict still covers the whole call.
  const auto call_start = std::chrono::steady_clock::now();
  absl::Status last;
  for (int attempt = 0; attempt <= options.reconnects; ++attempt) {
    const std::string& target =
        options.server.servers[static_cast<size_t>(attempt) % options.server.servers.size()];
    absl::StatusOr<std::unique_ptr<client::Client>> c = Connect(options.server, target);
    if (!c.ok()) {
      std::cerr << "spoofctl stream: " << target << ": " << c.status().message() << "\n";
      return 1;
    }
    if (attempt > 0 && options.realtime) {
      const double elapsed_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - call_start).count();
      stream_options.resume_bytes = std::min(
          audio.size(), static_cast<std::size_t>(elapsed_s * stream_options.bytes_per_second));
    }
    absl::StatusOr<v1::StreamScoreResponse> final_response =
        (*c)->StreamScore(config, audio, stream_options, on_response);
    if (final_response.ok()) return 0;
    last = final_response.status();
    if (last.code() != absl::StatusCode::kUnavailable || attempt == options.reconnects) break;
    std::cerr << "spoofctl stream: " << target << ": " << last.message()
              << "; continuing the call on a new connection\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * (attempt + 1)));
  }
  std::cerr << "spoofctl stream: " << options.file << ": " << last.message() << "\n";
  return 1;
}

}  // namespace

void AddStreamCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<StreamCommandOptions>();
  CLI::App* cmd =
      app.add_subcommand("stream", "Stream a recording to a spoofd server as a live call");
  cmd->add_option(
         "FILE", options->file,
         "Recording: any format FFmpeg reads (sent as 16 kHz PCM), or headerless with --encoding")
      ->required();
  AddServerFlags(cmd, &options->server, /*multiple=*/true);
  cmd->get_option("--server")->required();
  cmd->add_option("--encoding", options->encoding,
                  "FILE is headerless audio in this encoding: s16le, mulaw, alaw")
      ->check(CLI::IsMember({"s16le", "mulaw", "ulaw", "alaw"}));
  cmd->add_option("--rate", options->rate_hz, "Sample rate of headerless FILE in Hz")
      ->capture_default_str()
      ->check(CLI::Range(1000, 192000));
  cmd->add_flag("--realtime", options->realtime,
                "Send audio at real-time pace (as a live call does)");
  cmd->add_option("--chunk-ms", options->chunk_ms, "Audio per message, milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  cmd->add_option("--interval-s", options->interval_s,
                  "Seconds of audio between interim results (0: server default)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--operating-point", options->operating_point, "Named threshold of the model");
  cmd->add_option("--segment-s", options->segment_s, "Segment length override in seconds");
  cmd->add_option("--call-id", options->call_id, "Call id echoed in every response");
  cmd->add_flag("--json", options->json, "One JSON object per response");
  cmd->add_option("--reconnects", options->reconnects,
                  "After UNAVAILABLE (a replica going away), continue the call on a new "
                  "connection (the next --server) up to this many times; 0: never")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  cmd->callback([options, exit_code] { *exit_code = RunStream(*options); });
}

}  // namespace spoofd::cli
