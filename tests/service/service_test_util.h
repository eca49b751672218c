// Shared by the service tests: an in-process spoofd on an ephemeral port with
// the tiny test model, audio helpers, temporary directories.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dsp/decode.h"
#include "gtest/gtest.h"
#include "service/client/client.h"
#include "service/server/log.h"
#include "service/server/server.h"

namespace spoofd::testing {

namespace fs = std::filesystem;

// Polls `done` every 20 ms for up to a minute (sequencing, not a timed assertion).
template <typename F>
bool WaitFor(F done) {
  for (int i = 0; i < 3000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

inline fs::path SourceDir() { return SPOOFD_SOURCE_DIR; }
inline fs::path BinaryDir() { return SPOOFD_BINARY_DIR; }
inline fs::path TinyModel() { return SourceDir() / "tests/data/models/tiny.pt"; }
inline fs::path Fixture(const std::string& name) {
  return SourceDir() / "tests/data/fixtures" / name;
}
inline fs::path Sample() { return SourceDir() / "samples/genuine_librivox_0870.wav"; }

inline std::vector<std::uint8_t> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

inline void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// Mono float samples -> 16-bit little-endian PCM.
inline std::vector<std::uint8_t> ToS16le(const std::vector<float>& x) {
  std::vector<std::uint8_t> out;
  out.reserve(2 * x.size());
  for (float v : x) {
    const long s = std::lround(std::max(-1.0f, std::min(v, 32767.0f / 32768.0f)) * 32768.0f);
    out.push_back(static_cast<std::uint8_t>(s & 0xff));
    out.push_back(static_cast<std::uint8_t>((s >> 8) & 0xff));
  }
  return out;
}

// The bundled sample (7.1 s of read speech) at 16 kHz.
inline std::vector<float> SampleSpeech() {
  auto audio = decode::DecodeFile(Sample());
  EXPECT_TRUE(audio.ok()) << audio.status();
  return audio.ok() ? audio->samples : std::vector<float>{};
}

// Speech, 3 s of silence, speech again at half level: segments with and
// without speech, and a loudest frame that changes while streaming.
inline std::vector<float> SpeechWithPause() {
  std::vector<float> speech = SampleSpeech();
  std::vector<float> x = speech;
  x.insert(x.end(), 3 * 16000, 0.0f);
  for (float v : speech) x.push_back(0.5f * v);
  return x;
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ =
        fs::temp_directory_path() / ("spoofd-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline service::ServerOptions TestOptions() {
  service::ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  o.metrics_address = "127.0.0.1:0";
  o.model_path = TinyModel().string();
  o.engine.workers = 2;
  o.engine.max_queue = 16;
  o.engine.batcher.max_queue_delay_us = 1000;
  return o;
}

// An in-process server; keeps log output quiet (warnings and errors only).
struct TestServer {
  std::unique_ptr<service::Server> server;
  std::string target;

  static std::unique_ptr<TestServer> Start(const service::ServerOptions& options,
                                           bool load_model = true) {
    service::SetLogLevel(service::LogLevel::kWarn);
    auto t = std::make_unique<TestServer>();
    auto server = service::Server::Create(options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    t->server = *std::move(server);
    const absl::Status started = t->server->Start();
    EXPECT_TRUE(started.ok()) << started;
    if (!started.ok()) return nullptr;
    t->target = "127.0.0.1:" + std::to_string(t->server->port());
    if (load_model) {
      const absl::Status loaded = t->server->LoadModel();
      EXPECT_TRUE(loaded.ok()) << loaded;
    }
    return t;
  }

  std::unique_ptr<client::Client> Client(client::ClientOptions options = {}) const {
    options.target = target;
    auto c = client::Client::Create(options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
};

}  // namespace spoofd::testing
