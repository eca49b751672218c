// StreamScore: the stream session on its own (final result equals offline
// scoring of the same audio; interim cadence, rolling score and decisions),
// and through the server (streaming equals unary, errors, limits, timeouts).
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <future>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model.h"
#include "models/scorer.h"
#include "service/server/stream_session.h"
#include "service_test_util.h"

namespace spoofd::testing {
namespace {

using service::StreamParams;
using service::StreamSession;
using service::StreamSettings;
using service::StreamUpdate;
using ::testing::HasSubstr;

// Tolerance of streamed vs whole-recording LLRs: the segments, features and
// speech flags are identical; only the grouping of segments into forward
// passes differs, which moves logits by float rounding.
constexpr double kLlrTolerance = 1e-4;

std::shared_ptr<const models::Model> Tiny() {
  static std::shared_ptr<const models::Model> model = [] {
    auto m = models::Model::Load(TinyModel());
    EXPECT_TRUE(m.ok()) << m.status();
    return *m;
  }();
  return model;
}

models::ForwardFn DirectForward() {
  return [](const float* x, std::int64_t b, std::int64_t f, std::int64_t d) {
    return Tiny()->Forward(x, b, f, d);
  };
}

void ExpectSameVerdict(const models::Verdict& got, const models::Verdict& want) {
  EXPECT_EQ(got.decision, want.decision);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_NEAR(got.llr, want.llr, kLlrTolerance);
  EXPECT_NEAR(got.probability, want.probability, kLlrTolerance);
  EXPECT_NEAR(got.max_segment_llr, want.max_segment_llr, kLlrTolerance);
  EXPECT_EQ(got.threshold, want.threshold);
  EXPECT_EQ(got.operating_point, want.operating_point);
  EXPECT_DOUBLE_EQ(got.duration_s, want.duration_s);
  EXPECT_DOUBLE_EQ(got.speech_s, want.speech_s);
  EXPECT_DOUBLE_EQ(got.clipped_fraction, want.clipped_fraction);
  ASSERT_EQ(got.segments.size(), want.segments.size());
  for (size_t i = 0; i < got.segments.size(); ++i) {
    EXPECT_DOUBLE_EQ(got.segments[i].start_s, want.segments[i].start_s) << i;
    EXPECT_DOUBLE_EQ(got.segments[i].end_s, want.segments[i].end_s) << i;
    EXPECT_NEAR(got.segments[i].llr, want.segments[i].llr, kLlrTolerance) << i;
    EXPECT_DOUBLE_EQ(got.segments[i].speech_fraction, want.segments[i].speech_fraction) << i;
    EXPECT_EQ(got.segments[i].counted, want.segments[i].counted) << i;
  }
}

struct StreamRun {
  std::vector<StreamUpdate> interims;
  StreamUpdate final_update;
};

// Feeds `bytes` in random chunks of 1..max_chunk bytes.
StreamRun RunSession(const std::vector<std::uint8_t>& bytes, const StreamParams& params,
                     const StreamSettings& settings = {}, size_t max_chunk = 4000,
                     unsigned seed = 1) {
  StreamRun run;
  auto session = StreamSession::Create(Tiny(), params, settings);
  EXPECT_TRUE(session.ok()) << session.status();
  if (!session.ok()) return run;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> size(1, max_chunk);
  for (size_t offset = 0; offset < bytes.size();) {
    const size_t n = std::min(size(rng), bytes.size() - offset);
    std::optional<StreamUpdate> interim;
    const absl::Status s =
        (*session)->Feed(std::span(bytes).subspan(offset, n), DirectForward(), &interim);
    EXPECT_TRUE(s.ok()) << s;
    if (interim) run.interims.push_back(*interim);
    offset += n;
  }
  auto final_update = (*session)->Finish(DirectForward());
  EXPECT_TRUE(final_update.ok()) << final_update.status();
  if (final_update.ok()) run.final_update = *final_update;
  return run;
}

StreamParams S16le16k() {
  StreamParams p;
  p.format = {decode::RawEncoding::kPcmS16le, 16000};
  return p;
}

models::Verdict Offline(const std::vector<std::uint8_t>& bytes, decode::RawFormat format,
                        const models::ScoreOptions& options = {}) {
  auto audio = decode::DecodeRaw(bytes, format);
  EXPECT_TRUE(audio.ok()) << audio.status();
  auto scorer = models::Scorer::Create(Tiny());
  auto v = (*scorer)->Score(audio->samples, options);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : models::Verdict{};
}

TEST(StreamSessionTest, FinalResultEqualsWholeRecordingScoring) {
  const std::vector<float> speech = SpeechWithPause();  // 17.2 s
  // Lengths around the edge cases: too short, shorter than one segment
  // (tiled), exactly one segment, hop-aligned, not aligned, the whole thing.
  for (size_t n :
       {size_t{4000}, size_t{24000}, size_t{32000}, size_t{48000}, size_t{113600}, speech.size()}) {
    SCOPED_TRACE(n);
    const auto bytes = ToS16le({speech.begin(), speech.begin() + static_cast<std::ptrdiff_t>(n)});
    const StreamRun run = RunSession(bytes, S16le16k(), {}, 5000, static_cast<unsigned>(n));
    EXPECT_TRUE(run.final_update.is_final);
    ExpectSameVerdict(run.final_update.verdict,
                      Offline(bytes, {decode::RawEncoding::kPcmS16le, 16000}));
  }
  EXPECT_EQ(Offline(ToS16le(speech), {decode::RawEncoding::kPcmS16le, 16000}).segments.size(), 17u);
}

TEST(StreamSessionTest, TelephonyEncodingsAndOptions) {
  const auto mulaw = ReadBytes(Fixture("raw_mulaw_8k.raw"));
  StreamParams p;
  p.format = {decode::RawEncoding::kMulaw, 8000};
  ExpectSameVerdict(RunSession(mulaw, p, {}, 333).final_update.verdict, Offline(mulaw, p.format));

  // 8 kHz A-law of the long signal, strict operating point, 4 s segments.
  const std::vector<float> speech = SpeechWithPause();
  std::vector<float> at8k;
  for (size_t i = 0; i < speech.size(); i += 2) at8k.push_back(speech[i]);
  auto pcm = ToS16le(at8k);
  auto decoded = decode::DecodeRaw(pcm, {decode::RawEncoding::kPcmS16le, 8000});
  ASSERT_TRUE(decoded.ok());
  StreamParams q;
  q.format = {decode::RawEncoding::kPcmS16le, 8000};
  q.operating_point = "strict";
  q.segment_s = 4.0;
  models::ScoreOptions options;
  options.operating_point = "strict";
  options.segment_s = 4.0;
  ExpectSameVerdict(RunSession(pcm, q, {}, 999).final_update.verdict,
                    Offline(pcm, q.format, options));
}

TEST(StreamSessionTest, InterimCadenceRollingScoreAndDecision) {
  const std::vector<float> speech = SpeechWithPause();
  const auto bytes = ToS16le(speech);
  StreamParams p = S16le16k();
  p.interim_interval_s = 0.5;
  StreamSettings settings;
  settings.min_segments_for_decision = 3;
  settings.decision_margin_llr = 0.1;  // the tiny model's LLRs sit near -0.5
  const StreamRun run = RunSession(bytes, p, settings, 1600);  // chunks of <= 50 ms
  // One interim per 0.5 s of audio (at most one per chunk, so none is skipped here).
  ASSERT_EQ(run.interims.size(), static_cast<size_t>(speech.size() / 8000));
  std::vector<models::SegmentScore> streamed;
  bool decided = false;
  for (size_t k = 0; k < run.interims.size(); ++k) {
    const StreamUpdate& u = run.interims[k];
    EXPECT_FALSE(u.is_final);
    // Due at every 0.5 s of decoded audio, sent with the chunk that crossed it.
    EXPECT_GE(u.audio_s, 0.5 * (k + 1) - 1e-9);
    EXPECT_LT(u.audio_s, 0.5 * (k + 1) + 0.1 + 1e-9);
    const models::Verdict& v = u.verdict;
    streamed.insert(streamed.end(), v.segments.begin(), v.segments.end());
    EXPECT_EQ(static_cast<size_t>(u.segments_scored), streamed.size());
    if (u.audio_s < 1.0) {
      EXPECT_EQ(v.reason, "too_short");
    }
    if (u.segments_scored == 0 && v.reason != "too_short") {
      EXPECT_TRUE(u.provisional);  // between min_segment_s and one full segment
      EXPECT_NE(v.llr, 0.0);
    }
    // The rolling score is the mean LLR of the counted segments so far.
    double sum = 0;
    int counted = 0;
    for (const auto& s : streamed) {
      if (s.counted) {
        sum += s.llr;
        ++counted;
      }
    }
    if (counted > 0) {
      EXPECT_NEAR(v.llr, sum / counted, 1e-12);
    }
    if (v.decision != models::Decision::kInconclusive) {
      EXPECT_GE(counted, 3);
      EXPECT_GE(std::abs(v.llr - v.threshold), 0.1);
      decided = true;
    } else if (counted >= 3) {
      EXPECT_EQ(v.reason, "not_confident_yet");
    }
  }
  EXPECT_TRUE(decided);
  // Interim segments are the final ones (the last, end-aligned one comes only at the end).
  const auto& final_segments = run.final_update.verdict.segments;
  ASSERT_GE(final_segments.size(), streamed.size());
  for (size_t i = 0; i < streamed.size(); ++i) {
    EXPECT_DOUBLE_EQ(streamed[i].start_s, final_segments[i].start_s);
    EXPECT_NEAR(streamed[i].llr, final_segments[i].llr, kLlrTolerance);
  }
  EXPECT_EQ(run.final_update.verdict.decision, models::Decision::kGenuine);
}

TEST(StreamSessionTest, BadParametersAndLimits) {
  StreamParams p = S16le16k();
  p.interim_interval_s = 0.01;
  EXPECT_EQ(StreamSession::Create(Tiny(), p, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  p = S16le16k();
  p.operating_point = "nope";
  EXPECT_EQ(StreamSession::Create(Tiny(), p, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  p = S16le16k();
  p.segment_s = 100;
  EXPECT_EQ(StreamSession::Create(Tiny(), p, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  p = S16le16k();
  p.format.sample_rate_hz = 10;
  EXPECT_EQ(StreamSession::Create(Tiny(), p, {}).status().code(),
            absl::StatusCode::kInvalidArgument);

  StreamSettings settings;
  settings.max_audio_s = 2.0;
  auto session = StreamSession::Create(Tiny(), S16le16k(), settings);
  ASSERT_TRUE(session.ok());
  const auto bytes = ToS16le(SampleSpeech());
  std::optional<StreamUpdate> interim;
  const absl::Status s = (*session)->Feed(bytes, DirectForward(), &interim);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--max-audio-s"));
}

// ---------------------------------------------------------------------------
// Through the server.

v1::StreamConfig Config(v1::AudioEncoding encoding, int rate_hz, const std::string& call_id = "") {
  v1::StreamConfig c;
  c.set_encoding(encoding);
  c.set_sample_rate_hz(rate_hz);
  c.set_call_id(call_id);
  return c;
}

TEST(StreamServerTest, StreamingEqualsUnaryScoring) {
  auto server = TestServer::Start(TestOptions());
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  const std::vector<float> speech = SpeechWithPause();
  const auto bytes = ToS16le(speech);

  v1::ScoreRequest unary;
  unary.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  unary.mutable_format()->set_encoding(v1::AUDIO_ENCODING_PCM_S16LE);
  unary.mutable_format()->set_sample_rate_hz(16000);
  auto want = client->Score(unary);
  ASSERT_TRUE(want.ok()) << want.status();

  std::vector<v1::StreamScoreResponse> responses;
  client::Client::StreamOptions options;
  options.chunk_bytes = 3200;  // 100 ms
  auto got =
      client->StreamScore(Config(v1::AUDIO_ENCODING_PCM_S16LE, 16000, "call-42"), bytes, options,
                          [&](const v1::StreamScoreResponse& r) { responses.push_back(r); });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->is_final());
  const v1::Result& a = got->result();
  const v1::Result& b = want->result();
  EXPECT_EQ(a.decision(), b.decision());
  EXPECT_EQ(a.reason(), b.reason());
  EXPECT_NEAR(a.llr(), b.llr(), kLlrTolerance);
  EXPECT_NEAR(a.probability(), b.probability(), kLlrTolerance);
  EXPECT_DOUBLE_EQ(a.duration_s(), b.duration_s());
  EXPECT_DOUBLE_EQ(a.speech_s(), b.speech_s());
  ASSERT_EQ(a.segments_size(), b.segments_size());
  for (int i = 0; i < a.segments_size(); ++i) {
    EXPECT_DOUBLE_EQ(a.segments(i).start_s(), b.segments(i).start_s());
    EXPECT_NEAR(a.segments(i).llr(), b.segments(i).llr(), kLlrTolerance);
    EXPECT_DOUBLE_EQ(a.segments(i).speech_fraction(), b.segments(i).speech_fraction());
  }
  EXPECT_EQ(a.model().sha256(), b.model().sha256());
  EXPECT_EQ(a.source().codec(), "s16le");
  EXPECT_EQ(a.source().input_bytes(), static_cast<std::int64_t>(bytes.size()));

  // About one interim per second of audio, every response echoing the call id.
  ASSERT_EQ(responses.size(), speech.size() / 16000 + 1);
  for (size_t i = 0; i + 1 < responses.size(); ++i) {
    EXPECT_FALSE(responses[i].is_final());
    EXPECT_NEAR(responses[i].audio_received_s(), static_cast<double>(i + 1), 0.1);
  }
  for (const auto& r : responses) EXPECT_EQ(r.call_id(), "call-42");
  EXPECT_TRUE(responses.back().is_final());
  EXPECT_EQ(server->server->metrics().requests.Value({"StreamScore", "OK"}), 1.0);
  EXPECT_EQ(server->server->metrics().interim_results.Value({}),
            static_cast<double>(responses.size() - 1));
}

TEST(StreamServerTest, InterimsArriveWhileTheCallIsLive) {
  service::ServerOptions o = TestOptions();
  o.stream.decision_margin_llr = 0.1;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  const std::vector<float> speech = SampleSpeech();
  std::vector<float> at8k;
  for (size_t i = 0; i < 4 * 16000; i += 2) at8k.push_back(speech[i]);  // 4 s at 8 kHz
  const auto bytes = ToS16le(at8k);
  client::Client::StreamOptions options;
  options.chunk_bytes = 320;            // 20 ms packets, as RTP carries them
  options.bytes_per_second = 2 * 8000;  // real time
  v1::StreamConfig config = Config(v1::AUDIO_ENCODING_PCM_S16LE, 8000);
  config.set_interim_interval_s(0.5);
  const auto start = std::chrono::steady_clock::now();
  std::vector<double> arrival_s, audio_s;
  auto final_response =
      client->StreamScore(config, bytes, options, [&](const v1::StreamScoreResponse& r) {
        arrival_s.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        audio_s.push_back(r.audio_received_s());
      });
  ASSERT_TRUE(final_response.ok()) << final_response.status();
  ASSERT_GE(arrival_s.size(), 7u);
  // Each interim comes within a fraction of a second of the audio it covers.
  for (size_t i = 0; i + 1 < arrival_s.size(); ++i) EXPECT_LT(arrival_s[i] - audio_s[i], 0.5) << i;
  EXPECT_FALSE(final_response->call_id().empty());  // made up by the server
}

// Writes `messages` on a raw StreamScore call (optionally waiting before the
// half-close) and collects the responses and the status.
struct RawStreamResult {
  absl::Status status;
  std::vector<v1::StreamScoreResponse> responses;
};

RawStreamResult RawStream(
    const std::string& target, const std::vector<v1::StreamScoreRequest>& messages,
    std::chrono::milliseconds wait_before_close = std::chrono::milliseconds(0), bool close = true) {
  auto stub =
      v1::Detector::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->StreamScore(&context);
  for (const auto& m : messages) {
    if (!stream->Write(m)) break;
  }
  std::this_thread::sleep_for(wait_before_close);
  if (close) stream->WritesDone();
  RawStreamResult result;
  v1::StreamScoreResponse response;
  while (stream->Read(&response)) result.responses.push_back(response);
  result.status = client::FromGrpcStatus(stream->Finish());
  return result;
}

v1::StreamScoreRequest ConfigMessage(const v1::StreamConfig& config) {
  v1::StreamScoreRequest m;
  *m.mutable_config() = config;
  return m;
}

v1::StreamScoreRequest AudioMessage(const std::vector<std::uint8_t>& bytes) {
  v1::StreamScoreRequest m;
  m.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return m;
}

TEST(StreamServerTest, BadStreamsAreInvalidArgument) {
  auto server = TestServer::Start(TestOptions());
  ASSERT_NE(server, nullptr);
  const auto mulaw = ReadBytes(Fixture("raw_mulaw_8k.raw"));
  const auto good = ConfigMessage(Config(v1::AUDIO_ENCODING_MULAW, 8000));
  v1::StreamConfig bad_op = Config(v1::AUDIO_ENCODING_MULAW, 8000);
  bad_op.mutable_options()->set_operating_point("nope");
  v1::StreamConfig bad_interval = Config(v1::AUDIO_ENCODING_MULAW, 8000);
  bad_interval.set_interim_interval_s(0.01);
  struct Case {
    std::string name;
    std::vector<v1::StreamScoreRequest> messages;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"nothing", {}, "before its StreamConfig"},
           {"audio first", {AudioMessage(mulaw)}, "StreamConfig"},
           {"config twice", {good, AudioMessage(mulaw), good}, "twice"},
           {"container",
            {ConfigMessage(Config(v1::AUDIO_ENCODING_UNSPECIFIED, 8000))},
            "ScoreUpload"},
           {"no rate", {ConfigMessage(Config(v1::AUDIO_ENCODING_MULAW, 0))}, "sample_rate_hz"},
           {"operating point", {ConfigMessage(bad_op)}, "balanced"},
           {"interval", {ConfigMessage(bad_interval)}, "interim_interval_s"},
       }) {
    SCOPED_TRACE(c.name);
    const RawStreamResult r = RawStream(server->target, c.messages);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
    EXPECT_THAT(std::string(r.status.message()), HasSubstr(c.message));
  }
  // Empty audio messages are ignored; the server still answers.
  const RawStreamResult ok =
      RawStream(server->target, {good, AudioMessage({}), AudioMessage(mulaw)});
  EXPECT_TRUE(ok.status.ok()) << ok.status;
  ASSERT_FALSE(ok.responses.empty());
  EXPECT_TRUE(ok.responses.back().is_final());
  // A call that hangs up at once gets a final "too short" verdict.
  const RawStreamResult empty = RawStream(server->target, {good});
  ASSERT_TRUE(empty.status.ok()) << empty.status;
  ASSERT_EQ(empty.responses.size(), 1u);
  EXPECT_EQ(empty.responses[0].result().reason(), v1::REASON_TOO_SHORT);
}

TEST(StreamServerTest, IdleStreamsAreEnded) {
  service::ServerOptions o = TestOptions();
  o.stream_idle_timeout_s = 0.5;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  const auto start = std::chrono::steady_clock::now();
  const RawStreamResult r =
      RawStream(server->target, {ConfigMessage(Config(v1::AUDIO_ENCODING_MULAW, 8000))},
                std::chrono::milliseconds(0), /*close=*/false);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
  EXPECT_THAT(std::string(r.status.message()), HasSubstr("--stream-idle-timeout-s"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  for (int i = 0; i < 50 && server->server->metrics().active_streams.Value({}) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(StreamServerTest, ConcurrentStreamsAreLimited) {
  service::ServerOptions o = TestOptions();
  o.max_streams = 1;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  const auto config = ConfigMessage(Config(v1::AUDIO_ENCODING_MULAW, 8000));
  const auto mulaw = ReadBytes(Fixture("raw_mulaw_8k.raw"));
  // The first stream stays open for a second.
  auto first = std::async(std::launch::async, [&] {
    return RawStream(server->target, {config, AudioMessage(mulaw)},
                     std::chrono::milliseconds(1000));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const RawStreamResult second = RawStream(server->target, {config, AudioMessage(mulaw)});
  EXPECT_EQ(second.status.code(), absl::StatusCode::kResourceExhausted) << second.status;
  EXPECT_THAT(std::string(second.status.message()), HasSubstr("--max-streams"));
  EXPECT_TRUE(first.get().status.ok());
  const RawStreamResult third = RawStream(server->target, {config, AudioMessage(mulaw)});
  EXPECT_TRUE(third.status.ok()) << third.status;
}

TEST(StreamServerTest, LongCallsAndCancellation) {
  service::ServerOptions o = TestOptions();
  o.stream.max_audio_s = 3.0;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();
  const auto bytes = ToS16le(SampleSpeech());
  auto too_long =
      client->StreamScore(Config(v1::AUDIO_ENCODING_PCM_S16LE, 16000), bytes, {}, nullptr);
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kResourceExhausted) << too_long.status();

  // The client cancels mid-call: the server ends the stream and frees its slot.
  auto stub = v1::Detector::NewStub(client->channel());
  grpc::ClientContext context;
  auto stream = stub->StreamScore(&context);
  ASSERT_TRUE(stream->Write(ConfigMessage(Config(v1::AUDIO_ENCODING_PCM_S16LE, 16000))));
  ASSERT_TRUE(stream->Write(AudioMessage({bytes.begin(), bytes.begin() + 32000})));
  v1::StreamScoreResponse interim;
  ASSERT_TRUE(stream->Read(&interim));
  EXPECT_FALSE(interim.is_final());
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  auto& metrics = server->server->metrics();
  for (int i = 0; i < 100 && metrics.requests.Value({"StreamScore", "CANCELLED"}) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(metrics.requests.Value({"StreamScore", "CANCELLED"}), 1.0);
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("spoofd_active_streams 0\n"));
}

}  // namespace
}  // namespace spoofd::testing
