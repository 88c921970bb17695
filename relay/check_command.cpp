#include "relay/check_command.hpp"

#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>

#include <fmt/format.h>
#include <poll.h>

#include "http/url.hpp"
#include "pg/session.hpp"
#include "relay/cli.hpp"
#include "relay/target_probe.hpp"
#include "sql/embedded.hpp"

namespace relay {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long the LISTEN round trip may take: on a healthy server it takes a millisecond or two.
constexpr milliseconds kRoundTripTimeout{5'000};
// Origins probed at most: a table where every row has its own host is checked by sample.
constexpr int kMaxOrigins = 50;

constexpr const char* kTriggersSql = R"sql(
SELECT t.tgname, t.tgenabled <> 'D',
       convert_from(substring(t.tgargs FROM 1 FOR position('\x00'::bytea IN t.tgargs) - 1), 'UTF8')
  FROM pg_trigger AS t
 WHERE t.tgrelid = to_regclass('outbox.messages')
   AND t.tgname IN ('messages_notify_insert', 'messages_notify_pending')
)sql";

// The hosts that waiting rows will be sent to: scheme://authority of their target_url.
constexpr const char* kWaitingOriginsSql = R"sql(
SELECT DISTINCT substring(target_url FROM '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*')
  FROM outbox.messages
 WHERE status IN ('pending', 'failed') AND target_url IS NOT NULL
 LIMIT $1
)sql";

constexpr const char* kWaitingWithoutTargetSql =
    "SELECT count(*) FROM outbox.messages WHERE status IN ('pending', 'failed') AND target_url IS NULL";

struct NotifyDeleter {
  void operator()(PGnotify* n) const { PQfreemem(n); }
};

// Prints the check lines and remembers whether any failed.
class Report {
 public:
  explicit Report(std::ostream& out) : out_(out) {}

  void pass(std::string_view check, const std::string& detail) { line("ok", check, detail); }
  void fail(std::string_view check, const std::string& detail) {
    failed_ = true;
    line("FAIL", check, detail);
  }
  void skip(std::string_view check, const std::string& detail) { line("skip", check, detail); }
  bool failed() const { return failed_; }

 private:
  void line(std::string_view verdict, std::string_view check, std::string_view detail) {
    // One line each, whatever a server message holds.
    std::string text(detail);
    for (char& c : text) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    out_ << fmt::format("{:<5} {:<9} {}\n", verdict, check, text) << std::flush;
  }

  std::ostream& out_;
  bool failed_ = false;
};

std::string random_hex() {
  std::random_device random;
  return fmt::format("{:08x}", random());
}

void check_schema(pg::Session& session, Report& report) {
  const int expected = outbox_sql::migrations().back().version;
  auto r = session.exec("SELECT max(version) FROM outbox.schema_migrations");
  if (!r.ok()) {
    report.fail("schema",
                "cannot read outbox.schema_migrations (" + r.error() + "): run `outbox-relay migrate`");
    return;
  }
  const auto found = r.is_null(0, 0) ? 0 : r.int64(0, 0);
  if (found == expected) return report.pass("schema", fmt::format("version {}", found));
  report.fail("schema",
              fmt::format("version {}, this outbox-relay needs {}: {}", found, expected,
                          found < expected ? "run `outbox-relay migrate`" : "upgrade outbox-relay"));
}

void check_triggers(pg::Session& session, const std::string& channel, Report& report) {
  auto r = session.exec(kTriggersSql);
  if (!r.ok()) return report.fail("trigger", "cannot read the triggers: " + r.error());
  std::map<std::string, std::string> problems{{"messages_notify_insert", "missing"},
                                              {"messages_notify_pending", "missing"}};
  for (int row = 0; row < r.rows(); ++row) {
    std::string& problem = problems[std::string(r.value(row, 0))];
    if (r.value(row, 1) != "t") {
      problem = "disabled";
    } else if (r.value(row, 2) != channel) {
      problem = fmt::format("notifies channel '{}', not '{}'", r.value(row, 2), channel);
    } else {
      problem.clear();
    }
  }
  std::string found;
  for (const auto& [name, problem] : problems) {
    if (!problem.empty()) found += (found.empty() ? "" : "; ") + name + " " + problem;
  }
  if (found.empty()) {
    return report.pass("trigger",
                       "messages_notify_insert and messages_notify_pending notify channel '" + channel + "'");
  }
  report.fail("trigger", found + ": run `outbox-relay migrate --channel " + channel + "`");
}

// Waits on the listening session's socket for the notification carrying `token`; empty when it came.
std::string await_notification(PGconn* conn, const std::string& channel, const std::string& token,
                               Clock::time_point deadline) {
  while (true) {
    if (PQconsumeInput(conn) == 0) return std::string("connection lost: ") + PQerrorMessage(conn);
    while (std::unique_ptr<PGnotify, NotifyDeleter> n{PQnotifies(conn)}) {
      if (channel == n->relname && token == n->extra) return {};
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return fmt::format("no notification within {} ms", kRoundTripTimeout.count());
    pollfd socket{.fd = PQsocket(conn), .events = POLLIN, .revents = 0};
    if (poll(&socket, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return "poll failed";
  }
}

// LISTEN on one session, NOTIFY from another: the path a relay's wake-up takes, on a channel of its own so
// that no relay is woken for nothing.
void check_listen(const pg::ConnInfo& info, const std::string& application_name, pg::Session& notifier,
                  Report& report) {
  pg::Session listener(info, application_name);
  const std::string channel = "outbox_check_" + random_hex();
  const std::string token = random_hex();
  if (auto r = listener.exec("LISTEN \"" + channel + "\""); !r.ok())
    return report.fail("listen", "LISTEN failed: " + r.error());
  const auto start = Clock::now();
  if (auto r = notifier.exec("SELECT pg_notify($1, $2)", {channel, token}); !r.ok()) {
    return report.fail("listen", "NOTIFY failed: " + r.error());
  }
  const std::string error = await_notification(listener.get(), channel, token, start + kRoundTripTimeout);
  if (!error.empty()) return report.fail("listen", "NOTIFY round trip on " + channel + ": " + error);
  const auto took = std::chrono::duration<double, std::milli>(Clock::now() - start);
  report.pass("listen", fmt::format("NOTIFY round trip on {} in {:.1f} ms", channel, took.count()));
}

// The origins of --target and of the rows waiting for delivery, keyed by origin so each is probed once.
std::map<std::string, Origin> waiting_origins(pg::Session* session, const Config& config, Report& report) {
  std::map<std::string, Origin> origins;
  auto add = [&](std::string_view url) {
    std::string reason;
    if (auto origin = origin_of(url, reason)) {
      origins.emplace(origin->text(), *origin);
    } else {
      report.fail("target", http::redact_url(url) + ": " + reason);
    }
  };
  if (!config.target.empty()) add(config.target);
  if (session == nullptr) return origins;
  if (auto r = session->exec(kWaitingOriginsSql, {std::to_string(kMaxOrigins)}); r.ok()) {
    for (int row = 0; row < r.rows(); ++row) {
      if (!r.is_null(row, 0)) add(r.value(row, 0));
    }
  } else {
    report.fail("target", "cannot read the target_url of waiting rows: " + r.error());
  }
  if (config.target.empty()) {
    auto r = session->exec(kWaitingWithoutTargetSql);
    if (r.ok() && r.int64(0, 0) > 0) {
      report.fail("target", fmt::format("{} waiting rows have no target_url and --target is not set: they "
                                        "will go dead",
                                        r.int64(0, 0)));
    }
  }
  return origins;
}

void check_targets(const std::map<std::string, Origin>& origins, milliseconds timeout, Report& report) {
  if (origins.empty()) return report.skip("target", "no --target, and no waiting row has a target_url");
  for (const auto& [text, origin] : origins) {
    const ProbeResult result = probe(origin, timeout);
    if (result.error.empty()) {
      report.pass("target",
                  fmt::format("{} accepts connections ({:.1f} ms)", text, result.took.count() / 1000.0));
    } else {
      report.fail("target", text + ": " + result.error);
    }
  }
}

// Everything that needs the database; throws pg::ConnectionError if it is lost on the way.
void check_database(pg::Session& session, const pg::ConnInfo& info, const Config& config,
                    const std::string& application_name, Report& report) {
  auto version = session.exec("SHOW server_version");
  report.pass("database", "connected to " + info.describe() +
                              (version.ok() ? " (PostgreSQL " + std::string(version.value(0, 0)) + ")" : ""));
  check_schema(session, report);
  check_triggers(session, config.channel, report);
  check_listen(info, application_name, session, report);
  check_targets(waiting_origins(&session, config, report), config.connect_timeout, report);
}

}  // namespace

int run_check(const Config& config, std::ostream& out) {
  Report report(out);
  const auto info = pg::ConnInfo::parse(config.database_url);
  const std::string application_name = config.service_name + ":check";
  std::optional<pg::Session> session;
  try {
    session.emplace(info, application_name);
    check_database(*session, info, config, application_name, report);
    return report.failed() ? exit_code::failure : exit_code::ok;
  } catch (const pg::ConnectionError& e) {
    report.fail("database", e.what());
  }
  // Without the database, the targets that --target names can still be checked.
  if (!session) {
    for (const char* check : {"schema", "trigger", "listen"})
      report.skip(check, "needs the database");
    check_targets(waiting_origins(nullptr, config, report), config.connect_timeout, report);
  }
  return exit_code::infrastructure;
}

}  // namespace relay
