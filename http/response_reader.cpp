#include "http/response_reader.hpp"

#include <algorithm>

#include "http/text.hpp"

namespace http::detail {
namespace {

constexpr std::string_view kHttpPrefix = "HTTP/";

bool is_interim(unsigned status) {
  // 101 switches protocols: whatever follows is not HTTP/1.1, so it ends the exchange like a final status.
  return status >= 100 && status < 200 && status != 101;
}

}  // namespace

ResponseReader::ResponseReader(std::size_t body_excerpt_bytes) : body_excerpt_bytes_(body_excerpt_bytes) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &ResponseReader::on_message_begin;
  settings_.on_header_field = &ResponseReader::on_header_field;
  settings_.on_header_value = &ResponseReader::on_header_value;
  settings_.on_headers_complete = &ResponseReader::on_headers_complete;
  settings_.on_body = &ResponseReader::on_body;
  settings_.on_message_complete = &ResponseReader::on_message_complete;
}

void ResponseReader::start(Response* response, bool no_body) {
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;
  // Both Transfer-Encoding: chunked and a Content-Length: the chunks decide (RFC 9112 6.3), as in libcurl.
  // http-parser refuses the pair unless told.
  parser_.allow_chunked_length = 1;
  response_ = response;
  no_body_ = no_body;
  field_.clear();
  value_.clear();
  in_value_ = false;
  received_any_ = false;
  awaiting_final_ = true;
  prefix_.clear();
  keep_alive_ = false;
  trailing_bytes_ = false;
  state_ = State::reading;
}

ResponseReader::State ResponseReader::feed(std::string_view bytes) {
  if (state_ != State::reading) {
    trailing_bytes_ = trailing_bytes_ || !bytes.empty();
    return state_;
  }
  if (!bytes.empty()) received_any_ = true;
  if (prefix_.size() < kHttpPrefix.size())
    prefix_.append(bytes.substr(0, kHttpPrefix.size() - prefix_.size()));
  return run(bytes.data(), bytes.size());
}

ResponseReader::State ResponseReader::end_of_stream() {
  if (state_ != State::reading) return state_;
  // Without a byte there is no response to end: the caller reports the empty reply.
  if (!received_any_) return state_;
  run(nullptr, 0);
  // A response that the end of the connection did not complete (a body shorter than its length, say) was
  // cut off.
  return state_;
}

ResponseReader::State ResponseReader::run(const char* data, std::size_t length) {
  const std::size_t used = http_parser_execute(&parser_, &settings_, data, length);
  if (state_ == State::complete) {
    trailing_bytes_ = used < length;
    return state_;
  }
  if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) state_ = State::malformed;
  return state_;
}

bool ResponseReader::speaks_http() const {
  return kHttpPrefix.starts_with(prefix_);
}

std::string_view ResponseReader::error_text() const {
  return http_errno_description(HTTP_PARSER_ERRNO(&parser_));
}

int ResponseReader::on_message_begin(http_parser* parser) {
  ResponseReader& self = of(parser);
  self.awaiting_final_ = false;
  // A new message after an interim one: only the final response's headers and body count.
  self.response_->retry_after.clear();
  self.response_->body_excerpt.clear();
  self.field_.clear();
  self.value_.clear();
  self.in_value_ = false;
  return 0;
}

int ResponseReader::on_header_field(http_parser* parser, const char* at, std::size_t length) {
  ResponseReader& self = of(parser);
  if (self.in_value_) self.end_header_line();
  self.field_.append(at, length);
  return 0;
}

int ResponseReader::on_header_value(http_parser* parser, const char* at, std::size_t length) {
  ResponseReader& self = of(parser);
  self.in_value_ = true;
  // Only one header's value is ever kept; the others need not be copied.
  if (equals_ignoring_case(self.field_, "retry-after")) self.value_.append(at, length);
  return 0;
}

void ResponseReader::end_header_line() {
  if (equals_ignoring_case(field_, "retry-after")) response_->retry_after.assign(trim(value_));
  field_.clear();
  value_.clear();
  in_value_ = false;
}

// Returning 1 tells http-parser that no body follows, whatever the headers say (the answer to HEAD).
int ResponseReader::on_headers_complete(http_parser* parser) {
  ResponseReader& self = of(parser);
  if (self.in_value_) self.end_header_line();
  return self.no_body_ && !is_interim(parser->status_code) ? 1 : 0;
}

int ResponseReader::on_body(http_parser* parser, const char* at, std::size_t length) {
  ResponseReader& self = of(parser);
  std::string& excerpt = self.response_->body_excerpt;
  const std::size_t room = self.body_excerpt_bytes_ - std::min(self.body_excerpt_bytes_, excerpt.size());
  excerpt.append(at, std::min(room, length));
  return 0;
}

int ResponseReader::on_message_complete(http_parser* parser) {
  ResponseReader& self = of(parser);
  if (is_interim(parser->status_code)) {
    self.awaiting_final_ = true;
    return 0;
  }
  self.response_->status = static_cast<long>(parser->status_code);
  self.keep_alive_ = parser->status_code != 101 && http_should_keep_alive(parser) != 0;
  self.state_ = State::complete;
  // Stops this very execute: whatever follows in the buffer belongs to no request of ours.
  http_parser_pause(parser, 1);
  return 0;
}

}  // namespace http::detail
