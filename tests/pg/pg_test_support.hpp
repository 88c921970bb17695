#pragma once

#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include "loop/timer.hpp"
#include "pg/connection.hpp"

namespace pgtest {

using namespace std::chrono_literals;

// Runs the loop one iteration at a time until `condition()` holds or `timeout` passes. A guard timer wakes
// uv_run at the deadline, so a loop with nothing to do cannot block past it. The guard's firing is the
// deadline: libuv's clock may run that timer a little before the steady clock reaches it.
template <typename Condition>
bool run_until(uv_loop_t* loop, Condition condition, std::chrono::milliseconds timeout = 15s) {
  bool expired = false;
  loop::Timer guard(loop, [&expired] { expired = true; });
  guard.start(timeout);
  while (!condition()) {
    if (expired) return condition();
    uv_run(loop, UV_RUN_ONCE);
  }
  return true;
}

// Fast retries, so that reconnect tests take milliseconds rather than seconds.
inline pg::ConnectionOptions fast_options(std::string name, std::vector<std::string> setup = {}) {
  pg::ConnectionOptions o;
  o.name = std::move(name);
  o.application_name = "pg-tests";
  o.session_setup = std::move(setup);
  o.connect_timeout = 5s;
  o.reconnect = pg::ReconnectPolicy{.initial = 10ms, .max = 40ms, .multiplier = 2.0};
  return o;
}

// Every log line written while it lives, at every level, to check what would reach an operator's logs.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const { return lines_.str(); }

 private:
  std::ostringstream lines_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace pgtest
