#include "relay/daemon.hpp"

#include <csignal>
#include <optional>
#include <random>

#include <unistd.h>

#include "loop/event_loop.hpp"
#include "loop/signal.hpp"
#include "pg/session.hpp"
#include "relay/cli.hpp"
#include "relay/dispatcher.hpp"
#include "relay/log.hpp"
#include "relay/migrator.hpp"

namespace relay {

namespace {

// Names this process in lease_owner: which service, on which host, which process; the random part tells a
// restarted process (same pid in a fresh container) from its predecessor.
std::string make_lease_owner(const Config& config) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device rd;
  char suffix[9];
  std::snprintf(suffix, sizeof(suffix), "%08x", rd());
  return config.service_name + "@" + host + ":" + std::to_string(getpid()) + "-" + suffix;
}

// Owns the loop, the signal watchers and the dispatcher for one run of the daemon.
class Daemon {
 public:
  explicit Daemon(const Config& config) : config_(config), info_(pg::ConnInfo::parse(config.database_url)) {}

  int run() {
    loop::EventLoop loop;
    {
      Dispatcher dispatcher(
          loop.get(), config_, info_, make_lease_owner(config_),
          Dispatcher::Events{
              .on_fatal = [&](int code, const std::string& reason) { fatal(loop, code, reason); },
              .on_stopped = [&] { loop.stop(); }});
      loop::Signal sigterm(loop.get(), SIGTERM,
                           [&](int signum) { on_stop_signal(loop, dispatcher, signum); });
      loop::Signal sigint(loop.get(), SIGINT, [&](int signum) { on_stop_signal(loop, dispatcher, signum); });
      loop::Signal sighup(loop.get(), SIGHUP, [](int) {
        log::event(spdlog::level::warn, "SIGHUP ignored",
                   {{"detail", "configuration reload is not supported"}});
      });
      dispatcher.start();
      loop.run();
      if (!exit_code_) exit_code_ = dispatcher.stopped_cleanly() ? exit_code::ok : exit_code::infrastructure;
    }
    // The dispatcher and the watchers are gone; let their handles finish closing.
    loop.close();
    return *exit_code_;
  }

 private:
  void on_stop_signal(loop::EventLoop& loop, Dispatcher& dispatcher, int signum) {
    if (!stop_requested_) {
      stop_requested_ = true;
      log::event(spdlog::level::info, "signal received",
                 {{"signal", strsignal(signum)}, {"action", "graceful stop"}});
      dispatcher.stop();
      return;
    }
    log::event(
        spdlog::level::warn, "signal received",
        {{"signal", strsignal(signum)}, {"action", "exit now; claimed rows wait for their lease to expire"}});
    exit_code_ = 128 + signum;
    loop.stop();
  }

  void fatal(loop::EventLoop& loop, int code, const std::string& reason) {
    log::event(spdlog::level::err, "fatal", {{"error", reason}, {"exit_code", code}});
    exit_code_ = code;
    loop.stop();
  }

  const Config& config_;
  pg::ConnInfo info_;
  bool stop_requested_ = false;
  std::optional<int> exit_code_;
};

}  // namespace

int run_daemon(const Config& config) {
  return Daemon(config).run();
}

int run_migrate(const Config& config) {
  try {
    const auto info = pg::ConnInfo::parse(config.database_url);
    const MigrationReport report = migrate(info, config.channel, config.service_name + ":migrate");
    log::event(spdlog::level::info, "migrate done",
               {{"from_version", report.from_version},
                {"to_version", report.to_version},
                {"applied", static_cast<std::int64_t>(report.applied.size())},
                {"channel", config.channel}});
    return exit_code::ok;
  } catch (const pg::ConnectionError& e) {
    log::event(spdlog::level::err, "migrate failed", {{"error", e.what()}});
    return exit_code::infrastructure;
  } catch (const MigrationError& e) {
    log::event(spdlog::level::err, "migrate failed", {{"error", e.what()}});
    return e.schema_too_new() ? exit_code::schema : exit_code::failure;
  }
}

}  // namespace relay
