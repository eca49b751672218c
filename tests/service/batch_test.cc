// Runs the real `spoofctl batch` with the tiny model: rows, custody fields,
// resume, crash safety (kill -9 plus a torn line), manifest, CSV, symlinks and
// usage errors.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
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

const fs::path kFixtures = kSource / "tests/data/fixtures";
const std::string kModel = " --model " + Quote(kSource / "tests/data/models/tiny.pt");

// A fresh directory per test (ctest runs each TEST in its own process).
fs::path TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) /
                       ("batch_" + std::string(info->name()) + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string Sha256Sum(const fs::path& file) {
  std::string out;
  FILE* pipe = popen(("sha256sum " + Quote(file)).c_str(), "r");
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  pclose(pipe);
  return out.substr(0, 64);
}

struct Rows {
  std::vector<nlohmann::json> valid;
  int invalid_lines = 0;
};

Rows ReadRows(const fs::path& jsonl) {
  Rows rows;
  std::ifstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object()) {
      rows.valid.push_back(std::move(row));
    } else {
      ++rows.invalid_lines;
    }
  }
  return rows;
}

int CountLines(const fs::path& file) {
  std::ifstream in(file);
  int lines = 0;
  std::string line;
  while (std::getline(in, line)) ++lines;
  return lines;
}

// Two decodable recordings and two that are not audio.
fs::path MixedInputs(const fs::path& dir) {
  const fs::path in = dir / "in";
  fs::create_directories(in / "sub");
  fs::copy_file(kFixtures / "speech.flac", in / "speech.flac");
  fs::copy_file(kFixtures / "wav_s16le_16k.wav", in / "sub" / "speech.wav");
  fs::copy_file(kFixtures / "bad_text.txt", in / "bad_text.txt");
  fs::copy_file(kFixtures / "bad_random.bin", in / "sub" / "bad_random.bin");
  return in;
}

TEST(SpoofctlBatchTest, OneRowPerFileWithCustodyAndErrorRows) {
  const fs::path dir = TestDir();
  const fs::path in = MixedInputs(dir);
  const fs::path out = dir / "results.jsonl";
  Result r = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(out) + " --jobs 2" + kModel);
  EXPECT_EQ(r.exit_code, 1) << r.err;  // two files are not audio
  EXPECT_THAT(r.out, HasSubstr("4 files: 2 scored, 0 skipped"));
  EXPECT_THAT(r.out, HasSubstr("2 errors"));

  Rows rows = ReadRows(out);
  EXPECT_EQ(rows.invalid_lines, 0);
  ASSERT_EQ(rows.valid.size(), 4u);
  std::map<std::string, nlohmann::json> by_file;
  for (const auto& row : rows.valid) by_file[row["file"]] = row;
  for (const auto& entry : fs::recursive_directory_iterator(in)) {
    if (!entry.is_regular_file()) continue;
    ASSERT_EQ(by_file.count(entry.path().string()), 1u) << entry.path();
    const nlohmann::json& row = by_file[entry.path().string()];
    EXPECT_EQ(row["sha256"], Sha256Sum(entry.path())) << entry.path();
    EXPECT_EQ(row["bytes"], fs::file_size(entry.path()));
    EXPECT_EQ(row["model"]["name"], "tiny-test-model");
    EXPECT_EQ(row["model"]["sha256"], Sha256Sum(kSource / "tests/data/models/tiny.pt"));
    EXPECT_FALSE(row["spoofctl_version"].get<std::string>().empty());
    EXPECT_THAT(
        row["scored_at_utc"].get<std::string>(),
        ::testing::MatchesRegex(R"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)"));
    const bool bad = entry.path().filename().string().rfind("bad_", 0) == 0;
    EXPECT_EQ(row.contains("error"), bad) << row.dump();
    if (bad) {
      EXPECT_EQ(row["error"]["code"], "INVALID_ARGUMENT");
    } else {
      EXPECT_TRUE(row.contains("decision")) << row.dump();
    }
  }
}

TEST(SpoofctlBatchTest, RerunSkipsEverythingAlreadyScored) {
  const fs::path dir = TestDir();
  const fs::path in = MixedInputs(dir);
  const fs::path out = dir / "results.jsonl";
  const std::string args = "batch " + Quote(in) + " --out " + Quote(out) + kModel;
  ASSERT_EQ(RunSpoofctl(args).exit_code, 1);
  ASSERT_EQ(CountLines(out), 4);
  Result again = RunSpoofctl(args);
  EXPECT_EQ(again.exit_code, 1);  // the earlier error rows still stand
  EXPECT_THAT(again.out, HasSubstr("0 scored, 4 skipped"));
  EXPECT_EQ(CountLines(out), 4);

  // A changed file is scored again.
  fs::copy_file(kFixtures / "speech.mp3", in / "speech.flac", fs::copy_options::overwrite_existing);
  Result changed = RunSpoofctl(args);
  EXPECT_THAT(changed.out, HasSubstr("1 scored, 3 skipped"));
  EXPECT_EQ(CountLines(out), 5);
}

// Starts spoofctl with `args` (no shell), output discarded; returns its pid.
pid_t Spawn(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    std::vector<char*> argv;
    std::string program = kSpoofctl.string();
    argv.push_back(program.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

TEST(SpoofctlBatchTest, KillNineThenTornLineThenRerunScoresEachFileOnce) {
  const fs::path dir = TestDir();
  const fs::path in = dir / "in";
  fs::create_directories(in);
  const fs::path sample = kSource / "samples/genuine_librivox_0870.wav";
  constexpr int kFiles = 40;
  for (int i = 0; i < kFiles; ++i)
    fs::copy_file(sample, in / ("copy_" + std::to_string(i) + ".wav"));
  const fs::path out = dir / "results.jsonl";

  const pid_t pid = Spawn({"batch", in.string(), "--out", out.string(), "--jobs", "1", "--model",
                           (kSource / "tests/data/models/tiny.pt").string()});
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (CountLines(out) < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const int before = CountLines(out);
  EXPECT_GE(before, 3);
  // Under heavy load the batch may finish first; the rerun checks still hold.
  if (before >= kFiles) GTEST_LOG_(WARNING) << "the batch finished before the kill";
  // As if the kill had landed in the middle of a write.
  std::ofstream(out, std::ios::app)
      << R"({"file":")" << (in / "copy_0.wav").string() << R"(","sha2)";

  Result r = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(out) + " --jobs 2" + kModel);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Rows rows = ReadRows(out);
  EXPECT_EQ(rows.invalid_lines, 1);  // only the torn line
  const std::string sha256 = Sha256Sum(sample);
  std::map<std::string, int> seen;
  for (const auto& row : rows.valid) {
    ++seen[row["file"]];
    EXPECT_EQ(row["sha256"], sha256);
    EXPECT_FALSE(row.contains("error")) << row.dump();
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kFiles));
  for (const auto& [file, count] : seen) EXPECT_EQ(count, 1) << file;
}

TEST(SpoofctlBatchTest, ManifestListsTheFiles) {
  const fs::path dir = TestDir();
  const fs::path manifest = dir / "list.txt";
  {
    std::ofstream list(manifest);
    list << "# comment\n"
         << (kFixtures / "speech.mp3").string() << "\n\n"
         << (kFixtures / "speech_opus.ogg").string() << "\n";
  }
  const fs::path out = dir / "results.jsonl";
  Result r = RunSpoofctl("batch --manifest " + Quote(manifest) + " --out " + Quote(out) + kModel);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Rows rows = ReadRows(out);
  ASSERT_EQ(rows.valid.size(), 2u);
  std::map<std::string, std::string> sha256_by_file;  // rows come in completion order
  for (const auto& row : rows.valid) sha256_by_file[row["file"]] = row["sha256"];
  EXPECT_EQ(
      sha256_by_file,
      (std::map<std::string, std::string>{
          {(kFixtures / "speech.mp3").string(), Sha256Sum(kFixtures / "speech.mp3")},
          {(kFixtures / "speech_opus.ogg").string(), Sha256Sum(kFixtures / "speech_opus.ogg")}}));
}

TEST(SpoofctlBatchTest, CsvExportHasOneLinePerRow) {
  const fs::path dir = TestDir();
  const fs::path in = MixedInputs(dir);
  const fs::path csv = dir / "results.csv";
  Result r = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(dir / "results.jsonl") +
                         " --csv " + Quote(csv) + kModel);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  std::ifstream in_csv(csv);
  std::string header;
  std::getline(in_csv, header);
  EXPECT_EQ(header,
            "file,sha256,bytes,duration_s,speech_s,score,llr,decision,reason,error,model_version,"
            "scored_at_utc");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in_csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  const std::string flac = (in / "speech.flac").string();
  int errors = 0;
  for (const std::string& line : lines) {
    if (line.find("INVALID_ARGUMENT") != std::string::npos) ++errors;
    if (line.rfind(flac + ",", 0) == 0) {
      EXPECT_THAT(line, HasSubstr(Sha256Sum(in / "speech.flac")));
      EXPECT_THAT(line, HasSubstr(",0.0.1-test,"));
    }
  }
  EXPECT_EQ(errors, 2);
}

TEST(SpoofctlBatchTest, SymlinkOutOfTheTreeIsNotFollowed) {
  const fs::path dir = TestDir();
  const fs::path in = dir / "in";
  fs::create_directories(in);
  fs::copy_file(kFixtures / "speech.flac", in / "speech.flac");
  fs::create_symlink(kFixtures / "speech.mp3", in / "outside.mp3");
  fs::create_symlink(kFixtures, in / "outside_dir");
  fs::create_symlink("speech.flac", in / "inside.flac");
  const fs::path out = dir / "results.jsonl";
  Result r = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(out) + kModel);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("not following"));
  std::vector<std::string> files;
  for (const auto& row : ReadRows(out).valid) files.push_back(row["file"]);
  EXPECT_THAT(files, ::testing::UnorderedElementsAre((in / "speech.flac").string(),
                                                     (in / "inside.flac").string()));

  // With --follow-symlinks the link outside is scored too.
  Result follow = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(dir / "follow.jsonl") +
                              " --follow-symlinks" + kModel);
  bool outside = false;
  for (const auto& row : ReadRows(dir / "follow.jsonl").valid) {
    outside |= row["file"] == (in / "outside.mp3").string();
  }
  EXPECT_TRUE(outside) << follow.err;
}

TEST(SpoofctlBatchTest, DeadServerFailsOverToTheLiveOne) {
  const fs::path dir = TestDir();
  const fs::path in = MixedInputs(dir);
  Subprocess server(fs::path(SPOOFD_BINARY_DIR) / "bin/spoofd",
                    {"--listen", "127.0.0.1:0", "--metrics-listen", "", "--model",
                     (kSource / "tests/data/models/tiny.pt").string()},
                    dir / "spoofd.log");
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.Log();
  const std::string live = "127.0.0.1:" + std::to_string(port);
  // Port 1 refuses connections: every file sent there must go to the live server.
  const fs::path out = dir / "results.jsonl";
  Result r = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(out) +
                         " --server 127.0.0.1:1 --server " + live + " --timeout-s 20");
  server.Signal(SIGKILL);
  server.Wait();
  EXPECT_EQ(r.exit_code, 1) << r.err;  // the two files that are not audio
  Rows rows = ReadRows(out);
  ASSERT_EQ(rows.valid.size(), 4u) << r.err;
  int scored = 0;
  for (const auto& row : rows.valid) {
    EXPECT_EQ(row["sha256"], Sha256Sum(row["file"].get<std::string>()));
    EXPECT_EQ(row["model"]["name"], "tiny-test-model");
    if (row.contains("error")) {
      EXPECT_EQ(row["error"]["code"], "INVALID_ARGUMENT") << row.dump();
      continue;
    }
    ++scored;
    EXPECT_EQ(row["server"], live);
  }
  EXPECT_EQ(scored, 2);

  // No server left: nothing is written, so that a later run can score it.
  Result none = RunSpoofctl("batch " + Quote(in) + " --out " + Quote(out) + " --server " + live);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(CountLines(out), 4);
}

TEST(SpoofctlBatchTest, UsageErrorsExitTwo) {
  const fs::path dir = TestDir();
  const std::string out = " --out " + Quote(dir / "r.jsonl");
  EXPECT_EQ(RunSpoofctl("batch" + out + kModel).exit_code, 2);                // nothing to score
  EXPECT_EQ(RunSpoofctl("batch " + Quote(kFixtures) + kModel).exit_code, 2);  // no --out
  EXPECT_EQ(RunSpoofctl("batch --manifest /nonexistent/list" + out + kModel).exit_code, 2);
  EXPECT_EQ(RunSpoofctl("batch x.wav --jobs -3" + out + kModel).exit_code, 2);
  EXPECT_EQ(RunSpoofctl("batch x.wav --bogus" + out + kModel).exit_code, 2);
  EXPECT_FALSE(fs::exists(dir / "r.jsonl"));
}

}  // namespace
