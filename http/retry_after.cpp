#include "http/retry_after.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>

#include <curl/curl.h>

#include "http/text.hpp"

namespace http {
namespace {

using std::chrono::milliseconds;

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<milliseconds> parse_delay_seconds(std::string_view digits) {
  constexpr auto kMaxSeconds = std::numeric_limits<milliseconds::rep>::max() / 1000;
  std::int64_t seconds = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), seconds);
  if (error != std::errc() || end != digits.data() + digits.size() || seconds > kMaxSeconds)
    return std::nullopt;
  return milliseconds(seconds * 1000);
}

std::optional<milliseconds> parse_http_date(std::string_view text,
                                            std::chrono::system_clock::time_point now) {
  // curl_getdate wants a C string; an HTTP-date is 29 characters, so anything much longer is not one.
  char date[64];
  if (text.size() >= sizeof(date)) return std::nullopt;
  text.copy(date, text.size());
  date[text.size()] = '\0';
  const time_t when = curl_getdate(date, nullptr);
  if (when == -1) return std::nullopt;
  const auto delay = std::chrono::system_clock::from_time_t(when) - now;
  return std::max(milliseconds::zero(), std::chrono::ceil<milliseconds>(delay));
}

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point now) {
  value = detail::trim(value);
  if (value.empty()) return std::nullopt;
  // Signs are rejected on purpose: "-5" is not a delay, and curl_getdate must not guess at it either.
  if (all_digits(value)) return parse_delay_seconds(value);
  if (value.front() == '-' || value.front() == '+') return std::nullopt;
  return parse_http_date(value, now);
}

}  // namespace http
