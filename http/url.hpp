#pragma once

#include <string>
#include <string_view>

namespace http {

// Checks that `url` is an absolute http:// or https:// URL with a host, using libcurl's own URL parser (so
// that what passes here is what libcurl will accept). Returns an empty string when valid, else the reason.
std::string check_http_url(std::string_view url);

// The URL with any user:password part removed, for logs.
std::string redact_url(std::string_view url);

}  // namespace http
