// Scale-out without a cluster: `spoofctl batch --shard K/N` as separate
// processes and `spoofctl merge`; three spoofd processes on loopback behind
// one batch, one of them killed and restarted mid-run; the load tool across
// three servers while one drains. Uses the real binaries and the tiny model.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/spoofctl_runner.h"
#include "service/spoofd_process.h"

namespace {

namespace fs = std::filesystem;
using ::spoofd::testing::kSource;
using ::spoofd::testing::kSpoofctl;
using ::spoofd::testing::Quote;
using ::spoofd::testing::Result;
using ::spoofd::testing::RunSpoofctl;
using ::spoofd::testing::Subprocess;
using ::testing::HasSubstr;

const fs::path kBin = fs::path(SPOOFD_BINARY_DIR) / "bin";
const fs::path kTinyModel = kSource / "tests/data/models/tiny.pt";
const std::string kModel = " --model " + Quote(kTinyModel);

fs::path TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) /
                       ("scaleout_" + std::string(info->name()) + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// `count` decodable recordings (copies of fixtures under distinct names, in
// two directories) plus one that is not audio.
std::vector<std::string> MakeInputs(const fs::path& dir, int count) {
  const fs::path fixtures = kSource / "tests/data/fixtures";
  const char* sources[] = {"speech.flac", "wav_s16le_16k.wav", "speech.mp3"};
  std::vector<std::string> files;
  for (int i = 0; i < count; ++i) {
    const fs::path sub = dir / "in" / (i % 2 ? "a" : "b");
    fs::create_directories(sub);
    const fs::path source = fixtures / sources[i % 3];
    const fs::path target = sub / ("rec_" + std::to_string(i) + source.extension().string());
    fs::copy_file(source, target);
    files.push_back(target.string());
  }
  const fs::path bad = dir / "in" / "not_audio.txt";
  fs::copy_file(fixtures / "bad_text.txt", bad);
  files.push_back(bad.string());
  return files;
}

fs::path WriteManifest(const fs::path& dir, const std::vector<std::string>& files) {
  const fs::path manifest = dir / "manifest.txt";
  std::ofstream out(manifest);
  for (const std::string& f : files) out << f << "\n";
  return manifest;
}

std::vector<nlohmann::json> Rows(const fs::path& jsonl) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object()) rows.push_back(std::move(row));
  }
  return rows;
}

int Shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ShardTest, ShardsAsSeparateProcessesCoverEveryInputOnceAndMerge) {
  const fs::path dir = TestDir();
  const std::vector<std::string> files = MakeInputs(dir, 23);
  const fs::path manifest = WriteManifest(dir, files);
  constexpr int kShards = 3;
  // All shards at once, as an Indexed Job runs them.
  std::string command;
  for (int k = 0; k < kShards; ++k) {
    command += kSpoofctl.string() + " batch --manifest " + Quote(manifest) + " --shard " +
               std::to_string(k) + "/" + std::to_string(kShards) + " --out " +
               Quote(dir / ("shard-" + std::to_string(k) + ".jsonl")) +
               " --jobs 1 --ok-with-error-rows" + kModel + " >/dev/null 2>>" +
               Quote(dir / "err.txt") + " & ";
  }
  command += "wait";
  ASSERT_EQ(Shell(command), 0);

  std::map<std::string, int> seen;
  for (int k = 0; k < kShards; ++k) {
    const auto rows = Rows(dir / ("shard-" + std::to_string(k) + ".jsonl"));
    EXPECT_FALSE(rows.empty()) << "shard " << k << " got no files";
    for (const auto& row : rows) ++seen[row["file"].get<std::string>()];
  }
  ASSERT_EQ(seen.size(), files.size());
  for (const std::string& f : files) EXPECT_EQ(seen[f], 1) << f;

  // The same shard from JOB_COMPLETION_INDEX gives the same files.
  const std::string with_env = "JOB_COMPLETION_INDEX=1 " + kSpoofctl.string() +
                               " batch --manifest " + Quote(manifest) + " --shard 3 --out " +
                               Quote(dir / "env1.jsonl") + " --ok-with-error-rows" + kModel +
                               " >/dev/null 2>&1";
  ASSERT_EQ(Shell(with_env), 0);
  std::set<std::string> from_env, from_flag;
  for (const auto& row : Rows(dir / "env1.jsonl")) from_env.insert(row["file"]);
  for (const auto& row : Rows(dir / "shard-1.jsonl")) from_flag.insert(row["file"]);
  EXPECT_EQ(from_env, from_flag);

  Result merged = RunSpoofctl("merge " + Quote(dir / "shard-0.jsonl") + " " +
                              Quote(dir / "shard-1.jsonl") + " " + Quote(dir / "shard-2.jsonl") +
                              " --manifest " + Quote(manifest) + " --out " +
                              Quote(dir / "merged.jsonl") + " --csv " + Quote(dir / "merged.csv"));
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_THAT(merged.out, HasSubstr("each exactly once"));
  const auto rows = Rows(dir / "merged.jsonl");
  ASSERT_EQ(rows.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(rows[i]["file"], files[i]);  // input order
  EXPECT_TRUE(rows.back().contains("error"));  // the text file: an error row, still covered
}

TEST(ShardTest, MergeFailsLoudlyWhenAnInputIsMissingOrScoredTwice) {
  const fs::path dir = TestDir();
  const std::vector<std::string> files = MakeInputs(dir, 8);
  const fs::path manifest = WriteManifest(dir, files);
  for (int k = 0; k < 2; ++k) {
    Result r = RunSpoofctl("batch --manifest " + Quote(manifest) + " --shard " +
                           std::to_string(k) + "/2 --out " +
                           Quote(dir / ("s" + std::to_string(k) + ".jsonl")) + kModel +
                           " --ok-with-error-rows");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const fs::path out = dir / "merged.jsonl";
  // Shard 1 missing.
  Result missing = RunSpoofctl("merge " + Quote(dir / "s0.jsonl") + " --manifest " +
                               Quote(manifest) + " --out " + Quote(out));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("missing"));
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_FALSE(fs::exists(out));
  // Shard 0 given twice (as if two pods had run the same index).
  fs::copy_file(dir / "s0.jsonl", dir / "s0-again.jsonl");
  Result twice = RunSpoofctl("merge " + Quote(dir / "s0.jsonl") + " " +
                             Quote(dir / "s0-again.jsonl") + " " + Quote(dir / "s1.jsonl") +
                             " --manifest " + Quote(manifest) + " --out " + Quote(out));
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_THAT(twice.err, HasSubstr("scored twice"));
  EXPECT_FALSE(fs::exists(out));
  // An input list that lacks files the shards scored.
  const fs::path shorter = dir / "shorter.txt";
  std::ofstream(shorter) << files[0] << "\n";
  Result unknown = RunSpoofctl("merge " + Quote(dir / "s0.jsonl") + " " + Quote(dir / "s1.jsonl") +
                               " --manifest " + Quote(shorter) + " --out " + Quote(out));
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("not in the input list"));
  // Both shards: complete.
  Result ok = RunSpoofctl("merge " + Quote(dir / "s0.jsonl") + " " + Quote(dir / "s1.jsonl") +
                          " --inputs " + Quote(dir / "in") + " --out " + Quote(out));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(Rows(out).size(), files.size());
}

TEST(ShardTest, BadShardArgumentsAreUsageErrors) {
  const fs::path dir = TestDir();
  const std::string out = " --out " + Quote(dir / "r.jsonl") + kModel;
  const std::string in = Quote(kSource / "tests/data/fixtures/speech.flac");
  for (const char* shard : {"3/3", "-1/3", "1/0", "a/b", "1/", "/3"}) {
    Result r = RunSpoofctl("batch " + in + " --shard=" + shard + out);
    EXPECT_EQ(r.exit_code, 2) << shard;
    EXPECT_THAT(r.err, HasSubstr("--shard")) << shard;
  }
  // N alone needs JOB_COMPLETION_INDEX.
  Result no_env = RunSpoofctl("batch " + in + " --shard 3" + out);
  EXPECT_EQ(no_env.exit_code, 2);
  EXPECT_THAT(no_env.err, HasSubstr("JOB_COMPLETION_INDEX"));
  EXPECT_EQ(RunSpoofctl("merge --out " + Quote(dir / "m.jsonl") + " " + Quote(dir / "none.jsonl") +
                        " --manifest " + Quote(dir / "none.txt"))
                .exit_code,
            2);
}

// ---------------------------------------------------------------------------
// Servers on loopback

class Spoofd {
 public:
  // Starts spoofd on `port` (0: any) with the tiny model; waits for its port.
  Spoofd(const fs::path& log, int port, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--listen",         "127.0.0.1:" + std::to_string(port),
                                     "--metrics-listen", "",
                                     "--model",          kTinyModel.string(),
                                     "--workers",        "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Subprocess>(kBin / "spoofd", std::move(args), log);
    port_ = process_->WaitForPort();
  }
  // Signals it and waits until it has exited.
  void Kill(int signal) {
    process_->Signal(signal);
    process_->Wait();
  }
  void Signal(int signal) { process_->Signal(signal); }
  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::unique_ptr<Subprocess> process_;  // killed on destruction
  int port_ = 0;
};

int CountRows(const fs::path& jsonl) { return static_cast<int>(Rows(jsonl).size()); }

TEST(ScaleOutTest, BatchOverThreeServersSurvivesOneKilledAndRestarted) {
  const fs::path dir = TestDir();
  std::vector<std::string> files = MakeInputs(dir, 60);
  files.pop_back();  // only audio: every row must be a score
  fs::remove(dir / "in" / "not_audio.txt");
  const fs::path manifest = WriteManifest(dir, files);
  Spoofd a(dir / "a.log", 0), b(dir / "b.log", 0), c(dir / "c.log", 0);
  ASSERT_GT(a.port(), 0);
  ASSERT_GT(b.port(), 0);
  ASSERT_GT(c.port(), 0);
  const int b_port = b.port();
  const fs::path out = dir / "results.jsonl";
  const pid_t batch = fork();
  if (batch == 0) {
    FILE* err = std::freopen((dir / "batch.err").c_str(), "w", stderr);
    FILE* o = std::freopen((dir / "batch.out").c_str(), "w", stdout);
    (void)err;
    (void)o;
    const std::string program = kSpoofctl.string();
    execl(program.c_str(), program.c_str(), "batch", "--manifest", manifest.c_str(), "--out",
          out.c_str(), "--jobs", "2", "--server", a.target().c_str(), "--server",
          b.target().c_str(), "--server", c.target().c_str(), "--timeout-s", "30", nullptr);
    _exit(127);
  }
  // Kill B once some rows exist, and bring it back on the same port.
  for (int i = 0; i < 2000 && CountRows(out) < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int before = CountRows(out);
  b.Kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Spoofd b2(dir / "b2.log", b_port);
  int status = 0;
  waitpid(batch, &status, 0);
  std::ifstream err_in(dir / "batch.err");
  const std::string err((std::istreambuf_iterator<char>(err_in)), {});
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << err;
  if (before >= static_cast<int>(files.size())) GTEST_LOG_(WARNING) << "finished before the kill";

  // Nothing lost, nothing scored twice, and the work was spread.
  std::map<std::string, int> per_file;
  std::map<std::string, int> per_server;
  for (const auto& row : Rows(out)) {
    EXPECT_FALSE(row.contains("error")) << row.dump();
    ++per_file[row["file"].get<std::string>()];
    ++per_server[row.value("server", "")];
  }
  ASSERT_EQ(per_file.size(), files.size()) << err;
  for (const std::string& f : files) EXPECT_EQ(per_file[f], 1) << f;
  EXPECT_GT(per_server[a.target()], 0);
  EXPECT_GT(per_server[c.target()], 0);
  EXPECT_GT(per_server["127.0.0.1:" + std::to_string(b_port)], 0);

  // And merge agrees.
  Result merged = RunSpoofctl("merge " + Quote(out) + " --manifest " + Quote(manifest) +
                              " --out " + Quote(dir / "merged.jsonl"));
  EXPECT_EQ(merged.exit_code, 0) << merged.err;
}

TEST(ScaleOutTest, LoadToolSmokeTwoCallsNoErrors) {
  const fs::path load = kBin / "spoofd-load";
  if (!fs::exists(load)) GTEST_SKIP() << "spoofd-load not built (SPOOFD_BUILD_BENCH=OFF)";
  const fs::path dir = TestDir();
  Spoofd server(dir / "s.log", 0);
  ASSERT_GT(server.port(), 0);
  const fs::path report = dir / "report.json";
  const int rc = Shell("cd " + Quote(kSource) + " && " + Quote(load) + " --server " +
                       server.target() + " --calls 2 --call-length-s 2 --duration-s 2 --json " +
                       Quote(report) + " >/dev/null 2>" + Quote(dir / "load.err"));
  EXPECT_EQ(rc, 0);
  std::ifstream in(report);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_GE(j["calls_completed"].get<int>(), 2);
  EXPECT_EQ(j["calls_failed"].get<int>(), 0);
  EXPECT_TRUE(j["errors"].empty()) << j.dump();
  EXPECT_GT(j["interims"].get<int>(), 0);  // 1 s interims over 2 s calls
  EXPECT_GT(j["interim_latency_ms"]["count"].get<int>(), 0);
}

// Calls spread over three servers; one drains (SIGTERM) mid-run: the calls it
// has finish there, new ones go to the others; nothing fails.
TEST(ScaleOutTest, LoadToolAcrossThreeServersWhileOneDrains) {
  const fs::path load = kBin / "spoofd-load";
  if (!fs::exists(load)) GTEST_SKIP() << "spoofd-load not built (SPOOFD_BUILD_BENCH=OFF)";
  const fs::path dir = TestDir();
  Spoofd a(dir / "a.log", 0), b(dir / "b.log", 0), c(dir / "c.log", 0);
  ASSERT_GT(a.port(), 0);
  ASSERT_GT(b.port(), 0);
  ASSERT_GT(c.port(), 0);
  const fs::path report = dir / "report.json";
  const pid_t tool = fork();
  if (tool == 0) {
    FILE* err = std::freopen((dir / "load.err").c_str(), "w", stderr);
    FILE* o = std::freopen((dir / "load.out").c_str(), "w", stdout);
    (void)err;
    (void)o;
    if (chdir(kSource.c_str()) != 0) _exit(126);
    execl(load.c_str(), load.c_str(), "--server", a.target().c_str(), "--server",
          b.target().c_str(), "--server", c.target().c_str(), "--channels-per-server", "1",
          "--calls", "6", "--call-length-s", "3", "--duration-s", "4", "--reconnect", "--json",
          report.c_str(), nullptr);
    _exit(127);
  }
  // Once every first call is under way, B drains: its calls in progress
  // finish there, new calls are refused and go elsewhere.
  for (int i = 0; i < 1200; ++i) {
    std::ifstream err_in(dir / "load.err");
    const std::string err((std::istreambuf_iterator<char>(err_in)), {});
    if (err.find("calls started") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  b.Signal(SIGTERM);
  int status = 0;
  waitpid(tool, &status, 0);
  std::ifstream in(report);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << j.dump();
  EXPECT_EQ(j["calls_failed"].get<int>(), 0) << j.dump();
  EXPECT_GE(j["calls_completed"].get<int>(), 6);
  // B finished the calls it had when SIGTERM came: its log shows StreamScore OKs.
  std::ifstream b_log(dir / "b.log");
  const std::string log((std::istreambuf_iterator<char>(b_log)), {});
  EXPECT_THAT(log, HasSubstr("\"method\":\"StreamScore\""));
  EXPECT_THAT(log, HasSubstr("\"code\":\"OK\""));
}

// A server that closes connections at their maximum age (plus a short grace)
// cuts a live call in the middle: spoofctl stream continues it on a new
// connection, resending the audio so far, and still gets the final verdict.
TEST(ScaleOutTest, StreamContinuesWhenMaxConnectionAgeClosesItsConnection) {
  const fs::path dir = TestDir();
  Spoofd server(dir / "s.log", 0,
                {"--max-connection-age-s", "1", "--max-connection-age-grace-s", "0.5"});
  ASSERT_GT(server.port(), 0);
  const fs::path sample = kSource / "samples/genuine_librivox_0870.wav";  // 7.1 s
  Result r = RunSpoofctl("stream " + Quote(sample) + " --server " + server.target() +
                         " --realtime --chunk-ms 100 --timeout-s 60");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("continuing the call on a new connection"));
  EXPECT_THAT(r.out, HasSubstr("final       7.1 s"));

  // The load tool does the same with --reconnect.
  const fs::path load = kBin / "spoofd-load";
  if (!fs::exists(load)) return;
  const fs::path report = dir / "report.json";
  const int rc = Shell("cd " + Quote(kSource) + " && " + Quote(load) + " --server " +
                       server.target() + " --calls 2 --call-length-s 3 --duration-s 3 " +
                       "--reconnect --json " + Quote(report) + " >/dev/null 2>&1");
  EXPECT_EQ(rc, 0);
  std::ifstream in(report);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["calls_failed"].get<int>(), 0) << j.dump();
  EXPECT_GT(j["reconnects"].get<int>(), 0) << j.dump();
  EXPECT_GE(j["calls_completed"].get<int>(), 2) << j.dump();
}

}  // namespace
