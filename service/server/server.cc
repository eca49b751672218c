#include "service/server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "service/server/auth.h"
#include "service/server/convert.h"
#include "service/server/health.h"
#include "service/server/http_api.h"
#include "service/server/log.h"
#include "service/server/metrics_http.h"
#include "service/server/status.h"
#include "spoofd/v1/detector.grpc.pb.h"
#include "spoofd/version.h"

namespace spoofd::service {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t MicrosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the ", what, " file ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("the ", what, " file ", path, " is not PEM"));
  }
  return text.str();
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%016x", rng());
}

// The request id: the message's, else the x-request-id metadata, else a new one.
std::string RequestId(const grpc::CallbackServerContext* ctx, const std::string& from_message) {
  if (!from_message.empty()) return from_message.substr(0, 128);
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("x-request-id"); it != md.end() && it->second.size() > 0) {
    return std::string(it->second.data(), std::min<size_t>(it->second.size(), 128));
  }
  return NewRequestId();
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Cancellation and deadline of a call, as a status for the pipeline's checks.
CheckFn MakeCheck(grpc::CallbackServerContext* ctx) {
  return [ctx]() -> absl::Status {
    if (!ctx->IsCancelled()) return absl::OkStatus();
    if (std::chrono::system_clock::now() >= ctx->deadline()) {
      return absl::DeadlineExceededError("the client's deadline passed before scoring finished");
    }
    return absl::CancelledError("the client cancelled the call");
  };
}

}  // namespace

// ---------------------------------------------------------------------------
// Shared state of the server and its handlers.

class StreamReactor;

struct Server::State {
  explicit State(const ServerOptions& o, Metrics* m)
      : options(o), metrics(m), engine(o.engine, m), health({"spoofd.v1.Detector"}) {}

  const ServerOptions& options;
  Metrics* const metrics;
  Engine engine;
  HealthService health;
  std::unique_ptr<v1::Detector::CallbackService> detector;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<MetricsHttpServer> metrics_http;
  std::unique_ptr<HttpApi> http_api;

  std::mutex auth_mu;
  std::shared_ptr<const TokenAuthenticator> auth;  // null: no authentication

  std::atomic<bool> ready{false};
  std::atomic<bool> shutting_down{false};
  std::atomic<int> active_streams{0};
  std::atomic<std::int64_t> upload_buffer_bytes{0};  // held by ScoreUploads in progress

  // Live streams, for the idle reaper.
  std::mutex streams_mu;
  std::set<StreamReactor*> streams;
  std::thread reaper;
  std::mutex reaper_mu;
  std::condition_variable reaper_cv;
  bool reaper_stop = false;

  std::mutex shutdown_mu;
  std::condition_variable shutdown_cv;
  bool shutdown_done = false;
  bool shutdown_started = false;

  std::shared_ptr<const TokenAuthenticator> Auth() {
    std::lock_guard lock(auth_mu);
    return auth;
  }

  absl::Status Authorize(const grpc::CallbackServerContext* ctx) {
    const std::shared_ptr<const TokenAuthenticator> a = Auth();
    if (a == nullptr) return absl::OkStatus();
    const auto& md = ctx->client_metadata();
    const auto it = md.find("authorization");
    return a->Check(it == md.end() ? std::string_view()
                                   : std::string_view(it->second.data(), it->second.size()));
  }

  // The model for a new request, or why there is none.
  absl::StatusOr<std::shared_ptr<const LoadedModel>> Model() {
    if (shutting_down)
      return absl::UnavailableError("the server is shutting down; retry on another instance");
    std::shared_ptr<const LoadedModel> loaded = engine.current();
    if (loaded == nullptr || !ready) {
      return absl::UnavailableError(
          absl::StrCat("no model loaded yet (loading ", options.model_path, "); retry shortly"));
    }
    return loaded;
  }

  // Metrics and one log line for a finished call.
  void Record(const char* method, const absl::Status& status, Clock::time_point start,
              const std::string& id, const std::string& peer,
              nlohmann::ordered_json fields = nlohmann::ordered_json::object()) {
    const std::string code = absl::StatusCodeToString(status.code());
    const double seconds = MicrosSince(start) / 1e6;
    metrics->requests.Inc({method, code});
    if (status.ok()) metrics->request_seconds.Observe({method}, seconds);
    nlohmann::ordered_json j;
    j["method"] = method;
    j["request_id"] = id;
    j["peer"] = peer;
    j["code"] = code;
    if (!status.ok()) j["message"] = std::string(status.message());
    j["duration_ms"] = std::round(seconds * 1e5) / 100.0;
    for (const auto& [k, v] : fields.items()) j[k] = v;
    const bool server_fault =
        status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown;
    LogEvent(server_fault ? LogLevel::kError : LogLevel::kInfo, "rpc", j);
  }

  void RecordVerdict(const char* method, const models::Verdict& v) {
    metrics->audio_seconds.Inc({method}, v.duration_s);
    metrics->decisions.Inc({method, std::string(models::DecisionName(v.decision))});
  }
};

namespace {

nlohmann::ordered_json VerdictFields(const models::Verdict& v) {
  nlohmann::ordered_json j;
  j["audio_s"] = std::round(v.duration_s * 1000) / 1000;
  j["speech_s"] = std::round(v.speech_s * 100) / 100;
  j["decision"] = models::DecisionName(v.decision);
  if (!v.reason.empty()) j["reason"] = v.reason;
  j["llr"] = std::round(v.llr * 1e4) / 1e4;
  j["segments"] = v.segments.size();
  return j;
}

void FillScoreResponse(const ScoreOutcome& out, const models::Model& model, std::int64_t queue_us,
                       Clock::time_point start, v1::ScoreResponse* response) {
  v1::Result* r = response->mutable_result();
  FillResult(out.verdict, model, r);
  v1::SourceInfo* src = r->mutable_source();
  src->set_container(out.source.container);
  src->set_codec(out.source.codec);
  src->set_sample_rate_hz(out.source.sample_rate_hz);
  src->set_channels(out.source.channels);
  src->set_input_bytes(out.source.input_bytes);
  src->set_sha256(out.input_sha256);
  v1::Timing* t = r->mutable_timing();
  t->set_queue_us(queue_us);
  t->set_decode_us(out.decode_us);
  t->set_features_us(out.verdict.features_us);
  t->set_model_us(out.verdict.model_us);
  t->set_total_us(MicrosSince(start));
}

// The work of Score and ScoreUpload once the audio is in memory: queued on the
// worker pool, it finishes the call itself. `audio` must stay valid until
// `finish` has been called.
struct ScoreJob {
  Server::State* state;
  const char* method;
  grpc::CallbackServerContext* ctx;
  std::shared_ptr<const LoadedModel> loaded;
  AudioInput input;
  models::ScoreOptions options;
  std::string request_id;
  v1::ScoreResponse* response;
  Clock::time_point start;
  std::function<void(const grpc::Status&)> finish;

  void Run(Clock::time_point enqueued) {
    const std::int64_t queue_us = MicrosSince(enqueued);
    state->metrics->stage_seconds.Observe({"queue"}, queue_us / 1e6);
    absl::StatusOr<ScoreOutcome> out = state->engine.Score(*loaded, input, options, MakeCheck(ctx));
    absl::Status status = out.status();
    nlohmann::ordered_json fields;
    fields["bytes"] = input.bytes.size();
    if (out.ok()) {
      FillScoreResponse(*out, *loaded->model, queue_us, start, response);
      state->RecordVerdict(method, out->verdict);
      const nlohmann::ordered_json verdict_fields = VerdictFields(out->verdict);
      for (const auto& [k, v] : verdict_fields.items()) fields[k] = v;
    }
    state->Record(method, status, start, request_id, ctx->peer(), fields);
    finish(ToGrpcStatus(status));  // last: the call may be gone right after
  }
};

// Queues a job; false (and RESOURCE_EXHAUSTED recorded) when the queue is full.
absl::Status Submit(Server::State* state, std::shared_ptr<ScoreJob> job) {
  const auto enqueued = Clock::now();
  if (!state->engine.pool().TrySubmit([job, enqueued] { job->Run(enqueued); })) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server is busy: ", state->options.engine.max_queue,
                     " requests are already waiting (--max-queue); retry with backoff"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// ScoreUpload: a config message, then audio chunks, accumulated up to
// --max-upload-mb and scored once the client half-closes.

class UploadReactor final : public grpc::ServerReadReactor<v1::ScoreUploadRequest> {
 public:
  UploadReactor(Server::State* state, grpc::CallbackServerContext* ctx, v1::ScoreResponse* response)
      : state_(state), ctx_(ctx), response_(response), start_(Clock::now()) {
    absl::Status s = state_->Authorize(ctx_);
    if (s.ok()) {
      absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = state_->Model();
      s = loaded.status();
      if (loaded.ok()) loaded_ = *loaded;
    }
    if (!s.ok()) {
      Fail(s);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (ctx_->IsCancelled()) return Fail(absl::CancelledError("the client cancelled the upload"));
      if (!have_config_)
        return Fail(
            absl::InvalidArgumentError("ScoreUpload needs an UploadConfig as its first message"));
      if (audio_.empty())
        return Fail(absl::InvalidArgumentError("no audio received: the upload was empty"));
      auto job = std::make_shared<ScoreJob>();
      job->state = state_;
      job->method = "ScoreUpload";
      job->ctx = ctx_;
      job->loaded = loaded_;
      job->input.bytes = std::span<const std::uint8_t>(
          reinterpret_cast<const std::uint8_t*>(audio_.data()), audio_.size());
      job->input.raw = raw_;
      job->input.format_hint = format_hint_;
      job->options = options_;
      job->request_id = request_id_;
      job->response = response_;
      job->start = start_;
      job->finish = [this](const grpc::Status& s) { Finish(s); };
      if (absl::Status s = Submit(state_, std::move(job)); !s.ok()) Fail(s);
      return;
    }
    if (!have_config_) {
      if (!request_.has_config()) {
        return Fail(
            absl::InvalidArgumentError("the first ScoreUploadRequest must carry an UploadConfig"));
      }
      const v1::UploadConfig& config = request_.config();
      request_id_ = RequestId(ctx_, config.request_id());
      response_->set_request_id(request_id_);
      absl::StatusOr<std::optional<decode::RawFormat>> raw = ToRawFormat(config.format());
      if (!raw.ok()) return Fail(raw.status());
      raw_ = *raw;
      format_hint_ = config.format().format_hint();
      absl::StatusOr<models::ScoreOptions> options =
          ToScoreOptions(config.options(), loaded_->model->contract());
      if (!options.ok()) return Fail(options.status());
      options_ = *options;
      have_config_ = true;
    } else if (request_.has_config()) {
      return Fail(
          absl::InvalidArgumentError("UploadConfig sent twice: only the first message carries it"));
    } else {
      const std::string& chunk = request_.audio();
      if (static_cast<std::int64_t>(audio_.size() + chunk.size()) >
          state_->options.max_upload_bytes) {
        return Fail(absl::ResourceExhaustedError(
            absl::StrCat("the upload exceeds the server's limit of ",
                         state_->options.max_upload_bytes >> 20, " MiB (--max-upload-mb)")));
      }
      const auto size = static_cast<std::int64_t>(chunk.size());
      if (state_->upload_buffer_bytes.fetch_add(size) + size >
          state_->options.max_upload_buffer_bytes) {
        state_->upload_buffer_bytes.fetch_sub(size);
        return Fail(absl::ResourceExhaustedError(absl::StrFormat(
            "the server already holds its limit of %.1f MiB of uploads in progress "
            "(--max-upload-buffer-mb); retry with backoff",
            static_cast<double>(state_->options.max_upload_buffer_bytes) / (1 << 20))));
      }
      reserved_ += size;
      audio_.append(chunk);
    }
    StartRead(&request_);
  }

  void OnDone() override {
    state_->upload_buffer_bytes.fetch_sub(reserved_);
    delete this;
  }

 private:
  void Fail(const absl::Status& status) {
    if (request_id_.empty()) request_id_ = RequestId(ctx_, "");
    nlohmann::ordered_json fields;
    fields["bytes"] = audio_.size();
    state_->Record("ScoreUpload", status, start_, request_id_, ctx_->peer(), fields);
    Finish(ToGrpcStatus(status));
  }

  Server::State* const state_;
  grpc::CallbackServerContext* const ctx_;
  v1::ScoreResponse* const response_;
  const Clock::time_point start_;
  std::shared_ptr<const LoadedModel> loaded_;
  v1::ScoreUploadRequest request_;
  bool have_config_ = false;
  std::string request_id_;
  std::optional<decode::RawFormat> raw_;
  std::string format_hint_;
  models::ScoreOptions options_;
  std::int64_t reserved_ = 0;  // bytes of audio_ counted in upload_buffer_bytes
  std::string audio_;
};

}  // namespace

// ---------------------------------------------------------------------------
// StreamScore: one live call. Reference-counted: gRPC's reference is dropped in
// OnDone; a queued or running task and the idle reaper each hold one, so the
// reactor outlives every piece of work that touches it. The stream's audio is
// processed by one pool task at a time, and the next read starts only when
// that task is done (flow control: a client cannot run ahead of the scorer by
// more than one message). gRPC calls are never made while holding mu_, since
// their reactions may run inline.
class StreamReactor final
    : public grpc::ServerBidiReactor<v1::StreamScoreRequest, v1::StreamScoreResponse> {
 public:
  StreamReactor(Server::State* state, grpc::CallbackServerContext* ctx)
      : state_(state),
        ctx_(ctx),
        start_(Clock::now()),
        peer_(ctx->peer()),
        deadline_(ctx->deadline()),
        last_activity_(start_) {
    call_id_ = RequestId(ctx_, "");
    absl::Status s = state_->Authorize(ctx_);
    if (s.ok()) {
      absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = state_->Model();
      s = loaded.status();
      if (loaded.ok()) loaded_ = *loaded;
    }
    if (s.ok()) {
      if (state_->active_streams.fetch_add(1) >= state_->options.max_streams) {
        state_->active_streams.fetch_sub(1);
        s = absl::ResourceExhaustedError(absl::StrCat("the server already serves ",
                                                      state_->options.max_streams,
                                                      " streams (--max-streams); retry later"));
      } else {
        counted_ = true;
      }
    }
    if (!s.ok()) {
      FinishWith(s);
      return;
    }
    {
      std::lock_guard lock(state_->streams_mu);
      state_->streams.insert(this);
      registered_ = true;
    }
    forward_ = state_->engine.MakeForward(
        loaded_->model, [this] { return Check(); }, &forward_stats_);
    {
      std::lock_guard lock(mu_);
      reading_ = true;
    }
    StartRead(&request_);
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnReadDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      reading_ = false;
      last_activity_ = Clock::now();
      if (finished_) return;
    }
    if (!ok) {
      if (ctx_->IsCancelled())
        return FinishWith(absl::CancelledError("the client cancelled the stream"));
      if (session_ == nullptr) {
        return FinishWith(absl::InvalidArgumentError("the stream ended before its StreamConfig"));
      }
      half_close_ = Clock::now();
      Ref();
      state_->engine.pool().Submit([this] {
        Finalize();
        Unref();
      });
      return;
    }
    if (session_ == nullptr) {
      if (!request_.has_config()) {
        return FinishWith(
            absl::InvalidArgumentError("the first StreamScoreRequest must carry a StreamConfig"));
      }
      const v1::StreamConfig& config = request_.config();
      if (!config.call_id().empty()) call_id_ = config.call_id().substr(0, 128);
      absl::StatusOr<StreamParams> params = ToStreamParams(config, loaded_->model->contract());
      if (!params.ok()) return FinishWith(params.status());
      encoding_ = std::string(decode::RawEncodingName(params->format.encoding));
      sample_rate_hz_ = params->format.sample_rate_hz;
      absl::StatusOr<std::unique_ptr<StreamSession>> session =
          StreamSession::Create(loaded_->model, *params, state_->options.stream);
      if (!session.ok()) return FinishWith(session.status());
      session_ = *std::move(session);
      return ContinueReading();
    }
    if (request_.has_config()) {
      return FinishWith(
          absl::InvalidArgumentError("StreamConfig sent twice: only the first message carries it"));
    }
    if (request_.audio().empty()) return ContinueReading();
    if (request_.audio().size() <= kInlineAudioBytes) {
      // Decoding, features and voice activity for a packet this small take
      // tens of microseconds: less than handing it to a worker (a wake-up and
      // a context switch each way). Only model work goes to the pool, so a
      // call's packets between segments never wait behind other calls.
      absl::Status s = FeedAudio();
      if (!s.ok()) return FinishWith(s);
      if (!session_->ModelWorkDue()) return ContinueReading();
      Ref();
      state_->engine.pool().Submit([this] {
        Score();
        Unref();
      });
      return;
    }
    Ref();
    state_->engine.pool().Submit([this] {
      Process();
      Unref();
    });
  }

  void OnWriteDone(bool ok) override {
    enum { kNone, kWrite, kWriteAndFinish, kFinish } action = kNone;
    absl::Status finish_status;
    {
      std::lock_guard lock(mu_);
      write_pending_ = false;
      if (!ok) {
        queued_.reset();
        final_.reset();
        if (!finish_called_) {
          finish_called_ = finished_ = true;
          finish_status = finish_status_.value_or(absl::CancelledError("the client went away"));
          action = kFinish;
        }
      } else if (queued_) {
        writing_ = std::move(*queued_);
        queued_.reset();
        write_pending_ = true;
        action = kWrite;
      } else if (final_) {
        writing_ = std::move(*final_);
        final_.reset();
        finish_called_ = true;
        action = kWriteAndFinish;
      } else if (finish_status_ && !finish_called_) {
        finish_called_ = true;
        finish_status = *finish_status_;
        action = kFinish;
      }
    }
    if (action == kWrite) {
      StartWrite(&writing_);
    } else if (action == kWriteAndFinish) {
      RecordEnd(absl::OkStatus());
      StartWriteAndFinish(&writing_, grpc::WriteOptions(), grpc::Status::OK);
    } else if (action == kFinish) {
      RecordEnd(finish_status);
      Finish(ToGrpcStatus(finish_status));
    }
  }

  void OnCancel() override { cancelled_ = true; }

  void OnDone() override {
    if (registered_) {
      std::lock_guard lock(state_->streams_mu);
      state_->streams.erase(this);
    }
    ReleaseSlot();
    Unref();
  }

  void ReleaseSlot() {
    if (counted_.exchange(false)) state_->active_streams.fetch_sub(1);
  }

  // From the reaper: ends a stream whose client sent nothing for too long.
  void CheckIdle(Clock::time_point now, Clock::duration idle) {
    {
      std::lock_guard lock(mu_);
      if (finished_ || !reading_ || now - last_activity_ < idle) return;
    }
    FinishWith(absl::DeadlineExceededError(absl::StrFormat(
        "no message for %.0f s: the stream idle timeout (--stream-idle-timeout-s) ended it",
        state_->options.stream_idle_timeout_s)));
  }

 private:
  // Packets up to this size are decoded on gRPC's thread (see OnReadDone):
  // 16 KiB is 0.5 s of 16 kHz 16-bit audio, 2 s of 8 kHz mu-law.
  static constexpr std::size_t kInlineAudioBytes = 16 * 1024;

  absl::Status FeedAudio() {
    const std::string& audio = request_.audio();
    bytes_ += static_cast<std::int64_t>(audio.size());
    absl::Status s = session_->FeedAudio(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(audio.data()), audio.size()));
    return s.ok() ? Check() : s;
  }

  // Runs on a worker: decode (large messages), score, maybe send an interim,
  // then read on.
  void Process() {
    if (absl::Status s = FeedAudio(); !s.ok()) return FinishWith(s);
    Score();
  }

  // Runs on a worker: score complete segments, maybe send an interim, read on.
  void Score() {
    std::optional<StreamUpdate> interim;
    absl::Status s = session_->ScoreDue(forward_, &interim);
    if (s.ok()) s = Check();
    if (!s.ok()) return FinishWith(s);
    if (interim) {
      state_->metrics->interim_results.Inc({});
      Send(ToResponse(*interim), /*is_final=*/false);
    }
    ContinueReading();
  }

  // Runs on a worker after the client half-closed.
  void Finalize() {
    absl::StatusOr<StreamUpdate> update = session_->Finish(forward_);
    if (!update.ok()) return FinishWith(update.status());
    state_->RecordVerdict("StreamScore", update->verdict);
    final_verdict_ = VerdictFields(update->verdict);
    state_->metrics->request_seconds.Observe({"StreamScore"}, MicrosSince(half_close_) / 1e6);
    Send(ToResponse(*update), /*is_final=*/true);
  }

  // Work for this call stops early once it is cancelled or its deadline
  // passed. Tasks use this rather than the context, which gRPC may destroy
  // (OnDone) while a task still runs after the call was finished.
  absl::Status Check() const {
    if (!cancelled_) return absl::OkStatus();
    if (std::chrono::system_clock::now() >= deadline_) {
      return absl::DeadlineExceededError("the client's deadline passed");
    }
    return absl::CancelledError("the client cancelled the stream");
  }

  void ContinueReading() {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      reading_ = true;
      last_activity_ = Clock::now();
    }
    StartRead(&request_);
  }

  v1::StreamScoreResponse ToResponse(const StreamUpdate& u) const {
    v1::StreamScoreResponse r;
    r.set_call_id(call_id_);
    r.set_is_final(u.is_final);
    r.set_audio_received_s(u.audio_s);
    r.set_segments_scored(u.segments_scored);
    r.set_provisional(u.provisional);
    v1::Result* result = r.mutable_result();
    FillResult(u.verdict, session_->model(), result);
    v1::SourceInfo* src = result->mutable_source();
    src->set_container("raw");
    src->set_codec(encoding_);
    src->set_sample_rate_hz(sample_rate_hz_);
    src->set_channels(1);
    src->set_input_bytes(bytes_);
    v1::Timing* t = result->mutable_timing();
    t->set_queue_us(forward_stats_.queue_us);
    t->set_features_us(u.verdict.features_us);
    t->set_model_us(u.verdict.model_us);
    t->set_total_us(u.is_final ? MicrosSince(half_close_) : 0);
    return r;
  }

  // Interims replace an interim still waiting to be written (the newest is
  // what matters); the final result is the last message.
  void Send(v1::StreamScoreResponse response, bool is_final) {
    bool write = false;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (is_final) finished_ = true;
      if (write_pending_) {
        if (is_final) {
          queued_.reset();
          final_ = std::move(response);
        } else {
          queued_ = std::move(response);
        }
        return;
      }
      writing_ = std::move(response);
      write_pending_ = write = true;
      if (is_final) {
        write_pending_ = false;  // StartWriteAndFinish has no OnWriteDone
        finish_called_ = true;
      }
    }
    if (!write) return;
    if (is_final) {
      RecordEnd(absl::OkStatus());
      StartWriteAndFinish(&writing_, grpc::WriteOptions(), grpc::Status::OK);
    } else {
      StartWrite(&writing_);
    }
  }

  // Ends the call with `status` once no write is in flight (exactly once).
  void FinishWith(const absl::Status& status) {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
      if (write_pending_) {
        queued_.reset();
        finish_status_ = status;
        return;
      }
      finish_called_ = true;
    }
    RecordEnd(status);
    Finish(ToGrpcStatus(status));
  }

  // Called once, just before the call is finished: frees the stream's slot
  // first, so that a client starting its next stream after this one's status
  // arrived finds it free.
  void RecordEnd(const absl::Status& status) {
    ReleaseSlot();
    nlohmann::ordered_json fields =
        final_verdict_.is_object() ? final_verdict_ : nlohmann::ordered_json::object();
    fields["bytes"] = bytes_;
    if (session_ != nullptr) fields["audio_s"] = std::round(session_->audio_s() * 1000) / 1000;
    fields["call_s"] = std::round(MicrosSince(start_) / 1e3) / 1e3;
    // Metrics count the call; its latency is recorded in Finalize.
    const std::string code = absl::StatusCodeToString(status.code());
    state_->metrics->requests.Inc({"StreamScore", code});
    nlohmann::ordered_json j;
    j["method"] = "StreamScore";
    j["request_id"] = call_id_;
    j["peer"] = peer_;
    j["code"] = code;
    if (!status.ok()) j["message"] = std::string(status.message());
    for (const auto& [k, v] : fields.items()) j[k] = v;
    LogEvent(status.code() == absl::StatusCode::kInternal ? LogLevel::kError : LogLevel::kInfo,
             "rpc", j);
  }

  Server::State* const state_;
  grpc::CallbackServerContext* const ctx_;
  const Clock::time_point start_;
  const std::string peer_;
  const std::chrono::system_clock::time_point deadline_;
  std::atomic<int> refs_{1};
  std::atomic<bool> cancelled_{false};
  bool registered_ = false;
  std::atomic<bool> counted_{false};  // holds one of the --max-streams slots
  std::shared_ptr<const LoadedModel> loaded_;
  std::string call_id_;
  std::string encoding_;
  int sample_rate_hz_ = 0;
  models::ForwardFn forward_;
  ForwardStats forward_stats_;
  // Touched only by the one task or read callback active at a time.
  v1::StreamScoreRequest request_;
  std::unique_ptr<StreamSession> session_;
  std::int64_t bytes_ = 0;
  Clock::time_point half_close_;
  nlohmann::ordered_json final_verdict_;

  std::mutex mu_;
  bool reading_ = false;
  Clock::time_point last_activity_;
  bool finished_ = false;       // no further sends; Finish is called or scheduled
  bool finish_called_ = false;  // Finish / StartWriteAndFinish issued
  bool write_pending_ = false;
  v1::StreamScoreResponse writing_;
  std::optional<v1::StreamScoreResponse> queued_;
  std::optional<v1::StreamScoreResponse> final_;
  std::optional<absl::Status> finish_status_;
};

namespace {

// ---------------------------------------------------------------------------
// The Detector service.

class DetectorService final : public v1::Detector::CallbackService {
 public:
  explicit DetectorService(Server::State* state) : state_(state) {}

  grpc::ServerUnaryReactor* Score(grpc::CallbackServerContext* ctx, const v1::ScoreRequest* request,
                                  v1::ScoreResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const auto start = Clock::now();
    const std::string request_id = RequestId(ctx, request->request_id());
    response->set_request_id(request_id);
    absl::Status s = Prepare(ctx, request, request_id, response, start, reactor);
    if (!s.ok()) {
      nlohmann::ordered_json fields;
      fields["bytes"] = request->audio().size();
      state_->Record("Score", s, start, request_id, ctx->peer(), fields);
      reactor->Finish(ToGrpcStatus(s));
    }
    return reactor;
  }

  grpc::ServerReadReactor<v1::ScoreUploadRequest>* ScoreUpload(
      grpc::CallbackServerContext* ctx, v1::ScoreResponse* response) override {
    return new UploadReactor(state_, ctx, response);
  }

  grpc::ServerBidiReactor<v1::StreamScoreRequest, v1::StreamScoreResponse>* StreamScore(
      grpc::CallbackServerContext* ctx) override {
    return new StreamReactor(state_, ctx);
  }

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* ctx,
                                         const v1::GetModelInfoRequest*,
                                         v1::GetModelInfoResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const auto start = Clock::now();
    absl::Status s = state_->Authorize(ctx);
    if (s.ok()) {
      absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = state_->Model();
      s = loaded.status();
      if (loaded.ok()) *response = ModelInfo(*(*loaded)->model);
    }
    state_->Record("GetModelInfo", s, start, RequestId(ctx, ""), ctx->peer());
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }

 private:
  // Cheap checks, then the job goes to the pool (which finishes the call).
  absl::Status Prepare(grpc::CallbackServerContext* ctx, const v1::ScoreRequest* request,
                       const std::string& request_id, v1::ScoreResponse* response,
                       Clock::time_point start, grpc::ServerUnaryReactor* reactor) {
    if (absl::Status s = state_->Authorize(ctx); !s.ok()) return s;
    absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = state_->Model();
    if (!loaded.ok()) return loaded.status();
    if (request->audio().empty()) return absl::InvalidArgumentError("the request carries no audio");
    absl::StatusOr<std::optional<decode::RawFormat>> raw = ToRawFormat(request->format());
    if (!raw.ok()) return raw.status();
    absl::StatusOr<models::ScoreOptions> options =
        ToScoreOptions(request->options(), (*loaded)->model->contract());
    if (!options.ok()) return options.status();
    auto job = std::make_shared<ScoreJob>();
    job->state = state_;
    job->method = "Score";
    job->ctx = ctx;
    job->loaded = *loaded;
    job->input.bytes = std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(request->audio().data()), request->audio().size());
    job->input.raw = *raw;
    job->input.format_hint = request->format().format_hint();
    job->options = *options;
    job->request_id = request_id;
    job->response = response;
    job->start = start;
    job->finish = [reactor](const grpc::Status& s) { reactor->Finish(s); };
    return Submit(state_, std::move(job));
  }

  Server::State* const state_;
};

}  // namespace

// ---------------------------------------------------------------------------

Server::Server(const ServerOptions& options)
    : options_(options), metrics_(std::make_unique<Metrics>()) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  const EngineOptions& e = options.engine;
  if (e.workers < 1 || e.max_queue < 0 || e.batcher.max_batch_size < 1 ||
      e.batcher.max_queue_delay_us < 0 || e.batcher.instances < 1 || e.intra_op_threads < 1) {
    return absl::InvalidArgumentError(
        "workers, model instances, max batch size and intra-op threads must be >= 1; queue and "
        "delay >= 0");
  }
  if (!(e.max_audio_s > 0) || options.max_message_bytes < 1024 || options.max_upload_bytes < 1 ||
      options.max_upload_buffer_bytes < 1 || options.max_streams < 0 || !(options.stream_idle_timeout_s > 0)) {
    return absl::InvalidArgumentError(
        "max audio, upload size and stream idle timeout must be > 0, the message limit >= 1 KiB, "
        "streams >= 0");
  }
  if (options.stream.min_segments_for_decision < 1 || !(options.stream.decision_margin_llr >= 0) ||
      !(options.stream.default_interim_interval_s >= 0.1 &&
        options.stream.default_interim_interval_s <= 60)) {
    return absl::InvalidArgumentError(
        "stream decisions need >= 1 segment and a margin >= 0; the interim interval must be in "
        "[0.1, 60] s");
  }
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!options.tls.client_ca_file.empty() && options.tls.cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key");
  }
  for (const std::string* f :
       {&options.tls.cert_file, &options.tls.key_file, &options.tls.client_ca_file}) {
    if (f->empty()) continue;
    if (absl::StatusOr<std::string> pem = ReadPem(*f, "TLS"); !pem.ok()) return pem.status();
  }
  auto server = std::unique_ptr<Server>(new Server(options));
  server->state_ = std::make_unique<State>(server->options_, server->metrics_.get());
  if (!options.auth_token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenAuthenticator>> auth =
        TokenAuthenticator::FromFile(options.auth_token_file);
    if (!auth.ok()) return auth.status();
    server->state_->auth = *std::move(auth);
  }
  State* state = server->state_.get();
  server->metrics_->before_render = [state] {
    state->metrics->queue_depth.Set({}, static_cast<double>(state->engine.pool().queued()));
    state->metrics->batch_queue_segments.Set(
        {}, static_cast<double>(state->engine.batcher().queued_segments()));
    state->metrics->active_streams.Set({}, state->active_streams.load());
    state->metrics->upload_buffer_bytes.Set(
        {}, static_cast<double>(state->upload_buffer_bytes.load()));
    state->metrics->ready.Set({}, state->ready ? 1.0 : 0.0);
  };
  return server;
}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

int Server::metrics_port() const {
  if (state_->metrics_http != nullptr) return state_->metrics_http->port();
  // --metrics-listen equal to --http-listen: the HTTP listener serves /metrics.
  if (state_->http_api != nullptr && options_.metrics_address == options_.http_address) {
    return state_->http_api->port();
  }
  return 0;
}

int Server::http_port() const { return state_->http_api == nullptr ? 0 : state_->http_api->port(); }

bool Server::ready() const { return state_->ready; }

absl::Status Server::Start() {
  State& st = *state_;
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(options_.listen_address, &host, &port); !s.ok()) return s;

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (options_.tls.cert_file.empty()) {
    credentials = grpc::InsecureServerCredentials();
    if (!IsLoopback(host)) {
      LogEvent(LogLevel::kWarn, "insecure_listen",
               {{"address", options_.listen_address},
                {"message",
                 "listening beyond loopback without TLS: audio and tokens travel in clear text"}});
    }
  } else {
    grpc::SslServerCredentialsOptions ssl(
        options_.tls.client_ca_file.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    absl::StatusOr<std::string> cert = ReadPem(options_.tls.cert_file, "TLS certificate");
    absl::StatusOr<std::string> key = ReadPem(options_.tls.key_file, "TLS key");
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options_.tls.client_ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadPem(options_.tls.client_ca_file, "TLS client CA");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  st.detector = std::make_unique<DetectorService>(&st);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen_address, credentials, &port_);
  // A second server on the same port must fail, not silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (options_.max_connection_age_s > 0) {
    // gRPC adds up to +-10% jitter so that connections opened together do not all go at once.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(std::min(options_.max_connection_age_s * 1000, 2e9)));
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        options_.max_connection_age_grace_s > 0
            ? static_cast<int>(std::min(options_.max_connection_age_grace_s * 1000, 2e9))
            : std::numeric_limits<int>::max());
  }
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<std::int64_t>(options_.max_message_bytes, INT32_MAX)));
  builder.RegisterService(st.detector.get());
  builder.RegisterService(&st.health);
  st.grpc_server = builder.BuildAndStart();
  if (st.grpc_server == nullptr || port_ == 0) {
    st.grpc_server.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen_address,
                     " (address in use, or not an address of this machine?)"));
  }

  const bool metrics_on_http =
      !options_.http_address.empty() && options_.http_address == options_.metrics_address;
  if (!options_.metrics_address.empty() && !metrics_on_http) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> http = MetricsHttpServer::Start(
        options_.metrics_address, [&st] { return st.metrics->Render(); },
        [&st] { return st.ready.load(); });
    if (!http.ok()) {
      st.grpc_server->Shutdown(std::chrono::system_clock::now());
      st.grpc_server.reset();
      return http.status();
    }
    st.metrics_http = *std::move(http);
  }

  if (!options_.http_address.empty()) {
    absl::Status s = StartHttp();
    if (!s.ok()) {
      st.metrics_http.reset();
      st.grpc_server->Shutdown(std::chrono::system_clock::now());
      st.grpc_server.reset();
      return s;
    }
  }

  const auto idle = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.stream_idle_timeout_s));
  st.reaper = std::thread([&st, idle] {
    const auto period = std::min<Clock::duration>(std::chrono::milliseconds(250), idle / 4);
    std::unique_lock lock(st.reaper_mu);
    while (!st.reaper_cv.wait_for(lock, period, [&st] { return st.reaper_stop; })) {
      std::vector<StreamReactor*> streams;
      {
        std::lock_guard streams_lock(st.streams_mu);
        for (StreamReactor* r : st.streams) {
          r->Ref();
          streams.push_back(r);
        }
      }
      const auto now = Clock::now();
      for (StreamReactor* r : streams) {
        r->CheckIdle(now, idle);
        r->Unref();
      }
    }
  });

  LogEvent(LogLevel::kInfo, "listening",
           {{"address", options_.listen_address},
            {"port", port_},
            {"metrics_port", metrics_port()},
            {"http_port", http_port()},
            {"tls", !options_.tls.cert_file.empty()},
            {"mtls", !options_.tls.client_ca_file.empty()},
            {"auth", st.Auth() != nullptr},
            {"version", kVersion}});
  return absl::OkStatus();
}

absl::Status Server::StartHttp() {
  State& st = *state_;
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(options_.http_address, &host, &port); !s.ok()) return s;
  if (options_.tls.cert_file.empty() && !IsLoopback(host)) {
    LogEvent(LogLevel::kWarn, "insecure_listen",
             {{"address", options_.http_address},
              {"message",
               "HTTP beyond loopback without TLS: audio and tokens travel in clear text"}});
  }
  HttpOptions http;
  http.address = options_.http_address;
  http.tls_cert_file = options_.tls.cert_file;
  http.tls_key_file = options_.tls.key_file;
  http.tls_client_ca_file = options_.tls.client_ca_file;
  http.max_body_bytes = options_.max_upload_bytes;
  // Handlers mostly wait for the workers; a few more than the workers keep
  // them busy while bounding how many bodies sit in memory at once.
  http.threads = std::clamp(2 * options_.engine.workers, 4, 16);
  HttpHooks hooks;
  hooks.authorize = [&st](std::string_view authorization) -> absl::Status {
    const std::shared_ptr<const TokenAuthenticator> a = st.Auth();
    return a == nullptr ? absl::OkStatus() : a->Check(authorization);
  };
  hooks.model = [&st] { return st.Model(); };
  hooks.live = [&st] { return !st.shutting_down.load(); };
  hooks.render_metrics = [&st] { return st.metrics->Render(); };
  hooks.record = [&st](const absl::Status& status, Clock::time_point start,
                       const std::string& request_id, const std::string& peer,
                       const nlohmann::ordered_json& fields, const models::Verdict* verdict) {
    if (verdict != nullptr) st.RecordVerdict("HttpScore", *verdict);
    st.Record("HttpScore", status, start, request_id, peer, fields);
  };
  absl::StatusOr<std::unique_ptr<HttpApi>> api =
      HttpApi::Start(http, &st.engine, st.metrics, std::move(hooks));
  if (!api.ok()) return api.status();
  st.http_api = *std::move(api);
  return absl::OkStatus();
}

absl::Status Server::LoadModel() {
  State& st = *state_;
  const auto start = Clock::now();
  absl::Status s = st.engine.Load(options_.model_path);
  st.metrics->model_reloads.Inc({s.ok() ? "ok" : "error"});
  if (!s.ok()) {
    LogEvent(LogLevel::kError, "model_load_failed",
             {{"path", options_.model_path}, {"message", std::string(s.message())}});
    return s;
  }
  const std::shared_ptr<const LoadedModel> loaded = st.engine.current();
  const models::Model& m = *loaded->model;
  st.metrics->model_info.Clear();
  st.metrics->model_info.Set({m.contract().name, m.contract().version, m.sha256()}, 1.0);
  LogEvent(LogLevel::kInfo, "model_loaded",
           {{"path", loaded->path.string()},
            {"name", m.contract().name},
            {"version", m.contract().version},
            {"sha256", m.sha256()},
            {"load_ms", MicrosSince(start) / 1000}});
  if (!st.shutting_down) {
    st.ready = true;
    st.health.SetServing(true);
  }
  return absl::OkStatus();
}

absl::Status Server::Reload() {
  State& st = *state_;
  absl::Status first = LoadModel();
  if (!options_.auth_token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenAuthenticator>> auth =
        TokenAuthenticator::FromFile(options_.auth_token_file);
    if (auth.ok()) {
      std::lock_guard lock(st.auth_mu);
      st.auth = *std::move(auth);
      LogEvent(LogLevel::kInfo, "tokens_reloaded", {{"path", options_.auth_token_file}});
    } else {
      LogEvent(LogLevel::kError, "tokens_reload_failed",
               {{"message", std::string(auth.status().message())}});
      if (first.ok()) first = auth.status();
    }
  }
  return first;
}

void Server::Shutdown(std::chrono::milliseconds drain) {
  State& st = *state_;
  {
    std::unique_lock lock(st.shutdown_mu);
    if (st.shutdown_started) {
      st.shutdown_cv.wait(lock, [&st] { return st.shutdown_done; });
      return;
    }
    st.shutdown_started = true;
  }
  st.shutting_down = true;
  st.ready = false;
  st.health.Shutdown();
  const auto drain_end = Clock::now() + drain;
  if (st.grpc_server != nullptr) {
    LogEvent(LogLevel::kInfo, "draining", {{"drain_ms", drain.count()}});
    st.grpc_server->Shutdown(std::chrono::system_clock::now() + drain);
    st.grpc_server->Wait();
  }
  {
    std::lock_guard lock(st.reaper_mu);
    st.reaper_stop = true;
  }
  st.reaper_cv.notify_all();
  if (st.reaper.joinable()) st.reaper.join();
  if (st.http_api != nullptr) {
    // HTTP requests in flight had the same drain time, running alongside gRPC's.
    st.http_api->Stop(std::max(std::chrono::milliseconds(0),
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   drain_end - Clock::now())));
  }
  st.metrics_http.reset();
  if (st.grpc_server != nullptr) LogEvent(LogLevel::kInfo, "stopped");
  {
    std::lock_guard lock(st.shutdown_mu);
    st.shutdown_done = true;
  }
  st.shutdown_cv.notify_all();
}

void Server::Wait() {
  State& st = *state_;
  std::unique_lock lock(st.shutdown_mu);
  st.shutdown_cv.wait(lock, [&st] { return st.shutdown_done; });
}

}  // namespace spoofd::service
