#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace http {

// Parses a Retry-After header value (RFC 9110 §10.2.3): either delay-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2015 07:28:00 GMT"). Returns the delay from `now`, never negative; nullopt when the value
// is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace http
