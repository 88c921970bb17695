// The log events operators grep for, read as JSON from the real binary's stderr: every line is one valid
// JSON object, every line of a run carries the same run_id, and the events have their documented fields.
#include <map>
#include <sstream>

#include "tests/integration/relay_fixture.hpp"
#include "tests/support/json.hpp"

using namespace testkit;

namespace {

// Every stderr line parsed; fails the test on a line that is not a JSON object.
std::vector<json::Value> json_lines(const std::string& err) {
  std::vector<json::Value> lines;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    INFO("line: " << line);
    auto parsed = json::parse(line);
    REQUIRE(parsed);
    REQUIRE(parsed->is(json::Value::Kind::object));
    lines.push_back(std::move(*parsed));
  }
  return lines;
}

// The lines of one event.
std::vector<const json::Value*> events(const std::vector<json::Value>& lines, const std::string& name) {
  std::vector<const json::Value*> found;
  for (const auto& line : lines) {
    const json::Value* event = line.find("event");
    if (event != nullptr && event->text == name) found.push_back(&line);
  }
  return found;
}

void check_one_run_id(const std::vector<json::Value>& lines) {
  REQUIRE_FALSE(lines.empty());
  const std::string run_id = lines.front().at("run_id").text;
  CHECK(run_id.size() > 16);  // timestamp + random
  for (const auto& line : lines) {
    CHECK(line.at("run_id").text == run_id);
    CHECK(line.at("ts").is(json::Value::Kind::string));
    CHECK(line.at("level").is(json::Value::Kind::string));
  }
}

}  // namespace

TEST_CASE("JSON logs: start batch, send failed and summary carry their fields and one run_id") {
  RelayFixture f;
  // Message 2 fails with 503 and, with no retries allowed, goes dead; the others are delivered.
  f.sink.set_handler(
      [](const RecordedRequest& r) { return Reply::with_status(r.header("webhook-id") == "2" ? 503 : 200); });
  auto relay = f.start_relay({"--log-format", "json", "--log-level", "debug", "--max-retries", "0"});
  f.insert_messages(3);
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", 2, 20s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'dead'", 1, 20s), *relay);
  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);

  const auto lines = json_lines(relay->err());
  check_one_run_id(lines);

  const auto batches = events(lines, "start batch");
  REQUIRE_FALSE(batches.empty());
  CHECK(batches.front()->at("level").text == "debug");
  CHECK(batches.front()->at("limit").integer() > 0);

  const auto failures = events(lines, "send failed");
  REQUIRE(failures.size() == 1);
  const json::Value& failed = *failures.front();
  CHECK(failed.at("level").text == "warn");
  CHECK(failed.at("message_id").integer() == 2);
  CHECK(failed.at("attempt").integer() == 1);
  CHECK(failed.at("status").integer() == 503);
  CHECK(failed.at("error").is(json::Value::Kind::string));
  CHECK_FALSE(failed.at("error").text.empty());

  const auto summaries = events(lines, "summary");
  REQUIRE_FALSE(summaries.empty());
  const json::Value& summary = *summaries.back();  // the one logged at the stop: the run's totals
  CHECK(summary.at("level").text == "info");
  CHECK(summary.at("processed").integer() == 3);
  CHECK(summary.at("sent").integer() == 2);
  CHECK(summary.at("failed").integer() == 0);
  CHECK(summary.at("dead").integer() == 1);
  CHECK(summary.at("mode").text == "run");
}

TEST_CASE("JSON logs: dry-run payload events carry id, topic, destination and payload") {
  RelayFixture f;
  f.insert_messages(2);
  auto r = f.run_binary({"run", "--dry-run", "--log-format", "json", "--target", f.sink.url("/hook")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = json_lines(r.err);
  check_one_run_id(lines);

  const auto payloads = events(lines, "dry-run payload");
  REQUIRE(payloads.size() == 2);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const json::Value& p = *payloads[i];
    CHECK(p.at("level").text == "info");
    CHECK(p.at("message_id").integer() == static_cast<std::int64_t>(i + 1));
    CHECK(p.at("topic").text == "t");
    CHECK(p.at("destination").text == f.sink.url("/hook"));
    auto payload = json::parse(p.at("payload").text);  // the payload itself, as text
    REQUIRE(payload);
    CHECK(payload->at("n").integer() == static_cast<std::int64_t>(i + 1));
  }
  const auto summaries = events(lines, "summary");
  REQUIRE(summaries.size() == 1);
  CHECK(summaries[0]->at("mode").text == "dry-run");
  CHECK(summaries[0]->at("processed").integer() == 2);
  CHECK(summaries[0]->at("sent").integer() == 0);
}
