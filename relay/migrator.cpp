#include "relay/migrator.hpp"

#include "pg/session.hpp"
#include "relay/log.hpp"
#include "sql/embedded.hpp"

namespace relay {

namespace {

// Any constant works as long as every outbox-relay uses the same one; hashing the name keeps it readable.
constexpr const char* kLockStatement = "SELECT pg_advisory_lock(hashtextextended('outbox-relay migrate', 0))";

void check(const pg::Result& r, const std::string& what) {
  if (!r.ok()) throw MigrationError(what + ": " + r.error(), false);
}

int current_version(pg::Session& session) {
  auto exists = session.exec("SELECT to_regclass('outbox.schema_migrations') IS NOT NULL");
  check(exists, "reading the schema version");
  if (exists.value(0, 0) != "t") return 0;
  auto version = session.exec("SELECT coalesce(max(version), 0) FROM outbox.schema_migrations");
  check(version, "reading the schema version");
  return static_cast<int>(version.int64(0, 0));
}

void apply(pg::Session& session, const outbox_sql::Migration& m) {
  check(session.exec("BEGIN"), "starting " + std::string(m.name));
  auto applied = session.exec_script(m.text);
  if (!applied.ok()) {
    session.exec("ROLLBACK");
    throw MigrationError("migration " + std::string(m.name) + " failed: " + applied.error(), false);
  }
  // Each file records its own version (so that a DBA can apply it by hand); make sure it did.
  auto recorded = session.exec("SELECT count(*) FROM outbox.schema_migrations WHERE version = $1",
                               {std::to_string(m.version)});
  if (!recorded.ok() || recorded.value(0, 0) != "1") {
    session.exec("ROLLBACK");
    throw MigrationError("migration " + std::string(m.name) + " did not record its version", false);
  }
  check(session.exec("COMMIT"), "committing " + std::string(m.name));
}

void install_triggers(pg::Session& session, const std::string& channel) {
  check(session.exec("SELECT set_config('outbox_relay.channel', $1, false)", {channel}),
        "setting the channel");
  for (const auto& script : outbox_sql::triggers()) {
    auto r = session.exec_script(script.text);
    if (!r.ok())
      throw MigrationError("installing " + std::string(script.name) + " failed: " + r.error(), false);
  }
}

}  // namespace

MigrationReport migrate(const pg::ConnInfo& info, const std::string& channel,
                        const std::string& application_name) {
  pg::Session session(info, application_name);
  // The trigger script drops triggers "IF EXISTS"; its notices are noise on a first install.
  check(session.exec("SET client_min_messages = warning"), "configuring the session");
  // DDL on the outbox table waits for every transaction using it; rather fail the deploy than stall the
  // application's writes behind that wait.
  check(session.exec("SET lock_timeout = '10s'"), "configuring the session");
  check(session.exec(kLockStatement), "taking the migration lock");

  MigrationReport report;
  report.from_version = current_version(session);
  const int newest = outbox_sql::migrations().back().version;
  if (report.from_version > newest) {
    throw MigrationError("the database schema is at version " + std::to_string(report.from_version) +
                             ", newer than this outbox-relay knows (" + std::to_string(newest) +
                             "): upgrade outbox-relay",
                         true);
  }
  for (const auto& m : outbox_sql::migrations()) {
    if (m.version <= report.from_version) continue;
    apply(session, m);
    report.applied.emplace_back(m.name);
    log::event(spdlog::level::info, "migration applied", {{"version", m.version}, {"name", m.name}});
  }
  install_triggers(session, channel);
  report.to_version = newest;
  return report;
}

}  // namespace relay
