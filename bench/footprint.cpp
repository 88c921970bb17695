#include <stdexcept>
#include <thread>

#include <signal.h>

#include "bench/scenarios.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

struct Footprint {
  double resident_mib = 0;
  double idle_cpu_percent = 0;
};

Footprint measure_once(const Options& options) {
  constexpr int kInFlight = 1000;
  Env env(options);
  // A slow sink: every answer takes 3 s, so all 1,000 requests are in flight at once.
  env.sink.answer_after(3s);
  auto relay = env.start_relay({"--concurrency", std::to_string(kInFlight), "--batch-size", "1000"});
  env.preload(kInFlight);
  if (!env.sink.wait_for_count(kInFlight, 60s))
    throw std::runtime_error("the relay did not reach 1,000 requests in flight:\n" + relay->err());
  Footprint f;
  f.resident_mib = static_cast<double>(resident_kib(relay->pid())) / 1024.0;
  if (!wait_for(
          [&] { return env.value("SELECT count(*) FROM outbox.messages WHERE status = 'sent'") == "1000"; },
          60s))
    throw std::runtime_error("the slow deliveries did not finish:\n" + relay->err());

  // Idle: nothing to do, nothing in flight; the safety sweep runs at its default interval meanwhile.
  const auto window = options.quick ? 2s : 10s;
  const auto before = process_cpu(relay->pid());
  std::this_thread::sleep_for(window);
  const auto used = process_cpu(relay->pid()) - before;
  f.idle_cpu_percent =
      100.0 * static_cast<double>(used.count()) /
      static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(window).count());
  relay->signal(SIGTERM);
  relay->wait(60s);
  return f;
}

}  // namespace

void measure_footprint(const Options& options, Report& report) {
  Figure rss{"footprint: relay resident memory, 1,000 requests in flight", "MiB", {}};
  Figure idle{"footprint: relay CPU while idle (10 s window)", "%", {}};
  for (int rep = 0; rep < options.repetitions; ++rep) {
    const Footprint f = measure_once(options);
    rss.runs.push_back(f.resident_mib);
    idle.runs.push_back(f.idle_cpu_percent);
  }
  report.add(rss, "<= 32", [](double v) { return v <= 32; });
  report.add(idle, "<= 0.1", [](double v) { return v <= 0.1; });
}

}  // namespace bench
