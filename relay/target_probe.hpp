#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

// What `check` does to a target: resolve its host and open a connection (TCP, plus the TLS handshake with
// certificate verification for https), exactly as a delivery would start, then hang up without a request.
namespace relay {

// Where a URL's requests go: scheme, host and port (the scheme's default when the URL names none). Two
// URLs with the same origin share a probe.
struct Origin {
  std::string scheme;
  std::string host;
  long port = 0;

  std::string text() const;  // "https://hooks.example:443"
};

// The origin of an http(s) URL; nullopt with `reason` set for anything else. Never keeps user:password.
std::optional<Origin> origin_of(std::string_view url, std::string& reason);

struct ProbeResult {
  std::string error;  // empty when the connection was made
  std::chrono::microseconds took{0};
};

// Connects to `origin` (blocking: only for one-shot commands) within `timeout` for the TCP connect and again
// as much for TLS, with libcurl's CURLOPT_CONNECT_ONLY. libcurl's proxy variables apply, as they do to
// deliveries.
ProbeResult probe(const Origin& origin, std::chrono::milliseconds timeout);

}  // namespace relay
