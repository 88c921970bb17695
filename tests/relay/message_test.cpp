#include "relay/message.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

namespace {

relay::Message message() {
  relay::Message m;
  m.id = 42;
  m.topic = "email.send";
  m.payload = R"({"to": "a@example.com"})";
  m.attempts = 3;
  return m;
}

relay::DeliverySettings settings() {
  relay::DeliverySettings s;
  s.default_target = "http://127.0.0.1:8080/hook";
  s.method = "POST";
  s.connect_timeout = 2s;
  s.total_timeout = 7s;
  s.max_payload_bytes = 100;
  s.user_agent = "outbox-relay/test";
  return s;
}

bool has(const std::vector<std::string>& headers, const std::string& line) {
  return std::find(headers.begin(), headers.end(), line) != headers.end();
}

}  // namespace

TEST_CASE("a request carries the payload, the default target and the outbox headers") {
  http::Request r;
  REQUIRE(relay::build_request(message(), settings(), r).empty());
  CHECK(r.url == "http://127.0.0.1:8080/hook");
  CHECK(r.method == "POST");
  CHECK(r.body == R"({"to": "a@example.com"})");
  CHECK(r.connect_timeout == 2s);
  CHECK(r.total_timeout == 7s);
  CHECK(has(r.headers, "Content-Type: application/json"));
  CHECK(has(r.headers, "webhook-id: 42"));
  CHECK(has(r.headers, "X-Outbox-Topic: email.send"));
  CHECK(has(r.headers, "X-Outbox-Attempt: 3"));
  CHECK(has(r.headers, "User-Agent: outbox-relay/test"));
}

TEST_CASE("the row's target_url and headers win: a row header replaces the default of the same name") {
  auto m = message();
  m.target_url = "https://hooks.example.com/x";
  m.headers = "content-type: text/plain\nX-Tenant: acme";
  http::Request r;
  REQUIRE(relay::build_request(m, settings(), r).empty());
  CHECK(r.url == "https://hooks.example.com/x");
  CHECK(has(r.headers, "content-type: text/plain"));
  CHECK(has(r.headers, "X-Tenant: acme"));
  CHECK_FALSE(has(r.headers, "Content-Type: application/json"));
  CHECK(has(r.headers, "webhook-id: 42"));
}

TEST_CASE("a message without any destination, or over the size limit, cannot be sent") {
  http::Request r;
  auto s = settings();
  s.default_target.clear();
  CHECK(relay::build_request(message(), s, r).rfind("no destination", 0) == 0);
  auto big = message();
  big.payload.assign(101, 'x');
  CHECK(relay::build_request(big, settings(), r) ==
        "payload of 101 bytes exceeds --max-payload-size (100 bytes)");
  big.payload.assign(100, 'x');
  CHECK(relay::build_request(big, settings(), r).empty());
}
