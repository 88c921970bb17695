#include "relay/retry_policy.hpp"

#include <algorithm>
#include <cmath>

#include <curl/curl.h>

#include "http/retry_after.hpp"
#include "relay/log_text.hpp"

namespace relay {

namespace {

constexpr std::size_t kMaxErrorExcerpt = 200;

bool is_permanent_transport_error(int code) {
  switch (code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return true;
    default:
      return false;
  }
}

// Whatever bytes a server put in its body, last_error must be one readable line of valid UTF-8 without
// NUL: PostgreSQL refuses anything else, and one refused value would fail the whole batch of outcomes.
// Invalid bytes become U+FFFD, control characters spaces; the cut never splits a character.
std::string one_line(std::string_view text) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(text.size(), kMaxErrorExcerpt) + kReplacement.size());
  for (std::size_t i = 0; i < text.size() && out.size() < kMaxErrorExcerpt;) {
    const std::size_t n = log::text::utf8_sequence_length(text, i);
    const auto byte = static_cast<unsigned char>(text[i]);
    if (n == 0) {
      out.append(kReplacement);
      ++i;
    } else if (n == 1 && (byte < 0x20 || byte == 0x7f)) {
      out.push_back(' ');
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

}  // namespace

bool is_retryable_status(long status) {
  if (status >= 500 || status < 200) return true;
  if (status >= 300 && status < 400) return true;
  return status == 408 || status == 425 || status == 429;
}

std::string describe_failure(const http::Response& response) {
  if (!response.has_status()) return response.error.empty() ? "transport error" : one_line(response.error);
  std::string text = "HTTP " + std::to_string(response.status);
  std::string body = one_line(response.body_excerpt);
  if (!body.empty()) text += ": " + body;
  return text;
}

RetryPolicy::RetryPolicy(RetrySettings settings, std::uint64_t seed) : settings_(settings), rng_(seed) {}

std::chrono::milliseconds RetryPolicy::backoff(int attempt) {
  const double initial = static_cast<double>(settings_.initial_delay.count());
  const double cap = static_cast<double>(settings_.max_delay.count());
  // pow may overflow to inf for large attempts; min() with the cap handles that.
  double delay = std::min(cap, initial * std::pow(settings_.multiplier, std::max(0, attempt - 1)));
  if (settings_.jitter > 0) {
    std::uniform_real_distribution<double> spread(1.0 - settings_.jitter, 1.0 + settings_.jitter);
    delay = std::min(cap, delay * spread(rng_));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(delay)));
}

int RetryPolicy::max_attempts(int row_max_attempts) const {
  return row_max_attempts > 0 ? row_max_attempts : 1 + settings_.max_retries;
}

Decision RetryPolicy::reject(std::string why) {
  Decision d;
  d.verdict = Verdict::dead;
  d.error = std::move(why);
  return d;
}

Decision RetryPolicy::decide(const http::Response& response, int attempt, int row_max_attempts,
                             std::chrono::system_clock::time_point now) {
  Decision d;
  d.http_status = static_cast<int>(response.status);
  if (response.has_status() && response.status >= 200 && response.status < 300) return d;

  d.error = describe_failure(response);
  const bool permanent = response.has_status() ? !is_retryable_status(response.status)
                                               : is_permanent_transport_error(response.transport_error);
  if (permanent) {
    d.verdict = Verdict::dead;
    return d;
  }
  return retry_or_give_up(std::move(d), attempt, row_max_attempts, response, now);
}

Decision RetryPolicy::retry_or_give_up(Decision d, int attempt, int row_max_attempts,
                                       const http::Response& response,
                                       std::chrono::system_clock::time_point now) {
  const int cap = max_attempts(row_max_attempts);
  if (attempt >= cap) {
    d.verdict = Verdict::dead;
    d.error = "gave up after " + std::to_string(attempt) + " attempts: " + d.error;
    return d;
  }
  d.verdict = Verdict::failed;
  d.delay = backoff(attempt);
  if (!response.retry_after.empty()) {
    if (auto asked = http::parse_retry_after(response.retry_after, now)) {
      const auto honoured = std::min<std::chrono::milliseconds>(*asked, kMaxRetryAfter);
      d.delay = std::max(d.delay, honoured);
    }
  }
  return d;
}

}  // namespace relay
