// migrate, the schema objects, and what the binary does with bad input, against the real binary.
#include <algorithm>
#include <fstream>
#include <iterator>

#include <signal.h>

#include "pg/session.hpp"
#include "tests/integration/relay_fixture.hpp"

using namespace testkit;

namespace {

RunResult relay_binary(std::vector<std::string> args, Process::Env env = {}) {
  args.insert(args.begin(), OUTBOX_RELAY_BIN);
  return run(std::move(args), std::move(env), 30s);
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("migrate is idempotent and records the schema version") {
  RelayFixture f;  // migrated once already
  CHECK(f.scalar("SELECT string_agg(version::text, ',' ORDER BY version) FROM outbox.schema_migrations") ==
        "1,2,3,4,5,6,7");
  auto again = f.run_binary({"migrate"});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("migration applied") == std::string::npos);
  CHECK(f.scalar("SELECT count(*) FROM outbox.schema_migrations") == "7");
  CHECK(f.scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'outbox.messages'::regclass AND NOT "
                 "tgisinternal") == "2");
}

TEST_CASE("several migrate processes at once all succeed and apply each migration once") {
  PgCluster pg;
  std::vector<std::unique_ptr<Process>> runs;
  for (int i = 0; i < 4; ++i)
    runs.push_back(std::make_unique<Process>(
        std::vector<std::string>{OUTBOX_RELAY_BIN, "migrate", "--database-url", pg.url()}));
  for (auto& p : runs) {
    INFO(p->err());
    CHECK(p->wait(60s) == 0);
  }
  CHECK(pg.query_value("SELECT count(*) FROM outbox.schema_migrations") == "7");
}

TEST_CASE("migrate upgrades a database at schema version 1, keeping its rows") {
  PgCluster pg;
  std::ifstream first(std::string(OUTBOX_SOURCE_DIR) + "/sql/migrations/0001_schema.sql");
  REQUIRE(first);
  pg.exec(std::string(std::istreambuf_iterator<char>(first), {}));
  pg.exec(
      "INSERT INTO outbox.messages (topic, payload, headers) VALUES ('a', '{}', NULL), "
      "('b', '{}', '{\"x-k\": \"v\"}')");
  // The application's role, granted what it needs on the outbox as it was at version 1.
  pg.exec("CREATE ROLE app; GRANT USAGE ON SCHEMA outbox TO app; GRANT INSERT ON outbox.messages TO app");
  auto upgrade = run({OUTBOX_RELAY_BIN, "migrate", "--database-url", pg.url()});
  INFO(upgrade.err);
  REQUIRE(upgrade.exit_code == 0);
  CHECK(pg.query_value(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM outbox.schema_migrations") ==
        "1,2,3,4,5,6,7");
  // Version 3's flag table came and went; the flag is an advisory lock now.
  CHECK(pg.query_value("SELECT to_regclass('outbox.relay_wakeup') IS NULL") == "t");
  // Its inserts still pass the trigger, which now tries an advisory lock to decide whether to notify.
  pg.exec("SET ROLE app; INSERT INTO outbox.messages (topic, payload) VALUES ('c', '{}'); RESET ROLE");
  CHECK(pg.query_value("SELECT count(*) FROM outbox.messages") == "3");
  CHECK(pg.query_value("SELECT convalidated FROM pg_constraint WHERE conname = 'topic_is_one_line'") == "t");
  CHECK(pg.query_value("SELECT convalidated FROM pg_constraint WHERE conname = 'headers_are_valid'") == "t");
  CHECK_THROWS(pg.exec(
      "INSERT INTO outbox.messages (topic, payload, headers) VALUES ('d', '{}', '{\"x k\": \"v\"}')"));
}

TEST_CASE("migrate --channel installs the trigger on that channel, and a relay on it wakes at once") {
  RelayFixture f;
  REQUIRE(f.run_binary({"migrate", "--channel", "billing_events"}).exit_code == 0);
  CHECK(f.scalar("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'messages_notify_insert'")
            .find("'billing_events'") != std::string::npos);
  auto relay = f.start_relay({"--channel", "billing_events"});
  REQUIRE_WITH_LOG(wait_until(
                       [&] {
                         return f.scalar(
                                    "SELECT count(*) FROM pg_stat_activity WHERE "
                                    "query = 'LISTEN \"billing_events\"'") == "1";
                       },
                       20s),
                   *relay);
  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 2s), *relay);
  CHECK(relay->err().find("notify channel mismatch") == std::string::npos);
}

TEST_CASE("outbox.enqueue: a second call with the same dedup_key is a no-op returning the same id") {
  RelayFixture f;
  const auto first = f.scalar("SELECT outbox.enqueue('t', '{\"a\": 1}', dedup_key => 'order-42')");
  const auto second = f.scalar("SELECT outbox.enqueue('t', '{\"a\": 2}', dedup_key => 'order-42')");
  CHECK(first == second);
  CHECK(f.count("dedup_key = 'order-42'") == 1);
  CHECK(f.scalar("SELECT payload::text FROM outbox.messages WHERE dedup_key = 'order-42'") == "{\"a\": 1}");
}

TEST_CASE("the schema refuses headers that could inject lines, and topics with line breaks") {
  RelayFixture f;
  CHECK_THROWS(f.pg.exec("SELECT outbox.enqueue('t', '{}', headers => '{\"X-A\": \"a\\r\\nX-B: b\"}')"));
  CHECK_THROWS(f.pg.exec("SELECT outbox.enqueue('t', '{}', headers => '{\"X A\": \"b\"}')"));
  CHECK_THROWS(f.pg.exec("SELECT outbox.enqueue('t', '{}', headers => '{\"X-A\": 1}')"));
  CHECK_THROWS(f.pg.exec("SELECT outbox.enqueue(E'a\\nb', '{}')"));
  CHECK_NOTHROW(f.pg.exec("SELECT outbox.enqueue('t', '{}', headers => '{\"X-A\": \"b\"}')"));
  // Changing a row's headers is checked as well, and refused as the constraint did (SQLSTATE 23514,
  // constraint headers_are_valid), so that applications that match on the error keep working.
  const std::string refused = f.scalar(R"sql(
    CREATE FUNCTION pg_temp.set_headers(h jsonb) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
      state text;
      name text;
    BEGIN
      UPDATE outbox.messages SET headers = h WHERE topic = 't';
      RETURN 'accepted';
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, name = CONSTRAINT_NAME;
      RETURN state || ' ' || name;
    END
    $$;
    SELECT pg_temp.set_headers('{"X-A": "a\nb"}') || ', ' || pg_temp.set_headers('{"X-A": "c"}'))sql");
  CHECK(refused == "23514 headers_are_valid, accepted");
}

// The checks cost the relay's updates almost nothing. PostgreSQL evaluates every CHECK constraint on every
// UPDATE: the headers check must not run for rows without headers, and (PL/pgSQL) is counted when it runs.
TEST_CASE("the headers check runs only for rows that have headers, on each write of such a row") {
  RelayFixture f;
  f.pg.exec("ALTER SYSTEM SET track_functions = 'pl'");
  f.pg.exec("SELECT pg_reload_conf()");
  REQUIRE(wait_until([&] { return f.scalar("SHOW track_functions") == "pl"; }, 10s, 50ms));
  auto relay = f.start_relay();
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  f.insert_messages(20);
  f.pg.exec(
      "INSERT INTO outbox.messages (topic, payload, headers) "
      "SELECT 't', '{}', jsonb_build_object('X-N', g::text) FROM generate_series(1, 5) AS g");
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 25, 20s), *relay);
  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  // Each of the 5 rows with headers is checked when inserted, claimed and recorded as sent; the 20 without
  // are never. Statistics reach the view within a second of a session's end.
  CHECK(wait_until(
      [&] {
        return f.scalar(
                   "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions "
                   "WHERE schemaname = 'outbox' AND funcname = 'headers_are_valid'") == "15";
      },
      10s, 100ms));
}

TEST_CASE("run against a database without the schema exits 4 and says to run migrate") {
  PgCluster pg;
  auto r = relay_binary({"run", "--database-url", pg.url(), "--target", "http://127.0.0.1:9/"});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("outbox-relay migrate") != std::string::npos);
}

TEST_CASE("run against a schema newer than the binary exits 4 and says to upgrade") {
  RelayFixture f;
  f.pg.exec("INSERT INTO outbox.schema_migrations (version, name) VALUES (999, 'future.sql')");
  auto r = relay_binary({"run", "--database-url", f.pg.url(), "--target", f.sink.url()});
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("upgrade outbox-relay") != std::string::npos);
  CHECK(f.run_binary({"migrate"}).exit_code == 4);
}

TEST_CASE("migrate against an unreachable database exits 3 naming the cause, never the password") {
  PgCluster pg;
  pg.stop();
  const std::string url = "postgresql://postgres:s3cr3t-pw@/postgres?host=" + pg.socket_dir();
  auto r = relay_binary({"migrate", "--database-url", url});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("s3cr3t-pw") == std::string::npos);
  CHECK(r.err.find("migrate failed") != std::string::npos);
}

TEST_CASE("the daemon's connection errors never show the password") {
  PgCluster pg;
  pg.stop();
  const std::string url = "postgresql://postgres:s3cr3t-pw@/postgres?host=" + pg.socket_dir();
  Process relay({OUTBOX_RELAY_BIN, "run", "--database-url", url, "--target", "http://127.0.0.1:9/"});
  REQUIRE_WITH_LOG(relay.wait_for_err("claim", 20s), relay);
  relay.signal(SIGTERM);
  relay.wait(20s);
  CHECK(relay.err().find("s3cr3t-pw") == std::string::npos);
}

TEST_CASE("bad flags and bad URLs: exit 2 with one line, before touching the database") {
  // The database URL points nowhere: a test that reaches the network would hang or exit 3, not 2.
  const std::string db = "postgresql://u:topsecret@127.0.0.1:1/db";
  const std::vector<std::vector<std::string>> cases{
      {"run", "--database-url", db, "--no-such-flag"},
      {"run", "--database-url", db, "--batch-size", "0"},
      {"run", "--database-url", db, "--batch-size", "many"},
      {"run", "--database-url", db, "--target", "ftp://example.com/"},
      {"run", "--database-url", db, "--target", "not a url"},
      {"run", "--database-url", db, "--lease", "1s", "--http-timeout", "2s"},
      {"run", "--database-url", db, "--lease", "30"},
      {"run", "--database-url", "postgresql://u:topsecret@[::1/db"},
      {"run", "--database-url", "host=localhost port= =oops password=topsecret"},
      {"frobnicate", "--database-url", db},
  };
  for (const auto& args : cases) {
    auto r = relay_binary(args);
    std::string joined;
    for (const auto& a : args)
      joined += a + " ";
    INFO(joined << "\nstderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(line_count(r.err) == 1);
    CHECK(r.err.rfind("outbox-relay: ", 0) == 0);
    CHECK(r.err.find("topsecret") == std::string::npos);
    CHECK(r.out.empty());
  }
  auto missing = relay_binary({"run"}, {{"DATABASE_URL", "\x01"}});
  CHECK(missing.exit_code == 2);
  CHECK(line_count(missing.err) == 1);
}

TEST_CASE("migrate leaves unchanged triggers alone (replacing them would lock out the application)") {
  RelayFixture f;
  const std::string trigger_row = "SELECT xmin::text FROM pg_trigger WHERE tgname = 'messages_notify_insert'";
  const auto before = f.scalar(trigger_row);
  REQUIRE(f.run_binary({"migrate"}).exit_code == 0);
  CHECK(f.scalar(trigger_row) == before);
  REQUIRE(f.run_binary({"migrate", "--channel", "elsewhere"}).exit_code == 0);
  CHECK(f.scalar(trigger_row) != before);
}

TEST_CASE("outbox.enqueue makes concurrent enqueues of one ordering key commit in id order") {
  RelayFixture f;
  const auto info = pg::ConnInfo::parse(f.pg.url());
  pg::Session first(info, "first");
  pg::Session second(info, "second");
  REQUIRE(first.exec("BEGIN").ok());
  const auto first_id = std::stoll(
      std::string(first.exec("SELECT outbox.enqueue('t', '{}', ordering_key => 'customer-7')").value(0, 0)));
  // The second enqueue of the same key must wait for the first transaction to end.
  REQUIRE(PQsendQuery(second.get(), "SELECT outbox.enqueue('t', '{}', ordering_key => 'customer-7')") == 1);
  REQUIRE(wait_until(
      [&] {
        return f.scalar(
                   "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                   "'second' AND wait_event = 'advisory'") == "1";
      },
      10s));
  // Another key is not held up.
  CHECK_NOTHROW(f.pg.exec("SELECT outbox.enqueue('t', '{}', ordering_key => 'customer-8')"));
  REQUIRE(first.exec("COMMIT").ok());
  pg::ResultPtr result(PQgetResult(second.get()));
  REQUIRE(PQresultStatus(result.get()) == PGRES_TUPLES_OK);
  const auto second_id = std::stoll(PQgetvalue(result.get(), 0, 0));
  while (pg::ResultPtr rest{PQgetResult(second.get())}) {
  }
  CHECK(second_id > first_id);
}
