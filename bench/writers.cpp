#include <fstream>
#include <regex>
#include <stdexcept>

#include <signal.h>
#include <unistd.h>

#include "bench/scenarios.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

enum class Variant {
  wakeup,   // the NOTIFY trigger as shipped, a relay delivering
  polling,  // the insert trigger disabled, a relay polling every 5 ms: same work, no wake-up mechanism
  plain,    // an identical table without any trigger, no relay: what the inserts cost on their own
};

double parse_tps(const std::string& pgbench_output) {
  static const std::regex tps(R"(tps = ([0-9.]+) \(without initial connection time\))");
  std::smatch m;
  if (!std::regex_search(pgbench_output, m, tps)) throw std::runtime_error("no tps in: " + pgbench_output);
  return std::stod(m[1]);
}

double writers_tps(const Options& options, Variant variant) {
  Env env(options);
  std::string table = "outbox.messages";
  std::unique_ptr<testkit::Process> relay;
  switch (variant) {
    case Variant::wakeup:
      relay = env.start_relay();
      break;
    case Variant::polling:
      env.exec("ALTER TABLE outbox.messages DISABLE TRIGGER messages_notify_insert");
      relay = env.start_relay({"--poll-interval", "5ms"});
      break;
    case Variant::plain:
      env.exec("CREATE TABLE public.plain_messages (LIKE outbox.messages INCLUDING ALL)");
      table = "public.plain_messages";
      break;
  }
  if (relay && !wait_for(
                   [&] {
                     return env.value(
                                "SELECT count(*) FROM pg_stat_activity WHERE "
                                "application_name = 'outbox-relay:claim'") == "1";
                   },
                   30s))
    throw std::runtime_error("the relay did not connect:\n" + relay->err());
  const std::string path = "/tmp/outbox-bench-writer-" + std::to_string(getpid()) + ".sql";
  std::ofstream(path) << "INSERT INTO " << table << " (topic, payload) VALUES ('writer', '" << payload()
                      << "');\n";
  const auto seconds = options.quick ? 2 : 20;
  const double tps = parse_tps(
      env.pgbench({"-M", "prepared", "-c", "8", "-j", "2", "-T", std::to_string(seconds), "-f", path}));
  std::remove(path.c_str());
  if (relay) {
    relay->signal(SIGTERM);
    relay->wait(60s);
  }
  return tps;
}

}  // namespace

void measure_writer_overhead(const Options& options, Report& report) {
  Figure with{"writers: 8 x 1-row INSERT, wake-up mechanism + relay", "tps", {}};
  Figure polling{"writers: 8 x 1-row INSERT, no trigger, relay polling 5 ms", "tps", {}};
  Figure ratio{"writers: wake-up / polling", "ratio", {}};
  Figure plain{"writers: 8 x 1-row INSERT, plain table, no relay (ref.)", "tps", {}};
  for (int rep = 0; rep < options.repetitions; ++rep) {
    // Each ratio comes from four runs in the order wake-up, polling, polling, wake-up: a host that speeds up
    // or slows down over those minutes, or favours whichever run comes first, weighs on both sides alike.
    const double a1 = writers_tps(options, Variant::wakeup);
    const double b1 = writers_tps(options, Variant::polling);
    const double b2 = writers_tps(options, Variant::polling);
    const double a2 = writers_tps(options, Variant::wakeup);
    const double a = (a1 + a2) / 2;
    const double b = (b1 + b2) / 2;
    with.runs.push_back(a);
    polling.runs.push_back(b);
    ratio.runs.push_back(a / b);
    plain.runs.push_back(writers_tps(options, Variant::plain));
  }
  report.add(with);
  report.add(polling);
  report.add(ratio, ">= 0.9", [](double v) { return v >= 0.9; });
  report.add(plain);
}

}  // namespace bench
