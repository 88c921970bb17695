// Failure handling end to end: statuses, timeouts, transport errors, backoff, Retry-After, dead rows.
#include <atomic>
#include <map>
#include <thread>

#include <unistd.h>

#include "tests/integration/relay_fixture.hpp"

using namespace testkit;

namespace {

// Answers the first `failures` requests with `failure`, then 200.
HttpServer::Handler fail_first(int failures, Reply failure) {
  auto seen = std::make_shared<std::atomic<int>>(0);
  return [=](const RecordedRequest&) {
    return seen->fetch_add(1) < failures ? failure : Reply::with_status(200);
  };
}

}  // namespace

TEST_CASE("500 then 500 then 200: sent after 3 attempts, spaced by the configured backoff") {
  RelayFixture f;
  f.sink.set_handler(fail_first(2, Reply::with_status(500)));
  auto relay =
      f.start_relay({"--initial-delay", "400ms", "--backoff-multiplier", "2", "--backoff-jitter", "0"});
  f.insert_messages(1);

  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 1, 20s), *relay);
  const auto requests = f.sink.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].header("X-Outbox-Attempt") == "1");
  CHECK(requests[2].header("X-Outbox-Attempt") == "3");
  const auto first_gap = requests[1].arrived - requests[0].arrived;
  const auto second_gap = requests[2].arrived - requests[1].arrived;
  // Never early; late only by the loop's own work (a generous bound for a loaded 2-core machine).
  CHECK(first_gap >= 400ms);
  CHECK(first_gap < 400ms + 700ms);
  CHECK(second_gap >= 800ms);
  CHECK(second_gap < 800ms + 700ms);
  CHECK(f.count("attempts = 3 AND last_status = 200 AND last_error IS NULL") == 1);
}

TEST_CASE("400: dead at once, with the status and the server's reason on the row") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) {
    Reply r = Reply::with_status(400);
    r.body = "missing field: to";
    return r;
  });
  auto relay = f.start_relay({"--initial-delay", "100ms"});
  f.insert_messages(1);

  REQUIRE_WITH_LOG(f.wait_count("status = 'dead'", 1, 20s), *relay);
  CHECK(f.count("attempts = 1 AND last_status = 400 AND last_error = 'HTTP 400: missing field: to'") == 1);
  CHECK(f.sink.request_count() == 1);
  CHECK(relay->err().find("send failed") != std::string::npos);
}

TEST_CASE("retries exhausted: dead after 1 + max-retries attempts, with last_error") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::with_status(503); });
  auto relay = f.start_relay({"--max-retries", "2", "--initial-delay", "100ms", "--backoff-jitter", "0"});
  f.insert_messages(1);

  REQUIRE_WITH_LOG(f.wait_count("status = 'dead'", 1, 20s), *relay);
  CHECK(f.sink.request_count() == 3);
  CHECK(f.count("attempts = 3 AND last_status = 503 AND last_error = 'gave up after 3 attempts: HTTP 503'") ==
        1);
}

TEST_CASE("a row's own max_attempts overrides --max-retries") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::with_status(500); });
  auto relay = f.start_relay({"--max-retries", "5", "--initial-delay", "50ms"});
  f.pg.exec("SELECT outbox.enqueue('t', '{}', max_attempts => 1)");
  REQUIRE_WITH_LOG(f.wait_count("status = 'dead'", 1, 20s), *relay);
  CHECK(f.sink.request_count() == 1);
}

TEST_CASE("429 with Retry-After: 2: the next attempt is not before 2 s") {
  RelayFixture f;
  f.sink.set_handler(fail_first(1, Reply::with_status(429, {{"Retry-After", "2"}})));
  auto relay = f.start_relay({"--initial-delay", "100ms"});
  f.insert_messages(1);

  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 1, 20s), *relay);
  const auto requests = f.sink.requests();
  REQUIRE(requests.size() == 2);
  const auto gap = requests[1].arrived - requests[0].arrived;
  CHECK(gap >= 2s);
  CHECK(gap < 2s + 1500ms);
}

TEST_CASE("a hanging server: the attempt times out, is recorded as failed, and is retried") {
  RelayFixture f;
  f.sink.set_handler(fail_first(1, Reply::hang()));
  auto relay = f.start_relay({"--http-timeout", "500ms", "--initial-delay", "1s", "--backoff-jitter", "0"});
  f.insert_messages(1);

  REQUIRE_WITH_LOG(
      f.wait_count("status = 'failed' AND last_status IS NULL AND last_error ILIKE '%time%'", 1, 20s),
      *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent' AND attempts = 2", 1, 20s), *relay);
  CHECK(f.sink.request_count() == 2);
}

TEST_CASE("a host that does not resolve, a port that refuses: failed and retried, the relay carries on") {
  RelayFixture f;
  auto relay = f.start_relay({"--max-retries", "2", "--initial-delay", "100ms"});
  f.pg.exec("SELECT outbox.enqueue('t', '{}', target_url => 'http://nonexistent.invalid/hook')");
  f.pg.exec("SELECT outbox.enqueue('t', '{}', target_url => 'http://127.0.0.1:" +
            std::to_string(closed_port()) + "/hook')");
  f.insert_messages(3);

  REQUIRE_WITH_LOG(f.wait_count("status = 'dead'", 2, 30s), *relay);
  CHECK(f.count("id = 1 AND attempts = 3 AND last_error ILIKE '%resolve%'") == 1);
  CHECK(f.count("id = 2 AND attempts = 3 AND last_error ILIKE '%connect%'") == 1);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 3, 20s), *relay);
  CHECK(relay->running());
}

TEST_CASE("a payload over --max-payload-size goes dead with the reason, without a request") {
  RelayFixture f;
  auto relay = f.start_relay({"--max-payload-size", "100"});
  f.pg.exec("SELECT outbox.enqueue('big', jsonb_build_object('blob', repeat('x', 200)))");
  f.pg.exec("SELECT outbox.enqueue('small', '{}')");
  REQUIRE_WITH_LOG(f.wait_count("status = 'dead'", 1, 20s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 1, 20s), *relay);
  CHECK(
      f.count(
          "topic = 'big' AND last_error LIKE 'payload of % bytes exceeds --max-payload-size (100 bytes)'") ==
      1);
  CHECK(f.sink.request_count() == 1);
}

TEST_CASE("without --target, a row without target_url goes dead with the reason") {
  RelayFixture f;
  Process relay({OUTBOX_RELAY_BIN, "run", "--database-url", f.pg.url(), "--poll-interval", "60s"});
  f.pg.exec("SELECT outbox.enqueue('t', '{}')");
  f.pg.exec("SELECT outbox.enqueue('t', '{}', target_url => '" + f.sink.url("/direct") + "')");
  REQUIRE_WITH_LOG(f.wait_count("status = 'dead' AND last_error LIKE 'no destination%'", 1, 20s), relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 1, 20s), relay);
  CHECK(relay.err().find("no default target") != std::string::npos);
}

TEST_CASE("a response body that is not valid UTF-8 is recorded cleanly and holds up no other outcome") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest& r) {
    if (r.header("X-Outbox-Topic") != "bad") return Reply::with_status(200);
    Reply reply = Reply::with_status(500);
    reply.body = std::string(199, 'x') + "\xC3\xA9\xFF" + std::string("\0tail", 5);
    return reply;
  });
  auto relay = f.start_relay({"--max-retries", "0"});
  f.pg.exec("SELECT outbox.enqueue('bad', '{}')");
  f.insert_messages(5);
  // Promptly: a refused batch would wait out at least one retry pause before anything got recorded.
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 5, 20s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'dead' AND topic = 'bad'", 1, 20s), *relay);
  CHECK(f.scalar("SELECT last_error FROM outbox.messages WHERE topic = 'bad'") ==
        "gave up after 1 attempts: HTTP 500: " + std::string(199, 'x') + "\xC3\xA9");
  CHECK(relay->err().find("recording") == std::string::npos);
}

TEST_CASE("many rows failing at once are each retried on time, without waiting for the sweep") {
  RelayFixture f;
  // Every message fails its first attempt.
  f.sink.set_handler([](const RecordedRequest& r) {
    return Reply::with_status(r.header("X-Outbox-Attempt") == "1" ? 503 : 200);
  });
  auto relay = f.start_relay({"--initial-delay", "100ms", "--backoff-jitter", "0", "--concurrency", "4"});
  for (int i = 0; i < 20; ++i)
    f.insert_messages(1);
  // The fixture's sweep runs every 60 s: a lost retry timer shows up as a timeout here.
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent' AND attempts = 2", 20, 30s), *relay);
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> arrivals;
  for (const auto& r : f.sink.requests())
    arrivals[r.header("webhook-id")].push_back(r.arrived);
  for (const auto& [id, times] : arrivals) {
    INFO("message " << id);
    REQUIRE(times.size() == 2);
    CHECK(times[1] - times[0] >= 100ms);
    CHECK(times[1] - times[0] < 3s);
  }
}

TEST_CASE("a pending row is never sent before its next_attempt_at") {
  RelayFixture f;
  auto relay = f.start_relay();
  f.pg.exec(
      "INSERT INTO outbox.messages (topic, payload, next_attempt_at) "
      "VALUES ('later', '{}', now() + interval '1500 milliseconds')");
  const auto inserted = std::chrono::steady_clock::now();
  f.pg.exec("SELECT outbox.enqueue('now', '{}')");
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 20s), *relay);
  CHECK(f.sink.requests().at(0).header("X-Outbox-Topic") == "now");
  // Once its time has come, any wake-up (here a new insert) finds it.
  std::this_thread::sleep_until(inserted + 1600ms);
  f.pg.exec("SELECT outbox.enqueue('wake', '{}')");
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(3, 20s), *relay);
  for (const auto& r : f.sink.requests()) {
    if (r.header("X-Outbox-Topic") == "later") CHECK(r.arrived - inserted >= 1500ms);
  }
}
