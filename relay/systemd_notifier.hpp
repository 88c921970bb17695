#pragma once

#include <chrono>
#include <string_view>

#include <uv.h>

#include "loop/timer.hpp"

namespace relay {

// Tells systemd how the daemon is doing (sd_notify(3)), for a unit of Type=notify with WatchdogSec=.
// Everything is a no-op when the process was not started with NOTIFY_SOCKET (not under systemd).
// When systemd asked for a watchdog (WATCHDOG_USEC, and WATCHDOG_PID naming this process if set), a timer on
// the daemon's own loop sends WATCHDOG=1 every half interval: a loop that hangs stops the pings, and systemd
// then kills and restarts the service.
class SystemdNotifier {
 public:
  explicit SystemdNotifier(uv_loop_t* loop);
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // READY=1: start-up is complete (systemd then considers the unit started).
  void ready();
  // STOPPING=1: a graceful stop has begun.
  void stopping();
  // STATUS=text: one line shown by `systemctl status`.
  void status(std::string_view text);

  bool enabled() const { return enabled_; }
  // The watchdog interval systemd asked for; zero when there is none.
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

 private:
  void send(const std::string& state);
  void ping_watchdog();

  bool enabled_;
  bool send_failure_logged_ = false;
  std::chrono::microseconds watchdog_interval_{0};
  loop::Timer watchdog_timer_;
};

}  // namespace relay
