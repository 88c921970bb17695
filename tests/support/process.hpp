#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace testkit {

// A child process (the real outbox-relay binary, usually) with stdout and stderr captured to files, so a
// test can signal it, wait for it with a deadline, read what it printed and how much CPU it used.
class Process {
 public:
  using Env = std::vector<std::pair<std::string, std::string>>;

  // Starts argv[0] (a path) with the current environment plus `env` (a value overrides; a variable whose
  // value is the single character "\x01" is removed instead).
  explicit Process(std::vector<std::string> argv, Env env = {});
  // Kills the child (SIGKILL) if still running and reaps it.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signum);
  bool running();
  // Waits for exit; returns the exit status (128 + signal number when killed by a signal) or nullopt when
  // it is still running at the deadline.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // User + system CPU time consumed so far (from /proc/PID/stat while running).
  std::chrono::milliseconds cpu_time() const;
  std::string out() const;
  std::string err() const;
  // Waits until stderr contains `needle`; returns whether it did before the deadline.
  bool wait_for_err(const std::string& needle, std::chrono::milliseconds timeout) const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string dir_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a command to completion (killing it at the deadline, which fails the run with exit code -1).
RunResult run(std::vector<std::string> argv, Process::Env env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace testkit
