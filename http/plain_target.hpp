#pragma once

// Private to http::Client: where a plain http:// request goes, for the built-in HTTP/1.1 code.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace http::detail {

// An http:// URL taken apart: the server to connect to and what the request line and Host header say.
struct PlainTarget {
  std::string host;         // as given to the resolver: no brackets around an IPv6 address
  std::uint16_t port = 80;  // the URL's port, or 80
  std::string origin;       // "host:port", the key of the connections that may carry the request
  std::string host_header;  // the Host header's value: the host as written, and the port unless 80
  std::string path;         // the request target: path and query, never empty
};

// The URL taken apart, or null when the built-in code does not take it: anything but plain http://, a URL
// with user credentials (libcurl turns them into an Authorization header), or a URL libcurl's parser
// refuses (so libcurl reports the error exactly as it would have).
std::shared_ptr<const PlainTarget> parse_plain_target(const std::string& url);

// Targets parsed once per URL, as ParsedUrls does for libcurl's side; the URLs the built-in code does not
// take are remembered too (as null), so that each URL is looked at once.
class PlainTargets {
 public:
  std::shared_ptr<const PlainTarget> find_or_parse(const std::string& url);

  static constexpr std::size_t kCapacity = 256;

 private:
  std::unordered_map<std::string, std::shared_ptr<const PlainTarget>> targets_;
};

// Whether the header lines ask for something only libcurl does (a chunked request body).
bool headers_need_libcurl(const std::string* lines, std::size_t count);

}  // namespace http::detail
