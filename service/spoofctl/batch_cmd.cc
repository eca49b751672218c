#include "service/spoofctl/batch_cmd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dsp/decode.h"
#include "models/model.h"
#include "nlohmann/json.hpp"
#include "service/spoofctl/remote.h"
#include "service/spoofctl/scoring.h"
#include "spoofd/version.h"

namespace spoofd::cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr char kName[] = "spoofctl batch";

struct BatchOptions {
  std::vector<std::string> paths;
  std::string manifest;
  std::string out_path;
  std::string csv_path;
  int jobs = 0;  // 0: hardware threads
  bool follow_symlinks = false;
  std::string model_path;
  LocalScoreOptions score;
  ServerFlags server;  // non-empty servers: score remotely
  std::string shard;   // "K/N", or "N" with K from $JOB_COMPLETION_INDEX; empty: everything
  bool ok_with_error_rows = false;  // exit 0 when every file has a row, errors included
};

// ---------------------------------------------------------------------------
// Shards

struct Shard {
  int index = 0;  // K, in [0, count)
  int count = 1;  // N
};

// "K/N", or "N" alone with K from $JOB_COMPLETION_INDEX (a Kubernetes Indexed
// Job sets it in each pod).
absl::StatusOr<Shard> ParseShard(const std::string& text) {
  Shard shard;
  std::string index_text, count_text = text;
  if (const size_t slash = text.find('/'); slash != std::string::npos) {
    index_text = text.substr(0, slash);
    count_text = text.substr(slash + 1);
  } else {
    const char* env = std::getenv("JOB_COMPLETION_INDEX");
    if (env == nullptr || *env == '\0') {
      return absl::InvalidArgumentError(absl::StrCat(
          "--shard ", text, ": give K/N, or N with $JOB_COMPLETION_INDEX set to K"));
    }
    index_text = env;
  }
  auto parse = [](const std::string& digits, int* value) {
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      return false;
    *value = std::stoi(digits);
    return true;
  };
  if (!parse(index_text, &shard.index) || !parse(count_text, &shard.count) || shard.count < 1 ||
      shard.index >= shard.count) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard ", text, " (K=", index_text,
                     "): want K/N with 0 <= K < N, e.g. 0/4 ... 3/4"));
  }
  return shard;
}

// Which shard a path belongs to: the first 8 bytes of SHA-256 of the path as
// listed, modulo N. Stable across machines, runs and N's other shards, and
// independent of the file's content (which may be unreadable).
int ShardOf(const std::string& path, int count) {
  const std::string digest = models::Sha256Hex(path.data(), path.size());
  const std::uint64_t prefix = std::stoull(digest.substr(0, 16), nullptr, 16);
  return static_cast<int>(prefix % static_cast<std::uint64_t>(count));
}

struct ModelId {
  std::string name, version, sha256;
};

// ---------------------------------------------------------------------------
// Inputs

bool IsWithin(const fs::path& path, const fs::path& root) {
  auto [r, p] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return r == root.end();
}

// Regular files under `root`, recursively. Without `follow`, a symlink is
// taken only when it resolves inside the tree: evidence trees may hold links
// to the examiner's own disk, which must not end up in the report. Links to
// directories are never descended without `follow` (that also avoids loops).
std::vector<std::string> FilesUnder(const fs::path& root, bool follow) {
  std::vector<std::string> files;
  std::error_code ec;
  const fs::path canonical_root = fs::canonical(root, ec);
  auto options = fs::directory_options::skip_permission_denied;
  if (follow) options |= fs::directory_options::follow_directory_symlink;
  for (fs::recursive_directory_iterator it(root, options, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    std::error_code entry_ec;
    if (!follow && entry.is_symlink(entry_ec)) {
      const fs::path target = fs::weakly_canonical(entry.path(), entry_ec);
      if (entry_ec || !IsWithin(target, canonical_root)) {
        std::cerr << kName << ": not following " << entry.path().string()
                  << ": symlink leads outside " << root.string() << "\n";
        continue;
      }
    }
    if (entry.is_regular_file(entry_ec)) files.push_back(entry.path().string());
  }
  if (ec) std::cerr << kName << ": " << root.string() << ": " << ec.message() << "\n";
  std::sort(files.begin(), files.end());
  return files;
}

absl::StatusOr<std::vector<std::string>> ReadManifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read manifest ", path));
  std::vector<std::string> paths;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    paths.push_back(line);
  }
  return paths;
}

// Files to score, in order, each once. Directories expand recursively; any
// other path (missing ones included) is kept so that it gets an error row.
absl::StatusOr<std::vector<std::string>> CollectInputs(const BatchOptions& options) {
  std::vector<std::string> given = options.paths;
  if (!options.manifest.empty()) {
    absl::StatusOr<std::vector<std::string>> listed = ReadManifest(options.manifest);
    if (!listed.ok()) return listed.status();
    given.insert(given.end(), listed->begin(), listed->end());
  }
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const std::string& path : given) {
    std::error_code ec;
    std::vector<std::string> expanded = fs::is_directory(path, ec)
                                            ? FilesUnder(path, options.follow_symlinks)
                                            : std::vector<std::string>{path};
    for (std::string& file : expanded) {
      if (seen.insert(file).second) files.push_back(std::move(file));
    }
  }
  return files;
}

// ---------------------------------------------------------------------------
// The results file

// A file is done when a row with the same path, content and model exists.
// The path is part of the key so that identical copies at different paths
// (common on seized media) each get their own row.
std::string DoneKey(const std::string& file, const std::string& sha256,
                    const std::string& model_sha256) {
  return absl::StrCat(file, "\n", sha256, "\n", model_sha256);
}

// Complete rows of a results file: lines that parse as JSON objects. A line
// torn by a crash does not parse and is ignored; its file is scored again.
std::vector<Json> ReadRows(const std::string& path) {
  std::vector<Json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Json row = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_object() && row.contains("file")) rows.push_back(std::move(row));
  }
  return rows;
}

std::string StringAt(const Json& row, const char* key) {
  auto it = row.find(key);
  return it != row.end() && it->is_string() ? it->get<std::string>() : "";
}

// Whether a rerun would get the same error: the file's content is at fault
// (not audio, a codec this build lacks), not a server or the machine.
bool IsFinalError(const Json& error) {
  const std::string code = StringAt(error, "code");
  return code == absl::StatusCodeToString(absl::StatusCode::kInvalidArgument) ||
         code == absl::StatusCodeToString(absl::StatusCode::kUnimplemented);
}

// DoneKey -> whether that row is an error row. Rows with transient errors
// (a server down, a deadline) are not done: a rerun retries them.
std::map<std::string, bool> DoneRows(const std::vector<Json>& rows) {
  std::map<std::string, bool> done;
  for (const Json& row : rows) {
    if (auto error = row.find("error"); error != row.end() && !IsFinalError(*error)) continue;
    const std::string sha256 = StringAt(row, "sha256");
    auto model = row.find("model");
    if (sha256.empty() || model == row.end() || !model->is_object()) continue;
    done[DoneKey(StringAt(row, "file"), sha256, StringAt(*model, "sha256"))] =
        row.contains("error");
  }
  return done;
}

// Appends one line per row, each made durable (write + fsync) before the next,
// so a kill at any moment loses at most rows in flight and never an earlier one.
class ResultLog {
 public:
  static absl::StatusOr<std::unique_ptr<ResultLog>> Open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    auto log = std::unique_ptr<ResultLog>(new ResultLog(fd));
    // After a crash mid-write the file ends in a torn line; terminate it so
    // the next row starts on a line of its own (the torn one stays invalid).
    if (!EndsWithNewline(path)) {
      if (absl::Status s = log->WriteAll("\n"); !s.ok()) return s;
    }
    return log;
  }
  ~ResultLog() { ::close(fd_); }

  absl::Status Append(const Json& row) {
    const std::string line = row.dump() + "\n";
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status s = WriteAll(line); !s.ok()) return s;
    if (::fsync(fd_) != 0)
      return absl::InternalError(absl::StrCat("fsync: ", std::strerror(errno)));
    return absl::OkStatus();
  }

 private:
  explicit ResultLog(int fd) : fd_(fd) {}

  static bool EndsWithNewline(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in || in.tellg() <= 0) return true;  // empty: nothing to terminate
    in.seekg(-1, std::ios::end);
    return in.get() == '\n';
  }

  // One write() for the whole line where the kernel allows it, so that
  // concurrent readers (tail -f) rarely see partial lines.
  absl::Status WriteAll(const std::string& data) {
    size_t written = 0;
    while (written < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + written, data.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::InternalError(absl::StrCat("write: ", std::strerror(errno)));
      written += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  const int fd_;
  std::mutex mu_;
};

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// Chain of custody: what was read, with which model and tool, and when.
void AddCustody(Json& row, const std::string& file, const std::string& sha256, std::int64_t bytes,
                const ModelId& model) {
  row["file"] = file;
  if (!sha256.empty()) {
    row["sha256"] = sha256;  // computed here from the bytes read, even when a server scored
    row["bytes"] = bytes;
  }
  if (!row.contains("model") || StringAt(row["model"], "sha256").empty()) {
    row["model"] = {{"name", model.name}, {"version", model.version}, {"sha256", model.sha256}};
  }
  row["spoofctl_version"] = kVersion;
  row["scored_at_utc"] = UtcNow();
}

Json ErrorRow(const std::string& file, const absl::Status& status) {
  Json row;
  row["file"] = file;
  row["error"] = {{"code", absl::StatusCodeToString(status.code())},
                  {"message", std::string(status.message())}};
  return row;
}

// ---------------------------------------------------------------------------
// Scoring backends: in-process, or spoofd servers.

struct Backend {
  // Scores bytes already read and hashed; the returned row has no custody fields yet.
  std::function<FileScore(const std::string& file, const std::vector<std::uint8_t>& bytes,
                          const std::string& sha256)>
      score;
  // True once no server is left (remote only): further files cannot be scored.
  std::function<bool()> exhausted = [] { return false; };
};

// Round-robin over servers. A server that answers UNAVAILABLE is set aside
// for kRetryAfter and the file goes to the next one, so a batch survives
// servers going down as long as one lives, and a server that comes back (a
// restarted replica) gets work again.
class RemoteBackend {
 public:
  static absl::StatusOr<std::shared_ptr<RemoteBackend>> Create(const BatchOptions& options,
                                                               ModelId* model) {
    auto backend = std::shared_ptr<RemoteBackend>(new RemoteBackend());
    for (const std::string& target : options.server.servers) {
      absl::StatusOr<std::unique_ptr<client::Client>> c = Connect(options.server, target);
      if (!c.ok())
        return absl::Status(c.status().code(), absl::StrCat(target, ": ", c.status().message()));
      backend->servers_.push_back({target, *std::move(c)});
    }
    // The model identity is needed before scoring, to know what is already done.
    absl::Status last = absl::UnavailableError("no server");
    for (Server& server : backend->servers_) {
      absl::StatusOr<v1::GetModelInfoResponse> info = server.client->GetModelInfo();
      if (info.ok()) {
        *model = {info->name(), info->version(), info->sha256()};
        break;
      }
      last = info.status();
    }
    if (model->sha256.empty()) return last;
    backend->config_.mutable_options()->set_operating_point(options.score.operating_point);
    backend->config_.mutable_options()->set_segment_s(options.score.segment_s);
    return backend;
  }

  // Every server failed within the last kRetryAfter: the batch stops (a
  // rerun resumes it) rather than spinning on servers that are all down.
  bool AllDead() const {
    const std::int64_t now = NowMs();
    return std::all_of(servers_.begin(), servers_.end(),
                       [now](const Server& s) { return s.down_until_ms.load() > now; });
  }

  FileScore Score(const std::string& file, const std::vector<std::uint8_t>& bytes) {
    v1::UploadConfig config = config_;
    config.mutable_format()->set_format_hint(file);
    absl::Status status = absl::UnavailableError("no spoofd server is available");
    // Each server at most once per file, starting at this file's turn; other
    // workers moving next_ meanwhile must not make us skip a live server.
    const size_t first = next_.fetch_add(1);
    for (size_t attempt = 0; attempt < servers_.size(); ++attempt) {
      Server& server = servers_[(first + attempt) % servers_.size()];
      if (server.down_until_ms.load() > NowMs()) continue;
      absl::StatusOr<v1::ScoreResponse> response = server.client->ScoreAny(config, bytes);
      if (response.ok()) {
        FileScore result;
        result.verdict = VerdictFromResult(response->result());
        result.row = ResultJson(file, *response, server.target);
        return result;
      }
      status = response.status();
      if (status.code() != absl::StatusCode::kUnavailable) break;  // the file's fault: no retry
      std::cerr << kName << ": " << server.target
                << " unavailable, retrying elsewhere: " << status.message() << "\n";
      server.down_until_ms = NowMs() + kRetryAfterMs;
    }
    FileScore result;
    result.status = status;
    result.row = ErrorRow(file, status);
    return result;
  }

 private:
  static constexpr std::int64_t kRetryAfterMs = 3000;
  static std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  struct Server {
    std::string target;
    std::unique_ptr<client::Client> client;
    std::atomic<std::int64_t> down_until_ms{0};  // set aside until then (steady clock)
    Server(std::string t, std::unique_ptr<client::Client> c)
        : target(std::move(t)), client(std::move(c)) {}
    Server(Server&& other) noexcept
        : target(std::move(other.target)), client(std::move(other.client)) {}
  };
  std::vector<Server> servers_;
  std::atomic<size_t> next_{0};
  v1::UploadConfig config_;
};

absl::StatusOr<Backend> MakeBackend(const BatchOptions& options, ModelId* model) {
  if (!options.server.servers.empty()) {
    absl::StatusOr<std::shared_ptr<RemoteBackend>> remote = RemoteBackend::Create(options, model);
    if (!remote.ok()) return remote.status();
    return Backend{
        [remote = *remote](const std::string& file, const std::vector<std::uint8_t>& bytes,
                           const std::string&) { return remote->Score(file, bytes); },
        [remote = *remote] { return remote->AllDead(); }};
  }
  absl::StatusOr<std::unique_ptr<models::Scorer>> loaded =
      LoadScorer(ResolveModelPath(options.model_path));
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<const models::Scorer> scorer = *std::move(loaded);
  const models::ModelContract& contract = scorer->model().contract();
  *model = {contract.name, contract.version, scorer->model().sha256()};
  return Backend{[scorer, score = options.score](const std::string& file,
                                                 const std::vector<std::uint8_t>& bytes,
                                                 const std::string& sha256) {
    return ScoreBytesLocal(*scorer, file, bytes, sha256, score);
  }};
}

// ---------------------------------------------------------------------------
// Progress and totals

struct Totals {
  int total = 0;
  int done = 0;  // scored, failed or skipped
  int skipped = 0;
  int errors = 0;           // error rows written in this run
  int previous_errors = 0;  // skipped files whose earlier row is an error
  std::map<std::string, int> decisions;
  double audio_s = 0.0;  // scored in this run
};

class Progress {
 public:
  Progress(const Totals* totals, std::mutex* mu)
      : totals_(totals),
        mu_(mu),
        tty_(::isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {
    // A terminal gets a bar redrawn in place; logs get a line every 5 s.
    const auto period = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
    thread_ = std::thread([this, period] {
      std::unique_lock<std::mutex> lock(stop_mu_);
      while (!stop_cv_.wait_for(lock, period, [this] { return stopped_; })) Draw();
    });
  }

  ~Progress() {
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      stopped_ = true;
    }
    stop_cv_.notify_all();
    thread_.join();
    if (tty_) {
      Draw();
      std::cerr << "\n";
    }
  }

 private:
  void Draw() {
    Totals t;
    {
      std::lock_guard<std::mutex> lock(*mu_);
      t = *totals_;
    }
    const double elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const int worked = t.done - t.skipped;  // skipped files say nothing about speed
    const double rate = elapsed_s > 0 ? worked / elapsed_s : 0.0;
    const double eta_s = rate > 0 ? (t.total - t.done) / rate : 0.0;
    const std::string stats = absl::StrFormat(
        "%d/%d files  %.2f h audio  %.1f files/s  ETA %d:%02d", t.done, t.total, t.audio_s / 3600.0,
        rate, static_cast<int>(eta_s) / 60, static_cast<int>(eta_s) % 60);
    if (!tty_) {
      std::cerr << kName << ": " << stats << "\n";
      return;
    }
    constexpr int kWidth = 30;
    const int filled = t.total > 0 ? kWidth * t.done / t.total : kWidth;
    std::cerr << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] "
              << stats << "\x1b[K" << std::flush;
  }

  const Totals* totals_;
  std::mutex* mu_;
  const bool tty_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  std::thread thread_;  // last: started after everything it reads
};

void PrintSummary(const Totals& t, double wall_s, const std::string& out_path) {
  std::cout << absl::StrFormat("%d files: %d scored, %d skipped (already in %s), %d errors\n",
                               t.total, t.total - t.skipped - t.errors, t.skipped, out_path,
                               t.errors + t.previous_errors);
  for (const auto& [decision, count] : t.decisions) {
    std::cout << absl::StrFormat("  %-13s %d\n", decision, count);
  }
  std::cout << absl::StrFormat("audio %.3f h in %.1f s wall time (%.1fx real time)\n",
                               t.audio_s / 3600.0, wall_s, wall_s > 0 ? t.audio_s / wall_s : 0.0);
}

// ---------------------------------------------------------------------------
// CSV export

std::string CsvField(const std::string& value) {
  if (value.find_first_of(",\"\n\r") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string CsvValue(const Json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// Every complete row of the results file, earlier runs included, so the CSV
// always matches the JSONL it was made from.
absl::Status WriteCsv(const std::string& jsonl_path, const std::string& csv_path) {
  std::ofstream out(csv_path, std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", csv_path));
  out << "file,sha256,bytes,duration_s,speech_s,score,llr,decision,reason,error,model_version,"
         "scored_at_utc\n";
  for (const Json& row : ReadRows(jsonl_path)) {
    std::string error;
    if (auto e = row.find("error"); e != row.end() && e->is_object()) {
      error = absl::StrCat(CsvValue(*e, "code"), ": ", CsvValue(*e, "message"));
    }
    const std::string model_version =
        row.contains("model") ? CsvValue(row["model"], "version") : "";
    std::vector<std::string> fields = {CsvValue(row, "file"),
                                       CsvValue(row, "sha256"),
                                       CsvValue(row, "bytes"),
                                       CsvValue(row, "duration_s"),
                                       CsvValue(row, "speech_s"),
                                       CsvValue(row, "score"),
                                       CsvValue(row, "llr"),
                                       CsvValue(row, "decision"),
                                       CsvValue(row, "reason"),
                                       error,
                                       model_version,
                                       CsvValue(row, "scored_at_utc")};
    for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << CsvField(fields[i]);
    out << "\n";
  }
  out.close();
  return out ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", csv_path));
}

// ---------------------------------------------------------------------------
// The batch

class Batch {
 public:
  Batch(const std::vector<std::string>& files, const BatchOptions& options, Backend backend,
        ModelId model, std::map<std::string, bool> done, ResultLog* log)
      : files_(files),
        options_(options),
        backend_(std::move(backend)),
        model_(std::move(model)),
        done_(std::move(done)),
        log_(log) {
    totals_.total = static_cast<int>(files.size());
  }

  Totals Run(int jobs) {
    {
      Progress progress(&totals_, &mu_);
      std::vector<std::thread> workers;
      for (int i = 0; i < jobs; ++i) workers.emplace_back([this] { Work(); });
      for (std::thread& worker : workers) worker.join();
    }
    std::lock_guard<std::mutex> lock(mu_);
    return totals_;
  }

  // The batch stopped early: a row could not be written, or no server is left.
  bool stopped() const { return stop_.load(); }

 private:
  void Work() {
    for (size_t i = next_.fetch_add(1); i < files_.size() && !stop_; i = next_.fetch_add(1)) {
      Process(files_[i]);
    }
  }

  void Process(const std::string& file) {
    absl::StatusOr<std::vector<std::uint8_t>> bytes =
        decode::ReadFileBytes(file, options_.score.input.MaxInputBytes());
    if (!bytes.ok()) {
      Record(file, "", 0,
             FileScore{bytes.status(), std::nullopt, "", 0, ErrorRow(file, bytes.status())});
      return;
    }
    const std::string sha256 = models::Sha256Hex(bytes->data(), bytes->size());
    if (auto it = done_.find(DoneKey(file, sha256, model_.sha256)); it != done_.end()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++totals_.done;
      ++totals_.skipped;
      if (it->second) ++totals_.previous_errors;
      return;
    }
    FileScore scored = backend_.score(file, *bytes, sha256);
    if (!scored.status.ok() && backend_.exhausted()) {
      // Not the file's fault: leave it without a row so that a rerun scores it.
      if (!stop_.exchange(true)) std::cerr << kName << ": no spoofd server left; stopping\n";
      return;
    }
    Record(file, sha256, static_cast<std::int64_t>(bytes->size()), std::move(scored));
  }

  void Record(const std::string& file, const std::string& sha256, std::int64_t size,
              FileScore scored) {
    AddCustody(scored.row, file, sha256, size, model_);
    if (!scored.status.ok())
      std::cerr << kName << ": " << file << ": " << scored.status.message() << "\n";
    if (absl::Status s = log_->Append(scored.row); !s.ok()) {
      // Without a durable row the file is not done; stop rather than report it.
      std::cerr << kName << ": " << options_.out_path << ": " << s.message() << "\n";
      stop_ = true;
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++totals_.done;
    if (!scored.verdict) {
      ++totals_.errors;
      return;
    }
    ++totals_.decisions[std::string(models::DecisionName(scored.verdict->decision))];
    totals_.audio_s += scored.verdict->duration_s;
  }

  const std::vector<std::string>& files_;
  const BatchOptions& options_;
  const Backend backend_;
  const ModelId model_;
  const std::map<std::string, bool> done_;
  ResultLog* const log_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  Totals totals_;
};

int Usage(const std::string& message) {
  std::cerr << kName << ": " << message << "\n";
  return 2;
}

int RunBatch(const BatchOptions& options) {
  if (options.paths.empty() && options.manifest.empty())
    return Usage("give PATH... or --manifest FILE");
  absl::StatusOr<std::vector<std::string>> files = CollectInputs(options);
  if (!files.ok()) return Usage(std::string(files.status().message()));
  if (!options.shard.empty()) {
    absl::StatusOr<Shard> shard = ParseShard(options.shard);
    if (!shard.ok()) return Usage(std::string(shard.status().message()));
    std::erase_if(*files, [&](const std::string& file) {
      return ShardOf(file, shard->count) != shard->index;
    });
    std::cerr << kName << ": shard " << shard->index << "/" << shard->count << ": "
              << files->size() << " files\n";
  }
  const auto start = std::chrono::steady_clock::now();

  ModelId model;
  absl::StatusOr<Backend> backend = MakeBackend(options, &model);
  if (!backend.ok()) {
    std::cerr << kName << ": " << backend.status().message() << "\n";
    return 1;
  }
  std::map<std::string, bool> done = DoneRows(ReadRows(options.out_path));
  absl::StatusOr<std::unique_ptr<ResultLog>> log = ResultLog::Open(options.out_path);
  if (!log.ok()) {
    std::cerr << kName << ": " << log.status().message() << "\n";
    return 1;
  }
  const int jobs =
      options.jobs > 0 ? options.jobs : std::max(1u, std::thread::hardware_concurrency());
  Batch batch(*files, options, *std::move(backend), model, std::move(done), log->get());
  const Totals totals = batch.Run(std::min<int>(jobs, std::max<size_t>(files->size(), 1)));
  if (batch.stopped()) {
    std::cerr << kName << ": " << totals.total - totals.done
              << " files not scored; rerun the same command to resume\n";
    return 1;
  }

  if (!options.csv_path.empty()) {
    if (absl::Status s = WriteCsv(options.out_path, options.csv_path); !s.ok()) {
      std::cerr << kName << ": " << s.message() << "\n";
      return 1;
    }
  }
  PrintSummary(totals,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
               options.out_path);
  if (options.ok_with_error_rows) return 0;
  return totals.errors + totals.previous_errors == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------
// Merge: shard results files -> one, with every input exactly once.

struct MergeOptions {
  std::vector<std::string> results;  // shard results files
  std::vector<std::string> paths;    // the batch's inputs, as given to each shard
  std::string manifest;
  bool follow_symlinks = false;
  std::string out_path;
  std::string csv_path;
};

int RunMerge(const MergeOptions& options) {
  constexpr char kMerge[] = "spoofctl merge";
  auto fail = [&](const std::string& message, int code) {
    std::cerr << kMerge << ": " << message << "\n";
    return code;
  };
  if (options.paths.empty() && options.manifest.empty())
    return fail("give the batch's inputs: --manifest FILE or --inputs PATH...", 2);
  BatchOptions inputs_options;
  inputs_options.paths = options.paths;
  inputs_options.manifest = options.manifest;
  inputs_options.follow_symlinks = options.follow_symlinks;
  absl::StatusOr<std::vector<std::string>> inputs = CollectInputs(inputs_options);
  if (!inputs.ok()) return fail(std::string(inputs.status().message()), 2);
  for (const std::string& path : options.results) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return fail(absl::StrCat("cannot read ", path), 2);
  }

  // Per input: its final row (scored, or an error a rerun would repeat) and
  // which results file it came from. A transient error row followed by a
  // final row in the same file is a resumed batch, not a duplicate.
  struct Found {
    Json row;
    std::string from;
    bool final = false;
  };
  std::map<std::string, Found> found;
  std::vector<std::string> twice, unknown;
  std::set<std::string> models;
  const std::set<std::string> wanted(inputs->begin(), inputs->end());
  for (const std::string& path : options.results) {
    for (Json& row : ReadRows(path)) {
      const std::string file = StringAt(row, "file");
      if (!wanted.count(file)) {
        unknown.push_back(file);
        continue;
      }
      auto error = row.find("error");
      const bool final = error == row.end() || IsFinalError(*error);
      Found& f = found[file];
      if (final && f.final) {
        twice.push_back(absl::StrCat(file, " (", f.from, " and ", path, ")"));
        continue;
      }
      if (final || !f.final) {
        if (final && row.contains("model")) models.insert(StringAt(row["model"], "sha256"));
        f = {std::move(row), path, final};
      }
    }
  }
  std::vector<std::string> missing;
  for (const std::string& file : *inputs) {
    auto it = found.find(file);
    if (it == found.end() || !it->second.final) missing.push_back(file);
  }
  std::vector<std::string> problems;
  auto describe = [&](const std::vector<std::string>& list, const char* what) {
    if (!list.empty())
      problems.push_back(absl::StrCat(list.size(), " ", what, " (first: ", list.front(), ")"));
  };
  describe(missing, "inputs missing or not scored");
  describe(twice, "inputs scored twice");
  describe(unknown, "rows for files not in the input list");
  if (models.size() > 1) problems.push_back(absl::StrCat(models.size(), " different models"));
  if (!problems.empty()) {
    std::string line = problems.front();
    for (size_t i = 1; i < problems.size(); ++i) line += "; " + problems[i];
    return fail(line, 1);
  }

  // Written whole to a temporary file and renamed: a merged file is complete or absent.
  const std::string tmp = options.out_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const std::string& file : *inputs) out << found[file].row.dump() << "\n";
    out.flush();
    if (!out) return fail(absl::StrCat("cannot write ", tmp), 1);
  }
  std::error_code ec;
  fs::rename(tmp, options.out_path, ec);
  if (ec) return fail(absl::StrCat("cannot write ", options.out_path, ": ", ec.message()), 1);
  if (!options.csv_path.empty()) {
    if (absl::Status s = WriteCsv(options.out_path, options.csv_path); !s.ok())
      return fail(std::string(s.message()), 1);
  }
  int errors = 0;
  for (const std::string& file : *inputs) errors += found[file].row.contains("error");
  std::cout << absl::StrFormat("%d inputs from %d results files, each exactly once (%d error rows) -> %s\n",
                               inputs->size(), options.results.size(), errors, options.out_path);
  return 0;
}

}  // namespace

void AddBatchCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<BatchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "batch", "Score many recordings into a resumable JSON-lines file (one row per file)");
  cmd->add_option("PATH", options->paths, "Recordings, or directories searched recursively");
  cmd->add_option("--manifest", options->manifest, "File listing paths to score, one per line");
  cmd->add_option("--out", options->out_path,
                  "JSON-lines results file; appended to, and resumed from")
      ->required();
  cmd->add_option("--csv", options->csv_path, "Also export every row of --out as CSV to this file");
  cmd->add_option("--jobs,-j", options->jobs,
                  "Files scored in parallel (default: hardware threads)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--follow-symlinks", options->follow_symlinks,
                "Follow symlinks that lead outside the given directories");
  cmd->add_option("--model", options->model_path,
                  "TorchScript model file (default: $SPOOFD_MODEL, else the bundled model)");
  cmd->add_option("--operating-point", options->score.operating_point,
                  "Named threshold from the model (default: the model's)");
  cmd->add_option("--segment-s", options->score.segment_s, "Segment length override in seconds");
  AddInputFlags(cmd, &options->score.input, /*headerless=*/false);
  cmd->add_option("--shard", options->shard,
                  "Score only shard K of N (K/N; or N with K from $JOB_COMPLETION_INDEX): "
                  "files are split by a hash of their path, each in exactly one shard");
  cmd->add_flag("--ok-with-error-rows", options->ok_with_error_rows,
                "Exit 0 once every file has a row, even if some rows are errors (undecodable "
                "files): for job runners that retry a non-zero exit");
  AddServerFlags(cmd, &options->server, /*multiple=*/true);
  cmd->callback([options, exit_code] { *exit_code = RunBatch(*options); });
}

void AddMergeCommand(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<MergeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "merge",
      "Combine the results files of batch shards into one; fails if an input is missing or "
      "scored twice");
  cmd->add_option("RESULTS", options->results, "Results files of the shards (JSON lines)")
      ->required();
  cmd->add_option("--manifest", options->manifest, "The input list the shards were given");
  cmd->add_option("--inputs", options->paths,
                  "The recordings or directories the shards were given (instead of --manifest)");
  cmd->add_flag("--follow-symlinks", options->follow_symlinks,
                "As given to the shards: follow symlinks out of the directories");
  cmd->add_option("--out", options->out_path, "Merged JSON-lines file, one row per input")
      ->required();
  cmd->add_option("--csv", options->csv_path, "Also write the merged rows as CSV");
  cmd->callback([options, exit_code] { *exit_code = RunMerge(*options); });
}

}  // namespace spoofd::cli
