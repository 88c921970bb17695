#include "relay/systemd_notifier.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <systemd/sd-daemon.h>

#include "relay/log.hpp"

namespace relay {

namespace {

bool notify_socket_set() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && socket[0] != '\0';
}

// The interval systemd expects a ping within, or zero when it expects none.
std::chrono::microseconds watchdog_usec() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds::zero();
  return std::chrono::microseconds(usec);
}

}  // namespace

SystemdNotifier::SystemdNotifier(uv_loop_t* loop)
    : enabled_(notify_socket_set()), watchdog_timer_(loop, [this] { ping_watchdog(); }) {
  // The pings alone must not keep the loop running once everything else has finished.
  watchdog_timer_.unref();
  if (!enabled_) return;
  watchdog_interval_ = watchdog_usec();
  if (watchdog_interval_ > std::chrono::microseconds::zero()) ping_watchdog();
}

void SystemdNotifier::ready() {
  send("READY=1\nSTATUS=delivering");
}

void SystemdNotifier::stopping() {
  send("STOPPING=1\nSTATUS=stopping: finishing the requests in flight");
}

void SystemdNotifier::status(std::string_view text) {
  send("STATUS=" + std::string(text));
}

void SystemdNotifier::send(const std::string& state) {
  if (!enabled_) return;
  const int rc = sd_notify(0, state.c_str());
  if (rc >= 0 || send_failure_logged_) return;
  // Said once: a socket that refuses one message refuses the next ones too.
  send_failure_logged_ = true;
  log::event(spdlog::level::warn, "systemd notification failed",
             {{"error", std::strerror(-rc)}, {"detail", "NOTIFY_SOCKET is set but cannot be written"}});
}

void SystemdNotifier::ping_watchdog() {
  send("WATCHDOG=1");
  const auto half = std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_interval_ / 2);
  watchdog_timer_.start(std::max(half, std::chrono::milliseconds(1)));
}

}  // namespace relay
