// Faults injected into `spoofctl batch` (tests/RELIABILITY.md): killed with
// SIGKILL at random points several times in a row, and one of its two
// servers killed mid-run. Either way every file ends up scored exactly once.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/spoofctl_runner.h"
#include "service/spoofd_process.h"

namespace spoofd::testing {
namespace {

namespace fs = std::filesystem;

const fs::path kTiny = kSource / "tests/data/models/tiny.pt";

fs::path TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) /
                       ("batch_fault_" + std::string(info->name()) + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

int CountLines(const fs::path& file) {
  std::ifstream in(file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// Valid rows per file; torn (unparseable) lines counted apart.
struct Rows {
  std::map<std::string, std::vector<nlohmann::json>> by_file;
  int torn = 0;
};

Rows ReadRows(const fs::path& jsonl) {
  Rows rows;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("file")) {
      rows.by_file[row["file"].get<std::string>()].push_back(std::move(row));
    } else {
      ++rows.torn;
    }
  }
  return rows;
}

// `count` names for the bundled sample (7 s of speech each): one copy, the
// rest hard links to it, so a large batch costs no disk.
fs::path Inputs(const fs::path& dir, int count) {
  const fs::path in = dir / "in";
  fs::create_directories(in);
  const fs::path first = in / "call_0.wav";
  fs::copy_file(kSource / "samples/genuine_librivox_0870.wav", first);
  for (int i = 1; i < count; ++i) {
    const fs::path name = in / ("call_" + std::to_string(i) + ".wav");
    std::error_code ec;
    fs::create_hard_link(first, name, ec);
    if (ec) fs::copy_file(first, name);
  }
  return in;
}

void ExpectEachFileOnceWithoutErrors(const Rows& rows, int files) {
  EXPECT_EQ(rows.by_file.size(), static_cast<size_t>(files));
  for (const auto& [file, list] : rows.by_file) {
    EXPECT_EQ(list.size(), 1u) << file << " has " << list.size() << " rows";
    for (const auto& row : list) EXPECT_FALSE(row.contains("error")) << row.dump();
  }
}

TEST(BatchFaultTest, KilledAtRandomPointsSeveralTimesThenEveryFileScoredOnce) {
  const fs::path dir = TestDir();
  // Enough files that five rounds of kills cannot finish the batch on a fast
  // machine (the tiny model scores a file in a few milliseconds there).
  constexpr int kFiles = 400;
  const fs::path in = Inputs(dir, kFiles);
  const fs::path out = dir / "results.jsonl";
  const unsigned seed = std::random_device()();
  RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int kills = 0;
  for (int round = 0; round < 5; ++round) {
    const int before = CountLines(out);
    Subprocess batch(kSpoofctl, {"batch", in.string(), "--out", out.string(), "--jobs", "2",
                                 "--model", kTiny.string()},
                     dir / ("round" + std::to_string(round) + ".log"));
    // The kill point is chosen by progress, not by wall time, so that it
    // lands mid-run on slow and fast machines alike: wait for 1-8 new rows,
    // then kill 0-3 ms later (before, during or after the next row's write).
    const int target = before + std::uniform_int_distribution<>(1, 8)(rng);
    for (int i = 0; i < 30000 && batch.Running() && CountLines(out) < target; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<>(0, 3000)(rng)));
    if (batch.Running()) {
      batch.Signal(SIGKILL);
      ++kills;
    }
    batch.Wait();
  }
  // Every round killed a live batch: none could have finished 400 files.
  EXPECT_EQ(kills, 5);
  Result r = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(out) + " --jobs 2 --model " +
                         Quote(kTiny));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const Rows rows = ReadRows(out);
  EXPECT_LE(rows.torn, kills);  // at most one torn line per kill, never a lost row
  ExpectEachFileOnceWithoutErrors(rows, kFiles);
  // A further rerun has nothing left to do.
  Result again = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(out) + " --model " +
                             Quote(kTiny));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  const Rows after = ReadRows(out);
  ExpectEachFileOnceWithoutErrors(after, kFiles);
}

TEST(BatchFaultTest, OneOfTwoServersKilledMidRun) {
  const fs::path dir = TestDir();
  constexpr int kFiles = 120;
  const fs::path in = Inputs(dir, kFiles);
  const fs::path spoofd = fs::path(SPOOFD_BINARY_DIR) / "bin/spoofd";
  std::vector<std::unique_ptr<Subprocess>> servers;
  std::vector<std::string> targets;
  for (int i = 0; i < 2; ++i) {
    servers.push_back(std::make_unique<Subprocess>(
        spoofd,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--metrics-listen", "", "--model",
                                 kTiny.string(), "--workers", "1"},
        dir / ("spoofd" + std::to_string(i) + ".log")));
    const int port = servers.back()->WaitForPort();
    ASSERT_GT(port, 0) << servers.back()->Log();
    targets.push_back("127.0.0.1:" + std::to_string(port));
  }
  const fs::path out = dir / "results.jsonl";
  Subprocess batch(kSpoofctl,
                   {"batch", in.string(), "--out", out.string(), "--jobs", "2", "--server",
                    targets[0], "--server", targets[1], "--timeout-s", "60"},
                   dir / "batch.log");
  // Both servers have answered something; then the second one dies.
  auto served_by = [&](const std::string& target) {
    const Rows rows = ReadRows(out);
    for (const auto& [file, list] : rows.by_file) {
      for (const auto& row : list) {
        if (row.value("server", "") == target) return true;
      }
    }
    return false;
  };
  for (int i = 0; i < 6000 && batch.Running() && !(served_by(targets[0]) && served_by(targets[1]));
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int rows_before_kill = CountLines(out);
  servers[1]->Signal(SIGKILL);
  servers[1]->Wait();
  EXPECT_EQ(batch.Wait(std::chrono::seconds(300)), 0) << batch.Log();
  EXPECT_LT(rows_before_kill, kFiles) << "the batch finished before the kill";
  const Rows rows = ReadRows(out);
  EXPECT_EQ(rows.torn, 0);
  ExpectEachFileOnceWithoutErrors(rows, kFiles);
  int on_survivor = 0;
  for (const auto& [file, list] : rows.by_file) on_survivor += list[0].value("server", "") == targets[0];
  EXPECT_GE(on_survivor, kFiles - rows_before_kill);
}

}  // namespace
}  // namespace spoofd::testing
