#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <signal.h>

#include "bench/scenarios.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// The application: one connection, one message per transaction (autocommit), inserted at a steady pace.
// For each message it notes when its COMMIT returned; `after_commit` runs right then (the floor uses it).
class Writer {
 public:
  explicit Writer(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn_.get()));
    std::unique_ptr<PGresult, ResultDeleter> prepared(
        PQprepare(conn_.get(), "enqueue",
                  "INSERT INTO outbox.messages (topic, payload) VALUES ('latency', $1::jsonb) RETURNING id",
                  1, nullptr));
    if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK)
      throw std::runtime_error(PQerrorMessage(conn_.get()));
  }

  std::unordered_map<std::string, Clock::time_point> run(
      int count, double per_second, const std::function<void(const std::string&)>& after_commit) {
    std::unordered_map<std::string, Clock::time_point> committed;
    committed.reserve(static_cast<std::size_t>(count));
    const char* values[] = {payload().c_str()};
    const auto period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / per_second));
    const auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
      std::this_thread::sleep_until(start + i * period);
      std::unique_ptr<PGresult, ResultDeleter> r(
          PQexecPrepared(conn_.get(), "enqueue", 1, values, nullptr, nullptr, 0));
      const auto done = Clock::now();
      if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw std::runtime_error(PQerrorMessage(conn_.get()));
      std::string id = PQgetvalue(r.get(), 0, 0);
      committed.emplace(id, done);
      if (after_commit) after_commit(id);
    }
    achieved_rate_ = count / std::chrono::duration<double>(Clock::now() - start).count();
    return committed;
  }

  // Messages per second the last run() reached: one connection with synchronous commits may fall short
  // of the rate asked for, and the latency figures are for the rate reached.
  double achieved_rate() const { return achieved_rate_; }

 private:
  std::unique_ptr<PGconn, ConnDeleter> conn_;
  double achieved_rate_ = 0;
};

// Commit-return to arrival, in milliseconds, for every message the sink saw. With --samples, each one is
// also appended there as "<run> <ms since the run's first commit> <latency ms>", in arrival order.
std::vector<double> latencies(const Options& options, const std::string& run, const Sink& sink,
                              const std::unordered_map<std::string, Clock::time_point>& committed) {
  std::vector<double> out;
  out.reserve(committed.size());
  Clock::time_point first = Clock::time_point::max();
  for (const auto& [id, at] : committed)
    first = std::min(first, at);
  std::ofstream samples;
  if (!options.samples_path.empty()) samples.open(options.samples_path, std::ios::app);
  for (const auto& arrival : sink.arrivals()) {
    auto it = committed.find(arrival.message_id);
    if (it == committed.end()) continue;
    out.push_back(milliseconds(arrival.at - it->second));
    if (samples.is_open())
      samples << run << ' ' << milliseconds(it->second - first) << ' ' << out.back() << '\n';
  }
  return out;
}

struct RelayRun {
  Distribution latency;
  double writer_rate = 0;
};

RelayRun through_relay(const Options& options, int rep, int count, double per_second) {
  Env env(options);
  auto relay = env.start_relay();
  if (!wait_for(
          [&] {
            return env.value("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'") == "1";
          },
          30s))
    throw std::runtime_error("the relay did not start listening:\n" + relay->err());
  Writer writer(env.pg.url());
  const auto committed = writer.run(count, per_second, nullptr);
  if (!env.sink.wait_for_count(static_cast<std::size_t>(count), 60s))
    throw std::runtime_error("not every message arrived:\n" + relay->err());
  relay->signal(SIGTERM);
  relay->wait(60s);
  const std::string run =
      "relay-" + std::to_string(static_cast<int>(per_second)) + "/s-rep" + std::to_string(rep + 1);
  return {distribution(latencies(options, run, env.sink, committed)), writer.achieved_rate()};
}

// The same client POSTs each message itself right after its COMMIT: the best any relay could do.
Distribution floor(const Options& options, int rep, int count, double per_second) {
  Env env(options);
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  const std::string url = env.sink.url("/floor");
  Writer writer(env.pg.url());
  const auto committed = writer.run(count, per_second, [&](const std::string& id) {
    std::unique_ptr<curl_slist, SlistDeleter> headers(
        curl_slist_append(nullptr, ("webhook-id: " + id).c_str()));
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, payload().c_str());
    if (curl_easy_perform(curl.get()) != CURLE_OK) throw std::runtime_error("floor POST failed");
  });
  return distribution(latencies(options, "floor-rep" + std::to_string(rep + 1), env.sink, committed));
}

void add_distribution(Report& report, const std::string& label, const std::vector<Distribution>& runs,
                      const std::string& p50_target, double p50_limit, const std::string& p99_target,
                      double p99_limit) {
  Figure p50{label + " p50", "ms", {}}, p90{label + " p90", "ms", {}}, p99{label + " p99", "ms", {}},
      p999{label + " p99.9", "ms", {}}, max{label + " max", "ms", {}};
  for (const auto& d : runs) {
    p50.runs.push_back(d.p50);
    p90.runs.push_back(d.p90);
    p99.runs.push_back(d.p99);
    p999.runs.push_back(d.p999);
    max.runs.push_back(d.max);
  }
  if (p50_limit > 0) {
    report.add(p50, p50_target, [p50_limit](double v) { return v <= p50_limit; });
  } else {
    report.add(p50);
  }
  report.add(p90);
  if (p99_limit > 0) {
    report.add(p99, p99_target, [p99_limit](double v) { return v <= p99_limit; });
  } else {
    report.add(p99);
  }
  report.add(p999);
  report.add(max);
}

}  // namespace

void measure_latency(const Options& options, Report& report) {
  const int count = options.quick ? 200 : 10'000;
  if (!options.samples_path.empty()) std::ofstream(options.samples_path, std::ios::trunc);
  std::vector<Distribution> slow, fast, direct;
  Figure slow_rate{"latency at 200/s: rate the writer reached", "msg/s", {}};
  Figure fast_rate{"latency at 2000/s: rate the writer reached", "msg/s", {}};
  for (int rep = 0; rep < options.repetitions; ++rep) {
    const auto s = through_relay(options, rep, count, 200);
    slow.push_back(s.latency);
    slow_rate.runs.push_back(s.writer_rate);
    const auto f = through_relay(options, rep, count, 2000);
    fast.push_back(f.latency);
    fast_rate.runs.push_back(f.writer_rate);
    direct.push_back(floor(options, rep, options.quick ? 100 : 2'000, 200));
  }
  report.add(slow_rate);
  report.add(fast_rate);
  add_distribution(report, "latency at 200/s:", slow, "<= 0.5", 0.5, "<= 3", 3);
  add_distribution(report, "latency at 2000/s:", fast, "", 0, "<= 5", 5);
  add_distribution(report, "floor (client POSTs after COMMIT):", direct, "", 0, "", 0);
}

}  // namespace bench
