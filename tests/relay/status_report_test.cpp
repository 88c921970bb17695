// status's two renderings, from a report built in code: the JSON parses (with an independent reader) and
// says what the report says; the tables stay one line per row whatever the values hold.
#include "relay/status_report.hpp"

#include <sstream>

#include <catch2/catch.hpp>

#include "tests/support/json.hpp"

using relay::status::Report;
using testkit::json::Value;

namespace {

Report sample() {
  Report r;
  r.schema_version = 2;
  r.counts.by_status = {3, 1, 10, 2, 2};  // pending, processing, sent, failed, dead
  r.topics = {{"email.send", {{{3, 1, 4, 2, 0}}}}, {"sms \"urgent\"", {{{0, 0, 6, 0, 2}}}}};
  r.due = 4;
  r.oldest_due_ms = 65'000;
  r.owners = {{"relay@host:42-abc", 1, 1}};
  r.dead = {{.id = 17,
             .topic = "sms \"urgent\"",
             .attempts = 6,
             .last_status = 503,
             .last_error = "HTTP 503\nline two",
             .dead_since = "2026-11-23T14:00:00Z"},
            {.id = 9,
             .topic = "sms",
             .attempts = 1,
             .last_status = std::nullopt,
             .last_error = "",
             .dead_since = "x"}};
  return r;
}

std::int64_t count(const Value& counts, const char* status) {
  return counts.at(status).integer();
}

}  // namespace

TEST_CASE("status JSON is one valid object with every figure of the report", "[status]") {
  const std::string text = relay::status::render_json(sample());
  REQUIRE(text.back() == '\n');
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  auto parsed = testkit::json::parse(text);
  REQUIRE(parsed);
  const Value& v = *parsed;
  CHECK(v.at("schema_version").integer() == 2);
  const Value& by_status = v.at("by_status");
  CHECK(count(by_status, "pending") == 3);
  CHECK(count(by_status, "processing") == 1);
  CHECK(count(by_status, "sent") == 10);
  CHECK(count(by_status, "failed") == 2);
  CHECK(count(by_status, "dead") == 2);
  CHECK(count(by_status, "total") == 18);

  const Value& topics = v.at("by_topic");
  REQUIRE(topics.items.size() == 2);
  CHECK(topics.items[1].at("topic").text == "sms \"urgent\"");
  CHECK(count(topics.items[0].at("counts"), "total") == 10);
  CHECK(count(topics.items[1].at("counts"), "dead") == 2);

  CHECK(v.at("due").at("rows").integer() == 4);
  CHECK(v.at("due").at("oldest_due_ms").integer() == 65'000);
  CHECK(v.at("in_flight").at("rows").integer() == 1);
  CHECK(v.at("in_flight").at("expired_leases").integer() == 1);
  CHECK(v.at("in_flight").at("owners").items.at(0).at("lease_owner").text == "relay@host:42-abc");

  const Value& dead = v.at("dead");
  CHECK(dead.at("rows").integer() == 2);
  REQUIRE(dead.at("newest").items.size() == 2);
  const Value& first = dead.at("newest").items[0];
  CHECK(first.at("id").integer() == 17);
  CHECK(first.at("last_status").integer() == 503);
  CHECK(first.at("last_error").text == "HTTP 503\nline two");
  CHECK(dead.at("newest").items[1].at("last_status").is(Value::Kind::null));
}

TEST_CASE("status JSON of an empty table has zeros and nulls, not missing members", "[status]") {
  Report empty;
  auto parsed = testkit::json::parse(relay::status::render_json(empty));
  REQUIRE(parsed);
  CHECK(parsed->at("by_status").at("total").integer() == 0);
  CHECK(parsed->at("by_topic").items.empty());
  CHECK(parsed->at("due").at("oldest_due_ms").is(Value::Kind::null));
  CHECK(parsed->at("dead").at("newest").items.empty());
}

TEST_CASE("status tables: one line per row, values escaped, ages readable", "[status]") {
  const std::string text = relay::status::render_text(sample());
  CHECK_THAT(text, Catch::Contains("total") && Catch::Contains("18"));
  CHECK_THAT(text, Catch::Contains("Due now: 4; the oldest has been due for 1m 05s"));
  CHECK_THAT(text, Catch::Contains("In flight: 1, 1 with an expired lease"));
  CHECK_THAT(text, Catch::Contains("relay@host:42-abc"));
  CHECK_THAT(text, Catch::Contains("HTTP 503\\nline two"));  // the line break shown, not taken
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    CHECK((line.find("line two") == std::string::npos || line.find("HTTP 503") != std::string::npos));
  }
  // The topic table's header names every status.
  CHECK_THAT(text, Catch::Contains("TOPIC") && Catch::Contains("PROCESSING") && Catch::Contains("DEAD"));
}
