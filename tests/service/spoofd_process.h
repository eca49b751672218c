// A spoofd (or any) subprocess for the fault tests: started with fork/execv,
// stderr (spoofd's JSON log) to a file, signalled, waited for with a bound.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace spoofd::testing {

class Subprocess {
 public:
  // `program` with `args`; stderr to `log` (empty: /dev/null), stdout to /dev/null.
  // `cwd`: working directory of the child (empty: inherited). `env`: extra
  // NAME=VALUE entries.
  Subprocess(const std::filesystem::path& program, std::vector<std::string> args,
             const std::filesystem::path& log, const std::filesystem::path& cwd = {},
             const std::vector<std::string>& env = {})
      : log_(log) {
    args.insert(args.begin(), program.string());
    pid_ = fork();
    if (pid_ == 0) {
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
      for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
      FILE* err = std::freopen(log.empty() ? "/dev/null" : log.c_str(), "w", stderr);
      FILE* out = std::freopen("/dev/null", "w", stdout);
      (void)err;
      (void)out;
      // Only stdin/stdout/stderr are inherited (ctest and gtest leave files
      // open for writing that the child must not appear to hold).
      close_range(3, ~0U, 0);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Subprocess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) const { kill(pid_, sig); }

  // Exit code (128 + signal when killed), or -1 if still running after `limit`.
  int Wait(std::chrono::seconds limit = std::chrono::seconds(60)) {
    if (exited_) return status_;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  bool Running() {
    if (exited_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }

  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // spoofd only: waits for the "listening" log event; the gRPC port (0 if it
  // did not come within 60 s). Sets metrics_port().
  int WaitForPort() {
    for (int i = 0; i < 3000; ++i) {
      std::ifstream in(log_);
      for (std::string line; std::getline(in, line);) {
        if (line.find("\"event\":\"listening\"") == std::string::npos) continue;
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object()) {
          metrics_port_ = j.value("metrics_port", 0);
          return j.value("port", 0);
        }
      }
      if (!Running()) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }
  int metrics_port() const { return metrics_port_; }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
  int metrics_port_ = 0;
};

}  // namespace spoofd::testing
