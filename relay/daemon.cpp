#include "relay/daemon.hpp"

#include <csignal>
#include <cstdio>
#include <optional>
#include <random>

#include <unistd.h>

#include "loop/event_loop.hpp"
#include "loop/signal.hpp"
#include "loop/timer.hpp"
#include "pg/session.hpp"
#include "relay/cli.hpp"
#include "relay/dispatcher.hpp"
#include "relay/log.hpp"
#include "relay/migrator.hpp"
#include "relay/progress_bar.hpp"
#include "relay/retention.hpp"
#include "relay/systemd_notifier.hpp"

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
      SystemdNotifier systemd(loop.get());
      Dispatcher dispatcher(
          loop.get(), config_, info_, make_lease_owner(config_),
          Dispatcher::Events{
              .on_fatal = [&](int code, const std::string& reason) { fatal(loop, code, reason); },
              .on_stopped = [&] { loop.stop(); },
              .on_ready = [&] { systemd.ready(); }});
      // A drain is one short pass over the due rows; deleting history is the long-running daemon's job.
      Retention retention(loop.get(), info_, config_);
      const auto stop = [&](int signum) {
        retention.stop();
        on_stop_signal(loop, dispatcher, systemd, signum);
      };
      loop::Signal sigterm(loop.get(), SIGTERM, stop);
      loop::Signal sigint(loop.get(), SIGINT, stop);
      loop::Signal sighup(loop.get(), SIGHUP, [](int) {
        log::event(spdlog::level::warn, "SIGHUP ignored",
                   {{"detail", "configuration reload is not supported"}});
      });
      std::optional<ProgressBar> progress;
      std::optional<loop::Timer> progress_timer;
      if (draining() && isatty(STDERR_FILENO) == 1) {
        progress.emplace(stderr, rows_due());
        progress_timer.emplace(loop.get(), [&] {
          progress->update(processed(dispatcher));
          progress_timer->start(kProgressRefresh);
        });
        progress_timer->start(kProgressRefresh);
      }
      dispatcher.start();
      if (!draining()) retention.start();
      loop.run();
      retention.stop();
      if (progress) progress->finish(processed(dispatcher));
      if (!exit_code_) exit_code_ = final_exit_code(dispatcher);
    }
    // The dispatcher and the watchers are gone; let their handles finish closing.
    loop.close();
    return *exit_code_;
  }

 private:
  static constexpr std::chrono::milliseconds kProgressRefresh{250};

  bool draining() const { return config_.command == Command::drain; }

  static std::uint64_t processed(const Dispatcher& d) {
    const auto& c = d.counters();
    return c.sent + c.failed + c.dead;
  }

  // What the progress bar counts toward: due now (blocking is fine: the loop has not started yet). A
  // database that cannot be reached surfaces here with its cause.
  std::uint64_t rows_due() const {
    pg::Session session(info_, config_.service_name + ":drain");
    auto due = session.exec(
        "SELECT count(*) FROM outbox.messages WHERE (status = 'pending' AND next_attempt_at <= now()) OR "
        "(status = 'failed' AND next_attempt_at <= now()) OR (status = 'processing' AND lease_expires_at <= "
        "now())");
    if (!due.ok()) return 0;
    const auto n = due.int64(0, 0);
    return config_.limit > 0 ? std::min<std::uint64_t>(static_cast<std::uint64_t>(n), config_.limit)
                             : static_cast<std::uint64_t>(n);
  }

  int final_exit_code(const Dispatcher& dispatcher) const {
    if (!dispatcher.stopped_cleanly()) return exit_code::infrastructure;
    if (!draining()) return exit_code::ok;
    const auto& c = dispatcher.counters();
    std::printf("drained: %llu processed, %llu sent, %llu failed, %llu dead\n",
                static_cast<unsigned long long>(c.sent + c.failed + c.dead),
                static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.failed),
                static_cast<unsigned long long>(c.dead));
    return c.failed + c.dead > 0 ? exit_code::failure : exit_code::ok;
  }

  void on_stop_signal(loop::EventLoop& loop, Dispatcher& dispatcher, SystemdNotifier& systemd, int signum) {
    if (!stop_requested_) {
      stop_requested_ = true;
      systemd.stopping();
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

int run_drain(const Config& config) {
  try {
    return Daemon(config).run();
  } catch (const pg::ConnectionError& e) {
    log::event(spdlog::level::err, "fatal", {{"error", e.what()}, {"exit_code", exit_code::infrastructure}});
    return exit_code::infrastructure;
  }
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
