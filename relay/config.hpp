#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace relay {

enum class Command { run, drain, migrate, status, replay, purge, check };
enum class LogFormat { human, json };
// Who carries plain http:// deliveries: the relay's own HTTP/1.1 code, or libcurl (https always is libcurl).
enum class HttpClient { builtin, libcurl };

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

// Which rows `replay` puts back to pending. Every filter given must match (they are ANDed); an empty one
// matches every row. Only dead or failed rows are ever replayed.
struct ReplayFilter {
  // dead or failed; unset means dead, or dead and failed when ids are given (ids name their rows).
  std::optional<std::string> status;
  std::string topic;
  std::vector<std::int64_t> ids;
  std::optional<std::chrono::system_clock::time_point> since;  // created_at >= since
  std::optional<std::chrono::system_clock::time_point> until;  // created_at < until
  std::string error_like;                                      // last_error ILIKE this pattern
  bool keep_attempts = false;  // else attempts go back to 0: the row gets its full retry budget again
};

// Everything the command line and the environment can set. Defaults here are the documented defaults.
struct Config {
  Command command = Command::run;

  std::string config_file;   // --config / OUTBOX_CONFIG: settings below the flags and variables
  std::string database_url;  // --database-url / DATABASE_URL (required)
  std::string target;        // --target / OUTBOX_TARGET_URL: destination when a row has no target_url
  std::string method = "POST";
  std::string channel = "outbox";

  int batch_size = 100;   // rows claimed per statement at most
  int concurrency = 128;  // HTTP requests in flight at most
  std::chrono::milliseconds lease{60'000};
  std::chrono::milliseconds http_timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};
  HttpClient http_client = HttpClient::builtin;
  std::chrono::milliseconds poll_interval{5'000};  // safety sweep
  std::chrono::milliseconds shutdown_timeout{10'000};
  std::size_t max_payload_bytes = 1024 * 1024;
  RetrySettings retry;

  // run and drain: log one batch of due rows instead of delivering them; replay and purge: show what
  // would change. Changes nothing in the database either way.
  bool dry_run = false;
  int limit = 0;  // drain: rows attempted at most; 0 means until nothing is due

  // run: delete sent / dead rows older than this, continuously; zero keeps them.
  std::chrono::milliseconds retain_sent{0};
  std::chrono::milliseconds retain_dead{0};

  bool json = false;  // status: one JSON object instead of tables
  int top = 10;       // status: how many dead rows to list

  ReplayFilter replay;

  std::chrono::milliseconds older_than{0};  // purge: required (zero means not given)
  bool include_dead = false;                // purge: dead rows too, by the time they went dead

  std::string log_level = "info";
  LogFormat log_format = LogFormat::human;
  std::string service_name = "outbox-relay";
};

// Checks relations between values that each parsed on their own (e.g. the lease must outlast a request).
// Returns an empty string when the configuration is usable, else a one-line reason.
std::string validate(const Config& config);
// The part of validate() that concerns the operating commands (purge, replay).
std::string validate_command_options(const Config& config);

}  // namespace relay
