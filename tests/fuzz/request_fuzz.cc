// libFuzzer harness: request bytes as they arrive from the network, through
// the same checks and pipeline as the server's handlers (service/server/
// server.cc), without gRPC or sockets. The tiny test model
// (tests/data/models/tiny.pt, or $SPOOFD_FUZZ_MODEL) is loaded once.
//
// The first byte picks the RPC:
//   even: the rest is one serialized spoofd.v1.ScoreRequest (Score). As in
//         DetectorService::Prepare: parse, refuse empty audio, ToRawFormat,
//         ToScoreOptions against the model's contract; then Engine::Score
//         (decode -> features -> batched forward -> verdict) on the caller's
//         thread, and FillResult + serialization of the response.
//   odd:  the rest is a StreamScore call: messages framed as a 2-byte
//         little-endian length and that many bytes of StreamScoreRequest. As
//         in StreamReactor: the first message must carry a StreamConfig
//         (ToStreamParams, StreamSession::Create), later ones audio (a second
//         config ends the call), empty audio is skipped; at the end Finish.
//
// Properties: no sanitizer report; every error is one of the codes the API
// documents for bad input (never INTERNAL/UNKNOWN), with a message; every
// result's probability is in [0, 1] and its LLR finite.
// Limits are lower than the server's defaults (60 s of audio) to keep each
// input fast; the limit code path is the same.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "service/server/convert.h"
#include "service/server/engine.h"
#include "service/server/stream_session.h"
#include "spoofd/v1/detector.pb.h"

namespace {

using spoofd::service::Engine;
using spoofd::service::LoadedModel;

void Fail(const char* what, const absl::Status& status = absl::OkStatus()) {
  std::fprintf(stderr, "request_fuzz: property violated: %s (%s)\n", what,
               status.ToString().c_str());
  std::abort();
}

void CheckError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kResourceExhausted:
      break;
    default:
      Fail("a request got a status the API does not document for bad input", status);
  }
  if (status.message().empty()) Fail("error without a message", status);
}

void CheckVerdict(const spoofd::models::Verdict& verdict, const spoofd::models::Model& model) {
  spoofd::v1::Result result;
  spoofd::service::FillResult(verdict, model, &result);
  if (!(result.probability() >= 0.0 && result.probability() <= 1.0)) Fail("probability range");
  if (!std::isfinite(result.llr())) Fail("non-finite llr");
  std::string wire;
  if (!result.SerializeToString(&wire)) Fail("result does not serialize");
}

struct Fixture {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<const LoadedModel> loaded;
  spoofd::service::StreamSettings stream;
};

Fixture* Get() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    spoofd::service::EngineOptions options;
    options.workers = 1;
    options.max_queue = 4;
    options.max_audio_s = 60.0;
    options.batcher.max_queue_delay_us = 0;
    f->engine = std::make_unique<Engine>(options, nullptr);
    const char* env = std::getenv("SPOOFD_FUZZ_MODEL");
    const std::string path =
        env != nullptr ? std::string(env) : std::string(SPOOFD_SOURCE_DIR "/tests/data/models/tiny.pt");
    if (absl::Status s = f->engine->Load(path); !s.ok()) Fail("cannot load the model", s);
    f->loaded = f->engine->current();
    f->stream.max_audio_s = 60.0;
    return f;
  }();
  return fixture;
}

void Score(std::span<const std::uint8_t> bytes) {
  Fixture* f = Get();
  spoofd::v1::ScoreRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;  // gRPC refuses it
  if (request.audio().empty()) return;  // "the request carries no audio"
  auto raw = spoofd::service::ToRawFormat(request.format());
  if (!raw.ok()) return CheckError(raw.status());
  auto options = spoofd::service::ToScoreOptions(request.options(), f->loaded->model->contract());
  if (!options.ok()) return CheckError(options.status());
  spoofd::service::AudioInput input;
  input.bytes = std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(request.audio().data()), request.audio().size());
  input.raw = *raw;
  input.format_hint = request.format().format_hint();
  auto out = f->engine->Score(*f->loaded, input, *options, [] { return absl::OkStatus(); });
  if (!out.ok()) return CheckError(out.status());
  CheckVerdict(out->verdict, *f->loaded->model);
}

void Stream(std::span<const std::uint8_t> bytes) {
  Fixture* f = Get();
  spoofd::service::ForwardStats stats;
  const spoofd::models::ForwardFn forward =
      f->engine->MakeForward(f->loaded->model, nullptr, &stats);
  std::unique_ptr<spoofd::service::StreamSession> session;
  std::size_t pos = 0;
  while (pos + 2 <= bytes.size()) {
    const std::size_t n = std::min<std::size_t>(bytes[pos] | (bytes[pos + 1] << 8), bytes.size() - pos - 2);
    spoofd::v1::StreamScoreRequest message;
    const bool parsed = message.ParseFromArray(bytes.data() + pos + 2, static_cast<int>(n));
    pos += 2 + n;
    if (!parsed) return;  // gRPC ends the call
    if (session == nullptr) {
      if (!message.has_config()) return;  // INVALID_ARGUMENT: config first
      auto params = spoofd::service::ToStreamParams(message.config(), f->loaded->model->contract());
      if (!params.ok()) return CheckError(params.status());
      auto created = spoofd::service::StreamSession::Create(f->loaded->model, *params, f->stream);
      if (!created.ok()) return CheckError(created.status());
      session = *std::move(created);
      continue;
    }
    if (message.has_config()) return;  // INVALID_ARGUMENT: config twice
    if (message.audio().empty()) continue;
    std::optional<spoofd::service::StreamUpdate> interim;
    absl::Status s = session->Feed(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(message.audio().data()),
                                      message.audio().size()),
        forward, &interim);
    if (!s.ok()) return CheckError(s);
    if (interim) CheckVerdict(interim->verdict, *f->loaded->model);
  }
  if (session == nullptr) return;  // "the stream ended before its StreamConfig"
  auto final_update = session->Finish(forward);
  if (!final_update.ok()) return CheckError(final_update.status());
  if (!final_update->is_final) Fail("Finish gave an interim");
  CheckVerdict(final_update->verdict, *f->loaded->model);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    Score(rest);
  } else {
    Stream(rest);
  }
  return 0;
}
