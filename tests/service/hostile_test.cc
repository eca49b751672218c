// Hostile input through a live server (tests/RELIABILITY.md): each case gets
// the status code the API documents and the server keeps serving. Cases the
// other service tests already cover (bad streams, idle streams, the message
// size limit, every fixture corrupted) are not repeated here.
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostile_audio.h"
#include "service_test_util.h"
#include "spoofd/v1/detector.grpc.pb.h"
#include "spoofd_process.h"

namespace spoofd::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ServingStatus = grpc::health::v1::HealthCheckResponse;

v1::ScoreRequest Request(const std::vector<std::uint8_t>& bytes) {
  v1::ScoreRequest r;
  r.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return r;
}

void ExpectServing(const TestServer& server) {
  auto client = server.Client();
  auto health = client->CheckHealth();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, ServingStatus::SERVING);
  auto good = client->Score(Request(ReadBytes(Fixture("speech.mp3"))));
  EXPECT_TRUE(good.ok()) << good.status();
}

TEST(HostileInputTest, EachFileGetsTheRightCode) {
  service::ServerOptions o = TestOptions();
  o.engine.max_audio_s = 300;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto client = server->Client();

  // Zero bytes, as Score and as an upload with no audio after its config.
  auto empty = client->Score(Request({}));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument) << empty.status();
  auto empty_upload = client->ScoreUpload(v1::UploadConfig(), {}, 1000);
  EXPECT_EQ(empty_upload.status().code(), absl::StatusCode::kInvalidArgument)
      << empty_upload.status();

  // 1 MiB of random bytes.
  std::mt19937 rng(9);
  std::vector<std::uint8_t> random(1 << 20);
  for (auto& b : random) b = static_cast<std::uint8_t>(rng());
  auto noise = client->Score(Request(random));
  EXPECT_EQ(noise.status().code(), absl::StatusCode::kInvalidArgument) << noise.status();

  // A WAV header claiming ~37 hours, holding 2 s: scored as the 2 s it holds.
  const auto tone = ToneWav(1, 16000, 2.0);
  auto liar = client->Score(
      Request(MakeWav(1, 1, 16000, 16, {tone.begin() + 44, tone.end()}, 0xFFFFFFF0u)));
  ASSERT_TRUE(liar.ok()) << liar.status();
  EXPECT_NEAR(liar->result().duration_s(), 2.0, 0.01);
  // The same lie in FLAC's STREAMINFO.
  auto flac_liar = client->Score(Request(
      WithFlacTotalSamples(ReadBytes(Fixture("speech.flac")), (std::uint64_t{1} << 36) - 1)));
  ASSERT_TRUE(flac_liar.ok()) << flac_liar.status();
  EXPECT_NEAR(flac_liar->result().duration_s(), 2.0, 0.05);

  // Decompression bombs and 10 h of silence: over --max-audio-s (300 s here).
  for (const char* bomb : {"silence_10h_8k.flac", "bomb_opus_10min.opus"}) {
    SCOPED_TRACE(bomb);
    auto r = client->Score(Request(ReadBytes(SourceDir() / "tests/data/hostile" / bomb)));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("--max-audio-s"));
  }
  // Through ScoreUpload too.
  auto bomb_upload = client->ScoreUpload(
      v1::UploadConfig(), ReadBytes(SourceDir() / "tests/data/hostile/silence_10h_8k.flac"), 4096);
  EXPECT_EQ(bomb_upload.status().code(), absl::StatusCode::kResourceExhausted)
      << bomb_upload.status();

  // 96 kHz, 8 channels: decoded, downmixed, scored.
  auto wide = client->Score(Request(ToneWav(8, 96000, 1.5)));
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(wide->result().source().sample_rate_hz(), 96000);
  EXPECT_EQ(wide->result().source().channels(), 8);
  EXPECT_NEAR(wide->result().duration_s(), 1.5, 0.01);

  // NaN and infinities in float PCM.
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x(32000, 0.05f);
    x[1000] = bad;
    auto r = client->Score(Request(FloatWav(1, 16000, x)));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("NaN"));
  }

  // Every fixture truncated: a verdict on what precedes the cut, or a clear refusal.
  for (const auto& entry : fs::directory_iterator(SourceDir() / "tests/data/fixtures")) {
    const auto bytes = ReadBytes(entry.path());
    for (double fraction : {0.02, 0.1, 0.5}) {
      const std::vector<std::uint8_t> cut(bytes.begin(),
                                          bytes.begin() + static_cast<long>(bytes.size() * fraction));
      auto r = client->Score(Request(cut));
      if (r.ok()) continue;
      EXPECT_THAT(r.status().code(), AnyOf(absl::StatusCode::kInvalidArgument,
                                           absl::StatusCode::kUnimplemented))
          << entry.path().filename() << " at " << fraction << ": " << r.status();
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  ExpectServing(*server);
}

TEST(HostileInputTest, LimitsCannotBeLiftedByTheClient) {
  service::ServerOptions o = TestOptions();
  o.max_message_bytes = 64 * 1024;
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  // A client that lifts its own message limits.
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  auto stub = v1::Detector::NewStub(
      grpc::CreateCustomChannel(server->target, grpc::InsecureChannelCredentials(), args));
  const auto big = ReadBytes(Sample());  // 227 KB > 64 KiB
  {
    grpc::ClientContext ctx;
    v1::ScoreResponse response;
    const grpc::Status s = stub->Score(&ctx, Request(big), &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  }
  {  // One stream message over the limit.
    grpc::ClientContext ctx;
    auto stream = stub->StreamScore(&ctx);
    v1::StreamScoreRequest config;
    config.mutable_config()->set_encoding(v1::AUDIO_ENCODING_PCM_S16LE);
    config.mutable_config()->set_sample_rate_hz(16000);
    stream->Write(config);
    v1::StreamScoreRequest audio;
    audio.set_audio(std::string(big.begin(), big.end()));
    stream->Write(audio);
    stream->WritesDone();
    v1::StreamScoreResponse response;
    while (stream->Read(&response)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // Request fields cannot stretch server-side bounds either.
  auto client = server->Client();
  v1::ScoreRequest huge_segment = Request(ReadBytes(Fixture("speech.mp3")));
  huge_segment.mutable_options()->set_segment_s(1e300);
  EXPECT_EQ(client->Score(huge_segment).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ScoreRequest huge_rate = Request(ReadBytes(Fixture("raw_s16le_8k.raw")));
  huge_rate.mutable_format()->set_encoding(v1::AUDIO_ENCODING_PCM_S16LE);
  huge_rate.mutable_format()->set_sample_rate_hz(std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(client->Score(huge_rate).status().code(), absl::StatusCode::kInvalidArgument);
  v1::StreamConfig fast;
  fast.set_encoding(v1::AUDIO_ENCODING_PCM_S16LE);
  fast.set_sample_rate_hz(8000);
  fast.set_interim_interval_s(1e-9);
  auto r = client->StreamScore(fast, ReadBytes(Fixture("raw_s16le_8k.raw")), {}, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectServing(*server);
}

TEST(HostileInputTest, DefaultsListenOnLoopbackOnly) {
  // The spoofd binary's defaults are these (process_test checks its --help).
  const service::ServerOptions defaults;
  EXPECT_EQ(defaults.listen_address, "127.0.0.1:50051");
  EXPECT_EQ(defaults.metrics_address, "127.0.0.1:9464");
  EXPECT_TRUE(defaults.http_address.empty());
  EXPECT_TRUE(defaults.tls.cert_file.empty());
}

TEST(HostileInputTest, ClientCancelStopsTheWork) {
  service::ServerOptions o = TestOptions();
  o.engine.batcher.max_batch_size = 64;
  o.engine.batcher.max_queue_delay_us = 1500000;  // segments wait in the batcher
  auto server = TestServer::Start(o);
  ASSERT_NE(server, nullptr);
  auto& metrics = server->server->metrics();
  auto stub = v1::Detector::NewStub(
      grpc::CreateChannel(server->target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::ScoreResponse response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  const v1::ScoreRequest request = Request(ReadBytes(Sample()));
  stub->async()->Score(&ctx, &request, &response,
                       [&](grpc::Status s) {
                         std::lock_guard lock(mu);
                         status = s;
                         done = true;
                         cv.notify_all();
                       });
  // Once its segments wait for a forward pass, the client gives up.
  ASSERT_TRUE(WaitFor([&] { return server->server->metrics().Render().find(
                                       "spoofd_batch_queue_segments 0\n") == std::string::npos; }));
  ctx.TryCancel();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  // The server stops at its next check instead of finishing the work.
  EXPECT_TRUE(WaitFor([&] { return metrics.requests.Value({"Score", "CANCELLED"}) == 1.0; }));
  EXPECT_EQ(metrics.requests.Value({"Score", "OK"}), 0.0);
  EXPECT_THAT(metrics.Render(), HasSubstr("spoofd_batch_queue_segments 0\n"));
  ExpectServing(*server);
}

TEST(HostileInputTest, ClientKilledMidCall) {
  auto server = TestServer::Start(TestOptions());
  ASSERT_NE(server, nullptr);
  auto& metrics = server->server->metrics();
  TempDir dir;
  // A real client process streaming in real time, killed with SIGKILL mid-call:
  // its TCP connection just drops.
  Subprocess spoofctl(BinaryDir() / "bin/spoofctl",
                      {"stream", Sample().string(), "--server", server->target, "--realtime"},
                      dir / "spoofctl.log");
  ASSERT_TRUE(
      WaitFor([&] { return metrics.interim_results.Value({}) >= 1.0 || !spoofctl.Running(); }));
  ASSERT_TRUE(spoofctl.Running()) << spoofctl.Log();
  spoofctl.Signal(SIGKILL);
  EXPECT_EQ(spoofctl.Wait(), 128 + SIGKILL);
  EXPECT_TRUE(WaitFor([&] {
    return metrics.Render().find("spoofd_active_streams 0\n") != std::string::npos;
  }));
  EXPECT_EQ(metrics.requests.Value({"StreamScore", "OK"}), 0.0);
  ExpectServing(*server);
}

TEST(HostileInputTest, GarbageOnTheSocket) {
  auto server = TestServer::Start(TestOptions());
  ASSERT_NE(server, nullptr);
  std::mt19937 rng(3);
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  for (int i = 0; i < 50; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(server->server->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    // Half the connections start like HTTP/2, then every one sends noise and hangs up.
    std::string bytes = i % 2 == 0 ? preface : "";
    for (int j = 0; j < 64 + i * 97; ++j) bytes.push_back(static_cast<char>(rng()));
    (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    close(fd);
  }
  ExpectServing(*server);
}

TEST(HostileInputTest, AThousandConnectionsAtOnce) {
  // Both ends of every connection live in this process: 2000+ descriptors.
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < 4096) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4096);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  }
  ASSERT_GE(limit.rlim_cur, 2200u) << "raise the open-files limit (ulimit -n) to run this test";
  auto server = TestServer::Start(TestOptions());
  ASSERT_NE(server, nullptr);
  constexpr int kConnections = 1000;
  std::vector<std::unique_ptr<v1::Detector::Stub>> stubs;
  for (int i = 0; i < kConnections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    stubs.push_back(v1::Detector::NewStub(
        grpc::CreateCustomChannel(server->target, grpc::InsecureChannelCredentials(), args)));
  }
  const auto mp3 = ReadBytes(Fixture("speech.mp3"));
  struct Call {
    grpc::ClientContext ctx;
    v1::ScoreRequest score;
    v1::ScoreResponse score_response;
    v1::GetModelInfoRequest info;
    v1::GetModelInfoResponse info_response;
  };
  std::vector<std::unique_ptr<Call>> calls(kConnections);
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  std::map<std::pair<bool, grpc::StatusCode>, int> outcomes;  // (is Score, code) -> count
  for (int i = 0; i < kConnections; ++i) {
    calls[i] = std::make_unique<Call>();
    Call& c = *calls[i];
    c.ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    const bool is_score = i % 10 == 0;
    auto done = [&, is_score](grpc::Status s) {
      std::lock_guard lock(mu);
      ++outcomes[{is_score, s.error_code()}];
      ++finished;
      cv.notify_all();
    };
    if (is_score) {
      c.score = Request(mp3);
      stubs[i]->async()->Score(&c.ctx, &c.score, &c.score_response, done);
    } else {
      stubs[i]->async()->GetModelInfo(&c.ctx, &c.info, &c.info_response, done);
    }
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished == kConnections; });
  }
  // Every connection was a real one: count this process's sockets.
  int sockets = 0;
  for (const auto& fd : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = fs::read_symlink(fd.path(), ec);
    if (!ec && target.string().rfind("socket:", 0) == 0) ++sockets;
  }
  EXPECT_GE(sockets, 2 * kConnections);
  // Model info for everyone; each Score either answered or refused as busy.
  EXPECT_EQ((outcomes[{false, grpc::StatusCode::OK}]), kConnections - kConnections / 10);
  EXPECT_EQ((outcomes[{true, grpc::StatusCode::OK}] +
             outcomes[{true, grpc::StatusCode::RESOURCE_EXHAUSTED}]),
            kConnections / 10);
  EXPECT_GE((outcomes[{true, grpc::StatusCode::OK}]), 1);
  calls.clear();
  stubs.clear();
  ExpectServing(*server);
}

}  // namespace
}  // namespace spoofd::testing
