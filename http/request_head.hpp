#pragma once

// Private to http::Client's built-in HTTP/1.1 code: a request as it goes on the wire.

#include <string>

#include "http/plain_target.hpp"
#include "http/request.hpp"

namespace http::detail {

// Writes the request line, the headers and the body into `out` (replacing what it held), as libcurl would
// send them over HTTP/1.1: Host, Accept and Content-Length are added unless a header line of the request
// names them; a line "Name:" with nothing after the colon only removes that added header, and a line
// "Name;" sends the header with an empty value. No "Expect: 100-continue": the body follows at once.
void write_request(const Request& request, const PlainTarget& target, std::string& out);

// Whether the request carries a body (and so a Content-Length), as libcurl decides it.
bool request_sends_body(const std::string& method, const std::string& body);

}  // namespace http::detail
