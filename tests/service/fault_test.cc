// Faults injected into a real spoofd process (tests/RELIABILITY.md): SIGTERM
// while calls are in flight, SIGHUP model reloads under load, and what the
// server leaves behind (no file written, no audio in its log).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service_test_util.h"
#include "spoofd_process.h"
// After Eigen (through the headers above): httplib pulls in <resolv.h>, whose
// `_res` macro breaks Eigen's parameter names.
#include <httplib.h>

namespace spoofd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ServingStatus = grpc::health::v1::HealthCheckResponse;

std::unique_ptr<client::Client> Connect(int port, double timeout_s = 60) {
  client::ClientOptions o;
  o.target = "127.0.0.1:" + std::to_string(port);
  o.timeout_s = timeout_s;
  return *client::Client::Create(o);
}

bool WaitServing(client::Client& c) {
  for (int i = 0; i < 3000; ++i) {
    auto s = c.CheckHealth();
    if (s.ok() && *s == ServingStatus::SERVING) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The value of an unlabelled metric from /metrics (-1 if absent).
double Metric(int metrics_port, const std::string& name) {
  httplib::Client http("127.0.0.1", metrics_port);
  auto res = http.Get("/metrics");
  if (!res || res->status != 200) return -1;
  std::istringstream in(res->body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

v1::ScoreRequest Request(const std::vector<std::uint8_t>& bytes) {
  v1::ScoreRequest r;
  r.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return r;
}

fs::path Spoofd() { return BinaryDir() / "bin/spoofd"; }

TEST(FaultTest, SigtermUnderLoadDrainsEveryCallInFlight) {
  TempDir dir;
  // Every request gets a worker at once and its segments then wait up to 4 s
  // for a batch: when the signal comes, all of them are in flight.
  constexpr int kRequests = 8;
  Subprocess spoofd(Spoofd(),
                    {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--model",
                     TinyModel().string(), "--workers", std::to_string(kRequests + 2),
                     "--max-batch-size", "512", "--max-queue-delay-us", "4000000"},
                    dir / "spoofd.log");
  const int port = spoofd.WaitForPort();
  ASSERT_GT(port, 0) << spoofd.Log();
  auto probe = Connect(port);
  ASSERT_TRUE(WaitServing(*probe)) << spoofd.Log();
  const auto bytes = ReadBytes(Sample());
  auto first = probe->Score(Request(bytes));
  ASSERT_TRUE(first.ok()) << first.status();
  const int segments = first->result().segments_size();
  ASSERT_GT(segments, 0);

  std::vector<std::future<absl::StatusOr<v1::ScoreResponse>>> calls;
  std::vector<std::unique_ptr<client::Client>> clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.push_back(Connect(port));
    client::Client* c = clients.back().get();
    calls.push_back(std::async(std::launch::async, [c, &bytes] { return c->Score(Request(bytes)); }));
  }
  // A live call streaming in real time (8 kHz mu-law, 2 s) joins them.
  auto stream_client = Connect(port);
  v1::StreamConfig config;
  config.set_encoding(v1::AUDIO_ENCODING_MULAW);
  config.set_sample_rate_hz(8000);
  const auto mulaw = ReadBytes(Fixture("raw_mulaw_8k.raw"));
  std::atomic<int> interims{0};
  auto stream = std::async(std::launch::async, [&] {
    client::Client::StreamOptions so;
    so.chunk_bytes = 1600;
    so.bytes_per_second = 8000;
    return stream_client->StreamScore(config, mulaw, so,
                                      [&](const v1::StreamScoreResponse&) { ++interims; });
  });
  for (int i = 0; i < 3000; ++i) {
    if (Metric(spoofd.metrics_port(), "spoofd_batch_queue_segments") >= kRequests * segments) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(Metric(spoofd.metrics_port(), "spoofd_batch_queue_segments"), kRequests * segments);
  spoofd.Signal(SIGTERM);
  for (auto& call : calls) {
    auto r = call.get();
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      EXPECT_EQ(r->result().segments_size(), segments);
    }
  }
  auto final_result = stream.get();
  EXPECT_TRUE(final_result.ok()) << final_result.status();
  if (final_result.ok()) {
    EXPECT_TRUE(final_result->is_final());
  }
  EXPECT_EQ(spoofd.Wait(), 0) << spoofd.Log();
  const std::string log = spoofd.Log();
  EXPECT_THAT(log, HasSubstr("\"event\":\"draining\""));
  EXPECT_THAT(log, Not(HasSubstr("\"code\":\"CANCELLED\"")));
}

TEST(FaultTest, SighupReloadsUnderLoadDropNothing) {
  TempDir dir;
  fs::create_directories(dir / "models");
  fs::copy_file(TinyModel(), dir / "models/m00.pt");
  Subprocess spoofd(Spoofd(),
                    {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--model",
                     (dir / "models").string(), "--workers", "2"},
                    dir / "spoofd.log");
  const int port = spoofd.WaitForPort();
  ASSERT_GT(port, 0) << spoofd.Log();
  auto control = Connect(port);
  ASSERT_TRUE(WaitServing(*control)) << spoofd.Log();

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto record = [&](const absl::Status& s) {
    if (s.ok()) {
      ++ok;
      return;
    }
    std::lock_guard lock(mu);
    failures.push_back(s.ToString());
  };
  const auto mp3 = ReadBytes(Fixture("speech.mp3"));
  const auto upload_bytes = ReadBytes(Fixture("speech_opus.ogg"));
  const auto mulaw = ReadBytes(Fixture("raw_mulaw_8k.raw"));
  std::vector<std::thread> load;
  for (int t = 0; t < 3; ++t) {
    load.emplace_back([&, t] {
      auto c = Connect(port);
      while (!stop) {
        if (t == 0) {
          record(c->Score(Request(mp3)).status());
        } else if (t == 1) {
          record(c->ScoreUpload(v1::UploadConfig(), upload_bytes, 1000).status());
        } else {
          v1::StreamConfig config;
          config.set_encoding(v1::AUDIO_ENCODING_MULAW);
          config.set_sample_rate_hz(8000);
          client::Client::StreamOptions so;
          so.chunk_bytes = 800;
          record(c->StreamScore(config, mulaw, so, nullptr).status());
        }
      }
    });
  }
  constexpr int kReloads = 5;
  for (int i = 1; i <= kReloads; ++i) {
    const std::string name = "m0" + std::to_string(i) + ".pt";
    fs::copy_file(TinyModel(), dir / "models" / name);
    const int before = ok;
    spoofd.Signal(SIGHUP);
    bool swapped = false;
    for (int j = 0; j < 3000 && !swapped; ++j) {
      auto info = control->GetModelInfo();
      swapped = info.ok() && info->model_file() == name;
      if (!swapped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(swapped) << spoofd.Log();
    // Let some calls complete on the new model before the next reload.
    for (int j = 0; j < 3000 && ok < before + 3; ++j) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  EXPECT_GE(ok, 3 * kReloads);
  EXPECT_EQ(spoofd.Log().find("\"result\":\"error\""), std::string::npos);
  spoofd.Signal(SIGTERM);
  EXPECT_EQ(spoofd.Wait(), 0) << spoofd.Log();
}

// The server never writes audio anywhere: nothing appears in its working,
// temporary or home directory, no regular file is open for writing while it
// serves, and its debug-level log holds no audio bytes. (A strace run that
// lists every open() is documented in tests/RELIABILITY.md.)
TEST(FaultTest, AudioIsNeverWrittenToDiskOrLogged) {
  TempDir dir;
  for (const char* d : {"cwd", "tmp", "home"}) fs::create_directories(dir / d);
  Subprocess spoofd(Spoofd(),
                    {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--model",
                     TinyModel().string(), "--log-level", "debug"},
                    dir / "spoofd.log", dir / "cwd",
                    {"TMPDIR=" + (dir / "tmp").string(), "HOME=" + (dir / "home").string()});
  const int port = spoofd.WaitForPort();
  ASSERT_GT(port, 0) << spoofd.Log();
  auto c = Connect(port);
  ASSERT_TRUE(WaitServing(*c)) << spoofd.Log();

  // Audio with a recognisable text inside (a WAV LIST chunk after the data)
  // and recognisable PCM.
  const std::string marker = "SPOOFD-AUDIO-MARKER-5e1c2b";
  std::vector<std::uint8_t> wav = ReadBytes(Fixture("wav_s16le_16k.wav"));
  std::vector<std::uint8_t> list = {'L', 'I', 'S', 'T'};
  const auto len = static_cast<std::uint32_t>(marker.size());
  for (int i = 0; i < 4; ++i) list.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
  list.insert(list.end(), marker.begin(), marker.end());
  wav.insert(wav.end(), list.begin(), list.end());
  auto scored = c->Score(Request(wav));
  ASSERT_TRUE(scored.ok()) << scored.status();
  v1::UploadConfig upload;
  upload.set_request_id("upload-no-write");
  ASSERT_TRUE(c->ScoreUpload(upload, wav, 4096).ok());
  std::vector<std::uint8_t> raw(marker.begin(), marker.end());
  const auto pcm = ReadBytes(Fixture("raw_s16le_8k.raw"));
  raw.insert(raw.end(), pcm.begin(), pcm.end());
  v1::StreamConfig config;
  config.set_encoding(v1::AUDIO_ENCODING_PCM_S16LE);
  config.set_sample_rate_hz(8000);
  ASSERT_TRUE(c->StreamScore(config, raw, {}, nullptr).ok());
  // Bad input too (error paths log messages).
  EXPECT_FALSE(c->Score(Request(std::vector<std::uint8_t>(marker.begin(), marker.end()))).ok());

  // Open descriptors of the live server: regular files only read-only (fd 1
  // and 2 are the test's log redirection).
  const fs::path proc = "/proc/" + std::to_string(spoofd.pid());
  int regular = 0;
  for (const auto& fd : fs::directory_iterator(proc / "fd")) {
    const std::string n = fd.path().filename().string();
    if (n == "1" || n == "2") continue;
    std::error_code ec;
    const std::string target = fs::read_symlink(fd.path(), ec).string();
    if (ec || target.empty() || target[0] != '/' || target.rfind("/dev/", 0) == 0) continue;
    ++regular;
    std::ifstream info(proc / "fdinfo" / n);
    std::string key, flags;
    while (info >> key >> flags) {
      if (key == "flags:") break;
    }
    const long mode = std::stol(flags, nullptr, 8) & O_ACCMODE;
    EXPECT_EQ(mode, O_RDONLY) << target << " is open for writing";
  }
  spoofd.Signal(SIGTERM);
  EXPECT_EQ(spoofd.Wait(), 0);
  for (const char* d : {"cwd", "tmp", "home"}) {
    EXPECT_TRUE(fs::is_empty(dir / d)) << d << " is not empty";
  }
  const std::string log = spoofd.Log();
  EXPECT_THAT(log, HasSubstr("\"method\":\"ScoreUpload\""));  // the log does describe the calls
  EXPECT_THAT(log, Not(HasSubstr(marker)));
  // Nor the PCM in hex or as raw bytes.
  std::string hex;
  static const char* kDigits = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    hex.push_back(kDigits[pcm[1000 + i] >> 4]);
    hex.push_back(kDigits[pcm[1000 + i] & 15]);
  }
  EXPECT_THAT(log, Not(HasSubstr(hex)));
  EXPECT_THAT(log, Not(HasSubstr(std::string(pcm.begin() + 1000, pcm.begin() + 1016))));
  (void)regular;
}

}  // namespace
}  // namespace spoofd::testing
