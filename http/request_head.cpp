#include "http/request_head.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

#include "http/text.hpp"

namespace http::detail {
namespace {

// The headers added unless the request's own lines name them.
enum Added : unsigned { kHost = 1, kAccept = 2, kContentLength = 4, kExpect = 8 };

unsigned added_header(std::string_view name) {
  if (equals_ignoring_case(name, "host")) return kHost;
  if (equals_ignoring_case(name, "accept")) return kAccept;
  if (equals_ignoring_case(name, "content-length")) return kContentLength;
  if (equals_ignoring_case(name, "expect")) return kExpect;
  return 0;
}

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; });
}

// How libcurl treats one of the request's own header lines.
struct OwnLine {
  std::string_view send;     // what goes on the wire, without the line end; empty: nothing
  bool empty_value = false;  // "Name;": the header is sent with nothing after the colon
  unsigned replaces = 0;     // the added header it stands for, if any
};

OwnLine read_own_line(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    // "Name;" is libcurl's spelling of a header with an empty value; anything else without a colon is not
    // a header, and libcurl leaves it out.
    const auto semicolon = line.find(';');
    if (semicolon == std::string_view::npos || !is_blank(line.substr(semicolon + 1))) return {};
    const std::string_view name = line.substr(0, semicolon);
    return {name, true, added_header(name)};
  }
  const std::string_view name = line.substr(0, colon);
  const unsigned replaces = added_header(name);
  // "Name:" only removes the added header; an Expect of the request's own is never sent, since the body
  // always follows at once.
  if (is_blank(line.substr(colon + 1)) || replaces == kExpect) return {{}, false, replaces};
  return {line, false, replaces};
}

void append_number(std::size_t value, std::string& out) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

}  // namespace

bool request_sends_body(const std::string& method, const std::string& body) {
  return !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
}

void write_request(const Request& request, const PlainTarget& target, std::string& out) {
  unsigned replaced = 0;
  for (const std::string& line : request.headers)
    replaced |= read_own_line(line).replaces;
  out.clear();
  out.append(request.method).append(" ").append(target.path).append(" HTTP/1.1\r\n");
  if ((replaced & kHost) == 0) out.append("Host: ").append(target.host_header).append("\r\n");
  if ((replaced & kAccept) == 0) out.append("Accept: */*\r\n");
  const bool body = request.method != "HEAD" && request_sends_body(request.method, request.body);
  // A Content-Length of the request's own is sent as it stands, as libcurl does.
  if (body && (replaced & kContentLength) == 0) {
    out.append("Content-Length: ");
    append_number(request.body.size(), out);
    out.append("\r\n");
  }
  for (const std::string& line : request.headers) {
    const OwnLine own = read_own_line(line);
    if (own.send.empty()) continue;
    out.append(own.send).append(own.empty_value ? ":\r\n" : "\r\n");
  }
  out.append("\r\n");
  if (body) out.append(request.body);
}

}  // namespace http::detail
