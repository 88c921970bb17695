// outbox-sink: a local HTTP endpoint for the demo (and for trying the relay by hand). Listens on
// 127.0.0.1, answers by path, and prints one line per request:
//   /flaky...  500 for a message's first attempt, 200 afterwards (shows a retry)
//   /gone...   410 (a permanent failure: the row goes dead at once)
//   anything   200
// When the body holds "enqueued_at_us": <microseconds since the epoch>, the line shows the latency from
// that moment to the request's arrival.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <signal.h>

#include "tests/support/http_server.hpp"

namespace {

using testkit::RecordedRequest;
using testkit::Reply;

std::int64_t unix_micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The number after "enqueued_at_us": in a JSON body; -1 when absent.
std::int64_t enqueued_at(std::string_view body) {
  constexpr std::string_view key = "\"enqueued_at_us\":";
  const auto at = body.find(key);
  if (at == std::string_view::npos) return -1;
  return std::strtoll(std::string(body.substr(at + key.size(), 32)).c_str(), nullptr, 10);
}

int status_for(const RecordedRequest& r) {
  if (r.path.rfind("/gone", 0) == 0) return 410;
  if (r.path.rfind("/flaky", 0) == 0 && r.header("X-Outbox-Attempt") == "1") return 500;
  return 200;
}

Reply answer(const RecordedRequest& r) {
  const int status = status_for(r);
  std::string latency = "-";
  if (const auto t0 = enqueued_at(r.body); t0 > 0) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f ms",
                  static_cast<double>(unix_micros(r.arrived_wall) - t0) / 1000.0);
    latency = buf;
  }
  std::printf("%-6s id=%-4s topic=%-16s attempt=%s -> %d   latency %s\n", r.method.c_str(),
              r.header("webhook-id").c_str(), r.header("X-Outbox-Topic").c_str(),
              r.header("X-Outbox-Attempt").c_str(), status, latency.c_str());
  std::fflush(stdout);
  return Reply::with_status(status);
}

}  // namespace

int main() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // Blocked before the server thread starts, so that only sigwait below receives them.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  testkit::HttpServer server(answer);
  std::printf("listening on %s\n", server.url().c_str());
  std::fflush(stdout);
  int signum = 0;
  sigwait(&stop_signals, &signum);
  return 0;
}
