#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace relay {

enum class Command { run, migrate };
enum class LogFormat { human, json };

// Retry schedule for failed deliveries: attempt n (1-based) that fails waits
// min(max_delay, initial_delay * multiplier^(n-1)), scaled by a random factor in [1 - jitter, 1 + jitter]
// (and never beyond max_delay), before the next attempt. A message is attempted at most 1 + max_retries
// times unless its row says otherwise (max_attempts).
struct RetrySettings {
  int max_retries = 5;
  std::chrono::milliseconds initial_delay{1'000};
  std::chrono::milliseconds max_delay{60'000};
  double multiplier = 2.0;
  double jitter = 0.1;
};

// Everything the command line and the environment can set. Defaults here are the documented defaults.
struct Config {
  Command command = Command::run;

  std::string database_url;  // --database-url / DATABASE_URL (required)
  std::string target;        // --target / OUTBOX_TARGET_URL: destination when a row has no target_url
  std::string method = "POST";
  std::string channel = "outbox";

  int batch_size = 100;  // rows claimed per statement at most
  int concurrency = 64;  // HTTP requests in flight at most
  std::chrono::milliseconds lease{60'000};
  std::chrono::milliseconds http_timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds poll_interval{5'000};  // safety sweep
  std::chrono::milliseconds shutdown_timeout{10'000};
  std::size_t max_payload_bytes = 1024 * 1024;
  RetrySettings retry;

  std::string log_level = "info";
  LogFormat log_format = LogFormat::human;
  std::string service_name = "outbox-relay";
};

// Checks relations between values that each parsed on their own (e.g. the lease must outlast a request).
// Returns an empty string when the configuration is usable, else a one-line reason.
std::string validate(const Config& config);

}  // namespace relay
