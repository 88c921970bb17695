#pragma once

// Private to http::Client's built-in HTTP/1.1 code: one request and its answer, and how an attempt at it
// ended.

#include <chrono>
#include <cstdint>
#include <string>

#include <curl/curl.h>

#include "http/request.hpp"

namespace http::detail {

using Clock = std::chrono::steady_clock;

// For the texts of timeouts and failed connects, which count whole milliseconds as libcurl's do.
inline long long milliseconds_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

struct Exchange {
  std::uint64_t tag = 0;
  std::string wire;      // the whole request as sent: head and body
  bool no_body = false;  // the answer to HEAD has none, whatever its headers say
  Clock::time_point started{};
  Clock::time_point deadline{};  // started + the request's total timeout
  std::chrono::milliseconds connect_timeout{};
  // Sent once more, on a new connection, because a kept-alive one turned out dead (see Outcome::resend).
  bool resent = false;
  Response response;
};

// How one attempt at an exchange ended on its connection. Failures use libcurl's codes, so that callers
// cannot tell which code carried a request.
struct Outcome {
  CURLcode code = CURLE_OK;  // CURLE_OK: the response is complete
  std::string detail;
  // The connection had carried requests before and died before a byte of this answer came: the server
  // closed it while idle, and the request may go again on a new connection (as libcurl does).
  bool resend = false;
};

}  // namespace http::detail
