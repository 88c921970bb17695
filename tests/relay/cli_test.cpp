#include "relay/cli.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "relay/flags.hpp"
#include "tests/relay/clean_env.hpp"

using namespace std::chrono_literals;
using relay::Command;
using relay::Config;
using testkit::CleanEnv;

namespace {

constexpr const char* kUrl = "postgresql://relay@localhost/app";

struct Parsed {
  relay::CliOutcome outcome;
  std::string out;
  std::string err;
};

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "outbox-relay");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out, err;
  auto outcome = relay::parse_command_line(static_cast<int>(argv.size()), argv.data(), out, err);
  return {std::move(outcome), out.str(), err.str()};
}

Config parse_ok(std::vector<std::string> args) {
  Parsed p = parse(std::move(args));
  INFO("stderr: " << p.err);
  REQUIRE(p.outcome.exit_code == relay::exit_code::ok);
  REQUIRE(p.outcome.config);
  REQUIRE(p.err.empty());
  return *p.outcome.config;
}

// A usage error: exit 2, no config, nothing on stdout, exactly one line on stderr. Returns that line.
std::string parse_error(std::vector<std::string> args) {
  Parsed p = parse(std::move(args));
  INFO("stderr: " << p.err);
  CHECK(p.outcome.exit_code == relay::exit_code::usage);
  CHECK_FALSE(p.outcome.config);
  CHECK(p.out.empty());
  REQUIRE_FALSE(p.err.empty());
  CHECK(p.err.back() == '\n');
  CHECK(std::count(p.err.begin(), p.err.end(), '\n') == 1);
  CHECK(p.err.rfind("outbox-relay: ", 0) == 0);
  return p.err;
}

void check_non_defaults(const Config& c) {
  CHECK(c.database_url == "postgresql://other@db.example:6432/app2");
  CHECK(c.target == "https://hooks.example/in");
  CHECK(c.method == "PUT");
  CHECK(c.channel == "outbox_2");
  CHECK(c.batch_size == 7);
  CHECK(c.concurrency == 3);
  CHECK(c.lease == 5min);
  CHECK(c.http_timeout == 2500ms);
  CHECK(c.connect_timeout == 1s);
  CHECK(c.http_client == relay::HttpClient::libcurl);
  CHECK(c.poll_interval == 250ms);
  CHECK(c.retry.max_retries == 9);
  CHECK(c.retry.initial_delay == 200ms);
  CHECK(c.retry.max_delay == 30s);
  CHECK(c.retry.multiplier == 1.5);
  CHECK(c.retry.jitter == 0.25);
  CHECK(c.max_payload_bytes == 4096);
  CHECK(c.shutdown_timeout == 2s);
  CHECK(c.log_level == "debug");
  CHECK(c.log_format == relay::LogFormat::json);
  CHECK(c.service_name == "billing-relay");
  CHECK(c.retain_sent == 7 * 24h);
  CHECK(c.retain_dead == 90min);
}

// One non-default value per flag; check_non_defaults() knows what each must give.
const std::vector<std::pair<std::string, std::string>> kNonDefaults = {
    {"--database-url", "postgresql://other@db.example:6432/app2"},
    {"--target", "https://hooks.example/in"},
    {"--method", "PUT"},
    {"--channel", "outbox_2"},
    {"--batch-size", "7"},
    {"--concurrency", "3"},
    {"--lease", "5m"},
    {"--http-timeout", "2.5s"},
    {"--connect-timeout", "1000ms"},
    {"--http-client", "libcurl"},
    {"--poll-interval", "250ms"},
    {"--max-retries", "9"},
    {"--initial-delay", "0.2s"},
    {"--max-delay", "30s"},
    {"--backoff-multiplier", "1.5"},
    {"--backoff-jitter", "0.25"},
    {"--max-payload-size", "4096"},
    {"--shutdown-timeout", "2s"},
    {"--log-level", "debug"},
    {"--log-format", "json"},
    {"--service-name", "billing-relay"},
    {"--retain-sent", "7d"},
    {"--retain-dead", "1.5h"},
};

// A configuration file with the given text, removed again at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& text)
      : path_("/tmp/outbox-cli-test-" + std::to_string(getpid()) + "-" + std::to_string(++count_) + ".toml") {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  static inline int count_ = 0;
  std::string path_;
};

}  // namespace

TEST_CASE("without flags every setting has its documented default", "[cli]") {
  CleanEnv env;
  Config c = parse_ok({"--database-url", kUrl});
  Config defaults;
  CHECK(c.command == Command::run);
  CHECK(c.database_url == kUrl);
  CHECK(c.target.empty());
  CHECK(c.method == "POST");
  CHECK(c.channel == "outbox");
  CHECK(c.batch_size == 100);
  CHECK(c.concurrency == defaults.concurrency);
  CHECK(c.lease == defaults.lease);
  CHECK(c.http_timeout == defaults.http_timeout);
  CHECK(c.connect_timeout == defaults.connect_timeout);
  CHECK(c.poll_interval == defaults.poll_interval);
  CHECK(c.shutdown_timeout == defaults.shutdown_timeout);
  CHECK(c.max_payload_bytes == defaults.max_payload_bytes);
  CHECK(c.retry.max_retries == 5);
  CHECK(c.retry.initial_delay == 1000ms);
  CHECK(c.retry.max_delay == 60000ms);
  CHECK(c.retry.multiplier == 2.0);
  CHECK(c.retry.jitter == defaults.retry.jitter);
  CHECK(c.log_level == "info");
  CHECK(c.log_format == relay::LogFormat::human);
  CHECK(c.http_client == relay::HttpClient::builtin);
  CHECK(c.service_name == "outbox-relay");
}

TEST_CASE("the flag table covers every flag of every command", "[cli]") {
  // kNonDefaults holds every flag of `run` that takes a value; the switches (--dry-run) and the flags of
  // the operating commands are covered by command_flags_test.cpp.
  const auto& run = relay::command_specs()[0];
  REQUIRE(run.command == Command::run);
  // --config is not a setting of its own: the config-file tests below cover it.
  auto takes_value = [](std::string_view name) {
    return name != "--config" && !relay::find_flag(name)->value_name.empty();
  };
  REQUIRE(kNonDefaults.size() ==
          static_cast<std::size_t>(std::count_if(run.flags.begin(), run.flags.end(), takes_value)));
  for (const auto& command : relay::command_specs()) {
    for (std::string_view name : command.flags) {
      INFO(name);
      CHECK(relay::find_flag(name) != nullptr);
    }
  }
  for (const auto& flag : relay::flag_specs()) {
    INFO(flag.name);
    CHECK(flag.name.starts_with("--"));
    CHECK_FALSE(flag.env.empty());
    CHECK_FALSE(flag.help.empty());
  }
}

TEST_CASE("each flag is parsed into its setting", "[cli]") {
  CleanEnv env;
  std::vector<std::string> args;
  for (const auto& [flag, value] : kNonDefaults) {
    args.push_back(flag);
    args.push_back(value);
  }
  check_non_defaults(parse_ok(args));

  SECTION("also in the --flag=value form") {
    std::vector<std::string> joined;
    for (const auto& [flag, value] : kNonDefaults)
      joined.push_back(flag + "=" + value);
    check_non_defaults(parse_ok(joined));
  }
}

TEST_CASE("every flag falls back to its environment variable", "[cli]") {
  CleanEnv env;
  for (const auto& [flag, value] : kNonDefaults) {
    env.set(std::string(relay::find_flag(flag)->env).c_str(), value.c_str());
  }
  check_non_defaults(parse_ok({}));
}

TEST_CASE("a flag beats its environment variable", "[cli]") {
  CleanEnv env;
  env.set("DATABASE_URL", "postgresql://from-env@localhost/app");
  env.set("OUTBOX_BATCH_SIZE", "5");
  env.set("OUTBOX_MAX_DELAY_MS", "1000");
  env.set("LOG_LEVEL", "error");
  Config c = parse_ok({"--database-url", kUrl, "--batch-size", "9", "--max-delay", "2s"});
  CHECK(c.database_url == kUrl);
  CHECK(c.batch_size == 9);
  CHECK(c.retry.max_delay == 2s);
  CHECK(c.log_level == "error");  // no flag given: the variable still counts
}

TEST_CASE("a later flag overrides an earlier one", "[cli]") {
  CleanEnv env;
  CHECK(parse_ok({"--database-url", kUrl, "--batch-size", "3", "--batch-size", "4"}).batch_size == 4);
}

TEST_CASE("a bare number means milliseconds for the _MS flags and variables", "[cli]") {
  CleanEnv env;
  Config c = parse_ok(
      {"--database-url", kUrl, "--poll-interval", "250", "--initial-delay", "100", "--max-delay", "30000"});
  CHECK(c.poll_interval == 250ms);
  CHECK(c.retry.initial_delay == 100ms);
  CHECK(c.retry.max_delay == 30s);

  env.set("OUTBOX_POLL_INTERVAL_MS", "500");
  env.set("OUTBOX_INITIAL_DELAY_MS", "1500");
  env.set("OUTBOX_MAX_DELAY_MS", "90000");
  Config e = parse_ok({"--database-url", kUrl});
  CHECK(e.poll_interval == 500ms);
  CHECK(e.retry.initial_delay == 1500ms);
  CHECK(e.retry.max_delay == 90s);
}

TEST_CASE("a bare number is refused where a duration needs a unit", "[cli]") {
  CleanEnv env;
  for (const char* flag : {"--lease", "--http-timeout", "--connect-timeout", "--shutdown-timeout"}) {
    INFO(flag);
    std::string line = parse_error({"--database-url", kUrl, flag, "30"});
    CHECK_THAT(line, Catch::StartsWith(std::string("outbox-relay: ") + flag + ": needs a unit"));
  }
  env.set("OUTBOX_HTTP_TIMEOUT", "5000");
  CHECK_THAT(parse_error({"--database-url", kUrl}),
             Catch::Contains("--http-timeout (from OUTBOX_HTTP_TIMEOUT): needs a unit"));
}

TEST_CASE("out-of-range and malformed values name their flag", "[cli]") {
  CleanEnv env;
  CHECK(parse_error({"--database-url", kUrl, "--batch-size", "0"}) ==
        "outbox-relay: --batch-size: must be between 1 and 10000 (got 0)\n");
  CHECK(parse_error({"--database-url", kUrl, "--batch-size", "99999999999999999999999"}) ==
        "outbox-relay: --batch-size: must be between 1 and 10000 (got 99999999999999999999999)\n");
  CHECK(parse_error({"--database-url", kUrl, "--concurrency", "lots"}) ==
        "outbox-relay: --concurrency: must be a whole number (got 'lots')\n");
  CHECK(parse_error({"--database-url", kUrl, "--max-retries", "-1"}) ==
        "outbox-relay: --max-retries: must be between 0 and 10000 (got -1)\n");
  CHECK(parse_error({"--database-url", kUrl, "--lease", "soon"}) ==
        "outbox-relay: --lease: must be a duration such as 500ms, 3s, 2m, 1h or 1.5s (got 'soon')\n");
  CHECK(parse_error({"--database-url", kUrl, "--poll-interval", "25h"}) ==
        "outbox-relay: --poll-interval: must be between 1ms and 24h (got 25h)\n");
  CHECK(parse_error({"--database-url", kUrl, "--max-payload-size", "0"}) ==
        "outbox-relay: --max-payload-size: must be between 1 and 1073741824 (got 0)\n");

  struct Bad {
    const char* flag;
    const char* value;
  };
  const std::string long_channel(64, 'a');
  for (auto [flag, value] :
       {Bad{"--backoff-multiplier", "0.5"}, Bad{"--backoff-multiplier", "nan"},
        Bad{"--backoff-multiplier", "inf"}, Bad{"--backoff-jitter", "1"}, Bad{"--backoff-jitter", "-0.1"},
        Bad{"--backoff-jitter", "x"}, Bad{"--method", "post"}, Bad{"--method", "PO ST"},
        Bad{"--channel", "Outbox"}, Bad{"--channel", "1abc"}, Bad{"--channel", long_channel.c_str()},
        Bad{"--log-level", "loud"}, Bad{"--log-format", "xml"}, Bad{"--http-client", "curl"},
        Bad{"--service-name", "a b"}, Bad{"--service-name", ""}, Bad{"--shutdown-timeout", "2h"},
        Bad{"--lease", "-1s"}}) {
    INFO(flag << " " << value);
    CHECK_THAT(parse_error({"--database-url", kUrl, flag, value}),
               Catch::StartsWith(std::string("outbox-relay: ") + flag + ": "));
  }
}

TEST_CASE("a value from the environment names its variable in the error", "[cli]") {
  CleanEnv env;
  env.set("OUTBOX_BATCH_SIZE", "0");
  CHECK(parse_error({"--database-url", kUrl}) ==
        "outbox-relay: --batch-size (from OUTBOX_BATCH_SIZE): must be between 1 and 10000 (got 0)\n");
}

TEST_CASE("a missing database URL is a usage error", "[cli]") {
  CleanEnv env;
  CHECK_THAT(parse_error({}), Catch::Contains("--database-url (or DATABASE_URL) is required"));
  CHECK_THAT(parse_error({"migrate"}), Catch::Contains("--database-url (or DATABASE_URL) is required"));
  CHECK_THAT(parse_error({"--database-url", ""}), Catch::Contains("is required"));
}

TEST_CASE("a database URL that does not parse is refused without showing its password", "[cli]") {
  CleanEnv env;
  for (const char* url : {"postgresql://relay:s3cretpw@db.example/app?nosuchoption=1",
                          "postgresql://relay:s3cretpw@db.example/app?sslmode=%zz",
                          "host=db.example password=s3cretpw nosuchkey=1",
                          "host=db.example password='s3cretpw", "mysql://relay:s3cretpw@db/app",
                          "host=db.example s3cretpw", "postgresql://relay:s3cretpw@db.example:99999/app"}) {
    INFO(url);
    std::string line = parse_error({"--database-url", url});
    CHECK_THAT(line, Catch::StartsWith("outbox-relay: --database-url: "));
    CHECK(line.find("s3cretpw") == std::string::npos);
  }
  // What can be shown still is: the option that libpq did not know.
  CHECK(parse_error({"--database-url", "host=db.example password=s3cretpw nosuchkey=1"}) ==
        "outbox-relay: --database-url: invalid connection string: invalid connection option \"nosuchkey\"\n");
  env.set("DATABASE_URL", "postgresql://relay:s3cretpw@db.example/app?nosuchoption=1");
  std::string line = parse_error({});
  CHECK_THAT(line, Catch::StartsWith("outbox-relay: --database-url (from DATABASE_URL): "));
  CHECK(line.find("s3cretpw") == std::string::npos);
}

TEST_CASE("an unquoted key=value connection string does not put its password on stderr", "[cli]") {
  CleanEnv env;
  std::string line = parse_error({"--database-url", "host=db.example", "password=s3cretpw", "dbname=app"});
  CHECK_THAT(line, Catch::Contains("must be quoted as one argument"));
  CHECK(line.find("s3cretpw") == std::string::npos);
  line = parse_error({"--database-urll=postgresql://relay:s3cretpw@db.example/app"});
  CHECK(line == "outbox-relay: unknown option '--database-urll'\n");
}

TEST_CASE("a target that is not an http(s) URL is refused", "[cli]") {
  CleanEnv env;
  for (const char* target : {"ftp://hooks.example/in", "hooks.example/in", "http://", "not a url"}) {
    INFO(target);
    CHECK_THAT(parse_error({"--database-url", kUrl, "--target", target}),
               Catch::StartsWith("outbox-relay: --target: "));
  }
  std::string line =
      parse_error({"--database-url", kUrl, "--target", "ftp://user:t4rgetpw@hooks.example/in"});
  CHECK(line.find("t4rgetpw") == std::string::npos);
  CHECK(parse_ok({"--database-url", kUrl, "--target", "http://127.0.0.1:8080/hook"}).target ==
        "http://127.0.0.1:8080/hook");
}

TEST_CASE("a missing target is allowed", "[cli]") {
  CleanEnv env;
  CHECK(parse_ok({"--database-url", kUrl}).target.empty());
}

TEST_CASE("the lease must outlast a request", "[cli]") {
  CleanEnv env;
  std::string line = parse_error({"--database-url", kUrl, "--lease", "15s"});
  CHECK(line ==
        "outbox-relay: --lease (15s) must be longer than --http-timeout + --connect-timeout (10s + 5s): "
        "a lease that runs out while its request is in flight lets another relay send the row again\n");
  CHECK(parse_ok({"--database-url", kUrl, "--lease", "16s"}).lease == 16s);
  CHECK_THAT(parse_error({"--database-url", kUrl, "--http-timeout", "1m"}),
             Catch::StartsWith("outbox-relay: --lease"));
}

TEST_CASE("the longest backoff must not be shorter than the first", "[cli]") {
  CleanEnv env;
  CHECK(parse_error({"--database-url", kUrl, "--max-delay", "500ms"}) ==
        "outbox-relay: --max-delay (500ms) must not be shorter than --initial-delay (1s)\n");
  CHECK(parse_ok({"--database-url", kUrl, "--max-delay", "1s"}).retry.max_delay == 1s);
}

TEST_CASE("validate() also checks a Config built in code", "[cli]") {
  Config c;
  CHECK_THAT(relay::validate(c), Catch::Contains("--database-url"));
  c.database_url = kUrl;
  CHECK(relay::validate(c).empty());
  c.retry.multiplier = 0.5;
  CHECK_THAT(relay::validate(c), Catch::Contains("--backoff-multiplier"));
  c.retry.multiplier = 2;
  c.retry.jitter = 1;
  CHECK_THAT(relay::validate(c), Catch::Contains("--backoff-jitter"));
}

TEST_CASE("unknown flags and commands are usage errors", "[cli]") {
  CleanEnv env;
  CHECK(parse_error({"--database-url", kUrl, "--nope"}) == "outbox-relay: unknown option '--nope'\n");
  CHECK(parse_error({"run", "--database-url", kUrl, "--nope=secret"}) ==
        "outbox-relay: unknown option '--nope'\n");
  CHECK(parse_error({"-x"}) == "outbox-relay: unknown option '-x'\n");
  CHECK(parse_error({"frobnicate"}) ==
        "outbox-relay: unknown command 'frobnicate' (commands: run, drain, migrate, status, replay, purge, "
        "check)\n");
  CHECK(parse_error({"run", "extra", "more"}) == "outbox-relay: unexpected argument 'extra'\n");
  CHECK_THAT(parse_error({"--database-url"}), Catch::Contains("--database-url"));
  CHECK(parse_error({"migrate", "--database-url", kUrl, "--target", "http://x.example/"}) ==
        "outbox-relay: --target is not an option of migrate\n");
}

TEST_CASE("version flag works before or after the command", "[cli]") {
  CleanEnv env;
  for (auto args : {std::vector<std::string>{"--version"},
                    {"run", "--version"},
                    {"migrate", "--version"},
                    {"--batch-size", "5", "--version"}}) {
    Parsed p = parse(args);
    CHECK(p.outcome.exit_code == 0);
    CHECK_FALSE(p.outcome.config);
    CHECK_THAT(p.out, Catch::StartsWith("outbox-relay "));
  }
}

TEST_CASE("run is the default command", "[cli]") {
  CleanEnv env;
  CHECK(parse_ok({"--database-url", kUrl}).command == Command::run);
  CHECK(parse_ok({"run", "--database-url", kUrl}).command == Command::run);
  env.set("DATABASE_URL", kUrl);
  CHECK(parse_ok({}).command == Command::run);
}

TEST_CASE("migrate takes the connection and log flags", "[cli]") {
  CleanEnv env;
  Config c = parse_ok({"migrate", "--database-url", kUrl, "--channel", "jobs", "--log-level", "WARN",
                       "--log-format", "json", "--service-name", "m"});
  CHECK(c.command == Command::migrate);
  CHECK(c.channel == "jobs");
  CHECK(c.log_level == "warn");
  CHECK(c.log_format == relay::LogFormat::json);
  CHECK(c.service_name == "m");
  // A variable meant for run does not disturb migrate.
  env.set("OUTBOX_BATCH_SIZE", "0");
  CHECK(parse_ok({"migrate", "--database-url", kUrl}).command == Command::migrate);
}

TEST_CASE("help goes to out and exits 0", "[cli]") {
  CleanEnv env;
  Parsed top = parse({"--help"});
  CHECK(top.outcome.exit_code == 0);
  CHECK_FALSE(top.outcome.config);
  CHECK(top.err.empty());
  CHECK_THAT(top.out,
             Catch::Contains("--lease") && Catch::Contains("migrate") && Catch::Contains("OUTBOX_LEASE"));

  Parsed run = parse({"run", "--help"});
  CHECK(run.outcome.exit_code == 0);
  CHECK_THAT(run.out, Catch::Contains("--target") && Catch::Contains("Default: 100"));

  Parsed migrate = parse({"migrate", "-h"});
  CHECK(migrate.outcome.exit_code == 0);
  CHECK_THAT(migrate.out, Catch::Contains("--channel"));
  CHECK_THAT(migrate.out, !Catch::Contains("--target"));

  // Help needs no database URL, and a bad value elsewhere does not hide it.
  env.set("OUTBOX_BATCH_SIZE", "0");
  CHECK(parse({"-h"}).outcome.exit_code == 0);
}

TEST_CASE("odd arguments never throw and always give one line", "[cli]") {
  CleanEnv env;
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{{""},
                                                                             {"-"},
                                                                             {"--"},
                                                                             {"--", "run"},
                                                                             {"run", "run"},
                                                                             {"--=x"},
                                                                             {"---batch-size", "1"},
                                                                             {"--batch-size="},
                                                                             {"--batch-size", "1", "--"},
                                                                             {std::string("\x01\xff\n", 3)},
                                                                             {"run", std::string("--\n")}}) {
    Parsed p = parse(args);
    INFO("err: " << p.err);
    CHECK(p.outcome.exit_code == relay::exit_code::usage);
    CHECK(std::count(p.err.begin(), p.err.end(), '\n') == 1);
  }
}

// ---- the configuration file (--config / OUTBOX_CONFIG) ----

TEST_CASE("every setting can come from the --config file", "[cli][config]") {
  CleanEnv env;
  std::string text;
  for (const auto& [flag, value] : kNonDefaults)
    text += flag.substr(2) + " = \"" + value + "\"\n";
  TempFile file(text);
  Config c = parse_ok({"--config", file.path()});
  check_non_defaults(c);
  CHECK(c.config_file == file.path());

  SECTION("and the file can be named by OUTBOX_CONFIG") {
    env.set("OUTBOX_CONFIG", file.path().c_str());
    check_non_defaults(parse_ok({}));
  }
}

TEST_CASE("the config file takes TOML numbers and booleans as the options do", "[cli][config]") {
  CleanEnv env;
  TempFile file(
      "database-url = \"postgresql://relay@localhost/app\"\n"
      "batch-size = 250\n"
      "backoff-multiplier = 1.5\n"
      "backoff-jitter = 0.1\n"
      "max-payload-size = 1e6\n"
      "poll-interval = 750  # a bare number means milliseconds where the variable ends in _MS\n"
      "dry-run = true\n");
  Config c = parse_ok({"--config", file.path()});
  CHECK(c.batch_size == 250);
  CHECK(c.retry.multiplier == 1.5);
  CHECK(c.retry.jitter == 0.1);
  CHECK(c.max_payload_bytes == 1'000'000);
  CHECK(c.poll_interval == 750ms);
  CHECK(c.dry_run);
}

TEST_CASE("a flag beats its variable, and a variable beats the config file", "[cli][config]") {
  CleanEnv env;
  TempFile file(
      "database-url = \"postgresql://from-file@localhost/app\"\n"
      "batch-size = 5\n"
      "concurrency = 6\n"
      "log-level = \"warn\"\n");
  env.set("OUTBOX_BATCH_SIZE", "7");
  env.set("OUTBOX_CONCURRENCY", "8");
  Config c = parse_ok({"--config", file.path(), "--concurrency", "9"});
  CHECK(c.database_url == "postgresql://from-file@localhost/app");  // only the file sets it
  CHECK(c.batch_size == 7);                                         // variable over file
  CHECK(c.concurrency == 9);                                        // flag over variable and file
  CHECK(c.log_level == "warn");
}

TEST_CASE("one config file serves every command: settings of other commands are left alone",
          "[cli][config]") {
  CleanEnv env;
  TempFile file(
      "database-url = \"postgresql://relay@localhost/app\"\n"
      "retain-sent = \"30d\"\n"
      "top = 3\n"
      "older-than = \"7d\"\n");
  CHECK(parse_ok({"run", "--config", file.path()}).retain_sent == 30 * 24h);
  CHECK(parse_ok({"status", "--config", file.path()}).top == 3);
  CHECK(parse_ok({"purge", "--config", file.path()}).older_than == 7 * 24h);
  CHECK(parse_ok({"migrate", "--config", file.path()}).database_url == "postgresql://relay@localhost/app");
}

TEST_CASE("a bad config file is a usage error naming the file and line", "[cli][config]") {
  CleanEnv env;
  SECTION("unknown key") {
    TempFile file("database-url = \"postgresql://relay@localhost/app\"\nbatch_size = 5\n");
    auto err = parse_error({"--config", file.path()});
    CHECK_THAT(err, Catch::Contains(file.path() + ":2: unknown setting 'batch_size'"));
  }
  SECTION("a value the option refuses") {
    TempFile file("database-url = \"postgresql://relay@localhost/app\"\n\nhttp-timeout = 10\n");
    auto err = parse_error({"--config", file.path()});
    CHECK_THAT(err, Catch::Contains(file.path() + ":3: http-timeout: "));
  }
  SECTION("a value of a shape no option takes") {
    TempFile file("concurrency = [1, 2]\n");
    CHECK_THAT(parse_error({"--config", file.path()}),
               Catch::Contains(file.path() + ":1: concurrency: must be a string, a number or true/false"));
  }
  SECTION("not TOML") {
    TempFile file("database-url = \n");
    CHECK_THAT(parse_error({"--config", file.path()}), Catch::Contains(file.path() + ":1: not valid TOML"));
  }
  SECTION("a key given twice") {
    TempFile file("batch-size = 1\nbatch-size = 2\n");
    CHECK_THAT(parse_error({"--config", file.path()}), Catch::Contains(file.path() + ":2: not valid TOML"));
  }
  SECTION("--config inside the file") {
    TempFile file("config = \"/etc/other.toml\"\n");
    CHECK_THAT(parse_error({"--config", file.path()}), Catch::Contains(":1: unknown setting 'config'"));
  }
  SECTION("a directory") {
    CHECK_THAT(parse_error({"--config", "/tmp"}), Catch::Contains("/tmp: is a directory"));
  }
  SECTION("a file that does not exist") {
    CHECK_THAT(parse_error({"--config", "/nonexistent/outbox-relay.toml"}),
               Catch::Contains("/nonexistent/outbox-relay.toml: cannot read the configuration file"));
  }
}

TEST_CASE("a password in the config file's database URL never shows in its errors", "[cli][config]") {
  CleanEnv env;
  SECTION("not TOML: an unquoted value") {
    TempFile file("database-url = 12345678901234567890123\n");
    auto err = parse_error({"--config", file.path()});
    CHECK_THAT(err, Catch::Contains(file.path() + ":1: not valid TOML"));
    CHECK(err.find("1234567890") == std::string::npos);
  }
  SECTION("a URL that does not parse") {
    TempFile file("database-url = \"postgresql://relay:s3cret@localhost:99999/app\"\n");
    auto err = parse_error({"--config", file.path()});
    CHECK_THAT(err, Catch::Contains(file.path() + ":1: database-url: "));
    CHECK(err.find("s3cret") == std::string::npos);
  }
}
