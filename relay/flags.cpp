#include "relay/flags.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "relay/command_values.hpp"
#include "relay/flag_values.hpp"

namespace relay {
namespace {

using namespace std::chrono_literals;
using namespace flag_values;

std::string show(const std::string& value) {
  return value.empty() ? "none" : value;
}
std::string show(int value) {
  return std::to_string(value);
}
std::string show(std::size_t value) {
  return std::to_string(value);
}
std::string show(double value) {
  return fmt::format("{}", value);
}
std::string show(std::chrono::milliseconds value) {
  return format_duration(value);
}
std::string show_switch(bool value) {
  return value ? "on" : "off";
}
// Zero means "not set" for these: the row's show_default says what that means.
std::string show_age(std::chrono::milliseconds value, const char* when_zero) {
  return value.count() == 0 ? std::string(when_zero) : format_duration(value);
}
std::string show(LogFormat value) {
  return value == LogFormat::json ? "json" : "human";
}
std::string show(HttpClient value) {
  return value == HttpClient::libcurl ? "libcurl" : "builtin";
}

// Each row: name, variable, value placeholder, help group, help line, default, setter.
// The lambdas are captureless so that the whole table is constant data.
constexpr FlagSpec kFlags[] = {
    {"--config", "OUTBOX_CONFIG", "FILE", "Options",
     "Read settings from this TOML file; flags and variables win over it",
     [](const Config& c) { return show(c.config_file); },
     [](Config& c, std::string_view v, BareNumber) {
       c.config_file = std::string(v);
       return std::string();
     }},
    {"--database-url", "DATABASE_URL", "URL", "Connection",
     "PostgreSQL connection string (postgresql:// URL or key=value pairs)",
     [](const Config& c) { return c.database_url.empty() ? std::string("none (required)") : c.database_url; },
     [](Config& c, std::string_view v, BareNumber) { return set_database_url(v, c.database_url); }},
    {"--channel", "OUTBOX_CHANNEL", "NAME", "Connection",
     "LISTEN/NOTIFY channel that the outbox trigger notifies",
     [](const Config& c) { return show(c.channel); },
     [](Config& c, std::string_view v, BareNumber) { return set_channel(v, c.channel); }},

    {"--target", "OUTBOX_TARGET_URL", "URL", "Delivery", "http(s) URL for rows that have no target_url",
     [](const Config& c) { return show(c.target); },
     [](Config& c, std::string_view v, BareNumber) { return set_http_url(v, c.target); }},
    {"--method", "OUTBOX_HTTP_METHOD", "METHOD", "Delivery", "HTTP method of every delivery",
     [](const Config& c) { return show(c.method); },
     [](Config& c, std::string_view v, BareNumber) { return set_http_method(v, c.method); }},
    {"--batch-size", "OUTBOX_BATCH_SIZE", "N", "Delivery", "Rows claimed per query at most (1-10000)",
     [](const Config& c) { return show(c.batch_size); },
     [](Config& c, std::string_view v, BareNumber) { return set_int(v, 1, 10'000, c.batch_size); }},
    {"--concurrency", "OUTBOX_CONCURRENCY", "N", "Delivery", "HTTP requests in flight at most (1-10000)",
     [](const Config& c) { return show(c.concurrency); },
     [](Config& c, std::string_view v, BareNumber) { return set_int(v, 1, 10'000, c.concurrency); }},
    {"--lease", "OUTBOX_LEASE", "DURATION", "Delivery",
     "How long a claimed row stays reserved for this relay (1s-24h)",
     [](const Config& c) { return show(c.lease); },
     [](Config& c, std::string_view v, BareNumber b) { return set_duration(v, b, 1s, 24h, c.lease); }},
    {"--http-timeout", "OUTBOX_HTTP_TIMEOUT", "DURATION", "Delivery",
     "Time limit of one whole request (1ms-1h)", [](const Config& c) { return show(c.http_timeout); },
     [](Config& c, std::string_view v, BareNumber b) { return set_duration(v, b, 1ms, 1h, c.http_timeout); }},
    {"--connect-timeout", "OUTBOX_CONNECT_TIMEOUT", "DURATION", "Delivery",
     "Time limit for connecting to a target (1ms-1h)",
     [](const Config& c) { return show(c.connect_timeout); },
     [](Config& c, std::string_view v, BareNumber b) {
       return set_duration(v, b, 1ms, 1h, c.connect_timeout);
     }},
    {"--http-client", "OUTBOX_HTTP_CLIENT", "NAME", "Delivery",
     "Who sends plain http:// requests: builtin (own HTTP/1.1 code) or libcurl",
     [](const Config& c) { return show(c.http_client); },
     [](Config& c, std::string_view v, BareNumber) { return set_http_client(v, c.http_client); }},
    {"--poll-interval", "OUTBOX_POLL_INTERVAL_MS", "DURATION", "Delivery",
     "Sweep for rows a lost notification missed (1ms-24h; bare number: ms)",
     [](const Config& c) { return show(c.poll_interval); },
     [](Config& c, std::string_view v, BareNumber b) {
       return set_duration(v, b, 1ms, 24h, c.poll_interval);
     }},
    {"--max-payload-size", "OUTBOX_MAX_PAYLOAD_SIZE", "BYTES", "Delivery",
     "Largest payload sent; a larger row goes dead (1-1073741824)",
     [](const Config& c) { return show(c.max_payload_bytes); },
     [](Config& c, std::string_view v, BareNumber) {
       return set_size(v, 1, 1ULL << 30, c.max_payload_bytes);
     }},
    {"--shutdown-timeout", "OUTBOX_SHUTDOWN_TIMEOUT", "DURATION", "Delivery",
     "On SIGTERM/SIGINT, how long in-flight sends may take to finish (0s-1h)",
     [](const Config& c) { return show(c.shutdown_timeout); },
     [](Config& c, std::string_view v, BareNumber b) {
       return set_duration(v, b, 0s, 1h, c.shutdown_timeout);
     }},

    {"--limit", "OUTBOX_LIMIT", "N", "Delivery", "drain: attempt at most N rows, then exit (1-1000000000)",
     [](const Config& c) { return c.limit == 0 ? std::string("none") : show(c.limit); },
     [](Config& c, std::string_view v, BareNumber) { return set_int(v, 1, 1'000'000'000, c.limit); }},
    {"--dry-run", "OUTBOX_DRY_RUN", "", "Delivery",
     "Log what would be sent (run, drain: one batch) or changed (replay, purge); change nothing",
     [](const Config& c) { return show_switch(c.dry_run); },
     [](Config& c, std::string_view v, BareNumber) { return set_switch(v, c.dry_run); }},

    {"--max-retries", "OUTBOX_MAX_RETRIES", "N", "Retries",
     "Retries after the first attempt before a row goes dead (0-10000)",
     [](const Config& c) { return show(c.retry.max_retries); },
     [](Config& c, std::string_view v, BareNumber) { return set_int(v, 0, 10'000, c.retry.max_retries); }},
    {"--initial-delay", "OUTBOX_INITIAL_DELAY_MS", "DURATION", "Retries",
     "Wait after the first failed attempt (1ms-24h; bare number: ms)",
     [](const Config& c) { return show(c.retry.initial_delay); },
     [](Config& c, std::string_view v, BareNumber b) {
       return set_duration(v, b, 1ms, 24h, c.retry.initial_delay);
     }},
    {"--max-delay", "OUTBOX_MAX_DELAY_MS", "DURATION", "Retries",
     "Longest wait between two attempts (1ms-168h; bare number: ms)",
     [](const Config& c) { return show(c.retry.max_delay); },
     [](Config& c, std::string_view v, BareNumber b) {
       return set_duration(v, b, 1ms, 168h, c.retry.max_delay);
     }},
    {"--backoff-multiplier", "OUTBOX_BACKOFF_MULTIPLIER", "FACTOR", "Retries",
     "Growth of the wait from one attempt to the next (1-100)",
     [](const Config& c) { return show(c.retry.multiplier); },
     [](Config& c, std::string_view v, BareNumber) { return set_number(v, 1, 100, c.retry.multiplier); }},
    {"--backoff-jitter", "OUTBOX_BACKOFF_JITTER", "FRACTION", "Retries",
     "Random spread of each wait, plus or minus this fraction (0 to <1)",
     [](const Config& c) { return show(c.retry.jitter); },
     [](Config& c, std::string_view v, BareNumber) { return set_fraction(v, c.retry.jitter); }},

    {"--retain-sent", "OUTBOX_RETAIN_SENT", "AGE", "Retention",
     "Delete sent rows this long after they were sent (1m-87600h, or days: 7d)",
     [](const Config& c) { return show_age(c.retain_sent, "none (kept)"); },
     [](Config& c, std::string_view v, BareNumber) { return set_age(v, 1min, 87'600h, c.retain_sent); }},
    {"--retain-dead", "OUTBOX_RETAIN_DEAD", "AGE", "Retention",
     "Delete dead rows this long after they went dead (1m-87600h, or days: 30d)",
     [](const Config& c) { return show_age(c.retain_dead, "none (kept)"); },
     [](Config& c, std::string_view v, BareNumber) { return set_age(v, 1min, 87'600h, c.retain_dead); }},

    {"--json", "OUTBOX_STATUS_JSON", "", "Status", "Print one JSON object instead of tables",
     [](const Config& c) { return show_switch(c.json); },
     [](Config& c, std::string_view v, BareNumber) { return set_switch(v, c.json); }},
    {"--top", "OUTBOX_STATUS_TOP", "N", "Status",
     "Dead rows listed with their last error, newest first (0-1000)",
     [](const Config& c) { return show(c.top); },
     [](Config& c, std::string_view v, BareNumber) { return set_int(v, 0, 1'000, c.top); }},

    {"--status", "OUTBOX_REPLAY_STATUS", "STATUS", "Replay",
     "dead or failed: which rows go back to pending (with --id: both, unless given)",
     [](const Config& c) { return c.replay.status.value_or("dead"); },
     [](Config& c, std::string_view v, BareNumber) { return set_replay_status(v, c.replay.status); }},
    {"--topic", "OUTBOX_REPLAY_TOPIC", "TOPIC", "Replay", "Only rows of this topic",
     [](const Config& c) { return show(c.replay.topic); },
     [](Config& c, std::string_view v, BareNumber) {
       c.replay.topic = v;
       return std::string();
     }},
    {"--id", "OUTBOX_REPLAY_ID", "IDS", "Replay", "Only these rows: ids separated by commas",
     [](const Config&) { return std::string("none"); },
     [](Config& c, std::string_view v, BareNumber) { return set_id_list(v, c.replay.ids); }},
    {"--since", "OUTBOX_REPLAY_SINCE", "TIME", "Replay",
     "Only rows created at or after TIME (2026-11-23T14:00Z; UTC unless an offset is given; or an age: 2h)",
     [](const Config&) { return std::string("none"); },
     [](Config& c, std::string_view v, BareNumber) {
       return set_time(v, std::chrono::system_clock::now(), c.replay.since);
     }},
    {"--until", "OUTBOX_REPLAY_UNTIL", "TIME", "Replay",
     "Only rows created before TIME (written as for --since)",
     [](const Config&) { return std::string("none"); },
     [](Config& c, std::string_view v, BareNumber) {
       return set_time(v, std::chrono::system_clock::now(), c.replay.until);
     }},
    {"--error-like", "OUTBOX_REPLAY_ERROR_LIKE", "PATTERN", "Replay",
     "Only rows whose last_error matches this LIKE pattern, ignoring case ('%timed out%')",
     [](const Config& c) { return show(c.replay.error_like); },
     [](Config& c, std::string_view v, BareNumber) {
       c.replay.error_like = v;
       return std::string();
     }},
    {"--keep-attempts", "OUTBOX_REPLAY_KEEP_ATTEMPTS", "", "Replay",
     "Keep each row's attempt count (by default it goes back to 0)",
     [](const Config& c) { return show_switch(c.replay.keep_attempts); },
     [](Config& c, std::string_view v, BareNumber) { return set_switch(v, c.replay.keep_attempts); }},

    {"--older-than", "OUTBOX_PURGE_OLDER_THAN", "AGE", "Purge",
     "Delete sent rows sent longer ago than this (1s-87600h, or days: 30d)",
     [](const Config& c) { return show_age(c.older_than, "none (required)"); },
     [](Config& c, std::string_view v, BareNumber) { return set_age(v, 1s, 87'600h, c.older_than); }},
    {"--include-dead", "OUTBOX_PURGE_INCLUDE_DEAD", "", "Purge",
     "Also delete dead rows that went dead longer ago than --older-than",
     [](const Config& c) { return show_switch(c.include_dead); },
     [](Config& c, std::string_view v, BareNumber) { return set_switch(v, c.include_dead); }},

    {"--log-level", "LOG_LEVEL", "LEVEL", "Logging", "trace, debug, info, warn, error, critical or off",
     [](const Config& c) { return show(c.log_level); },
     [](Config& c, std::string_view v, BareNumber) { return set_log_level(v, c.log_level); }},
    {"--log-format", "OUTBOX_LOG_FORMAT", "FORMAT", "Logging", "human, or json for one JSON object per line",
     [](const Config& c) { return show(c.log_format); },
     [](Config& c, std::string_view v, BareNumber) { return set_log_format(v, c.log_format); }},
    {"--service-name", "SERVICE_NAME", "NAME", "Logging", "Service name carried by every JSON log line",
     [](const Config& c) { return show(c.service_name); },
     [](Config& c, std::string_view v, BareNumber) { return set_service_name(v, c.service_name); }},
};

constexpr std::string_view kRunFlags[] = {
    "--config",
    "--database-url",
    "--channel",
    "--target",
    "--method",
    "--batch-size",
    "--concurrency",
    "--lease",
    "--http-timeout",
    "--connect-timeout",
    "--http-client",
    "--poll-interval",
    "--max-payload-size",
    "--shutdown-timeout",
    "--dry-run",
    "--max-retries",
    "--initial-delay",
    "--max-delay",
    "--backoff-multiplier",
    "--backoff-jitter",
    "--retain-sent",
    "--retain-dead",
    "--log-level",
    "--log-format",
    "--service-name",
};
// drain takes the run flags except the sweep interval (it exits instead of sleeping) and retention (a
// daemon's job), plus --limit.
constexpr std::string_view kDrainFlags[] = {
    "--config",
    "--database-url",
    "--channel",
    "--target",
    "--method",
    "--batch-size",
    "--concurrency",
    "--lease",
    "--http-timeout",
    "--connect-timeout",
    "--http-client",
    "--max-payload-size",
    "--shutdown-timeout",
    "--limit",
    "--dry-run",
    "--max-retries",
    "--initial-delay",
    "--max-delay",
    "--backoff-multiplier",
    "--backoff-jitter",
    "--log-level",
    "--log-format",
    "--service-name",
};
constexpr std::string_view kMigrateFlags[] = {
    "--config", "--database-url", "--channel", "--log-level", "--log-format", "--service-name",
};
constexpr std::string_view kStatusFlags[] = {
    "--config", "--database-url", "--json", "--top", "--log-level", "--log-format", "--service-name",
};
constexpr std::string_view kReplayFlags[] = {
    "--config",  "--database-url", "--channel",    "--status",       "--topic",
    "--id",      "--since",        "--until",      "--error-like",   "--keep-attempts",
    "--dry-run", "--log-level",    "--log-format", "--service-name",
};
constexpr std::string_view kPurgeFlags[] = {
    "--config",  "--database-url", "--older-than", "--include-dead",
    "--dry-run", "--log-level",    "--log-format", "--service-name",
};
constexpr std::string_view kCheckFlags[] = {
    "--config",          "--database-url", "--channel",    "--target",
    "--connect-timeout", "--log-level",    "--log-format", "--service-name",
};

constexpr CommandSpec kCommands[] = {
    {Command::run, "run", "Deliver outbox rows until stopped (the default command)", kRunFlags},
    {Command::drain, "drain",
     "Deliver the rows that are due (or --limit of them), then exit: for cron and CI", kDrainFlags},
    {Command::migrate, "migrate", "Create or upgrade the outbox schema and trigger, then exit",
     kMigrateFlags},
    {Command::status, "status", "Show counts by status and topic, due and in-flight rows, recent dead rows",
     kStatusFlags},
    {Command::replay, "replay", "Put dead (or failed) rows back to pending, filtered, and wake the relays",
     kReplayFlags},
    {Command::purge, "purge", "Delete sent (and dead) rows older than --older-than, in small batches",
     kPurgeFlags},
    {Command::check, "check", "Check the database, schema, trigger, LISTEN/NOTIFY and targets; one line each",
     kCheckFlags},
};

}  // namespace

BareNumber bare_number_rule(const FlagSpec& flag) {
  return flag.env.ends_with("_MS") ? BareNumber::milliseconds : BareNumber::rejected;
}

std::span<const FlagSpec> flag_specs() {
  return kFlags;
}
std::span<const CommandSpec> command_specs() {
  return kCommands;
}

const FlagSpec* find_flag(std::string_view name) {
  auto it =
      std::find_if(std::begin(kFlags), std::end(kFlags), [&](const FlagSpec& f) { return f.name == name; });
  return it == std::end(kFlags) ? nullptr : &*it;
}

}  // namespace relay
