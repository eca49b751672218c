#include "service/server/http_api.h"

#include <future>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "service/report.h"
#include "service/server/convert.h"
#include "service/server/metrics.h"
#include "service/server/metrics_http.h"
#include "spoofd/v1/detector.pb.h"
#include "spoofd/web_page.h"

// Last: glibc's <resolv.h>, which httplib includes, defines a macro `_res`
// that breaks Eigen's parameter names in the headers above.
#include <httplib.h>

namespace spoofd::service {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%016x", rng());
}

void SetJson(httplib::Response& res, int status, const nlohmann::ordered_json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", kJson);
}

// The bytes to score and what the request says about them.
struct Upload {
  std::string bytes;
  std::string file_name;
};

// Reads the recording: the first file of a multipart form (the first part
// with a file name, else the first part), else the raw body, whatever its
// content type (httplib's own reading would cap url-encoded bodies, curl's
// default for --data-binary, at 8 KiB). With `keep` false the body is read
// and dropped, so that the connection stays usable after a refusal. `up`
// names the file even on error.
absl::Status ReadUpload(const httplib::Request& req, const httplib::ContentReader& reader,
                        std::int64_t max_bytes, bool keep, Upload* up) {
  bool too_large = false;
  bool read_ok = true;
  const bool has_body = req.has_header("Content-Length")
                            ? req.get_header_value<std::uint64_t>("Content-Length") > 0
                            : req.get_header_value("Transfer-Encoding") == "chunked";
  if (!has_body) {
    // Nothing to read.
  } else if (req.is_multipart_form_data()) {
    std::vector<httplib::MultipartFormData> parts;
    int chosen = -1;  // the part being kept
    read_ok = reader(
        [&](const httplib::MultipartFormData& header) {
          parts.push_back(header);
          const int index = static_cast<int>(parts.size()) - 1;
          if (chosen < 0 || (parts[chosen].filename.empty() && !header.filename.empty())) {
            if (chosen >= 0) parts[chosen].content.clear();
            chosen = index;
          }
          return true;
        },
        [&](const char* data, size_t size) {
          if (!keep || static_cast<int>(parts.size()) - 1 != chosen) return true;
          std::string& content = parts[chosen].content;
          if (static_cast<std::int64_t>(content.size() + size) > max_bytes) {
            too_large = true;
            content.clear();
            return true;  // read on (bounded by the listener's body limit)
          }
          content.append(data, size);
          return true;
        });
    if (chosen >= 0) {
      up->bytes = std::move(parts[chosen].content);
      up->file_name = parts[chosen].filename;
    } else if (read_ok) {
      return absl::InvalidArgumentError(
          "the multipart form carries no file: send the recording as a form file or as the body");
    }
  } else {
    read_ok = reader([&](const char* data, size_t size) {
      if (!keep || too_large) return true;
      if (static_cast<std::int64_t>(up->bytes.size() + size) > max_bytes) {
        too_large = true;
        up->bytes.clear();
        return true;
      }
      up->bytes.append(data, size);
      return true;
    });
  }
  if (req.has_param("filename")) up->file_name = req.get_param_value("filename");
  if (up->file_name.size() > 1024) up->file_name.resize(1024);
  if (too_large || (!read_ok && req.get_header_value<std::uint64_t>("Content-Length") >
                                    static_cast<std::uint64_t>(max_bytes))) {
    up->bytes.clear();
    return absl::ResourceExhaustedError(absl::StrCat("the recording is over the server's limit of ",
                                                     max_bytes, " bytes (--max-upload-mb)"));
  }
  if (!read_ok) {
    return absl::InvalidArgumentError(
        "the request body could not be read (cut short or malformed)");
  }
  if (keep && up->bytes.empty()) {
    return absl::InvalidArgumentError(
        "the request carries no audio: send the recording as the body or as a form file");
  }
  return absl::OkStatus();
}

// Query parameters -> the same messages a gRPC client sends, so that the one
// set of checks (convert.h) applies to both front doors.
absl::Status ParseQuery(const httplib::Request& req, v1::AudioFormat* format,
                        v1::ScoreOptions* options) {
  if (req.has_param("encoding")) {
    const std::string e = req.get_param_value("encoding");
    if (e == "s16le" || e == "pcm_s16le") {
      format->set_encoding(v1::AUDIO_ENCODING_PCM_S16LE);
    } else if (e == "mulaw" || e == "ulaw") {
      format->set_encoding(v1::AUDIO_ENCODING_MULAW);
    } else if (e == "alaw") {
      format->set_encoding(v1::AUDIO_ENCODING_ALAW);
    } else if (!e.empty() && e != "auto") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown encoding '", e,
                       "': use s16le, mulaw or alaw for headerless audio, or leave it out"));
    }
  }
  if (req.has_param("sample_rate_hz")) {
    int rate = 0;
    if (!absl::SimpleAtoi(req.get_param_value("sample_rate_hz"), &rate)) {
      return absl::InvalidArgumentError("sample_rate_hz must be a whole number of hertz");
    }
    format->set_sample_rate_hz(rate);
  }
  if (req.has_param("operating_point")) {
    options->set_operating_point(req.get_param_value("operating_point"));
  }
  if (req.has_param("segment_s")) {
    double segment_s = 0;
    if (!absl::SimpleAtod(req.get_param_value("segment_s"), &segment_s)) {
      return absl::InvalidArgumentError("segment_s must be a number of seconds");
    }
    options->set_segment_s(segment_s);
  }
  return absl::OkStatus();
}

}  // namespace

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnimplemented:
      return 415;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 422;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

nlohmann::ordered_json HttpErrorJson(const absl::Status& status) {
  nlohmann::ordered_json error;
  error["code"] = absl::StatusCodeToString(status.code());
  error["message"] = std::string(status.message());
  nlohmann::ordered_json j;
  j["error"] = std::move(error);
  return j;
}

HttpApi::HttpApi(const HttpOptions& options, Engine* engine, Metrics* metrics, HttpHooks hooks)
    : options_(options), engine_(engine), metrics_(metrics), hooks_(std::move(hooks)) {}

HttpApi::~HttpApi() { Stop(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<HttpApi>> HttpApi::Start(const HttpOptions& options, Engine* engine,
                                                        Metrics* metrics, HttpHooks hooks) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(options.address, &host, &port); !s.ok()) return s;
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("HTTP over TLS needs both a certificate and a key");
  }
  auto api = std::unique_ptr<HttpApi>(new HttpApi(options, engine, metrics, std::move(hooks)));
  if (options.tls_cert_file.empty()) {
    api->http_ = std::make_unique<httplib::Server>();
  } else {
    // With a client CA, httplib requires and verifies a client certificate.
    api->http_ = std::make_unique<httplib::SSLServer>(
        options.tls_cert_file.c_str(), options.tls_key_file.c_str(),
        options.tls_client_ca_file.empty() ? nullptr : options.tls_client_ca_file.c_str());
    api->tls_ = true;
  }
  if (!api->http_->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot use the TLS certificate ", options.tls_cert_file, " and key ", options.tls_key_file,
        " for HTTP (unreadable, not PEM, or not a matching pair)"));
  }
  const int threads = std::max(1, options.threads);
  api->http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // A multipart form adds its boundaries and part headers to the recording.
  api->http_->set_payload_max_length(static_cast<size_t>(options.max_body_bytes) + (64 << 10));
  api->Routes();
  if (port == 0) {
    api->port_ = api->http_->bind_to_any_port(host);
  } else {
    api->port_ = api->http_->bind_to_port(host, port) ? port : -1;
  }
  if (api->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options.address,
                                               " (address in use, or not of this machine?)"));
  }
  httplib::Server* http = api->http_.get();
  api->thread_ = std::thread([http] { http->listen_after_bind(); });
  // stop() is a no-op until the loop runs: wait for it (see metrics_http.cc).
  for (int i = 0; i < 5000 && !http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return api;
}

void HttpApi::Stop(std::chrono::milliseconds drain) {
  {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    idle_cv_.wait_for(lock, drain, [this] { return in_flight_ == 0; });
  }
  cancel_ = true;            // what is still running stops at its next stage
  if (http_) http_->stop();  // joins the handler threads
  if (thread_.joinable()) thread_.join();
}

void HttpApi::Routes() {
  httplib::Server& http = *http_;

  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(reinterpret_cast<const char*>(web::kIndexHtml), web::kIndexHtmlSize,
                    "text/html; charset=utf-8");
    // Everything the page needs is inline; it talks only to this server.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; "
                   "form-action 'none'; frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");
  });

  http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const bool live = hooks_.live();
    res.status = live ? 200 : 503;
    res.set_content(live ? "ok\n" : "shutting down\n", "text/plain");
  });

  http.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = hooks_.model();
    if (!loaded.ok()) {
      nlohmann::ordered_json j = HttpErrorJson(loaded.status());
      j["ready"] = false;
      SetJson(res, 503, j);
      return;
    }
    nlohmann::ordered_json j;
    j["ready"] = true;
    j["model"] = report::ModelJson(*(*loaded)->model);
    j["operating_point"] = (*loaded)->model->contract().default_operating_point;
    SetJson(res, 200, j);
  });

  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(hooks_.render_metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });

  http.Post("/v1/score", [this](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) { Score(req, res, reader); });

  // httplib's own refusals (unknown path, body over the limit, malformed
  // request) get the same JSON error shape as the API's.
  const std::int64_t max_body = options_.max_body_bytes;
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        absl::Status status;
        switch (res.status) {
          case 404:
            status = absl::NotFoundError(
                absl::StrCat("no endpoint ", req.method, " ", req.path,
                             ": POST /v1/score, GET /, /healthz, /readyz, /metrics"));
            break;
          case 413:
            status = absl::ResourceExhaustedError(
                absl::StrCat("the request body is over the server's limit of ", max_body,
                             " bytes (--max-upload-mb)"));
            break;
          case 400:
            status = absl::InvalidArgumentError("malformed HTTP request");
            break;
          default:
            status = absl::UnknownError(absl::StrCat("HTTP status ", res.status));
        }
        res.set_content(HttpErrorJson(status).dump() + "\n", kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unexpected error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        SetJson(res, 500, HttpErrorJson(absl::InternalError(what)));
      });
}

void HttpApi::Score(const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& reader) {
  const auto start = Clock::now();
  {
    std::lock_guard lock(mu_);
    ++in_flight_;
  }
  struct Leave {
    HttpApi* api;
    ~Leave() {
      std::lock_guard lock(api->mu_);
      if (--api->in_flight_ == 0) api->idle_cv_.notify_all();
    }
  } leave{this};

  std::string request_id = req.get_header_value("X-Request-Id").substr(0, 128);
  if (request_id.empty()) request_id = NewRequestId();
  res.set_header("X-Request-Id", request_id);
  res.set_header("Cache-Control", "no-store");
  const std::string peer = absl::StrCat("http:", req.remote_addr, ":", req.remote_port);
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();

  // Errors before there is a model to name: {"error": {...}} alone.
  auto refuse = [&](const absl::Status& status) {
    const int code = HttpStatusFor(status);
    if (code == 401) res.set_header("WWW-Authenticate", "Bearer");
    if (code == 503) res.set_header("Retry-After", "1");
    SetJson(res, code, HttpErrorJson(status));
    hooks_.record(status, start, request_id, peer, fields, nullptr);
  };

  // Checked before the body is kept: a refused request's body is read and dropped.
  absl::Status allowed = hooks_.authorize(req.get_header_value("Authorization"));
  absl::StatusOr<std::shared_ptr<const LoadedModel>> loaded = absl::UnknownError("");
  if (allowed.ok()) {
    loaded = hooks_.model();
    allowed = loaded.status();
  }
  Upload upload;
  const absl::Status taken =
      ReadUpload(req, reader, options_.max_body_bytes, /*keep=*/allowed.ok(), &upload);
  if (!allowed.ok()) return refuse(allowed);
  const models::Model& model = *(*loaded)->model;
  fields["bytes"] = upload.bytes.size();
  report::FileFacts facts;
  facts.file = upload.file_name;
  facts.bytes = static_cast<std::int64_t>(upload.bytes.size());

  // Errors about this recording: the same row `spoofctl score --json` prints.
  auto fail = [&](const absl::Status& status, int code) {
    if (code == 429 || code == 503) res.set_header("Retry-After", "1");
    SetJson(res, code, report::ErrorJson(facts, status, model));
    hooks_.record(status, start, request_id, peer, fields, nullptr);
  };

  if (!taken.ok()) return fail(taken, HttpStatusFor(taken));

  v1::AudioFormat format;
  v1::ScoreOptions proto_options;
  if (absl::Status s = ParseQuery(req, &format, &proto_options); !s.ok()) return fail(s, 400);
  format.set_format_hint(upload.file_name);
  absl::StatusOr<std::optional<decode::RawFormat>> raw = ToRawFormat(format);
  if (!raw.ok()) return fail(raw.status(), HttpStatusFor(raw.status()));
  absl::StatusOr<models::ScoreOptions> options = ToScoreOptions(proto_options, model.contract());
  if (!options.ok()) return fail(options.status(), HttpStatusFor(options.status()));

  AudioInput input;
  input.bytes = std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(upload.bytes.data()), upload.bytes.size());
  input.raw = *raw;
  input.format_hint = upload.file_name;
  // The worker fills the promise; this thread waits, so everything captured by
  // reference outlives the task.
  auto done = std::make_shared<std::promise<absl::StatusOr<ScoreOutcome>>>();
  std::future<absl::StatusOr<ScoreOutcome>> result = done->get_future();
  std::int64_t queue_us = 0;
  const CheckFn check = [this]() -> absl::Status {
    if (cancel_)
      return absl::CancelledError("the server is shutting down; retry on another instance");
    return absl::OkStatus();
  };
  const auto enqueued = Clock::now();
  const bool queued = engine_->pool().TrySubmit([&, done] {
    queue_us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - enqueued).count();
    if (metrics_ != nullptr) metrics_->stage_seconds.Observe({"queue"}, queue_us / 1e6);
    try {
      done->set_value(engine_->Score(**loaded, input, *options, check));
    } catch (const std::exception& e) {
      done->set_value(absl::InternalError(absl::StrCat("scoring failed: ", e.what())));
    }
  });
  if (!queued) {
    return fail(absl::ResourceExhaustedError(absl::StrCat(
                    "the server is busy: ", engine_->options().max_queue,
                    " requests are already waiting (--max-queue); retry with backoff")),
                429);
  }
  absl::StatusOr<ScoreOutcome> out = result.get();
  if (!out.ok()) return fail(out.status(), HttpStatusFor(out.status()));

  facts.sha256 = out->input_sha256;
  facts.source = out->source;
  facts.decode_us = out->decode_us;
  SetJson(res, 200, report::VerdictJson(facts, out->verdict, model));
  const models::Verdict& v = out->verdict;
  fields["audio_s"] = report::Round(v.duration_s, 1e-3);
  fields["speech_s"] = report::Round(v.speech_s, 1e-2);
  fields["decision"] = models::DecisionName(v.decision);
  if (!v.reason.empty()) fields["reason"] = v.reason;
  fields["llr"] = report::Round(v.llr, 1e-4);
  fields["segments"] = v.segments.size();
  fields["queue_us"] = queue_us;
  hooks_.record(absl::OkStatus(), start, request_id, peer, fields, &v);
}

}  // namespace spoofd::service
