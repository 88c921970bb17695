// The flags of the operating commands (drain, status, replay, purge, check, dry-run, retention): parsing,
// environment fallbacks, switches, ages with days, points in time, and the usage errors they give.
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "relay/cli.hpp"
#include "relay/command_values.hpp"
#include "relay/flags.hpp"
#include "tests/relay/clean_env.hpp"

using namespace std::chrono_literals;
using relay::Command;
using relay::Config;
namespace fv = relay::flag_values;
using testkit::CleanEnv;

namespace {

constexpr const char* kUrl = "postgresql://relay@localhost/app";

relay::CliOutcome parse(std::vector<std::string> args, std::string* err = nullptr) {
  args.insert(args.begin(), "outbox-relay");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out, errors;
  auto outcome = relay::parse_command_line(static_cast<int>(argv.size()), argv.data(), out, errors);
  if (err) *err = errors.str();
  return outcome;
}

Config parse_ok(std::vector<std::string> args) {
  std::string err;
  auto outcome = parse(std::move(args), &err);
  INFO("stderr: " << err);
  REQUIRE(outcome.config);
  return *outcome.config;
}

// Exit 2 with exactly one line on stderr; returns it.
std::string usage_error(std::vector<std::string> args) {
  std::string err;
  auto outcome = parse(std::move(args), &err);
  INFO("stderr: " << err);
  CHECK(outcome.exit_code == relay::exit_code::usage);
  CHECK_FALSE(outcome.config);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  return err;
}

fv::TimePoint at(const char* text) {
  std::optional<fv::TimePoint> t;
  INFO(text);
  REQUIRE(fv::set_time(text, std::chrono::system_clock::now(), t).empty());
  return *t;
}

// One non-default value for each flag of the operating commands, and what it must give.
struct Case {
  const char* command;
  const char* flag;
  const char* value;  // nullptr: a switch given alone
  std::function<bool(const Config&)> holds;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all{
      {"drain", "--limit", "25", [](const Config& c) { return c.limit == 25; }},
      {"run", "--dry-run", nullptr, [](const Config& c) { return c.dry_run; }},
      {"drain", "--dry-run", nullptr, [](const Config& c) { return c.dry_run; }},
      {"status", "--json", nullptr, [](const Config& c) { return c.json; }},
      {"status", "--top", "3", [](const Config& c) { return c.top == 3; }},
      {"replay", "--status", "failed", [](const Config& c) { return c.replay.status == "failed"; }},
      {"replay", "--topic", "email.send", [](const Config& c) { return c.replay.topic == "email.send"; }},
      {"replay", "--id", "9,3",
       [](const Config& c) {
         return c.replay.ids == std::vector<std::int64_t>{3, 9};
       }},
      {"replay", "--since", "2026-11-23T14:00Z",
       [](const Config& c) {
         return c.replay.since && fv::format_time(*c.replay.since) == "2026-11-23T14:00:00Z";
       }},
      {"replay", "--until", "2026-11-24",
       [](const Config& c) {
         return c.replay.until && fv::format_time(*c.replay.until) == "2026-11-24T00:00:00Z";
       }},
      {"replay", "--error-like", "%timed out%",
       [](const Config& c) { return c.replay.error_like == "%timed out%"; }},
      {"replay", "--keep-attempts", nullptr, [](const Config& c) { return c.replay.keep_attempts; }},
      {"replay", "--dry-run", nullptr, [](const Config& c) { return c.dry_run; }},
      {"purge", "--older-than", "30d", [](const Config& c) { return c.older_than == 720h; }},
      {"purge", "--include-dead", nullptr, [](const Config& c) { return c.include_dead; }},
      {"run", "--retain-sent", "2d", [](const Config& c) { return c.retain_sent == 48h; }},
      {"run", "--retain-dead", "90m", [](const Config& c) { return c.retain_dead == 90min; }},
  };
  return all;
}

// Purge cannot run without an age: every purge case but the age's own gets one on the command line.
std::vector<std::string> base(const Case& c) {
  std::vector<std::string> args{c.command, "--database-url", kUrl};
  if (std::string_view(c.command) == "purge" && std::string_view(c.flag) != "--older-than") {
    args.insert(args.end(), {"--older-than", "1h"});
  }
  return args;
}

}  // namespace

TEST_CASE("each flag of the operating commands is parsed, from the command line and from its variable",
          "[cli][commands]") {
  for (const Case& c : cases()) {
    INFO(c.command << " " << c.flag);
    CleanEnv env;
    auto args = base(c);
    args.push_back(c.value ? std::string(c.flag) + "=" + c.value : std::string(c.flag));
    CHECK(c.holds(parse_ok(args)));
    if (c.value) {
      auto spaced = base(c);
      spaced.insert(spaced.end(), {c.flag, c.value});
      CHECK(c.holds(parse_ok(spaced)));
    }
    env.set(std::string(relay::find_flag(c.flag)->env), c.value ? c.value : "1");
    CHECK(c.holds(parse_ok(base(c))));
  }
}

TEST_CASE("every flag is covered here or by cli_test's list of run flags", "[cli][commands]") {
  std::set<std::string> covered;
  for (const Case& c : cases())
    covered.insert(c.flag);
  const auto& run = relay::command_specs()[0];
  for (std::string_view name : run.flags) {
    if (!relay::find_flag(name)->value_name.empty()) covered.insert(std::string(name));
  }
  for (const auto& flag : relay::flag_specs()) {
    INFO(flag.name);
    CHECK(covered.count(std::string(flag.name)) == 1);
  }
}

TEST_CASE("commands exist with their flags, and refuse the flags of other commands", "[cli][commands]") {
  CleanEnv env;
  CHECK(parse_ok({"drain", "--database-url", kUrl}).command == Command::drain);
  CHECK(parse_ok({"status", "--database-url", kUrl}).command == Command::status);
  CHECK(parse_ok({"replay", "--database-url", kUrl}).command == Command::replay);
  CHECK(parse_ok({"purge", "--database-url", kUrl, "--older-than", "7d"}).command == Command::purge);
  CHECK(parse_ok({"check", "--database-url", kUrl}).command == Command::check);
  CHECK(usage_error({"status", "--database-url", kUrl, "--older-than", "1d"}) ==
        "outbox-relay: --older-than is not an option of status\n");
  CHECK(usage_error({"run", "--database-url", kUrl, "--limit", "5"}) ==
        "outbox-relay: --limit is not an option of run\n");
  CHECK(usage_error({"drain", "--database-url", kUrl, "--retain-sent", "1d"}) ==
        "outbox-relay: --retain-sent is not an option of drain\n");
  CHECK(usage_error({"purge", "--database-url", kUrl, "--older-than", "1d", "--topic", "t"}) ==
        "outbox-relay: --topic is not an option of purge\n");
  // A variable of another command does not disturb this one.
  env.set("OUTBOX_PURGE_OLDER_THAN", "3 weeks");
  CHECK(parse_ok({"status", "--database-url", kUrl}).command == Command::status);
}

TEST_CASE("the defaults of the operating flags", "[cli][commands]") {
  CleanEnv env;
  Config c = parse_ok({"replay", "--database-url", kUrl});
  CHECK_FALSE(c.dry_run);
  CHECK(c.limit == 0);
  CHECK(c.top == 10);
  CHECK_FALSE(c.json);
  CHECK_FALSE(c.replay.status);  // dead, or dead and failed with --id
  CHECK(c.replay.ids.empty());
  CHECK_FALSE(c.replay.since);
  CHECK_FALSE(c.replay.keep_attempts);
  CHECK(c.retain_sent == 0ms);
  CHECK(c.retain_dead == 0ms);
}

TEST_CASE("switches take 1/true/yes/on and 0/false/no/off, in any case", "[cli][commands]") {
  CleanEnv env;
  for (const char* yes : {"1", "true", "TRUE", "yes", "Yes", "on"}) {
    INFO(yes);
    env.set("OUTBOX_DRY_RUN", yes);
    CHECK(parse_ok({"run", "--database-url", kUrl}).dry_run);
  }
  for (const char* no : {"0", "false", "no", "OFF"}) {
    INFO(no);
    env.set("OUTBOX_DRY_RUN", no);
    CHECK_FALSE(parse_ok({"run", "--database-url", kUrl}).dry_run);
    CHECK(parse_ok({"run", "--database-url", kUrl, "--dry-run"}).dry_run);  // the flag wins
  }
  CHECK_FALSE(parse_ok({"run", "--database-url", kUrl, "--dry-run=no"}).dry_run);
  env.set("OUTBOX_DRY_RUN", "maybe");
  CHECK(usage_error({"run", "--database-url", kUrl}) ==
        "outbox-relay: --dry-run (from OUTBOX_DRY_RUN): must be 1, true, yes or on, or 0, false, no or off "
        "(got 'maybe')\n");
}

TEST_CASE("ages take days, and other spellings are usage errors", "[cli][commands]") {
  CleanEnv env;
  CHECK(parse_ok({"purge", "--database-url", kUrl, "--older-than", "1.5d"}).older_than == 36h);
  CHECK(parse_ok({"purge", "--database-url", kUrl, "--older-than", "90s"}).older_than == 90s);
  CHECK(usage_error({"purge", "--database-url", kUrl, "--older-than", "3 weeks"}) ==
        "outbox-relay: --older-than: must be an age such as 90s, 30m, 12h or 7d (got '3 weeks')\n");
  for (const char* bad : {"3w", "30", "d", "-1d", "1dd", "", "0.1ms"}) {
    INFO(bad);
    CHECK_THAT(usage_error({"purge", "--database-url", kUrl, "--older-than", bad}),
               Catch::StartsWith("outbox-relay: --older-than: "));
  }
  CHECK_THAT(usage_error({"purge", "--database-url", kUrl, "--older-than", "0s"}),
             Catch::Contains("must be between 1s and 87600h"));
  CHECK_THAT(usage_error({"run", "--database-url", kUrl, "--retain-sent", "30s"}),
             Catch::Contains("--retain-sent: must be between 1m and 87600h (got 30s)"));
}

TEST_CASE("purge needs an age", "[cli][commands]") {
  CleanEnv env;
  CHECK(usage_error({"purge", "--database-url", kUrl}) ==
        "outbox-relay: purge needs --older-than (or OUTBOX_PURGE_OLDER_THAN), e.g. --older-than 30d\n");
  CHECK_THAT(usage_error({"purge", "--database-url", kUrl, "--include-dead"}),
             Catch::Contains("--older-than"));
}

TEST_CASE("points in time: dates, times with offsets, and ages ago", "[cli][commands]") {
  CHECK(fv::format_time(at("2026-11-23")) == "2026-11-23T00:00:00Z");
  CHECK(fv::format_time(at("2026-11-23T14:00")) == "2026-11-23T14:00:00Z");
  CHECK(fv::format_time(at("2026-11-23t14:00:05z")) == "2026-11-23T14:00:05Z");
  CHECK(fv::format_time(at("2026-11-23 14:00:05.25+02:00")) == "2026-11-23T12:00:05.25Z");
  CHECK(fv::format_time(at("2026-11-23 14:00:05.123456+00")) == "2026-11-23T14:00:05.123456Z");  // psql's
  CHECK(fv::format_time(at("2026-11-23T00:30-0130")) == "2026-11-23T02:00:00Z");
  CHECK(fv::format_time(at("2024-02-29T23:59:59Z")) == "2024-02-29T23:59:59Z");

  const auto now = std::chrono::system_clock::now();
  std::optional<fv::TimePoint> ago;
  REQUIRE(fv::set_time("2h", now, ago).empty());
  CHECK(*ago == now - 2h);
  REQUIRE(fv::set_time("7d", now, ago).empty());
  CHECK(*ago == now - 168h);

  for (const char* bad : {"2026-02-30", "2026-13-01", "2026-11-23T24:00", "2026-11-23T14:60", "2026-11-23T14",
                          "2026-11-23T14:00:05.1234567", "2026-11-23T14:00+25", "2026/11/23", "yesterday",
                          "2026-11-23 14:00 UTC", "", "3 weeks"}) {
    INFO(bad);
    std::optional<fv::TimePoint> t;
    CHECK_FALSE(fv::set_time(bad, now, t).empty());
    CHECK_FALSE(t);
  }
}

TEST_CASE("replay filters that contradict each other are usage errors", "[cli][commands]") {
  CleanEnv env;
  CHECK(usage_error({"replay", "--database-url", kUrl, "--since", "2026-11-23T12:00Z", "--until",
                     "2026-11-23T11:00Z"}) ==
        "outbox-relay: --since (2026-11-23T12:00:00Z) must be before --until (2026-11-23T11:00:00Z): no row "
        "can "
        "match both\n");
  CHECK_THAT(
      usage_error({"replay", "--database-url", kUrl, "--since", "2026-11-23", "--until", "2026-11-23"}),
      Catch::Contains("must be before --until"));
  CHECK_THAT(usage_error({"replay", "--database-url", kUrl, "--since", "1h", "--until", "2h"}),
             Catch::Contains("must be before --until"));
  CHECK(parse_ok({"replay", "--database-url", kUrl, "--since", "2h", "--until", "1h"}).replay.since);
}

TEST_CASE("id lists: positive numbers separated by commas, sorted and deduplicated", "[cli][commands]") {
  std::vector<std::int64_t> ids;
  CHECK(fv::set_id_list("42,7,42", ids).empty());
  CHECK(ids == std::vector<std::int64_t>{7, 42});
  for (const char* bad : {"", "0", "-1", "1,,2", "1,", "x", "1 2", "99999999999999999999"}) {
    INFO(bad);
    std::vector<std::int64_t> untouched{1};
    CHECK_FALSE(fv::set_id_list(bad, untouched).empty());
    CHECK(untouched == std::vector<std::int64_t>{1});
  }
  CleanEnv env;
  CHECK_THAT(usage_error({"replay", "--database-url", kUrl, "--id", "1,x"}),
             Catch::StartsWith("outbox-relay: --id: "));
}
