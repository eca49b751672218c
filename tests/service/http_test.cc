// The HTTP API (POST /v1/score, /healthz, /readyz, /metrics, the page at /)
// of an in-process server with the tiny model, through cpp-httplib's client:
// raw and multipart uploads give what `spoofctl score --json` prints, bad
// audio, too large, tokens, not ready, TLS, and the server keeps serving.
#include <cstdlib>
#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/server/http_api.h"
#include "service_test_util.h"
#include "spoofctl_runner.h"

// Last: glibc's <resolv.h>, which httplib includes, defines a macro `_res`
// that breaks Eigen's parameter names.
#include <httplib.h>

namespace spoofd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::ordered_json;

service::ServerOptions HttpOptions() {
  service::ServerOptions o = TestOptions();
  o.http_address = "127.0.0.1:0";
  return o;
}

std::string ReadString(const fs::path& path) {
  const std::vector<std::uint8_t> b = ReadBytes(path);
  return std::string(b.begin(), b.end());
}

struct HttpServer {
  std::unique_ptr<TestServer> t;
  std::unique_ptr<httplib::Client> client;

  explicit HttpServer(const service::ServerOptions& options, bool load_model = true) {
    t = TestServer::Start(options, load_model);
    if (t == nullptr) return;
    client = std::make_unique<httplib::Client>("127.0.0.1", t->server->http_port());
    client->set_read_timeout(60, 0);
  }

  httplib::Result Score(const std::string& body, const std::string& query = "",
                        const httplib::Headers& headers = {}) {
    return client->Post(("/v1/score" + query).c_str(), headers, body, "application/octet-stream");
  }
};

json Body(const httplib::Result& r) {
  EXPECT_TRUE(r) << httplib::to_string(r.error());
  if (!r) return json();
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  return json::parse(r->body, nullptr, /*allow_exceptions=*/false);
}

void ExpectError(const httplib::Result& r, int http_status, const std::string& code) {
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, http_status) << r->body;
  const json j = Body(r);
  ASSERT_TRUE(j.contains("error")) << r->body;
  EXPECT_EQ(j["error"]["code"], code);
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
}

TEST(HttpTest, RawBodyAnswersWhatSpoofctlScoreJsonPrints) {
  HttpServer s(HttpOptions());
  ASSERT_NE(s.t, nullptr);
  const fs::path file = Sample();
  httplib::Result r = s.Score(ReadString(file), "?filename=" + file.string());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(r->get_header_value("X-Request-Id").empty());
  const json got = Body(r);

  const Result offline =
      RunSpoofctl("score --json --model " + Quote(TinyModel()) + " " + Quote(file));
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  const json want = json::parse(offline.out);
  // The same fields in the same order; the same values but for timings.
  std::vector<std::string> got_keys, want_keys;
  for (const auto& [k, v] : got.items()) got_keys.push_back(k);
  for (const auto& [k, v] : want.items()) want_keys.push_back(k);
  EXPECT_EQ(got_keys, want_keys);
  for (const char* key : {"file", "sha256", "bytes", "duration_s", "speech_s", "decision", "reason",
                          "verdict", "threshold", "operating_point", "source", "model"}) {
    EXPECT_EQ(got[key], want[key]) << key;
  }
  EXPECT_NEAR(got["llr"].get<double>(), want["llr"].get<double>(), 2e-4);
  ASSERT_EQ(got["segments"].size(), want["segments"].size());
  ASSERT_GT(got["segments"].size(), 0u);
  for (size_t i = 0; i < got["segments"].size(); ++i) {
    EXPECT_EQ(got["segments"][i]["start_s"], want["segments"][i]["start_s"]);
    EXPECT_EQ(got["segments"][i]["counted"], want["segments"][i]["counted"]);
    EXPECT_NEAR(got["segments"][i]["llr"].get<double>(), want["segments"][i]["llr"].get<double>(),
                2e-4);
  }
  EXPECT_TRUE(got["timing_ms"].contains("decode"));
}

TEST(HttpTest, MultipartUploadAndFormatsByContent) {
  HttpServer s(HttpOptions());
  ASSERT_NE(s.t, nullptr);
  httplib::MultipartFormDataItems items = {
      {"note", "not a file", "", "text/plain"},
      {"recording", ReadString(Fixture("speech.mp3")), "call 1.mp3", "audio/mpeg"}};
  httplib::Result r = s.client->Post("/v1/score", items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = Body(r);
  EXPECT_EQ(j["file"], "call 1.mp3");
  EXPECT_EQ(j["source"]["container"], "mp3");
  EXPECT_EQ(j["bytes"], fs::file_size(Fixture("speech.mp3")));
  EXPECT_GT(j["segments"].size(), 0u);

  // Headerless audio needs its encoding and rate, like Score's AudioFormat.
  const std::string raw = ReadString(Fixture("raw_s16le_8k.raw"));
  r = s.Score(raw, "?encoding=s16le&sample_rate_hz=8000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  ExpectError(s.Score(raw, "?encoding=s16le"), 400, "INVALID_ARGUMENT");
  ExpectError(s.Score(raw, "?encoding=mp5"), 400, "INVALID_ARGUMENT");
  ExpectError(s.Score(ReadString(Sample()), "?operating_point=nonsense"), 400, "INVALID_ARGUMENT");
  ExpectError(s.Score(ReadString(Sample()), "?segment_s=abc"), 400, "INVALID_ARGUMENT");
}

TEST(HttpTest, BadAudioIs400AndTheServerKeepsServing) {
  HttpServer s(HttpOptions());
  ASSERT_NE(s.t, nullptr);
  for (const char* name : {"bad_random.bin", "bad_text.txt", "video_no_audio.mp4"}) {
    httplib::Result r = s.Score(ReadString(Fixture(name)), std::string("?filename=") + name);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->status, 400) << name << ": " << r->body;
    const json j = Body(r);
    EXPECT_EQ(j["error"]["code"], "INVALID_ARGUMENT") << name;
    // The same error row as spoofctl score --json: the file and the model named.
    EXPECT_EQ(j["file"], name);
    EXPECT_EQ(j["model"]["name"], "tiny-test-model");
  }
  ExpectError(s.Score("", "?filename=empty.wav"), 400, "INVALID_ARGUMENT");
  httplib::MultipartFormDataItems no_file = {{"note", "hello", "", "text/plain"}};
  // A form field without a file name still counts as the recording: text is bad audio.
  ExpectError(s.client->Post("/v1/score", no_file), 400, "INVALID_ARGUMENT");
  httplib::Result r = s.Score(ReadString(Sample()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ExpectError(s.client->Get("/v2/nothing"), 404, "NOT_FOUND");
}

TEST(HttpTest, TooLargeIs413) {
  service::ServerOptions o = HttpOptions();
  o.max_upload_bytes = 64 << 10;
  o.engine.max_audio_s = 3.0;
  HttpServer s(o);
  ASSERT_NE(s.t, nullptr);
  const std::string big(200 << 10, 'x');
  // Refused from Content-Length, before the body is read.
  ExpectError(s.Score(big), 413, "RESOURCE_EXHAUSTED");
  // A form file over the limit (the form itself fits httplib's margin).
  httplib::MultipartFormDataItems items = {
      {"file", std::string((64 << 10) + 100, 'x'), "big.wav", "audio/wav"}};
  ExpectError(s.client->Post("/v1/score", items), 413, "RESOURCE_EXHAUSTED");
  // Small in bytes but longer than --max-audio-s once decoded (7 s of FLAC... as 8 kHz mu-law).
  const std::string long_audio(8000 * 5, '\x7f');
  ExpectError(s.Score(long_audio, "?encoding=mulaw&sample_rate_hz=8000"), 413,
              "RESOURCE_EXHAUSTED");
  httplib::Result r = s.Score(std::string(8000 * 2, '\x7f'), "?encoding=mulaw&sample_rate_hz=8000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST(HttpTest, BearerTokens) {
  TempDir dir;
  WriteBytes(dir / "tokens", "# rotation\n0123456789abcdef-http\n");
  service::ServerOptions o = HttpOptions();
  o.auth_token_file = (dir / "tokens").string();
  HttpServer s(o);
  ASSERT_NE(s.t, nullptr);
  const std::string audio = ReadString(Sample());
  httplib::Result r = s.Score(audio);
  ExpectError(r, 401, "UNAUTHENTICATED");
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  ExpectError(s.Score(audio, "", {{"Authorization", "Bearer 0123456789abcdef-nope"}}), 401,
              "UNAUTHENTICATED");
  r = s.Score(audio, "", {{"Authorization", "Bearer 0123456789abcdef-http"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // The page, health and metrics carry no audio and need no token.
  for (const char* path : {"/", "/healthz", "/readyz", "/metrics"}) {
    r = s.client->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
  }
}

TEST(HttpTest, NotReadyIs503UntilTheModelLoads) {
  HttpServer s(HttpOptions(), /*load_model=*/false);
  ASSERT_NE(s.t, nullptr);
  httplib::Result r = s.client->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);  // live
  r = s.client->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Body(r)["ready"], false);
  r = s.Score(ReadString(Sample()));
  ExpectError(r, 503, "UNAVAILABLE");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");

  ASSERT_TRUE(s.t->server->LoadModel().ok());
  r = s.client->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["model"]["name"], "tiny-test-model");
  r = s.Score(ReadString(Sample()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  s.t->server->Shutdown(std::chrono::milliseconds(0));
  s.t.reset();
}

TEST(HttpTest, PageIsSelfContained) {
  HttpServer s(HttpOptions());
  ASSERT_NE(s.t, nullptr);
  httplib::Result r = s.client->Get("/");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/html"));
  EXPECT_THAT(r->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'none'"));
  EXPECT_EQ(r->body, ReadString(SourceDir() / "service/web/index.html"));
  // Nothing fetched from elsewhere: no absolute URLs in src/href/url().
  EXPECT_THAT(r->body, Not(HasSubstr("src=\"http")));
  EXPECT_THAT(r->body, Not(HasSubstr("href=\"http")));
  EXPECT_THAT(r->body, Not(HasSubstr("url(http")));
  EXPECT_THAT(r->body, Not(HasSubstr("@import")));
}

TEST(HttpTest, SharesThePortWithMetrics) {
  service::ServerOptions o = HttpOptions();
  o.metrics_address = o.http_address;  // one listener for both
  HttpServer s(o);
  ASSERT_NE(s.t, nullptr);
  EXPECT_EQ(s.t->server->metrics_port(), s.t->server->http_port());
  httplib::Result r = s.Score(ReadString(Sample()));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  r = s.Score("nonsense");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = s.client->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("spoofd_requests_total{method=\"HttpScore\",code=\"OK\"} 1\n"));
  EXPECT_THAT(
      r->body,
      HasSubstr("spoofd_requests_total{method=\"HttpScore\",code=\"INVALID_ARGUMENT\"} 1\n"));
  EXPECT_THAT(r->body, HasSubstr("spoofd_decisions_total{method=\"HttpScore\""));
}

// Segments waiting in the batcher, as /metrics reports them.
double BatchQueueSegments(service::Server& server) {
  const std::string text = server.metrics().Render();
  const std::string key = "\nspoofd_batch_queue_segments ";
  const size_t at = text.find(key);
  return at == std::string::npos ? -1 : std::atof(text.c_str() + at + key.size());
}

TEST(HttpTest, FullQueueIs429AndShutdownDrainsRequestsInFlight) {
  service::ServerOptions o = HttpOptions();
  o.engine.workers = 1;
  o.engine.max_queue = 0;
  o.engine.batcher.max_batch_size = 64;
  o.engine.batcher.max_queue_delay_us = 5000000;  // holds the only worker in the batcher
  HttpServer s(o);
  ASSERT_NE(s.t, nullptr);
  const std::string audio = ReadString(Sample());
  auto first = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", s.t->server->http_port());
    c.set_read_timeout(60, 0);
    return c.Post("/v1/score", audio, "application/octet-stream");
  });
  // Wait until the first request's segments sit in the batcher.
  for (int i = 0; i < 2000 && BatchQueueSegments(*s.t->server) <= 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GT(BatchQueueSegments(*s.t->server), 0);
  httplib::Result busy = s.Score(audio);
  ExpectError(busy, 429, "RESOURCE_EXHAUSTED");
  EXPECT_THAT(Body(busy)["error"]["message"].get<std::string>(), HasSubstr("--max-queue"));
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");

  // Shutting down: new requests are refused, the one in flight finishes.
  auto stopping =
      std::async(std::launch::async, [&] { s.t->server->Shutdown(std::chrono::seconds(30)); });
  for (int i = 0; i < 2000 && s.t->server->ready(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  httplib::Result late = s.Score(audio);
  if (late) {  // the listener may already be gone once the first call finished
    EXPECT_EQ(late->status, 503) << late->body;
  }
  httplib::Result done = first.get();
  ASSERT_TRUE(done) << httplib::to_string(done.error());
  EXPECT_EQ(done->status, 200) << done->body;
  stopping.get();
  EXPECT_EQ(s.t->server->metrics().requests.Value({"HttpScore", "RESOURCE_EXHAUSTED"}), 1.0);
}

TEST(HttpTest, StatusMapping) {
  EXPECT_EQ(service::HttpStatusFor(absl::InvalidArgumentError("")), 400);
  EXPECT_EQ(service::HttpStatusFor(absl::UnauthenticatedError("")), 401);
  EXPECT_EQ(service::HttpStatusFor(absl::ResourceExhaustedError("")), 413);
  EXPECT_EQ(service::HttpStatusFor(absl::UnimplementedError("")), 415);
  EXPECT_EQ(service::HttpStatusFor(absl::UnavailableError("")), 503);
  EXPECT_EQ(service::HttpStatusFor(absl::DeadlineExceededError("")), 504);
  EXPECT_EQ(service::HttpStatusFor(absl::InternalError("")), 500);
  const json j = service::HttpErrorJson(absl::InvalidArgumentError("why"));
  EXPECT_EQ(j.dump(), R"({"error":{"code":"INVALID_ARGUMENT","message":"why"}})");
}

TEST(HttpTest, TlsAndMutualTlsWithTheGrpcCertificates) {
  TempDir dir;
  const std::string d = dir.path().string();
  WriteBytes(dir / "server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  WriteBytes(dir / "client.ext", "extendedKeyUsage=clientAuth\n");
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  for (const std::string& command :
       {"openssl req -x509 " + key + " -keyout " + d + "/ca.key -out " + d +
            "/ca.pem -days 2 -subj /CN=spoofd-http-test-ca",
        "openssl req " + key + " -keyout " + d + "/server.key -out " + d +
            "/server.csr -subj /CN=localhost",
        "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/server.pem -days 2 -extfile " + d +
            "/server.ext",
        "openssl req " + key + " -keyout " + d + "/client.key -out " + d +
            "/client.csr -subj /CN=hotline",
        "openssl x509 -req -in " + d + "/client.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/client.pem -days 2 -extfile " + d +
            "/client.ext"}) {
    ASSERT_EQ(std::system((command + " >/dev/null 2>&1").c_str()), 0) << command;
  }
  service::ServerOptions o = HttpOptions();
  o.tls.cert_file = d + "/server.pem";
  o.tls.key_file = d + "/server.key";
  auto t = TestServer::Start(o);
  ASSERT_NE(t, nullptr);
  httplib::SSLClient tls("127.0.0.1", t->server->http_port());
  tls.set_ca_cert_path((d + "/ca.pem").c_str());
  tls.enable_server_certificate_verification(true);
  tls.set_read_timeout(60, 0);
  httplib::Result r = tls.Post("/v1/score", ReadString(Sample()), "application/octet-stream");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  // Plain HTTP to the TLS port gets no answer.
  httplib::Client plain("127.0.0.1", t->server->http_port());
  plain.set_read_timeout(5, 0);
  httplib::Result p = plain.Get("/healthz");
  EXPECT_TRUE(!p || p->status != 200);
  t.reset();

  // Mutual TLS: a client certificate from the CA is required.
  o.tls.client_ca_file = d + "/ca.pem";
  t = TestServer::Start(o);
  ASSERT_NE(t, nullptr);
  httplib::SSLClient anonymous("127.0.0.1", t->server->http_port());
  anonymous.set_ca_cert_path((d + "/ca.pem").c_str());
  anonymous.enable_server_certificate_verification(true);
  anonymous.set_read_timeout(10, 0);
  httplib::Result refused = anonymous.Get("/healthz");
  EXPECT_TRUE(!refused || refused->status != 200);
  httplib::SSLClient known("127.0.0.1", t->server->http_port(), d + "/client.pem",
                           d + "/client.key");
  known.set_ca_cert_path((d + "/ca.pem").c_str());
  known.enable_server_certificate_verification(true);
  known.set_read_timeout(60, 0);
  r = known.Post("/v1/score", ReadString(Sample()), "application/octet-stream");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace spoofd::testing
