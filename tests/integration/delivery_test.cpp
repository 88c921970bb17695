// Delivery end to end: the real binary, a real PostgreSQL cluster, a real HTTP sink on 127.0.0.1.
#include <algorithm>
#include <map>
#include <set>

#include "tests/integration/relay_fixture.hpp"

using namespace testkit;

TEST_CASE("1000 inserted rows become exactly 1000 requests whose bodies are the payloads") {
  RelayFixture f;
  auto relay = f.start_relay({"--concurrency", "32"});
  f.insert_messages(1000);

  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1000, 60s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 1000, 30s), *relay);

  std::map<std::string, std::string> payload_by_id;
  for (const auto& row : f.pg.query("SELECT id, payload::text FROM outbox.messages"))
    payload_by_id[row[0]] = row[1];
  const auto requests = f.sink.requests();
  std::set<std::string> seen;
  for (const auto& r : requests) {
    const std::string id = r.header("webhook-id");
    INFO("message " << id);
    CHECK(seen.insert(id).second);
    REQUIRE(payload_by_id.count(id) == 1);
    CHECK(r.body == payload_by_id[id]);
    CHECK(r.method == "POST");
    CHECK(r.path == "/hook");
    CHECK(r.header("Content-Type") == "application/json");
  }
  CHECK(requests.size() == 1000);
  CHECK(seen.size() == 1000);
  CHECK(f.count("attempts = 1 AND sent_at IS NOT NULL AND lease_owner IS NULL AND last_status = 200") ==
        1000);

  relay->signal(SIGTERM);
  CHECK(relay->wait(20s) == 0);
  CHECK(f.sink.request_count() == 1000);
}

TEST_CASE("an idle relay hears one insert at once, through NOTIFY rather than the sweep") {
  RelayFixture f;
  auto relay = f.start_relay();
  // Ready means connected and swept: the first sweep's summary is not logged, so wait for the listener.
  REQUIRE_WITH_LOG(relay->wait_for_err("relay started", 20s), *relay);
  REQUIRE_WITH_LOG(wait_until(
                       [&] {
                         return f.scalar(
                                    "SELECT count(*) FROM pg_stat_activity WHERE "
                                    "application_name = 'outbox-relay:listen' AND "
                                    "state = 'idle' AND query LIKE 'LISTEN%'") == "1";
                       },
                       20s),
                   *relay);
  // The relay has gone idle once it has nothing to claim; a generous ceiling still proves no 60 s sweep.
  const auto before = std::chrono::steady_clock::now();
  f.pg.exec("SELECT outbox.enqueue('ping', '{\"hello\": \"world\"}')");
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 1s), *relay);
  const auto latency = f.sink.requests().at(0).arrived - before;
  CHECK(latency < 1s);
  CHECK(f.sink.requests().at(0).body == "{\"hello\": \"world\"}");
}

TEST_CASE("requests carry the id, topic, attempt and the row's own headers: target_url overrides --target") {
  RelayFixture f;
  HttpServer other;
  auto relay = f.start_relay({"--method", "PUT"});
  f.pg.exec(
      "SELECT outbox.enqueue('email.send', '{\"to\": \"a@example.com\"}', "
      "headers => '{\"X-Tenant\": \"acme\", \"Content-Type\": \"application/vnd.acme+json\"}')");
  f.pg.exec("SELECT outbox.enqueue('sms.send', '{}', target_url => '" + other.url("/elsewhere") + "')");

  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 20s), *relay);
  REQUIRE_WITH_LOG(other.wait_for_requests(1, 20s), *relay);
  const auto r = f.sink.requests().at(0);
  CHECK(r.method == "PUT");
  CHECK(r.header("webhook-id") == "1");
  CHECK(r.header("X-Outbox-Topic") == "email.send");
  CHECK(r.header("X-Outbox-Attempt") == "1");
  CHECK(r.header("X-Tenant") == "acme");
  CHECK(r.header("Content-Type") == "application/vnd.acme+json");
  CHECK(r.header("User-Agent").rfind("outbox-relay/", 0) == 0);
  const auto o = other.requests().at(0);
  CHECK(o.path == "/elsewhere");
  CHECK(o.header("X-Outbox-Topic") == "sms.send");
  CHECK(f.sink.request_count() == 1);
}

TEST_CASE("messages with the same ordering key are delivered one after another, in id order") {
  RelayFixture f;
  // Each answer takes a while, so that a relay ignoring the keys would certainly overlap them.
  f.sink.set_handler([](const RecordedRequest&) { return Reply::delayed(20ms); });
  auto relay = f.start_relay({"--concurrency", "16"});
  f.insert_messages(60, ", ordering_key", ", 'key-' || (g % 3)");

  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 60, 60s), *relay);
  std::map<std::int64_t, std::string> key_by_id;
  for (const auto& row : f.pg.query("SELECT id, ordering_key FROM outbox.messages"))
    key_by_id[std::stoll(row[0])] = row[1];
  std::map<std::string, std::vector<RecordedRequest>> by_key;
  for (const auto& r : f.sink.requests())
    by_key[key_by_id[std::stoll(r.header("webhook-id"))]].push_back(r);
  REQUIRE(by_key.size() == 3);
  for (const auto& [key, requests] : by_key) {
    INFO("ordering key " << key);
    REQUIRE(requests.size() == 20);
    for (std::size_t i = 1; i < requests.size(); ++i) {
      CHECK(std::stoll(requests[i - 1].header("webhook-id")) < std::stoll(requests[i].header("webhook-id")));
      // The next message of a key may only leave after the previous one was answered (20 ms later).
      CHECK(requests[i].arrived - requests[i - 1].arrived >= 20ms);
    }
  }
  CHECK(f.sink.request_count() == 60);
}

TEST_CASE("a higher priority is claimed first") {
  RelayFixture f;
  f.insert_messages(50);
  f.insert_messages(5, ", priority", ", 10");
  auto relay = f.start_relay({"--concurrency", "1", "--batch-size", "1"});
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 55, 60s), *relay);
  const auto ids = delivered_ids(f.sink);
  REQUIRE(ids.size() == 55);
  CHECK(std::vector<std::int64_t>(ids.begin(), ids.begin() + 5) ==
        std::vector<std::int64_t>{51, 52, 53, 54, 55});
  CHECK(std::is_sorted(ids.begin() + 5, ids.end()));
}
