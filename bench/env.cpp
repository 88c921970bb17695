#include "bench/env.hpp"

#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <dirent.h>
#include <unistd.h>

namespace bench {

namespace {

using namespace std::chrono_literals;

struct ProcStat {
  pid_t ppid = 0;
  long long ticks = 0;  // utime + stime
};

bool read_stat(pid_t pid, ProcStat& out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = content.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(content.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 4) out.ppid = static_cast<pid_t>(std::stol(field));
    if (index == 14) utime = std::stoll(field);
    if (index == 15) stime = std::stoll(field);
  }
  out.ticks = utime + stime;
  return true;
}

std::chrono::milliseconds ticks_to_ms(long long ticks) {
  return std::chrono::milliseconds(ticks * 1000 / sysconf(_SC_CLK_TCK));
}

}  // namespace

const std::string& payload() {
  static const std::string json =
      R"({"event":"order.created","order_id":"ord_8f14e45fceea167a5a36dedd4bea2543","customer":)"
      R"({"id":"cus_1679091c5a880faf","email":"someone@example.com"},"total":{"amount":12999,)"
      R"("currency":"EUR"},"lines":3,"note":"benchmark"})";
  return json;
}

Env::Env(const Options& options) : pg(testkit::PgCluster::Options{.durable = true}), options_(options) {
  auto migrated = testkit::run({options.relay_bin, "migrate", "--database-url", pg.url()});
  if (migrated.exit_code != 0) throw std::runtime_error("migrate failed: " + migrated.err);
}

std::unique_ptr<testkit::Process> Env::start_relay(const std::vector<std::string>& extra) const {
  std::vector<std::string> argv{options_.relay_bin, "run",      "--database-url",
                                pg.url(),           "--target", sink.url("/bench")};
  argv.insert(argv.end(), options_.relay_args.begin(), options_.relay_args.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<testkit::Process>(argv);
}

void Env::preload(int n) const {
  pg.exec("INSERT INTO outbox.messages (topic, payload) SELECT 'bench', '" + payload() +
          "'::jsonb FROM generate_series(1, " + std::to_string(n) + ")");
}

std::chrono::milliseconds Env::database_cpu() const {
  const pid_t postmaster = pg.postmaster_pid();
  long long ticks = 0;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  while (dirent* entry = readdir(proc.get())) {
    const pid_t pid = static_cast<pid_t>(std::atol(entry->d_name));
    ProcStat stat;
    if (pid > 0 && read_stat(pid, stat) && (pid == postmaster || stat.ppid == postmaster))
      ticks += stat.ticks;
  }
  return ticks_to_ms(ticks);
}

std::string Env::pgbench(const std::vector<std::string>& args, testkit::Process::Env env) const {
  std::vector<std::string> argv{"/usr/lib/postgresql/15/bin/pgbench",
                                "-h",
                                pg.socket_dir(),
                                "-p",
                                std::to_string(pg.port()),
                                "-U",
                                "postgres",
                                "-n"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("postgres");
  auto r = testkit::run(argv, std::move(env), std::chrono::minutes(10));
  if (r.exit_code != 0)
    throw std::runtime_error("pgbench failed (" + std::to_string(r.exit_code) + "): " + r.err);
  return r.out;
}

long resident_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::chrono::microseconds process_cpu(pid_t pid) {
  // schedstat counts nanoseconds on the CPU; /proc/PID/stat's clock ticks (10 ms) are too coarse to see
  // an idle relay's few milliseconds. Summed over the process's threads.
  long long nanoseconds = 0;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(tasks.c_str()), closedir);
  if (!dir) return std::chrono::microseconds(-1);
  while (dirent* entry = readdir(dir.get())) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + entry->d_name + "/schedstat");
    long long on_cpu = 0;
    if (in >> on_cpu) nanoseconds += on_cpu;
  }
  return std::chrono::microseconds(nanoseconds / 1000);
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace bench
