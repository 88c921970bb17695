// Many relays, crashes, database restarts, shutdown, idleness.
#include <atomic>
#include <map>

#include <signal.h>

#include "tests/integration/relay_fixture.hpp"
#include "tests/support/socket_proxy.hpp"

using namespace testkit;

TEST_CASE("two relays on one table: 5000 rows, each id delivered exactly once") {
  RelayFixture f;
  f.insert_messages(5000);
  auto a = f.start_relay({"--concurrency", "40", "--batch-size", "50"});
  auto b = f.start_relay({"--concurrency", "40", "--batch-size", "50"});

  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 5000, 120s), *a);
  std::map<std::int64_t, int> deliveries;
  for (auto id : delivered_ids(f.sink))
    ++deliveries[id];
  CHECK(deliveries.size() == 5000);
  int duplicates = 0;
  for (const auto& [id, n] : deliveries)
    duplicates += n > 1;
  CHECK(duplicates == 0);
  // Both took part (SKIP LOCKED shares the table rather than serialising the relays).
  CHECK(f.count("attempts <> 1") == 0);
  a->signal(SIGTERM);
  b->signal(SIGTERM);
  CHECK(a->wait(20s) == 0);
  CHECK(b->wait(20s) == 0);
  CHECK(a->err().find("sent=0") == std::string::npos);
  CHECK(b->err().find("sent=0") == std::string::npos);
}

TEST_CASE("kill -9 with rows in flight: another relay delivers them once the lease expires") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::hang(); });
  const std::vector<std::string> args{"--lease", "3s", "--http-timeout", "1s", "--connect-timeout", "1s"};
  auto doomed = f.start_relay(args);
  f.insert_messages(20);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(20, 20s), *doomed);
  REQUIRE(f.count("status = 'processing'") == 20);
  doomed->signal(SIGKILL);
  REQUIRE(doomed->wait(10s) == 128 + SIGKILL);

  f.sink.set_handler([](const RecordedRequest&) { return Reply::with_status(200); });
  auto heir = f.start_relay(args);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 20, 30s), *heir);
  // The crashed attempt still counts: it may have reached the server.
  CHECK(f.count("attempts = 2") == 20);
  std::map<std::int64_t, int> deliveries;
  for (auto id : delivered_ids(f.sink))
    ++deliveries[id];
  CHECK(deliveries.size() == 20);
}

TEST_CASE("PostgreSQL restarted under a running relay: it reconnects and delivers rows inserted afterwards") {
  RelayFixture f;
  auto relay = f.start_relay();
  f.insert_messages(10);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 10, 20s), *relay);

  f.pg.restart();
  f.insert_messages(10);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 20, 30s), *relay);
  CHECK(relay->running());
  CHECK(f.sink.request_count() == 20);
}

TEST_CASE("database down at start: the relay keeps trying, then delivers once it is up") {
  RelayFixture f;
  f.pg.stop();
  auto relay = f.start_relay();
  REQUIRE_WITH_LOG(relay->wait_for_err("claim", 20s), *relay);
  CHECK(relay->running());
  f.pg.start();
  f.insert_messages(5);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 5, 60s), *relay);
}

TEST_CASE("SIGTERM with sends in flight: they complete, unsent claimed rows go back, exit 0") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::delayed(1500ms); });
  auto relay = f.start_relay({"--concurrency", "5", "--batch-size", "5"});
  f.insert_messages(20);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(5, 20s), *relay);

  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  CHECK(f.sink.request_count() == 5);
  CHECK(f.count("status = 'sent' AND attempts = 1") == 5);
  CHECK(f.count("status = 'pending' AND attempts = 0 AND lease_owner IS NULL") == 15);
  CHECK(f.count("status = 'processing'") == 0);
  CHECK(relay->err().find("summary") != std::string::npos);
}

TEST_CASE("SIGTERM with claimed rows still waiting for a free slot: they go back unsent and uncounted") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::delayed(1500ms); });
  auto relay = f.start_relay({"--concurrency", "2", "--batch-size", "10"});
  f.insert_messages(20);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(2, 20s), *relay);
  // Two sends in flight and the two rows claimed ahead of them.
  CHECK(f.count("status = 'processing'") == 4);

  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  CHECK(f.sink.request_count() == 2);
  CHECK(f.count("status = 'sent' AND attempts = 1") == 2);
  CHECK(f.count("status = 'pending' AND attempts = 0 AND lease_owner IS NULL") == 18);
  CHECK(f.count("status = 'processing'") == 0);
}

TEST_CASE("SIGTERM with the rows of two claims waiting for slots: all of them go back unsent") {
  RelayFixture f;
  std::atomic<int> seen{0};
  // The first two requests are answered at once, the others late: two slots free up while the first
  // claim's extra rows still wait, which sends a second claim before the first one's rows are all out.
  f.sink.set_handler([&seen](const RecordedRequest&) {
    return seen.fetch_add(1) < 2 ? Reply::with_status(200) : Reply::delayed(1500ms);
  });
  auto relay = f.start_relay({"--concurrency", "4", "--batch-size", "10"});
  f.insert_messages(20);
  // 2 sent; 4 sends in flight; 2 rows of the first claim and 2 of the second waiting.
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 2, 20s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'processing'", 8, 20s), *relay);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(6, 20s), *relay);

  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  CHECK(f.sink.request_count() == 6);
  CHECK(f.count("status = 'sent' AND attempts = 1") == 6);
  CHECK(f.count("status = 'pending' AND attempts = 0 AND lease_owner IS NULL") == 14);
  CHECK(f.count("status = 'processing'") == 0);
}

// A claim that comes back late (here a trigger stalls it) must not send rows whose lease could run out
// before their send ends, or another relay could take them over meanwhile and send them too. They go back
// unsent with their attempt refunded, and the next claim sends them.
TEST_CASE("rows of a claim that came back too late for their lease go back unsent and uncounted") {
  RelayFixture f;
  f.pg.exec(R"sql(
    CREATE TABLE public.claims (id bigint);
    CREATE TABLE public.stall_once (one int);
    INSERT INTO public.stall_once VALUES (1);
    CREATE FUNCTION public.stall_first_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'processing' AND OLD.status = 'pending' THEN
        INSERT INTO public.claims VALUES (NEW.id);
        DELETE FROM public.stall_once;
        IF FOUND THEN
          PERFORM pg_sleep(5);
        END IF;
      END IF;
      RETURN NEW;
    END
    $$;
    CREATE TRIGGER stall_first_claim BEFORE UPDATE ON outbox.messages
      FOR EACH ROW EXECUTE FUNCTION public.stall_first_claim();
  )sql");
  // Both rows are there before the relay starts, so that its first claim (the stalled one) takes both.
  f.insert_messages(2);
  // One slot, and a lease long enough for one claimed row to wait behind a send: each row of a claim must
  // start its send within lease - (http-timeout + connect-timeout) - 1 s = 4 s of the claim being sent.
  auto relay = f.start_relay(
      {"--concurrency", "1", "--lease", "9s", "--http-timeout", "3s", "--connect-timeout", "1s"});
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 2, 30s), *relay);
  CHECK(f.sink.request_count() == 2);
  // Each row was claimed twice, and only the second claim's attempt counts.
  CHECK(f.pg.query_value("SELECT count(*) FROM public.claims") == "4");
  CHECK(f.count("status = 'sent' AND attempts = 1") == 2);
  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
}

TEST_CASE("SIGTERM with a server that never answers: requests abandoned at --shutdown-timeout, rows back") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::hang(); });
  auto relay = f.start_relay({"--concurrency", "4", "--shutdown-timeout", "1s"});
  f.insert_messages(4);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(4, 20s), *relay);

  const auto signalled = std::chrono::steady_clock::now();
  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  CHECK(std::chrono::steady_clock::now() - signalled < 5s);
  // The attempt stands (the request may have arrived); the row is free for the next relay at once.
  CHECK(f.count("status = 'pending' AND attempts = 1 AND lease_owner IS NULL AND "
                "last_error LIKE 'interrupted by shutdown%'") == 4);
}

TEST_CASE("SIGTERM with a database that stops answering: the farewell NOTIFY does not hold up the exit") {
  RelayFixture f;
  SocketProxy proxy(f.pg.socket_dir() + "/.s.PGSQL." + std::to_string(f.pg.port()));
  const std::string url =
      "postgresql://postgres@127.0.0.1:" + std::to_string(proxy.port()) + "/postgres?connect_timeout=5";
  auto relay = f.start_relay({"--database-url", url, "--log-level", "debug", "--shutdown-timeout", "30s"});
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  // Quiet: every session of the relay idle for a while, so that no answer is still on its way (the server
  // shows a session idle just before it sends the answer).
  REQUIRE_WITH_LOG(wait_until(
                       [&] {
                         return f.scalar(
                                    "SELECT count(*) FILTER (WHERE state <> 'idle' OR state_change > "
                                    "clock_timestamp() - interval '300 ms') FROM pg_stat_activity "
                                    "WHERE application_name LIKE 'outbox-relay%'") == "0";
                       },
                       10s),
                   *relay);
  // From now on the server's answers never come back (statements still reach it), as when a network drops
  // packets one way.
  proxy.hold_replies();
  const auto signalled = std::chrono::steady_clock::now();
  relay->signal(SIGTERM);
  const auto exit_code = relay->wait(20s);
  REQUIRE_WITH_LOG(exit_code.has_value(), *relay);
  CHECK(std::chrono::steady_clock::now() - signalled < 15s);
  CHECK(relay->err().find("could not wake the other relays") != std::string::npos);
}

TEST_CASE("a second signal exits at once: the claimed rows keep their lease") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::hang(); });
  auto relay = f.start_relay({"--concurrency", "3", "--shutdown-timeout", "60s"});
  f.insert_messages(3);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(3, 20s), *relay);
  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait_for_err("graceful stop", 10s), *relay);
  relay->signal(SIGINT);
  REQUIRE_WITH_LOG(relay->wait(10s) == 128 + SIGINT, *relay);
  CHECK(f.count("status = 'processing' AND lease_owner IS NOT NULL") == 3);
}

TEST_CASE("an idle relay uses (almost) no CPU: no busy polling") {
  RelayFixture f;
  auto relay = f.start_relay();
  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 1, 20s), *relay);
  const auto before = relay->cpu_time();
  // The measurement window itself: five seconds of doing nothing.
  std::this_thread::sleep_for(5s);
  const auto used = relay->cpu_time() - before;
  INFO("CPU used while idle: " << used.count() << " ms");
  CHECK(used < 50ms);
  CHECK(relay->running());
}

TEST_CASE("a request abandoned at shutdown that used the last attempt goes dead rather than pending") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::hang(); });
  auto relay = f.start_relay({"--max-retries", "0", "--shutdown-timeout", "500ms"});
  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 20s), *relay);
  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  CHECK(f.count("status = 'dead' AND attempts = 1 AND last_error LIKE 'interrupted by shutdown%'") == 1);
}
