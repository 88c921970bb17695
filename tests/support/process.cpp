#include "tests/support/process.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/wait.hpp"

extern char** environ;

namespace testkit {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> merged_environment(const Process::Env& overrides) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : overrides) {
    if (v == "\x01") {
      vars.erase(k);
    } else {
      vars[k] = v;
    }
  }
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [k, v] : vars)
    out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Process::Process(std::vector<std::string> argv, Env env) {
  char dir_template[] = "/tmp/outbox-proc-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + strerror(errno));
  dir_ = dir_template;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ + "/out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (dir_ + "/err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  auto env_strings = merged_environment(env);
  auto envp = pointers(env_strings);
  auto argvp = pointers(argv);
  const int rc = posix_spawn(&pid_, argv.at(0).c_str(), &actions, nullptr, argvp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + ": " + strerror(rc));
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void Process::signal(int signum) {
  if (!status_) ::kill(pid_, signum);
}

bool Process::running() {
  if (status_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = decode_status(status);
    return false;
  }
  return r == 0;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  wait_until([this] { return !running(); }, timeout, std::chrono::milliseconds(5));
  return status_;
}

std::chrono::milliseconds Process::cpu_time() const {
  std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
  const auto close = content.rfind(')');
  if (close == std::string::npos) return std::chrono::milliseconds(-1);
  std::istringstream fields(content.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  // After ")": state(3) ppid(4) ... utime is field 14, stime field 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::stoll(field);
    if (index == 15) stime = std::stoll(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return std::chrono::milliseconds((utime + stime) * 1000 / ticks);
}

std::string Process::out() const {
  return read_file(dir_ + "/out");
}

std::string Process::err() const {
  return read_file(dir_ + "/err");
}

bool Process::wait_for_err(const std::string& needle, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return err().find(needle) != std::string::npos; }, timeout,
                    std::chrono::milliseconds(20));
}

RunResult run(std::vector<std::string> argv, Process::Env env, std::chrono::milliseconds timeout) {
  Process p(std::move(argv), std::move(env));
  RunResult result;
  if (auto code = p.wait(timeout)) result.exit_code = *code;
  result.out = p.out();
  result.err = p.err();
  return result;
}

}  // namespace testkit
