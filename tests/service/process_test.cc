// The real binaries: spoofd started as a subprocess (one documented command,
// --config files, SIGTERM draining, SIGHUP reloading, exit codes) and
// `spoofctl score --server` giving the offline scores.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <future>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service_test_util.h"
#include "spoofd_process.h"

namespace spoofd::testing {
namespace {

using ::testing::HasSubstr;
using ServingStatus = grpc::health::v1::HealthCheckResponse;

// spoofd as a subprocess, its JSON log in `dir`/spoofd.log.
class SpoofdProcess : public Subprocess {
 public:
  SpoofdProcess(const TempDir& dir, std::vector<std::string> args)
      : Subprocess(BinaryDir() / "bin/spoofd", std::move(args), dir / "spoofd.log") {}

  // The exit status after a signal (-1 if it did not exit within 20 s).
  int SignalAndWait(int sig) {
    Signal(sig);
    return Wait(std::chrono::seconds(20));
  }
};

std::unique_ptr<client::Client> Connect(int port) {
  client::ClientOptions o;
  o.target = "127.0.0.1:" + std::to_string(port);
  o.timeout_s = 20;
  return *client::Client::Create(o);
}

bool WaitServing(client::Client& c) {
  for (int i = 0; i < 400; ++i) {
    auto s = c.CheckHealth();
    if (s.ok() && *s == ServingStatus::SERVING) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

// Runs a command, returns its stdout and exit status.
std::pair<std::string, int> RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  std::array<char, 4096> buffer;
  while (pipe != nullptr) {
    const size_t n = fread(buffer.data(), 1, buffer.size(), pipe);
    if (n == 0) break;
    out.append(buffer.data(), n);
  }
  const int status = pipe == nullptr ? -1 : pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

TEST(ProcessTest, HelpDocumentsEveryFlagWithItsDefault) {
  auto [out, rc] = RunCommand((BinaryDir() / "bin/spoofd").string() + " --help");
  EXPECT_EQ(rc, 0);
  for (const char* flag : {"--listen TEXT=127.0.0.1:50051",
                           "--model TEXT=",
                           "--metrics-listen TEXT=127.0.0.1:9464",
                           "--config",
                           "--workers",
                           "--max-queue INT",
                           "=64",
                           "--max-batch-size",
                           "--max-queue-delay-us",
                           "--model-instances",
                           "--intra-op-threads",
                           "--max-audio-s FLOAT:POSITIVE=7200",
                           "--max-message-mb",
                           "=32",
                           "--max-upload-mb FLOAT:POSITIVE=1024",
                           "--max-upload-buffer-mb FLOAT:POSITIVE=4096",
                           "--max-streams",
                           "--stream-idle-timeout-s FLOAT:POSITIVE=30",
                           "--interim-interval-s",
                           "--drain-timeout-s",
                           "--tls-cert",
                           "--tls-key",
                           "--tls-client-ca",
                           "--auth-token-file",
                           "--log-level"}) {
    EXPECT_THAT(out, HasSubstr(flag));
  }
}

TEST(ProcessTest, SigtermDrainsInFlightWorkThenExits) {
  TempDir dir;
  // A batch delay keeps a request in flight when the signal arrives.
  SpoofdProcess spoofd(
      dir, {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--model", TinyModel().string(),
            "--max-batch-size", "64", "--max-queue-delay-us", "1500000"});
  const int port = spoofd.WaitForPort();
  ASSERT_GT(port, 0) << spoofd.Log();
  auto client = Connect(port);
  ASSERT_TRUE(WaitServing(*client)) << spoofd.Log();
  v1::ScoreRequest request;
  const auto bytes = ReadBytes(Sample());
  request.set_audio(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  auto in_flight = std::async(std::launch::async, [&] { return client->Score(request); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  kill(spoofd.pid(), SIGTERM);
  auto response = in_flight.get();
  EXPECT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(spoofd.Wait(), 0) << spoofd.Log();
  const std::string log = spoofd.Log();
  EXPECT_THAT(log, HasSubstr("\"event\":\"draining\""));
  EXPECT_THAT(log, HasSubstr("\"event\":\"stopped\""));
  EXPECT_THAT(log, HasSubstr("\"method\":\"Score\""));
}

TEST(ProcessTest, ConfigFileAndSighupReload) {
  TempDir dir;
  fs::create_directories(dir / "models");
  fs::copy_file(TinyModel(), dir / "models/a.pt");
  WriteBytes(dir / "spoofd.toml",
             "listen = \"127.0.0.1:0\"\nmetrics-listen = \"127.0.0.1:0\"\nmodel = \"" +
                 (dir / "models").string() + "\"\nlog-level = \"info\"\n");
  SpoofdProcess spoofd(dir, {"--config", (dir / "spoofd.toml").string()});
  const int port = spoofd.WaitForPort();
  ASSERT_GT(port, 0) << spoofd.Log();
  EXPECT_GT(spoofd.metrics_port(), 0);
  auto client = Connect(port);
  ASSERT_TRUE(WaitServing(*client)) << spoofd.Log();
  EXPECT_EQ(client->GetModelInfo()->model_file(), "a.pt");

  fs::copy_file(TinyModel(), dir / "models/b.pt");
  kill(spoofd.pid(), SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 200 && !reloaded; ++i) {
    reloaded = client->GetModelInfo()->model_file() == "b.pt";
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(reloaded) << spoofd.Log();
  EXPECT_THAT(spoofd.Log(), HasSubstr("\"event\":\"reload_requested\""));
  EXPECT_EQ(spoofd.SignalAndWait(SIGTERM), 0);
}

TEST(ProcessTest, StartupFailuresExitWithOne) {
  TempDir dir;
  SpoofdProcess missing(
      dir, {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--model", "/nonexistent.pt"});
  EXPECT_EQ(missing.Wait(), 1);
  EXPECT_THAT(missing.Log(), HasSubstr("model_load_failed"));
  auto [out, rc] =
      RunCommand((BinaryDir() / "bin/spoofd").string() + " --no-such-flag 2>/dev/null");
  EXPECT_EQ(rc, 2);
}

TEST(ProcessTest, SpoofctlScoreServerGivesTheOfflineScores) {
  TempDir dir;
  SpoofdProcess a(
      dir, {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--model", TinyModel().string()});
  TempDir dir_b;
  SpoofdProcess b(
      dir_b, {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--model", TinyModel().string()});
  const int port_a = a.WaitForPort(), port_b = b.WaitForPort();
  ASSERT_GT(port_a, 0);
  ASSERT_GT(port_b, 0);
  ASSERT_TRUE(WaitServing(*Connect(port_a)));
  ASSERT_TRUE(WaitServing(*Connect(port_b)));

  const std::string spoofctl = (BinaryDir() / "bin/spoofctl").string();
  const std::string files = Sample().string() + " " + Fixture("speech.mp3").string() + " " +
                            Fixture("speech_opus.webm").string();
  auto [offline_out, offline_rc] = RunCommand(spoofctl + " score --json --model " +
                                              TinyModel().string() + " " + files + " 2>/dev/null");
  ASSERT_EQ(offline_rc, 0);
  auto [remote_out, remote_rc] =
      RunCommand(spoofctl + " score --json --server 127.0.0.1:" + std::to_string(port_a) +
                 " --server 127.0.0.1:" + std::to_string(port_b) + " " + files + " 2>/dev/null");
  ASSERT_EQ(remote_rc, 0);
  const auto offline = JsonLines(offline_out);
  const auto remote = JsonLines(remote_out);
  ASSERT_EQ(offline.size(), 3u);
  ASSERT_EQ(remote.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const std::string file = offline[i]["file"];
    SCOPED_TRACE(file);
    // Every field offline scoring reports, except the timings, is the same.
    for (const char* key :
         {"file", "sha256", "bytes", "duration_s", "speech_s", "decision", "reason", "verdict",
          "threshold", "operating_point", "source", "model"}) {
      EXPECT_EQ(remote[i][key], offline[i][key]) << key;
    }
    EXPECT_NEAR(remote[i]["score"].get<double>(), offline[i]["score"].get<double>(), 1e-4);
    EXPECT_NEAR(remote[i]["llr"].get<double>(), offline[i]["llr"].get<double>(), 1e-4);
    ASSERT_EQ(remote[i]["segments"].size(), offline[i]["segments"].size());
    for (size_t k = 0; k < remote[i]["segments"].size(); ++k) {
      EXPECT_NEAR(remote[i]["segments"][k]["llr"].get<double>(),
                  offline[i]["segments"][k]["llr"].get<double>(), 1e-4);
    }
  }
  // Round-robin: files 0 and 2 went to the first server, file 1 to the second.
  EXPECT_EQ(remote[0]["server"], "127.0.0.1:" + std::to_string(port_a));
  EXPECT_EQ(remote[1]["server"], "127.0.0.1:" + std::to_string(port_b));
  EXPECT_EQ(remote[2]["server"], "127.0.0.1:" + std::to_string(port_a));

  // info and stream against the same servers.
  auto [info, info_rc] =
      RunCommand(spoofctl + " info --server 127.0.0.1:" + std::to_string(port_a));
  EXPECT_EQ(info_rc, 0);
  EXPECT_THAT(info, HasSubstr("tiny-test-model"));
  EXPECT_THAT(info, HasSubstr("strict"));
  auto [stream, stream_rc] =
      RunCommand(spoofctl + " stream " + Sample().string() +
                 " --json --chunk-ms 100 --server 127.0.0.1:" + std::to_string(port_b));
  EXPECT_EQ(stream_rc, 0);
  const auto responses = JsonLines(stream);
  ASSERT_EQ(responses.size(), 8u);  // 7 interims for 7.1 s, then the final
  EXPECT_EQ(responses.back()["is_final"], true);
  EXPECT_NEAR(responses.back()["result"]["llr"].get<double>(), offline[0]["llr"].get<double>(),
              1e-4);
  EXPECT_EQ(a.SignalAndWait(SIGTERM), 0);
  EXPECT_EQ(b.SignalAndWait(SIGTERM), 0);
}

}  // namespace
}  // namespace spoofd::testing
