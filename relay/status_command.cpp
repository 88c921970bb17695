#include "relay/status_command.hpp"

#include <ostream>

#include "relay/cli.hpp"
#include "relay/command_session.hpp"
#include "relay/status_report.hpp"
#include "sql/embedded.hpp"

namespace relay {
namespace {

// Counting every status needs every row: one pass, grouped by topic and status, gives both tables.
constexpr const char* kCountsSql =
    "SELECT topic, status::text, count(*) FROM outbox.messages GROUP BY topic, status ORDER BY topic";

// Due rows are pending or failed rows whose time has come (the partial indexes of the claim and of the
// sweep serve both halves); the oldest is the one due the longest.
constexpr const char* kDueSql = R"sql(
SELECT count(*), floor(EXTRACT(EPOCH FROM now() - min(next_attempt_at)) * 1000)::bigint
  FROM outbox.messages
 WHERE status IN ('pending', 'failed') AND next_attempt_at <= now()
)sql";

constexpr const char* kOwnersSql = R"sql(
SELECT lease_owner, count(*), count(*) FILTER (WHERE lease_expires_at <= now())
  FROM outbox.messages
 WHERE status = 'processing'
 GROUP BY lease_owner
 ORDER BY count(*) DESC, lease_owner
)sql";

constexpr const char* kDeadSql = R"sql(
SELECT id, topic, attempts, last_status, coalesce(last_error, ''),
       to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
  FROM outbox.messages
 WHERE status = 'dead'
 ORDER BY updated_at DESC, id DESC
 LIMIT $1
)sql";

void read_counts(pg::Session& session, status::Report& report) {
  const auto r = require_ok(session.exec(kCountsSql), "counting rows");
  for (int row = 0; row < r.rows(); ++row) {
    const auto index = status::status_index(r.value(row, 1));
    if (!index) throw CommandError("unknown message status " + std::string(r.value(row, 1)));
    const std::string topic(r.value(row, 0));
    if (report.topics.empty() || report.topics.back().topic != topic) report.topics.push_back({topic, {}});
    report.topics.back().counts.by_status[*index] += r.int64(row, 2);
    report.counts.by_status[*index] += r.int64(row, 2);
  }
}

void read_due(pg::Session& session, status::Report& report) {
  const auto r = require_ok(session.exec(kDueSql), "counting due rows");
  report.due = r.int64(0, 0);
  if (!r.is_null(0, 1)) report.oldest_due_ms = r.int64(0, 1);
}

void read_owners(pg::Session& session, status::Report& report) {
  const auto r = require_ok(session.exec(kOwnersSql), "reading the rows in flight");
  for (int row = 0; row < r.rows(); ++row)
    report.owners.push_back({std::string(r.value(row, 0)), r.int64(row, 1), r.int64(row, 2)});
}

void read_dead(pg::Session& session, int top, status::Report& report) {
  if (top == 0) return;
  const auto r = require_ok(session.exec(kDeadSql, {std::to_string(top)}), "reading the dead rows");
  for (int row = 0; row < r.rows(); ++row) {
    report.dead.push_back({.id = r.int64(row, 0),
                           .topic = std::string(r.value(row, 1)),
                           .attempts = r.int64(row, 2),
                           .last_status = r.is_null(row, 3) ? std::nullopt : std::optional(r.int64(row, 3)),
                           .last_error = std::string(r.value(row, 4)),
                           .dead_since = std::string(r.value(row, 5))});
  }
}

}  // namespace

int run_status(const Config& config, std::ostream& out) {
  return run_with_session(config, {.command = "status", .read_only = true}, [&](pg::Session& session) {
    status::Report report;
    report.schema_version = outbox_sql::migrations().back().version;  // run_with_session checked it
    // One snapshot for every query, so that the numbers agree with each other.
    require_ok(session.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), "starting a transaction");
    read_counts(session, report);
    read_due(session, report);
    read_owners(session, report);
    read_dead(session, config.top, report);
    require_ok(session.exec("COMMIT"), "ending the transaction");
    out << (config.json ? status::render_json(report) : status::render_text(report));
    return exit_code::ok;
  });
}

}  // namespace relay
