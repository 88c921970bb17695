#include <stdexcept>

#include <signal.h>

#include "bench/scenarios.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

struct Drain {
  double per_second = 0;
  double relay_cpu_per_1000 = 0;
  double database_cpu_per_1000 = 0;
  double sink_cpu_per_1000 = 0;
};

// From relay start to the last arrival at the sink, for a backlog that was all there before the start.
Drain drain_backlog(const Options& options, int messages) {
  Env env(options);
  env.preload(messages);
  env.exec("VACUUM ANALYZE outbox.messages");
  const auto db_cpu_before = env.database_cpu();
  const auto sink_cpu_before = env.sink.cpu();
  const auto started = std::chrono::steady_clock::now();
  auto relay = env.start_relay();
  if (!env.sink.wait_for_count(static_cast<std::size_t>(messages), 10min))
    throw std::runtime_error("the relay did not deliver the backlog:\n" + relay->err());
  const auto relay_cpu = process_cpu(relay->pid());
  const auto db_cpu = env.database_cpu() - db_cpu_before;
  const auto sink_cpu = env.sink.cpu() - sink_cpu_before;
  auto last = started;
  for (const auto& arrival : env.sink.arrivals())
    last = std::max(last, arrival.at);
  relay->signal(SIGTERM);
  relay->wait(60s);

  Drain d;
  d.per_second = messages / std::chrono::duration<double>(last - started).count();
  d.relay_cpu_per_1000 = static_cast<double>(relay_cpu.count()) / messages;  // us per message = ms per 1,000
  d.database_cpu_per_1000 = static_cast<double>(db_cpu.count()) * 1000.0 / messages;
  d.sink_cpu_per_1000 = static_cast<double>(sink_cpu.count()) / messages;
  return d;
}

}  // namespace

void measure_throughput(const Options& options, Report& report) {
  const int messages = options.backlog > 0 ? options.backlog : options.quick ? 2'000 : 100'000;
  Figure rate{"throughput: backlog drained", "msg/s", {}};
  Figure relay_cpu{"throughput: relay CPU per 1,000 messages", "ms", {}};
  Figure db_cpu{"throughput: database CPU per 1,000 messages", "ms", {}};
  Figure sink_cpu{"throughput: sink CPU per 1,000 messages", "ms", {}};
  Figure ceiling{"ceiling: relay SQL via pgbench, no HTTP (2 clients)", "rows/s", {}};
  Figure fraction{"throughput as a fraction of the ceiling", "ratio", {}};
  for (int rep = 0; rep < options.repetitions; ++rep) {
    const Drain d = drain_backlog(options, messages);
    double rows_per_second = 0;
    {
      Env env(options);
      rows_per_second = database_ceiling(env, messages, 2);
    }
    rate.runs.push_back(d.per_second);
    relay_cpu.runs.push_back(d.relay_cpu_per_1000);
    db_cpu.runs.push_back(d.database_cpu_per_1000);
    sink_cpu.runs.push_back(d.sink_cpu_per_1000);
    ceiling.runs.push_back(rows_per_second);
    fraction.runs.push_back(d.per_second / rows_per_second);
  }
  report.add(rate, ">= 15000", [](double v) { return v >= 15'000; });
  report.add(relay_cpu);
  report.add(db_cpu);
  report.add(sink_cpu);
  report.add(ceiling);
  report.add(fraction, ">= 0.5", [](double v) { return v >= 0.5; });
}

}  // namespace bench
