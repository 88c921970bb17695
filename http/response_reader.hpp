#pragma once

// Private to http::Client's built-in HTTP/1.1 code: reads one response off a connection.

#include <cstddef>
#include <string>
#include <string_view>

#include <http_parser.h>

#include "http/request.hpp"

namespace http::detail {

// Parses the bytes of one HTTP/1.1 response with http-parser, keeping what a Response reports: the final
// status, Retry-After and the first bytes of the body. Interim 1xx responses are read past. The parser
// stops at the end of the final response; bytes after it are not this response's.
class ResponseReader {
 public:
  enum class State { reading, complete, malformed };

  explicit ResponseReader(std::size_t body_excerpt_bytes);
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  // Starts over for the response to a new request; `no_body` for the answer to HEAD.
  void start(Response* response, bool no_body);
  State feed(std::string_view bytes);
  // The peer closed the connection: completes a response whose body runs to the end of the connection.
  State end_of_stream();

  State state() const { return state_; }
  // Any byte of a response arrived (so a failure cannot be a stale kept-alive connection).
  bool received_any() const { return received_any_; }
  // No final response has begun: nothing came, or only interim 1xx answers.
  bool awaiting_final() const { return awaiting_final_; }
  // The bytes so far begin as an HTTP/1.x status line does ("HTTP/"), or are too few to tell.
  bool speaks_http() const;
  // The connection may carry the next request: the response said so, and nothing followed it.
  bool connection_reusable() const { return state_ == State::complete && keep_alive_ && !trailing_bytes_; }
  // What http-parser objected to, for a malformed response.
  std::string_view error_text() const;

 private:
  static int on_message_begin(http_parser* parser);
  static int on_header_field(http_parser* parser, const char* at, std::size_t length);
  static int on_header_value(http_parser* parser, const char* at, std::size_t length);
  static int on_headers_complete(http_parser* parser);
  static int on_body(http_parser* parser, const char* at, std::size_t length);
  static int on_message_complete(http_parser* parser);
  static ResponseReader& of(http_parser* parser) { return *static_cast<ResponseReader*>(parser->data); }

  void end_header_line();
  State run(const char* data, std::size_t length);

  http_parser parser_{};
  http_parser_settings settings_{};
  std::size_t body_excerpt_bytes_;
  Response* response_ = nullptr;
  bool no_body_ = false;
  // http-parser may hand over a header name or value in pieces, split wherever a read ended.
  std::string field_;
  std::string value_;
  bool in_value_ = false;
  bool received_any_ = false;
  bool awaiting_final_ = true;
  std::string prefix_;  // the first bytes of the answer, up to the length of "HTTP/"
  bool keep_alive_ = false;
  bool trailing_bytes_ = false;
  State state_ = State::reading;
};

}  // namespace http::detail
