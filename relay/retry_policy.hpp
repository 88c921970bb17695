#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "http/request.hpp"
#include "relay/config.hpp"

namespace relay {

// What becomes of a message after one delivery attempt.
enum class Verdict {
  sent,    // 2xx: delivered
  failed,  // worth another attempt, after `delay`
  dead,    // permanent failure, or attempts exhausted
};

struct Decision {
  Verdict verdict = Verdict::sent;
  std::chrono::milliseconds delay{0};  // before the next attempt (failed only)
  int http_status = 0;                 // 0 when no HTTP response arrived
  std::string error;                   // why it was not sent; empty when sent
};

// The outbox's delivery policy: which outcomes are retried, how long to wait, when to give up.
//   2xx                                  -> sent
//   408, 425, 429, 5xx, 1xx/3xx          -> failed, retried with backoff (Retry-After honoured)
//   other 4xx                            -> dead at once (the request itself is wrong)
//   timeouts, DNS, connect, reset, TLS   -> failed, retried
//   malformed URL, unsupported protocol  -> dead (no retry can fix the row)
class RetryPolicy {
 public:
  // Retry-After values beyond this are clamped: a misbehaving server cannot park a message for months.
  static constexpr std::chrono::hours kMaxRetryAfter{24};

  explicit RetryPolicy(RetrySettings settings, std::uint64_t seed = std::random_device{}());

  // Delay after failed attempt number `attempt` (1-based), jitter included, never above max_delay.
  std::chrono::milliseconds backoff(int attempt);
  // The attempt cap for a row: its own max_attempts when set (> 0), else 1 + max_retries.
  int max_attempts(int row_max_attempts) const;
  // Decides the fate of a message whose attempt number `attempt` ended with `response`.
  Decision decide(const http::Response& response, int attempt, int row_max_attempts,
                  std::chrono::system_clock::time_point now);
  // The fate of a message that cannot be attempted at all (no target, payload too large): dead, with `why`.
  static Decision reject(std::string why);

 private:
  Decision retry_or_give_up(Decision d, int attempt, int row_max_attempts, const http::Response& response,
                            std::chrono::system_clock::time_point now);

  RetrySettings settings_;
  std::mt19937_64 rng_;
};

// True for the statuses the policy retries (408, 425, 429, 5xx, and the unexpected 1xx/3xx).
bool is_retryable_status(long status);
// A short description of a failed exchange for last_error: "HTTP 503: <body excerpt>" or the transport error.
std::string describe_failure(const http::Response& response);

}  // namespace relay
