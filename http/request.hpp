#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace http {

struct Request {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // complete header lines, "Name: value"
  std::string body;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds total_timeout{30'000};
};

// What came back. Exactly one of the two holds: an HTTP status arrived (status > 0, transport_error == 0),
// or the exchange failed below HTTP (status == 0, transport_error != 0 with its text in `error`).
struct Response {
  long status = 0;
  int transport_error = 0;   // a CURLcode; 0 when an HTTP response arrived
  std::string error;         // curl's description of the transport error, with detail when available
  std::string retry_after;   // the raw Retry-After header value; empty when absent
  std::string body_excerpt;  // the first bytes of the response body, for diagnostics
  std::chrono::microseconds elapsed{};

  bool has_status() const { return status > 0; }
};

}  // namespace http
