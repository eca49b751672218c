// In-process spoofd on an ephemeral port with the tiny test model: every RPC
// and its error paths, health, reflection, bearer tokens, limits, batching
// across requests, deadlines, the work queue, reload.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <atomic>
#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model.h"
#include "models/scorer.h"
#include "service/server/convert.h"
#include "service_test_util.h"

namespace spoofd::testing {
namespace {

using ::testing::HasSubstr;
using ServingStatus = grpc::health::v1::HealthCheckResponse;

// Offline scoring with the same model, the reference every server result is
// compared with.
const models::Scorer& OfflineScorer() {
  static const std::unique_ptr<models::Scorer> scorer = [] {
    auto model = models::Model::Load(TinyModel());
    EXPECT_TRUE(model.ok()) << model.status();
    auto s = models::Scorer::Create(*model);
    EXPECT_TRUE(s.ok());
    return *std::move(s);
  }();
  return *scorer;
}

models::Verdict Offline(const std::vector<float>& samples,
                        const models::ScoreOptions& options = {}) {
  auto v = OfflineScorer().Score(samples, options);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : models::Verdict{};
}

// Server and offline verdicts agree: same segments, LLRs within 1e-4.
void ExpectSameVerdict(const v1::Result& got, const models::Verdict& want) {
  EXPECT_EQ(got.decision(), service::ToProtoDecision(want.decision));
  EXPECT_EQ(got.reason(), service::ToProtoReason(want.reason));
  EXPECT_NEAR(got.llr(), want.llr, 1e-4);
  EXPECT_NEAR(got.probability(), want.probability, 1e-4);
  EXPECT_DOUBLE_EQ(got.threshold(), want.threshold);
  EXPECT_EQ(got.operating_point(), want.operating_point);
  EXPECT_NEAR(got.duration_s(), want.duration_s, 1e-9);
  EXPECT_NEAR(got.speech_s(), want.speech_s, 1e-9);
  ASSERT_EQ(got.segments_size(), static_cast<int>(want.segments.size()));
  for (int i = 0; i < got.segments_size(); ++i) {
    const auto& g = got.segments(i);
    const auto& w = want.segments[i];
    EXPECT_NEAR(g.start_s(), w.start_s, 1e-9);
    EXPECT_NEAR(g.end_s(), w.end_s, 1e-9);
    EXPECT_NEAR(g.llr(), w.llr, 1e-4) << "segment " << i;
    EXPECT_NEAR(g.speech_fraction(), w.speech_fraction, 1e-9);
    EXPECT_EQ(g.counted(), w.counted);
  }
}

v1::ScoreRequest Request(const std::vector<std::uint8_t>& bytes) {
  v1::ScoreRequest r;
  r.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return r;
}

v1::ScoreRequest RawRequest(const std::vector<std::uint8_t>& bytes, v1::AudioEncoding encoding,
                            int rate_hz) {
  v1::ScoreRequest r = Request(bytes);
  r.mutable_format()->set_encoding(encoding);
  r.mutable_format()->set_sample_rate_hz(rate_hz);
  return r;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = TestServer::Start(TestOptions()).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    client_ = server_->Client();
  }
  static TestServer* server_;
  std::unique_ptr<client::Client> client_;
};
TestServer* ServerTest::server_ = nullptr;

TEST_F(ServerTest, ScoreMatchesOfflineScoringForContainers) {
  for (const fs::path& file : {Sample(), Fixture("speech.mp3"), Fixture("speech_opus.ogg"),
                               Fixture("wav_mulaw_8k.wav"), Fixture("video_aac.mp4")}) {
    SCOPED_TRACE(file.string());
    const auto bytes = ReadBytes(file);
    v1::ScoreRequest request = Request(bytes);
    request.set_request_id("req-" + file.filename().string());
    auto response = client_->Score(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->request_id(), "req-" + file.filename().string());
    auto audio = decode::DecodeBuffer(bytes);
    ASSERT_TRUE(audio.ok());
    ExpectSameVerdict(response->result(), Offline(audio->samples));
    const v1::Result& r = response->result();
    EXPECT_EQ(r.model().name(), "tiny-test-model");
    EXPECT_EQ(r.model().version(), "0.0.1-test");
    EXPECT_EQ(r.model().sha256(), OfflineScorer().model().sha256());
    EXPECT_EQ(r.source().container(), audio->source.container);
    EXPECT_EQ(r.source().input_bytes(), static_cast<std::int64_t>(bytes.size()));
    EXPECT_EQ(r.source().sha256(), models::Sha256Hex(bytes.data(), bytes.size()));
    EXPECT_FALSE(r.summary().empty());
    EXPECT_GT(r.timing().total_us(), 0);
    EXPECT_GT(r.timing().model_us(), 0);
  }
}

TEST_F(ServerTest, ScoreHeaderlessAudio) {
  const auto bytes = ReadBytes(Fixture("raw_mulaw_8k.raw"));
  auto response = client_->Score(RawRequest(bytes, v1::AUDIO_ENCODING_MULAW, 8000));
  ASSERT_TRUE(response.ok()) << response.status();
  auto audio = decode::DecodeRaw(bytes, {decode::RawEncoding::kMulaw, 8000});
  ASSERT_TRUE(audio.ok());
  ExpectSameVerdict(response->result(), Offline(audio->samples));
  EXPECT_FALSE(response->request_id().empty());  // made up by the server
  EXPECT_EQ(response->result().source().container(), "raw");
}

TEST_F(ServerTest, ScoreOptionsApply) {
  const auto bytes = ReadBytes(Sample());
  v1::ScoreRequest request = Request(bytes);
  request.mutable_options()->set_operating_point("strict");
  request.mutable_options()->set_segment_s(4.0);
  auto response = client_->Score(request);
  ASSERT_TRUE(response.ok()) << response.status();
  models::ScoreOptions options;
  options.operating_point = "strict";
  options.segment_s = 4.0;
  ExpectSameVerdict(response->result(), Offline(SampleSpeech(), options));
  EXPECT_DOUBLE_EQ(response->result().threshold(), 3.0);
  EXPECT_DOUBLE_EQ(response->result().segments(0).end_s(), 4.0);
}

TEST_F(ServerTest, InconclusiveResultsCarryAReason) {
  const std::vector<float> speech = SampleSpeech();
  auto too_short = client_->Score(RawRequest(ToS16le({speech.begin(), speech.begin() + 8000}),
                                             v1::AUDIO_ENCODING_PCM_S16LE, 16000));
  ASSERT_TRUE(too_short.ok()) << too_short.status();
  EXPECT_EQ(too_short->result().decision(), v1::DECISION_INCONCLUSIVE);
  EXPECT_EQ(too_short->result().reason(), v1::REASON_TOO_SHORT);
  EXPECT_THAT(too_short->result().summary(), HasSubstr("too short"));

  auto silence = client_->Score(RawRequest(ToS16le(std::vector<float>(3 * 16000, 0.0f)),
                                           v1::AUDIO_ENCODING_PCM_S16LE, 16000));
  ASSERT_TRUE(silence.ok()) << silence.status();
  EXPECT_EQ(silence->result().decision(), v1::DECISION_INCONCLUSIVE);
  EXPECT_EQ(silence->result().reason(), v1::REASON_SILENCE);
}

TEST_F(ServerTest, BadRequestsAreInvalidArgumentWithAMessage) {
  struct Case {
    std::string name;
    v1::ScoreRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", v1::ScoreRequest(), "no audio"});
  cases.push_back({"text", Request(ReadBytes(Fixture("bad_text.txt"))), "not a recognised"});
  cases.push_back({"random", Request(ReadBytes(Fixture("bad_random.bin"))), ""});
  cases.push_back(
      {"no audio stream", Request(ReadBytes(Fixture("video_no_audio.mp4"))), "no audio stream"});
  cases.push_back({"raw without rate",
                   RawRequest(ReadBytes(Fixture("raw_mulaw_8k.raw")), v1::AUDIO_ENCODING_MULAW, 0),
                   "sample_rate_hz"});
  v1::ScoreRequest op = Request(ReadBytes(Sample()));
  op.mutable_options()->set_operating_point("paranoid");
  cases.push_back({"operating point", op, "balanced"});
  v1::ScoreRequest segment = Request(ReadBytes(Sample()));
  segment.mutable_options()->set_segment_s(0.2);
  cases.push_back({"segment", segment, "segment_s"});
  segment.mutable_options()->set_segment_s(std::nan(""));
  cases.push_back({"segment NaN", segment, "segment_s"});
  v1::ScoreRequest encoding = Request(ReadBytes(Sample()));
  encoding.mutable_format()->set_encoding(static_cast<v1::AudioEncoding>(42));
  cases.push_back({"encoding", encoding, "encoding"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto response = client_->Score(c.request);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << response.status();
    EXPECT_FALSE(response.status().message().empty());
    EXPECT_THAT(std::string(response.status().message()), HasSubstr(c.message));
  }
  EXPECT_TRUE(client_->Score(Request(ReadBytes(Sample()))).ok());
}

TEST_F(ServerTest, ServerSurvivesEveryBadInput) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(SourceDir() / "tests/data/fixtures"))
    files.push_back(entry.path());
  std::mt19937 rng(5);
  for (const fs::path& file : files) {
    const auto bytes = ReadBytes(file);
    for (auto encoding :
         {v1::AUDIO_ENCODING_UNSPECIFIED, v1::AUDIO_ENCODING_PCM_S16LE, v1::AUDIO_ENCODING_ALAW}) {
      auto response = client_->Score(RawRequest(bytes, encoding, 8000));
      if (!response.ok()) {
        EXPECT_THAT(
            response.status().code(),
            ::testing::AnyOf(absl::StatusCode::kInvalidArgument, absl::StatusCode::kUnimplemented,
                             absl::StatusCode::kResourceExhausted))
            << file << ": " << response.status();
      }
    }
    // Truncated and corrupted copies.
    std::vector<std::uint8_t> broken(bytes.begin(), bytes.begin() + bytes.size() / 3);
    for (size_t i = 0; i < broken.size(); i += 97) broken[i] = static_cast<std::uint8_t>(rng());
    auto response = client_->ScoreUpload(v1::UploadConfig(), broken, 333);
    if (!response.ok()) {
      EXPECT_NE(response.status().code(), absl::StatusCode::kInternal) << response.status();
    }
  }
  auto health = client_->CheckHealth();
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(*health, ServingStatus::SERVING);
  EXPECT_TRUE(client_->Score(Request(ReadBytes(Sample()))).ok());
}

TEST_F(ServerTest, ScoreUploadMatchesScore) {
  const auto bytes = ReadBytes(Sample());
  v1::UploadConfig config;
  config.set_request_id("upload-1");
  config.mutable_format()->set_format_hint("sample.wav");
  auto uploaded = client_->ScoreUpload(config, bytes, 1000);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->request_id(), "upload-1");
  ExpectSameVerdict(uploaded->result(), Offline(SampleSpeech()));
  EXPECT_EQ(uploaded->result().source().sha256(), models::Sha256Hex(bytes.data(), bytes.size()));

  v1::UploadConfig raw;
  raw.mutable_format()->set_encoding(v1::AUDIO_ENCODING_ALAW);
  raw.mutable_format()->set_sample_rate_hz(8000);
  const auto alaw = ReadBytes(Fixture("raw_alaw_8k.raw"));
  auto response = client_->ScoreUpload(raw, alaw, 777);
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectSameVerdict(response->result(),
                    Offline(decode::DecodeRaw(alaw, {decode::RawEncoding::kAlaw, 8000})->samples));
}

// Sends the given messages on ScoreUpload as they are.
absl::Status RawUpload(const std::string& target,
                       const std::vector<v1::ScoreUploadRequest>& messages) {
  auto stub =
      v1::Detector::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ScoreResponse response;
  auto writer = stub->ScoreUpload(&context, &response);
  for (const auto& m : messages) {
    if (!writer->Write(m)) break;
  }
  writer->WritesDone();
  return client::FromGrpcStatus(writer->Finish());
}

TEST_F(ServerTest, ScoreUploadErrors) {
  v1::ScoreUploadRequest config, audio;
  config.mutable_config()->set_request_id("x");
  const auto bytes = ReadBytes(Sample());
  audio.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  struct Case {
    std::vector<v1::ScoreUploadRequest> messages;
    std::string message;
  };
  v1::ScoreUploadRequest bad_config;
  bad_config.mutable_config()->mutable_options()->set_operating_point("nope");
  for (const Case& c : std::vector<Case>{{{}, "UploadConfig"},
                                         {{audio}, "UploadConfig"},
                                         {{config}, "empty"},
                                         {{config, audio, config}, "twice"},
                                         {{bad_config, audio}, "operating point"}}) {
    const absl::Status s = RawUpload(server_->target, c.messages);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
  }
  EXPECT_TRUE(RawUpload(server_->target, {config, audio}).ok());
}

TEST_F(ServerTest, GetModelInfoDescribesTheModel) {
  auto info = client_->GetModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name(), "tiny-test-model");
  EXPECT_EQ(info->version(), "0.0.1-test");
  EXPECT_EQ(info->sha256(), OfflineScorer().model().sha256());
  EXPECT_EQ(info->feature_kind(), "lfcc");
  EXPECT_EQ(info->sample_rate_hz(), 16000);
  EXPECT_EQ(info->feature_dims(), 20);
  EXPECT_THAT(info->feature_config_json(), HasSubstr("\"kind\":\"lfcc\""));
  EXPECT_DOUBLE_EQ(info->segment_s(), 2.0);
  EXPECT_DOUBLE_EQ(info->hop_s(), 1.0);
  EXPECT_DOUBLE_EQ(info->min_segment_s(), 1.0);
  EXPECT_DOUBLE_EQ(info->min_speech_fraction(), 0.3);
  EXPECT_EQ(info->calibration().kind(), "affine_logit_to_llr");
  EXPECT_DOUBLE_EQ(info->calibration().scale(), 2.0);
  EXPECT_DOUBLE_EQ(info->calibration().offset(), -0.5);
  ASSERT_EQ(info->operating_points_size(), 2);
  EXPECT_EQ(info->operating_points(0).name(), "balanced");
  EXPECT_DOUBLE_EQ(info->operating_points(0).llr_threshold(), 0.0);
  EXPECT_EQ(info->operating_points(1).name(), "strict");
  EXPECT_DOUBLE_EQ(info->operating_points(1).llr_threshold(), 3.0);
  EXPECT_EQ(info->default_operating_point(), "balanced");
  EXPECT_EQ(info->training_json(), "{}");
  EXPECT_THAT(info->contract_json(), HasSubstr("tiny-test-model"));
  EXPECT_EQ(info->model_file(), "tiny.pt");
  EXPECT_FALSE(info->server_version().empty());
}

TEST_F(ServerTest, ReflectionListsAndDescribesTheServices) {
  auto channel = grpc::CreateChannel(server_->target, grpc::InsecureChannelCredentials());
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(), method, &context));
  // ServerReflectionRequest{list_services (7): "*"}, then
  // ServerReflectionRequest{file_containing_symbol (4): "spoofd.v1.Detector"}.
  const std::string symbol = "spoofd.v1.Detector";
  std::string answers;
  for (const std::string& request :
       {std::string("\x3a\x01*", 3),
        "\x22" + std::string(1, static_cast<char>(symbol.size())) + symbol}) {
    grpc::Slice slice(request);
    grpc::ByteBuffer buffer(&slice, 1);
    ASSERT_TRUE(stream->Write(buffer));
    grpc::ByteBuffer reply;
    ASSERT_TRUE(stream->Read(&reply));
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(reply.Dump(&slices).ok());
    for (const auto& s : slices) answers.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_THAT(answers, HasSubstr("spoofd.v1.Detector"));
  EXPECT_THAT(answers, HasSubstr("grpc.health.v1.Health"));
  EXPECT_THAT(answers, HasSubstr("spoofd/v1/detector.proto"));  // the file descriptor itself
  EXPECT_THAT(answers, HasSubstr("StreamScore"));
}

TEST(ServerBatchingTest, ConcurrentRequestsShareForwardPasses) {
  service::ServerOptions o = TestOptions();
  o.engine.workers = 4;
  o.engine.batcher.max_batch_size = 64;
  o.engine.batcher.max_queue_delay_us = 300000;  // long enough for all four to arrive
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  const auto bytes = ReadBytes(Sample());
  const models::Verdict want = Offline(SampleSpeech());
  std::vector<std::future<absl::StatusOr<v1::ScoreResponse>>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return client->Score(Request(bytes)); }));
  }
  for (auto& call : calls) {
    auto response = call.get();
    ASSERT_TRUE(response.ok()) << response.status();
    ExpectSameVerdict(response->result(), want);
  }
  const auto& batches = server->server->metrics().batch_size;
  EXPECT_EQ(batches.Sum({}), 4.0 * want.segments.size());
  EXPECT_LT(batches.Count({}), 4u) << "no forward pass carried segments of two requests";
}

TEST(ServerQueueTest, FullQueueIsResourceExhausted) {
  service::ServerOptions o = TestOptions();
  o.engine.workers = 1;
  o.engine.max_queue = 0;
  o.engine.batcher.max_batch_size = 64;
  o.engine.batcher.max_queue_delay_us = 1500000;  // holds the only worker in the batcher
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  const auto bytes = ReadBytes(Sample());
  auto first = std::async(std::launch::async, [&] { return client->Score(Request(bytes)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto second = client->Score(Request(bytes));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("--max-queue"));
  EXPECT_TRUE(first.get().ok());
  EXPECT_EQ(server->server->metrics().requests.Value({"Score", "RESOURCE_EXHAUSTED"}), 1.0);
}

TEST(ServerDeadlineTest, DeadlineStopsTheWork) {
  service::ServerOptions o = TestOptions();
  o.engine.batcher.max_batch_size = 64;
  o.engine.batcher.max_queue_delay_us = 1500000;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  client::ClientOptions co;
  co.timeout_s = 0.3;
  auto client = server->Client(co);
  auto response = client->Score(Request(ReadBytes(Sample())));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  // The server notices at its next check and stops rather than finishing.
  const auto& requests = server->server->metrics().requests;
  for (int i = 0; i < 100 && requests.Value({"Score", "DEADLINE_EXCEEDED"}) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(requests.Value({"Score", "DEADLINE_EXCEEDED"}), 1.0);
  EXPECT_EQ(requests.Value({"Score", "OK"}), 0.0);
}

TEST(ServerLimitsTest, LimitsAreEnforced) {
  service::ServerOptions o = TestOptions();
  o.engine.max_audio_s = 60;
  o.max_upload_bytes = 100 * 1024;
  o.max_message_bytes = 64 * 1024;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  // One message over --max-message-mb: refused by gRPC itself.
  auto big = client->Score(Request(ReadBytes(Sample())));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  EXPECT_TRUE(client->Score(Request(ReadBytes(Fixture("speech.mp3")))).ok());
  // An upload over --max-upload-mb.
  auto upload = client->ScoreUpload(v1::UploadConfig(), ReadBytes(Sample()), 16 * 1024);
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kResourceExhausted) << upload.status();
  EXPECT_THAT(std::string(upload.status().message()), HasSubstr("--max-upload-mb"));
  // 11 minutes of (well-compressed) audio over --max-audio-s.
  auto long_audio = client->Score(Request(ReadBytes(Fixture("bomb_silence_11min.flac"))));
  EXPECT_EQ(long_audio.status().code(), absl::StatusCode::kResourceExhausted)
      << long_audio.status();
  EXPECT_THAT(std::string(long_audio.status().message()), HasSubstr("--max-audio-s"));
  EXPECT_TRUE(client->Score(Request(ReadBytes(Fixture("speech.mp3")))).ok());
}

// Uploads in progress share one memory budget: while one holds most of it, a
// second is refused with RESOURCE_EXHAUSTED; once the first ends, the budget
// is free again.
TEST(ServerLimitsTest, UploadsInProgressShareOneMemoryBudget) {
  service::ServerOptions o = TestOptions();
  const std::vector<std::uint8_t> audio = ReadBytes(Sample());  // 227 KB WAV
  o.max_upload_buffer_bytes = static_cast<std::int64_t>(audio.size()) + 64 * 1024;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  auto& metrics = server->server->metrics();
  auto held = [&] {
    metrics.Render();  // refreshes the gauge
    return metrics.upload_buffer_bytes.Value({});
  };

  // Upload A: the config and the whole recording, then it waits until the
  // server holds the recording.
  auto stub = v1::Detector::NewStub(client->channel());
  grpc::ClientContext a_context;
  v1::ScoreResponse a_response;
  auto a = stub->ScoreUpload(&a_context, &a_response);
  v1::ScoreUploadRequest message;
  message.mutable_config();
  ASSERT_TRUE(a->Write(message));
  message.Clear();
  message.set_audio(reinterpret_cast<const char*>(audio.data()), audio.size());
  ASSERT_TRUE(a->Write(message));
  ASSERT_TRUE(WaitFor([&] { return held() == static_cast<double>(audio.size()); })) << held();

  // Upload B of the same recording does not fit beside it.
  auto b = client->ScoreUpload(v1::UploadConfig(), audio, 16 * 1024);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted) << b.status();
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("--max-upload-buffer-mb"));

  // A finishes and is scored; once both have ended nothing is held, and B fits.
  ASSERT_TRUE(a->WritesDone());
  const grpc::Status a_status = a->Finish();
  EXPECT_TRUE(a_status.ok()) << a_status.error_message();
  EXPECT_TRUE(WaitFor([&] { return held() == 0.0; })) << held();
  auto again = client->ScoreUpload(v1::UploadConfig(), audio, 16 * 1024);
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(ServerHealthTest, ServingOnlyAfterTheModelLoaded) {
  auto server = TestServer::Start(TestOptions(), /*load_model=*/false);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  EXPECT_EQ(*client->CheckHealth(), ServingStatus::NOT_SERVING);
  EXPECT_EQ(*client->CheckHealth("spoofd.v1.Detector"), ServingStatus::NOT_SERVING);
  EXPECT_EQ(client->CheckHealth("nope").status().code(), absl::StatusCode::kNotFound);
  auto score = client->Score(Request(ReadBytes(Sample())));
  EXPECT_EQ(score.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(score.status().message()), HasSubstr("no model loaded"));
  EXPECT_EQ(client->GetModelInfo().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(server->server->ready());

  // A watcher sees NOT_SERVING, SERVING after the load, NOT_SERVING at shutdown.
  auto stub = grpc::health::v1::Health::NewStub(client->channel());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  auto watch = stub->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse status;
  ASSERT_TRUE(watch->Read(&status));
  EXPECT_EQ(status.status(), ServingStatus::NOT_SERVING);

  ASSERT_TRUE(server->server->LoadModel().ok());
  EXPECT_TRUE(server->server->ready());
  EXPECT_EQ(*client->CheckHealth(), ServingStatus::SERVING);
  EXPECT_EQ(*client->CheckHealth("spoofd.v1.Detector"), ServingStatus::SERVING);
  ASSERT_TRUE(watch->Read(&status));
  EXPECT_EQ(status.status(), ServingStatus::SERVING);
  EXPECT_TRUE(client->Score(Request(ReadBytes(Sample()))).ok());

  server->server->Shutdown(std::chrono::milliseconds(2000));
  ASSERT_TRUE(watch->Read(&status));
  EXPECT_EQ(status.status(), ServingStatus::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&status));
  EXPECT_TRUE(watch->Finish().ok());
}

TEST(ServerHealthTest, ABadModelNeverServes) {
  service::ServerOptions o = TestOptions();
  o.model_path = (SourceDir() / "tests/data/models/tiny_no_contract.pt").string();
  auto server = TestServer::Start(o, /*load_model=*/false);
  ASSERT_NE(server, nullptr);
  const absl::Status loaded = server->server->LoadModel();
  EXPECT_EQ(loaded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*server->Client()->CheckHealth(), ServingStatus::NOT_SERVING);
  EXPECT_EQ(server->server->metrics().model_reloads.Value({"error"}), 1.0);
}

TEST(ServerAuthTest, BearerTokensAreAcceptedAndRefused) {
  TempDir dir;
  const std::string token_a = "token-a-0123456789abcdef", token_b = "token-b-0123456789abcdef";
  WriteBytes(dir / "tokens", "# tokens\n" + token_a + "\n\n  " + token_b + "  \n");
  service::ServerOptions o = TestOptions();
  o.auth_token_file = (dir / "tokens").string();
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  const auto bytes = ReadBytes(Fixture("speech.mp3"));
  const auto alaw = ReadBytes(Fixture("raw_alaw_8k.raw"));
  v1::StreamConfig stream_config;
  stream_config.set_encoding(v1::AUDIO_ENCODING_ALAW);
  stream_config.set_sample_rate_hz(8000);
  auto all_calls = [&](client::Client& c) {
    std::vector<absl::StatusCode> codes;
    codes.push_back(c.Score(Request(bytes)).status().code());
    codes.push_back(c.ScoreUpload(v1::UploadConfig(), bytes).status().code());
    codes.push_back(c.StreamScore(stream_config, alaw, {}, nullptr).status().code());
    codes.push_back(c.GetModelInfo().status().code());
    return codes;
  };
  using ::testing::Each;
  auto anonymous = server->Client();
  EXPECT_THAT(all_calls(*anonymous), Each(absl::StatusCode::kUnauthenticated));
  const absl::Status refused = anonymous->GetModelInfo().status();
  EXPECT_THAT(std::string(refused.message()), HasSubstr("Bearer"));
  EXPECT_EQ(*anonymous->CheckHealth(), ServingStatus::SERVING);  // probes need no token

  client::ClientOptions wrong;
  wrong.token = "token-c-0123456789abcdef";
  EXPECT_THAT(all_calls(*server->Client(wrong)), Each(absl::StatusCode::kUnauthenticated));
  client::ClientOptions a, b;
  a.token = token_a;
  b.token = token_b;
  EXPECT_THAT(all_calls(*server->Client(a)), Each(absl::StatusCode::kOk));
  EXPECT_THAT(all_calls(*server->Client(b)), Each(absl::StatusCode::kOk));

  // Reload re-reads the file: a rotated-out token stops working.
  WriteBytes(dir / "tokens", token_b + "\n");
  ASSERT_TRUE(server->server->Reload().ok());
  EXPECT_EQ(server->Client(a)->GetModelInfo().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(server->Client(b)->GetModelInfo().ok());
}

TEST(ServerReloadTest, ReloadSwapsTheModelAndKeepsServingOnError) {
  TempDir dir;
  fs::copy_file(TinyModel(), dir / "2024-01-01.pt");
  service::ServerOptions o = TestOptions();
  o.model_path = dir.path().string();
  o.engine.batcher.max_batch_size = 64;
  o.engine.batcher.max_queue_delay_us = 800000;  // keeps a request in flight across the reload
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  EXPECT_EQ(client->GetModelInfo()->model_file(), "2024-01-01.pt");

  fs::copy_file(TinyModel(), dir / "2024-02-01.pt");
  auto in_flight =
      std::async(std::launch::async, [&] { return client->Score(Request(ReadBytes(Sample()))); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(server->server->Reload().ok());
  EXPECT_EQ(client->GetModelInfo()->model_file(), "2024-02-01.pt");
  auto finished = in_flight.get();
  ASSERT_TRUE(finished.ok()) << finished.status();  // finished on the model it started with
  ExpectSameVerdict(finished->result(), Offline(SampleSpeech()));

  // A broken newer file: the reload fails, the current model keeps serving.
  fs::copy_file(SourceDir() / "tests/data/models/tiny_no_contract.pt", dir / "2024-03-01.pt");
  EXPECT_FALSE(server->server->Reload().ok());
  EXPECT_EQ(client->GetModelInfo()->model_file(), "2024-02-01.pt");
  EXPECT_EQ(*client->CheckHealth(), ServingStatus::SERVING);
  EXPECT_EQ(server->server->metrics().model_reloads.Value({"error"}), 1.0);
  EXPECT_EQ(server->server->metrics().model_reloads.Value({"ok"}), 2.0);
}

TEST(ServerOptionsTest, BadOptionsAreRefusedAtCreate) {
  service::ServerOptions o = TestOptions();
  o.tls.cert_file = "/nonexistent.pem";
  EXPECT_EQ(service::Server::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);  // no key
  o.tls.key_file = "/nonexistent.key";
  EXPECT_EQ(service::Server::Create(o).status().code(), absl::StatusCode::kNotFound);
  o = TestOptions();
  o.auth_token_file = "/nonexistent-tokens";
  EXPECT_EQ(service::Server::Create(o).status().code(), absl::StatusCode::kNotFound);
  o = TestOptions();
  o.engine.workers = 0;
  EXPECT_EQ(service::Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = TestOptions();
  o.tls.client_ca_file = "/ca.pem";
  EXPECT_EQ(service::Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  TempDir dir;
  WriteBytes(dir / "short", "abc\n");
  o = TestOptions();
  o.auth_token_file = (dir / "short").string();
  EXPECT_EQ(service::Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  // A busy port.
  auto first = TestServer::Start(TestOptions(), false);
  ASSERT_NE(first, nullptr);
  o = TestOptions();
  o.listen_address = first->target;
  auto second = service::Server::Create(o);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->Start().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace spoofd::testing
