#include "relay/flags.hpp"

#include <algorithm>

#include <fmt/format.h>

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
std::string show(LogFormat value) {
  return value == LogFormat::json ? "json" : "human";
}

// Each row: name, variable, value placeholder, help group, help line, default, setter.
// The lambdas are captureless so that the whole table is constant data.
constexpr FlagSpec kFlags[] = {
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
    {"--poll-interval", "OUTBOX_POLL_INTERVAL_MS", "DURATION", "Delivery",
     "Sweep for rows a lost notification missed (10ms-24h; bare number: ms)",
     [](const Config& c) { return show(c.poll_interval); },
     [](Config& c, std::string_view v, BareNumber b) {
       return set_duration(v, b, 10ms, 24h, c.poll_interval);
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
    "--database-url",
    "--channel",
    "--target",
    "--method",
    "--batch-size",
    "--concurrency",
    "--lease",
    "--http-timeout",
    "--connect-timeout",
    "--poll-interval",
    "--max-payload-size",
    "--shutdown-timeout",
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
    "--database-url", "--channel", "--log-level", "--log-format", "--service-name",
};

constexpr CommandSpec kCommands[] = {
    {Command::run, "run", "Deliver outbox rows until stopped (the default command)", kRunFlags},
    {Command::migrate, "migrate", "Create or upgrade the outbox schema and trigger, then exit",
     kMigrateFlags},
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
