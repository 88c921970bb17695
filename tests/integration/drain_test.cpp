// `outbox-relay drain`: one pass over what is due, for cron and CI, with its exit codes.
#include "tests/integration/relay_fixture.hpp"

using namespace testkit;

namespace {

std::vector<std::string> drain_args(const RelayFixture& f, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"drain", "--target", f.sink.url("/hook")};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace

TEST_CASE("drain delivers every due row, logs its batches and summary, and exits 0") {
  RelayFixture f;
  f.insert_messages(250);
  auto r = f.run_binary(drain_args(f, {"--batch-size", "100"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(f.count("status = 'sent'") == 250);
  CHECK(f.sink.request_count() == 250);
  CHECK(r.err.find("info start batch") != std::string::npos);
  CHECK(r.err.find("summary {") != std::string::npos);
  CHECK(r.err.find("mode=drain") != std::string::npos);
  CHECK(r.out == "drained: 250 processed, 250 sent, 0 failed, 0 dead\n");
  // No terminal here (stderr is a file): no progress bar.
  CHECK(r.err.find("ETA") == std::string::npos);
}

TEST_CASE("drain with nothing due exits 0 at once") {
  RelayFixture f;
  auto r = f.run_binary(drain_args(f));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "drained: 0 processed, 0 sent, 0 failed, 0 dead\n");
}

TEST_CASE("drain --limit attempts at most that many rows") {
  RelayFixture f;
  f.insert_messages(30);
  auto r = f.run_binary(drain_args(f, {"--limit", "12", "--batch-size", "5"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(f.count("status = 'sent'") == 12);
  CHECK(f.count("status = 'pending' AND attempts = 0") == 18);
}

TEST_CASE("drain with a failing target exits 1: the rows are failed with their retry in the future") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest& r) {
    return Reply::with_status(r.header("X-Outbox-Topic") == "bad" ? 503 : 200);
  });
  f.insert_messages(3);
  f.pg.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('bad', '{}'), ('bad', '{}')");
  auto r = f.run_binary(drain_args(f, {"--initial-delay", "1m"}));
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(f.count("status = 'sent'") == 3);
  CHECK(f.count(
            "status = 'failed' AND next_attempt_at > now() AND last_status = 503 AND lease_owner IS NULL") ==
        2);
  CHECK(r.err.find("send failed") != std::string::npos);
  CHECK(r.out == "drained: 5 processed, 3 sent, 2 failed, 0 dead\n");
}

TEST_CASE("drain against a stopped database exits 3 naming the cause") {
  RelayFixture f;
  f.pg.stop();
  auto r = f.run_binary(drain_args(f));
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("fatal") != std::string::npos);
  CHECK(r.err.find("No such file or directory") != std::string::npos);
}

TEST_CASE("drain losing its database mid-run exits 3: claimed rows keep their lease, nothing is lost") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::delayed(1500ms); });
  f.insert_messages(5);
  Process drain({OUTBOX_RELAY_BIN, "drain", "--database-url", f.pg.url(), "--target", f.sink.url("/hook")});
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(5, 20s), drain);
  f.pg.stop();
  REQUIRE_WITH_LOG(drain.wait(20s) == 3, drain);
  CHECK(drain.err().find("the database was lost") != std::string::npos);
  f.pg.start();
  CHECK(f.count("status = 'processing' AND lease_owner IS NOT NULL") == 5);
}

TEST_CASE("drain on a terminal shows a progress bar on stderr") {
  RelayFixture f;
  f.insert_messages(40);
  // script(1) gives the command a pseudo-terminal.
  const std::string command = std::string(OUTBOX_RELAY_BIN) + " drain --database-url '" + f.pg.url() +
                              "' --target " + f.sink.url("/hook");
  auto r = run({"/usr/bin/script", "-qec", command, "/dev/null"}, {}, 60s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("40/40 rows") != std::string::npos);
  CHECK(r.out.find("ETA") != std::string::npos);
  CHECK(f.count("status = 'sent'") == 40);
}

TEST_CASE("a claim takes up to one window more rows than there are free slots, when the lease allows it") {
  RelayFixture f;
  f.insert_messages(100);
  auto r = f.run_binary(drain_args(f, {"--concurrency", "4", "--batch-size", "40"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(f.count("status = 'sent' AND attempts = 1") == 100);
  CHECK(r.err.find("start batch {") != std::string::npos);
  CHECK(r.err.find("limit=8}") != std::string::npos);
  CHECK(r.err.find("limit=40}") == std::string::npos);
  // The first claim takes 8 rows (4 sent, 4 waiting). Two sends later two rows still wait and two slots'
  // worth of room is open: the next claim asks for those 2 rather than waiting for the last row to go.
  CHECK(r.err.find("limit=2}") != std::string::npos);

  // A lease too short to cover a wait behind one send plus its own (each up to --http-timeout plus
  // --connect-timeout): claims fit the free slots.
  f.pg.exec("UPDATE outbox.messages SET status = 'pending', attempts = 0, sent_at = NULL");
  r = f.run_binary(drain_args(f, {"--concurrency", "4", "--batch-size", "40", "--lease", "4s",
                                  "--http-timeout", "1s", "--connect-timeout", "1s"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(f.count("status = 'sent' AND attempts = 1") == 100);
  CHECK(r.err.find("limit=4}") != std::string::npos);
  CHECK(r.err.find("limit=8}") == std::string::npos);
}
