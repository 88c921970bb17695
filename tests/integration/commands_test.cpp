// The operating commands against the real binary, a real PostgreSQL and a real HTTP sink: status, replay,
// purge, check and dry-run, each with its exit codes, on a table with rows in every state, proving that each
// command touches exactly the rows its filters name.
#include <algorithm>
#include <set>
#include <sstream>

#include <unistd.h>

#include "tests/integration/relay_fixture.hpp"
#include "tests/support/json.hpp"
#include "tests/support/outbox_rows.hpp"

using namespace testkit;

namespace {

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

// The line of `check` output for `check_name` that mentions `needle`, or "".
std::string check_line(const std::string& out, const std::string& check_name,
                       const std::string& needle = "") {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.substr(6, check_name.size()) == check_name && line.find(needle) != std::string::npos)
      return line;
  }
  return "";
}

// Replays with `args`, then checks that exactly `expected` changed (to pending, due now, attempts reset
// unless kept) and every other row is byte-for-byte what it was, xmin included.
void replay_touches_exactly(RelayFixture& f, const std::vector<std::string>& args,
                            const std::set<std::int64_t>& expected) {
  const auto before = snapshot_rows(f.pg);
  std::vector<std::string> command{"replay"};
  command.insert(command.end(), args.begin(), args.end());
  auto r = f.run_binary(command);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith(std::to_string(expected.size()) +
                                      (expected.size() == 1 ? " row" : " rows") + " replayed"));
  const auto after = snapshot_rows(f.pg);
  REQUIRE(after.size() == before.size());
  for (const auto& [id, row] : before) {
    INFO("row " << id);
    if (expected.count(id)) {
      CHECK(after.at(id) != row);
      CHECK(f.count("id = " + std::to_string(id) + " AND status = 'pending' AND next_attempt_at <= now()") ==
            1);
    } else {
      CHECK(after.at(id) == row);
    }
  }
}

}  // namespace

// ---- status ----

TEST_CASE("status --json parses and its counts match a SELECT") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  auto r = f.run_binary({"status", "--json", "--top", "2"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto parsed = json::parse(r.out);
  REQUIRE(parsed);
  const json::Value& status = *parsed;

  for (const auto& row : f.pg.query("SELECT status, count(*) FROM outbox.messages GROUP BY status")) {
    INFO(row[0]);
    CHECK(status.at("by_status").at(row[0]).integer() == std::stoll(row[1]));
  }
  CHECK(status.at("by_status").at("total").integer() == f.count("true"));
  for (const auto& topic : status.at("by_topic").items) {
    const std::string name = topic.at("topic").text;
    CHECK(topic.at("counts").at("total").integer() == f.count("topic = '" + name + "'"));
    CHECK(topic.at("counts").at("dead").integer() == f.count("topic = '" + name + "' AND status = 'dead'"));
  }
  CHECK(status.at("by_topic").items.size() == 2);
  CHECK(status.at("due").at("rows").integer() ==
        f.count("status IN ('pending', 'failed') AND next_attempt_at <= now()"));
  CHECK(status.at("due").at("oldest_due_ms").integer() >= 60'000);  // failed_b has been due for a minute
  const auto& owners = status.at("in_flight").at("owners").items;
  REQUIRE(owners.size() == 1);
  CHECK(owners[0].at("lease_owner").text == "other-relay");
  CHECK(status.at("in_flight").at("expired_leases").integer() == 0);

  const auto& dead = status.at("dead").at("newest").items;
  REQUIRE(dead.size() == 2);  // --top 2: the two that went dead an hour ago, not the one of ten days ago
  std::set<std::int64_t> newest{dead[0].at("id").integer(), dead[1].at("id").integer()};
  CHECK(newest == std::set<std::int64_t>{rows.dead_new_a, rows.dead_new_b});
  const std::string error = dead[0].at("last_error").text;
  CHECK((error == "Operation TIMED OUT" || error == "operation timed out after 10000 ms"));
}

TEST_CASE("status shows readable tables, with expired leases, and changes nothing") {
  RelayFixture f;
  insert_mixed_rows(f.pg);
  f.pg.exec(
      "UPDATE outbox.messages SET lease_expires_at = now() - interval '1 minute' WHERE status = "
      "'processing'");
  const auto before = snapshot_rows(f.pg);
  auto r = f.run_binary({"status"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("STATUS") && Catch::Contains("pending") && Catch::Contains("TOPIC"));
  CHECK_THAT(r.out, Catch::Contains("In flight: 1, 1 with an expired lease"));
  CHECK_THAT(r.out, Catch::Contains("other-relay"));
  CHECK_THAT(r.out, Catch::Contains("HTTP 400 Bad Request"));
  CHECK(snapshot_rows(f.pg) == before);
}

TEST_CASE("status exits 4 without the schema and 3 without the database") {
  PgCluster pg;
  auto missing = run({OUTBOX_RELAY_BIN, "status", "--database-url", pg.url()});
  CHECK(missing.exit_code == 4);
  CHECK_THAT(missing.err, Catch::Contains("outbox-relay migrate"));
  pg.stop();
  auto down = run({OUTBOX_RELAY_BIN, "status", "--database-url", pg.url()});
  CHECK(down.exit_code == 3);
  CHECK_THAT(down.err, Catch::Contains("status failed") && Catch::Contains("cannot connect"));
  CHECK(line_count(down.err) == 1);
}

// ---- replay ----

TEST_CASE("replay puts the dead rows back to pending and touches no other row") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  replay_touches_exactly(f, {}, {rows.dead_old_a, rows.dead_new_b, rows.dead_new_a});
  CHECK(f.count("attempts = 0 AND id IN (" + std::to_string(rows.dead_old_a) + ", " +
                std::to_string(rows.dead_new_b) + ", " + std::to_string(rows.dead_new_a) + ")") == 3);
  // Why it died stays on the row until the next attempt says otherwise.
  CHECK(f.scalar("SELECT last_error FROM outbox.messages WHERE id = " + std::to_string(rows.dead_old_a)) ==
        "HTTP 400 Bad Request");
}

TEST_CASE("replay filters: topic, error pattern, creation time, status, ids, kept attempts") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  SECTION("topic and error pattern (ignoring case)") {
    replay_touches_exactly(f, {"--topic", "a", "--error-like", "%timed out%"}, {rows.dead_new_a});
  }
  SECTION("created between --since and --until") {
    replay_touches_exactly(f, {"--since", "2026-01-15", "--until", "2026-01-25T00:00Z"}, {rows.dead_new_b});
  }
  SECTION("failed rows of one topic") {
    replay_touches_exactly(f, {"--status", "failed", "--topic", "b"}, {rows.failed_b});
  }
  SECTION("ids name their rows, dead or failed; rows in other states are never touched") {
    replay_touches_exactly(
        f,
        {"--id", std::to_string(rows.dead_old_a) + "," + std::to_string(rows.failed_a) + "," +
                     std::to_string(rows.pending) + "," + std::to_string(rows.sent_old) + "," +
                     std::to_string(rows.processing)},
        {rows.dead_old_a, rows.failed_a});
  }
  SECTION("ids narrowed by --status") {
    replay_touches_exactly(f, {"--id", std::to_string(rows.failed_a), "--status", "dead"}, {});
  }
  SECTION("--keep-attempts") {
    replay_touches_exactly(f, {"--id", std::to_string(rows.dead_old_a), "--keep-attempts"},
                           {rows.dead_old_a});
    CHECK(f.count("id = " + std::to_string(rows.dead_old_a) + " AND attempts = 6") == 1);
  }
}

TEST_CASE("replay that matches nothing prints 0 rows, exits 0 and changes nothing") {
  RelayFixture f;
  insert_mixed_rows(f.pg);
  const auto md5 = table_md5(f.pg);
  auto r = f.run_binary({"replay", "--topic", "no-such-topic"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "0 rows replayed (attempts reset to 0)\n");
  CHECK(table_md5(f.pg) == md5);
}

TEST_CASE("replay --dry-run lists what it would change and changes nothing") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  const auto before = snapshot_rows(f.pg);
  auto r = f.run_binary({"replay", "--dry-run", "--topic", "a"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("2 rows would be replayed (dry run: nothing changed)\n"));
  CHECK_THAT(r.out, Catch::Contains("id=" + std::to_string(rows.dead_old_a) + " topic='a' status=dead"));
  CHECK_THAT(r.out, Catch::Contains("id=" + std::to_string(rows.dead_new_a) + " "));
  CHECK(snapshot_rows(f.pg) == before);
}

TEST_CASE("replay: contradicting filters are a usage error (exit 2, one line), nothing touched") {
  RelayFixture f;
  insert_mixed_rows(f.pg);
  const auto md5 = table_md5(f.pg);
  auto r = f.run_binary({"replay", "--since", "2026-02-01", "--until", "2026-01-01"});
  CHECK(r.exit_code == 2);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("--since") && Catch::Contains("--until"));
  CHECK(table_md5(f.pg) == md5);
}

TEST_CASE("replay wakes a running relay: the row is delivered at once, not at the next sweep") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::with_status(400); });
  auto relay = f.start_relay();  // the fixture's relays sweep every 60 s
  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.wait_count("status = 'dead'", 1, 20s), *relay);
  REQUIRE(f.sink.request_count() == 1);

  f.sink.set_handler([](const RecordedRequest&) { return Reply::with_status(200); });
  auto r = f.run_binary({"replay"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "1 row replayed (attempts reset to 0)\n");
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(2, 5s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent' AND attempts = 1", 1, 5s), *relay);
}

// ---- purge ----

TEST_CASE("purge deletes the sent rows older than the age, and only those") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  auto before = snapshot_rows(f.pg);
  auto r = f.run_binary({"purge", "--older-than", "7d"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "1 row purged (sent)\n");
  before.erase(rows.sent_old);
  CHECK(snapshot_rows(f.pg) == before);  // the dead row of ten days ago stays: no --include-dead
}

TEST_CASE("purge --include-dead also deletes the dead rows that went dead before the age") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  auto before = snapshot_rows(f.pg);
  auto r = f.run_binary({"purge", "--older-than", "2d", "--include-dead"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "2 rows purged (1 sent, 1 dead)\n");
  before.erase(rows.sent_old);
  before.erase(rows.dead_old_a);
  CHECK(snapshot_rows(f.pg) == before);
}

TEST_CASE("purge --dry-run counts and deletes nothing: a purge that matches nothing prints 0 rows") {
  RelayFixture f;
  insert_mixed_rows(f.pg);
  const auto md5 = table_md5(f.pg);
  auto dry = f.run_binary({"purge", "--older-than", "30m", "--include-dead", "--dry-run"});
  REQUIRE(dry.exit_code == 0);
  CHECK(dry.out == "5 rows would be purged (2 sent, 3 dead; dry run: nothing deleted)\n");
  CHECK(table_md5(f.pg) == md5);
  auto none = f.run_binary({"purge", "--older-than", "30d"});
  CHECK(none.exit_code == 0);
  CHECK(none.out == "0 rows purged (sent)\n");
  CHECK(table_md5(f.pg) == md5);
}

TEST_CASE("purge works in batches of 1000 rows, each its own statement") {
  RelayFixture f;
  f.pg.exec(
      "INSERT INTO outbox.messages (topic, payload, status, attempts, sent_at) SELECT 't', '{}', 'sent', 1, "
      "now() - interval '2 days' FROM generate_series(1, 2500)");
  auto r = f.run_binary({"purge", "--older-than", "1d", "--log-level", "debug"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "2500 rows purged (sent)\n");
  CHECK(occurrences(r.err, "purge batch") == 3);
  CHECK(f.count("true") == 0);
}

TEST_CASE("purge: an unknown duration is a usage error (exit 2, one line), nothing deleted") {
  RelayFixture f;
  insert_mixed_rows(f.pg);
  const auto md5 = table_md5(f.pg);
  for (const char* age : {"3 weeks", "3w", "30"}) {
    INFO(age);
    auto r = f.run_binary({"purge", "--older-than", age});
    CHECK(r.exit_code == 2);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::StartsWith("outbox-relay: --older-than: "));
  }
  auto missing = f.run_binary({"purge"});
  CHECK(missing.exit_code == 2);
  CHECK(table_md5(f.pg) == md5);
}

TEST_CASE("purge and replay exit 3 when the database is down") {
  PgCluster pg;
  pg.stop();
  auto purge = run({OUTBOX_RELAY_BIN, "purge", "--database-url", pg.url(), "--older-than", "1d"});
  CHECK(purge.exit_code == 3);
  CHECK_THAT(purge.err, Catch::Contains("purge failed"));
  auto replay = run({OUTBOX_RELAY_BIN, "replay", "--database-url", pg.url()});
  CHECK(replay.exit_code == 3);
}

// ---- check ----

TEST_CASE("check passes against a healthy setup, one line per check") {
  RelayFixture f;
  f.insert_messages(1, ", target_url", ", '" + f.sink.url("/other") + "'");
  auto r = f.run_binary({"check", "--target", f.sink.url("/hook")});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  for (const char* name : {"database", "schema", "trigger", "listen", "target"}) {
    INFO(name);
    CHECK_THAT(check_line(r.out, name), Catch::StartsWith("ok "));
  }
  CHECK(line_count(r.out) == 5);       // --target and the row's target_url share one origin: one probe
  CHECK(f.sink.request_count() == 0);  // a connection, never a request
}

TEST_CASE("check fails, naming the target, when the target's port is closed") {
  RelayFixture f;
  const std::string closed = "http://127.0.0.1:" + std::to_string(closed_port());
  f.insert_messages(1, ", target_url", ", '" + closed + "/per-row'");
  auto r = f.run_binary({"check", "--target", f.sink.url("/hook")});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(check_line(r.out, "target", closed), Catch::StartsWith("FAIL "));
  CHECK_THAT(check_line(r.out, "target", f.sink.url("")), Catch::StartsWith("ok "));
  CHECK_THAT(check_line(r.out, "database"), Catch::StartsWith("ok "));

  auto only_closed = f.run_binary({"check", "--target", closed + "/hook"});
  CHECK(only_closed.exit_code == 1);
}

TEST_CASE("check fails, naming the trigger, when a NOTIFY trigger is missing") {
  RelayFixture f;
  f.pg.exec("DROP TRIGGER messages_notify_pending ON outbox.messages");
  auto r = f.run_binary({"check", "--target", f.sink.url("/hook")});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  const std::string line = check_line(r.out, "trigger");
  CHECK_THAT(line, Catch::StartsWith("FAIL ") && Catch::Contains("messages_notify_pending missing"));
  CHECK_THAT(check_line(r.out, "listen"), Catch::StartsWith("ok "));
}

TEST_CASE("check fails when the trigger notifies another channel, and when rows have no target") {
  RelayFixture f;
  f.insert_messages(2);
  auto r = f.run_binary({"check", "--channel", "elsewhere"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(check_line(r.out, "trigger"), Catch::Contains("notifies channel 'outbox', not 'elsewhere'"));
  CHECK_THAT(check_line(r.out, "target"), Catch::StartsWith("FAIL ") && Catch::Contains("2 waiting rows"));
}

TEST_CASE("check exits 3 when the database is unreachable, and still checks --target") {
  RelayFixture f;
  f.pg.stop();
  auto r = f.run_binary({"check", "--target", f.sink.url("/hook")});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 3);
  CHECK_THAT(check_line(r.out, "database"), Catch::StartsWith("FAIL ") && Catch::Contains("cannot connect"));
  CHECK_THAT(check_line(r.out, "schema"), Catch::StartsWith("skip "));
  CHECK_THAT(check_line(r.out, "target"), Catch::StartsWith("ok "));
}

TEST_CASE("check fails when the schema is missing") {
  PgCluster pg;
  auto r = run({OUTBOX_RELAY_BIN, "check", "--database-url", pg.url()});
  CHECK(r.exit_code == 1);
  CHECK_THAT(check_line(r.out, "schema"),
             Catch::StartsWith("FAIL ") && Catch::Contains("outbox-relay migrate"));
}

// ---- dry-run ----

TEST_CASE("run --dry-run logs the due batch and leaves the table byte-for-byte unchanged") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  f.insert_messages(1, ", target_url", ", 'https://user:secret@hooks.example/x'");
  const auto md5 = table_md5(f.pg);
  const auto before = snapshot_rows(f.pg);
  auto r = f.run_binary({"run", "--dry-run", "--target", f.sink.url("/hook")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(table_md5(f.pg) == md5);
  CHECK(snapshot_rows(f.pg) == before);  // xmin too: no row was even locked for update
  CHECK(f.sink.request_count() == 0);
  // Due: the pending row, the failed row whose retry time has come, and the row with its own target.
  CHECK(occurrences(r.err, "dry-run payload") == 3);
  CHECK_THAT(r.err, Catch::Contains("message_id=" + std::to_string(rows.pending) + ","));
  CHECK_THAT(r.err, Catch::Contains("message_id=" + std::to_string(rows.failed_b) + ","));
  CHECK_THAT(r.err, Catch::Contains("destination=" + f.sink.url("/hook")));
  CHECK_THAT(r.err, Catch::Contains("https://hooks.example/x"));
  CHECK(r.err.find("secret") == std::string::npos);
  CHECK_THAT(r.err, Catch::Contains("summary") && Catch::Contains("mode=dry-run"));
}

TEST_CASE("OUTBOX_DRY_RUN=1 makes drain a dry run, capped by --limit") {
  RelayFixture f;
  f.insert_messages(5);
  const auto md5 = table_md5(f.pg);
  auto r =
      f.run_binary({"drain", "--limit", "2", "--target", f.sink.url("/hook")}, {{"OUTBOX_DRY_RUN", "1"}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(occurrences(r.err, "dry-run payload") == 2);
  CHECK_THAT(r.err, Catch::Contains("processed=2"));
  CHECK(table_md5(f.pg) == md5);
  CHECK(f.sink.request_count() == 0);
}

TEST_CASE("dry-run exits 3 without the database and 4 without the schema") {
  PgCluster pg;
  CHECK(run({OUTBOX_RELAY_BIN, "run", "--dry-run", "--database-url", pg.url()}).exit_code == 4);
  pg.stop();
  CHECK(run({OUTBOX_RELAY_BIN, "run", "--dry-run", "--database-url", pg.url()}).exit_code == 3);
}

// ---- retention in the daemon ----

TEST_CASE("run --retain-sent deletes old sent rows only, while it delivers") {
  RelayFixture f;
  const auto rows = insert_mixed_rows(f.pg);
  auto before = snapshot_rows(f.pg);
  auto relay = f.start_relay({"--retain-sent", "1d"});
  REQUIRE_WITH_LOG(f.wait_count("id = " + std::to_string(rows.sent_old), 0, 20s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("id = " + std::to_string(rows.pending) + " AND status = 'sent'", 1, 20s),
                   *relay);
  relay->signal(SIGTERM);
  REQUIRE(relay->wait(20s) == 0);
  const auto after = snapshot_rows(f.pg);
  CHECK(after.count(rows.sent_new) == 1);
  CHECK(after.at(rows.dead_old_a) == before.at(rows.dead_old_a));
}
