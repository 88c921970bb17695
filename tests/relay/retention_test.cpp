// Retention on a real loop against a real PostgreSQL: it deletes exactly the sent (and dead) rows older than
// their retention, in batches, and leaves the loop clean when stopped.
#include "relay/retention.hpp"

#include <catch2/catch.hpp>

#include "loop/event_loop.hpp"
#include "relay/migrator.hpp"
#include "tests/pg/pg_test_support.hpp"
#include "tests/support/outbox_rows.hpp"

using namespace std::chrono_literals;
using testkit::PgCluster;

namespace {

struct Migrated {
  Migrated() { relay::migrate(info, "outbox", "retention-test"); }
  PgCluster pg;
  pg::ConnInfo info = pg::ConnInfo::parse(pg.url());
};

relay::Config retaining(std::chrono::milliseconds sent, std::chrono::milliseconds dead) {
  relay::Config c;
  c.retain_sent = sent;
  c.retain_dead = dead;
  return c;
}

// Runs a retention until it has completed `passes` passes and stops it; the loop must then close with no
// handle left open.
relay::Retention::Totals run_passes(const Migrated& db, const relay::Config& config, std::uint64_t passes) {
  loop::EventLoop loop;
  relay::Retention::Totals totals;
  {
    relay::Retention retention(loop.get(), db.info, config, 20ms);
    REQUIRE(retention.enabled());
    retention.start();
    REQUIRE(pgtest::run_until(
        loop.get(), [&] { return retention.totals().passes >= passes; }, 20s));
    totals = retention.totals();
    retention.stop();
  }
  CHECK(loop.close() == 0);
  return totals;
}

}  // namespace

TEST_CASE("retention deletes old sent rows only, and leaves every other row as it was", "[retention]") {
  Migrated db;
  const auto rows = testkit::insert_mixed_rows(db.pg);
  auto before = testkit::snapshot_rows(db.pg);

  const auto totals = run_passes(db, retaining(24h, 0ms), 2);
  CHECK(totals.sent == 1);
  CHECK(totals.dead == 0);

  auto after = testkit::snapshot_rows(db.pg);
  CHECK(after.count(rows.sent_old) == 0);
  before.erase(rows.sent_old);
  CHECK(after == before);  // the new sent row, the old dead row and all the others: untouched
}

TEST_CASE("retention of dead rows goes by the time they went dead", "[retention]") {
  Migrated db;
  const auto rows = testkit::insert_mixed_rows(db.pg);
  auto before = testkit::snapshot_rows(db.pg);

  const auto totals = run_passes(db, retaining(0ms, 24h), 1);
  CHECK(totals.sent == 0);
  CHECK(totals.dead == 1);

  auto after = testkit::snapshot_rows(db.pg);
  before.erase(rows.dead_old_a);
  CHECK(after == before);
}

TEST_CASE("retention deletes a large backlog in batches within one pass", "[retention]") {
  Migrated db;
  const int old_rows = 2 * relay::purge_sql::kBatchRows + 500;
  db.pg.exec(
      "INSERT INTO outbox.messages (topic, payload, status, attempts, sent_at) SELECT 't', '{}', 'sent', 1, "
      "now() - interval '3 days' FROM generate_series(1, " +
      std::to_string(old_rows) + ")");
  db.pg.exec(
      "INSERT INTO outbox.messages (topic, payload, status, attempts, sent_at) VALUES ('t', '{}', 'sent', 1, "
      "now())");

  const auto totals = run_passes(db, retaining(48h, 48h), 1);
  CHECK(totals.passes == 1);
  CHECK(totals.sent == static_cast<std::uint64_t>(old_rows));
  CHECK(db.pg.query_value("SELECT count(*) FROM outbox.messages") == "1");
}

TEST_CASE("retention without an age does nothing and opens no connection", "[retention]") {
  Migrated db;
  loop::EventLoop loop;
  {
    relay::Retention retention(loop.get(), db.info, relay::Config{}, 20ms);
    CHECK_FALSE(retention.enabled());
    retention.start();
    loop.run();  // nothing holds the loop: it returns at once
    CHECK(retention.totals().passes == 0);
    retention.stop();
  }
  CHECK(loop.close() == 0);
  CHECK(db.pg.query_value("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%retention'") ==
        "0");
}
