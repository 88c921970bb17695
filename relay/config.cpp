#include "relay/config.hpp"

#include <fmt/format.h>

#include "relay/command_values.hpp"
#include "relay/duration.hpp"

namespace relay {

std::string validate(const Config& config) {
  if (config.database_url.empty()) {
    return "--database-url (or DATABASE_URL) is required: the PostgreSQL database that holds the outbox";
  }
  // A lease that can run out while its request is still in flight lets another relay claim the row and
  // send it a second time; the lease must cover the longest a request can take.
  if (config.lease <= config.http_timeout + config.connect_timeout) {
    return fmt::format(
        "--lease ({}) must be longer than --http-timeout + --connect-timeout ({} + {}): "
        "a lease that runs out while its request is in flight lets another relay send the row again",
        format_duration(config.lease), format_duration(config.http_timeout),
        format_duration(config.connect_timeout));
  }
  if (config.retry.max_delay < config.retry.initial_delay) {
    return fmt::format("--max-delay ({}) must not be shorter than --initial-delay ({})",
                       format_duration(config.retry.max_delay), format_duration(config.retry.initial_delay));
  }
  // Single values are range-checked where they are parsed (relay/flags.cpp); these two are checked again
  // because a Config can also be built in code, and the retry policy's arithmetic assumes both.
  if (!(config.retry.multiplier >= 1)) {
    return fmt::format("--backoff-multiplier must be at least 1 (got {})", config.retry.multiplier);
  }
  if (!(config.retry.jitter >= 0 && config.retry.jitter < 1)) {
    return fmt::format("--backoff-jitter must be at least 0 and less than 1 (got {})", config.retry.jitter);
  }
  return validate_command_options(config);
}

std::string validate_command_options(const Config& config) {
  // Without an age, purge would have to guess how much history the operator wants to keep.
  if (config.command == Command::purge && config.older_than.count() == 0) {
    return "purge needs --older-than (or OUTBOX_PURGE_OLDER_THAN), e.g. --older-than 30d";
  }
  const ReplayFilter& replay = config.replay;
  if (replay.since && replay.until && *replay.since >= *replay.until) {
    return fmt::format("--since ({}) must be before --until ({}): no row can match both",
                       flag_values::format_time(*replay.since), flag_values::format_time(*replay.until));
  }
  return {};
}

}  // namespace relay
