#include <string>

#include <catch2/catch.hpp>

#include "http/name_lookup.hpp"
#include "http/plain_target.hpp"
#include "http/request_head.hpp"
#include "http/response_reader.hpp"

using http::detail::parse_plain_target;
using http::detail::ResponseReader;
using State = ResponseReader::State;

namespace {

http::Request post(std::vector<std::string> headers, std::string body) {
  http::Request request;
  request.method = "POST";
  request.url = "http://127.0.0.1:8080/hook?x=1";
  request.headers = std::move(headers);
  request.body = std::move(body);
  return request;
}

std::string wire_of(const http::Request& request) {
  auto target = parse_plain_target(request.url);
  REQUIRE(target);
  std::string out = "left over from an earlier request";
  http::detail::write_request(request, *target, out);
  return out;
}

// Feeds `bytes` one byte at a time, as the worst split of reads would.
State feed_bytewise(ResponseReader& reader, std::string_view bytes) {
  State state = reader.state();
  for (char c : bytes)
    state = reader.feed(std::string_view(&c, 1));
  return state;
}

}  // namespace

TEST_CASE("builtin: an http URL is taken apart into server, Host header and request target", "[builtin]") {
  auto t = parse_plain_target("http://127.0.0.1:8080/a/b?c=1&d=2#fragment");
  REQUIRE(t);
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == 8080);
  CHECK(t->origin == "127.0.0.1:8080");
  CHECK(t->host_header == "127.0.0.1:8080");
  CHECK(t->path == "/a/b?c=1&d=2");

  t = parse_plain_target("HTTP://Example.COM");
  REQUIRE(t);
  CHECK(t->port == 80);
  CHECK(t->host_header == "Example.COM");  // as written, as libcurl sends it
  CHECK(t->path == "/");

  t = parse_plain_target("http://[::1]:9000/x");
  REQUIRE(t);
  CHECK(t->host == "::1");
  CHECK(t->host_header == "[::1]:9000");
  CHECK(t->origin == "::1:9000");
}

TEST_CASE("builtin: URLs the built-in code leaves to libcurl", "[builtin]") {
  CHECK_FALSE(parse_plain_target("https://127.0.0.1/"));
  CHECK_FALSE(parse_plain_target("http://user:secret@127.0.0.1/"));
  CHECK_FALSE(parse_plain_target("http://user@127.0.0.1/"));
  CHECK_FALSE(parse_plain_target("ftp://127.0.0.1/"));
  CHECK_FALSE(parse_plain_target("http://"));
  CHECK_FALSE(parse_plain_target("not a url"));
  const std::string chunked = "Transfer-Encoding: chunked";
  CHECK(http::detail::headers_need_libcurl(&chunked, 1));
  const std::string plain = "Content-Type: application/json";
  CHECK_FALSE(http::detail::headers_need_libcurl(&plain, 1));
}

TEST_CASE("builtin: a POST goes out with Host, Accept, Content-Length, its own headers and the body",
          "[builtin]") {
  CHECK(wire_of(post({"Content-Type: application/json", "X-Outbox-Topic: orders"}, "{\"a\":1}")) ==
        "POST /hook?x=1 HTTP/1.1\r\n"
        "Host: 127.0.0.1:8080\r\n"
        "Accept: */*\r\n"
        "Content-Length: 7\r\n"
        "Content-Type: application/json\r\n"
        "X-Outbox-Topic: orders\r\n"
        "\r\n"
        "{\"a\":1}");
  // An empty POST still says its length, as libcurl does.
  CHECK(wire_of(post({}, "")) ==
        "POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("builtin: header lines follow libcurl's rules for replacing, removing and empty headers",
          "[builtin]") {
  const std::string wire = wire_of(post({"Host: example.com", "Accept:", "X-Empty;", "Expect: 100-continue",
                                         "not a header", "Content-Length: 2"},
                                        "ab"));
  CHECK(wire ==
        "POST /hook?x=1 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "X-Empty:\r\n"
        "Content-Length: 2\r\n"
        "\r\n"
        "ab");
}

TEST_CASE("builtin: GET and DELETE without a body say no length: HEAD never sends one", "[builtin]") {
  http::Request request = post({}, "");
  request.method = "GET";
  CHECK(wire_of(request) == "GET /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n");
  request.method = "DELETE";
  CHECK(wire_of(request) == "DELETE /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n");
  request.method = "PUT";
  request.body = "x";
  CHECK(wire_of(request).ends_with("Content-Length: 1\r\n\r\nx"));
  request.method = "HEAD";
  CHECK(wire_of(request) == "HEAD /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n");
}

TEST_CASE("builtin: a response is read whole however the reads split it", "[builtin]") {
  const std::string response =
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  120 \r\nContent-Length: 11\r\n\r\nslow down!!";
  const bool bytewise = GENERATE(false, true);
  http::Response out;
  ResponseReader reader(5);
  reader.start(&out, false);
  const State state = bytewise ? feed_bytewise(reader, response) : reader.feed(response);
  CHECK(state == State::complete);
  CHECK(out.status == 429);
  CHECK(out.retry_after == "120");
  CHECK(out.body_excerpt == "slow ");
  CHECK(reader.connection_reusable());
}

TEST_CASE("builtin: chunked bodies, interim 1xx answers and HEAD answers end where HTTP says", "[builtin]") {
  http::Response out;
  ResponseReader reader(256);

  reader.start(&out, false);
  CHECK(
      feed_bytewise(
          reader, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") ==
      State::complete);
  CHECK(out.body_excerpt == "abcde");
  CHECK(reader.connection_reusable());

  out = {};
  reader.start(&out, false);
  CHECK(reader.feed("HTTP/1.1 100 Continue\r\nRetry-After: 1\r\n\r\n") == State::reading);
  CHECK(reader.feed("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n") == State::complete);
  CHECK(out.status == 503);
  CHECK(out.retry_after.empty());  // the interim answer's header is not the final one's

  out = {};
  reader.start(&out, true);
  CHECK(reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") == State::complete);
  CHECK(reader.connection_reusable());
}

TEST_CASE("builtin: a body that runs to the end of the connection completes there, and ends reuse",
          "[builtin]") {
  http::Response out;
  ResponseReader reader(256);
  reader.start(&out, false);
  CHECK(reader.feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, ") == State::reading);
  CHECK(reader.feed("part two") == State::reading);
  CHECK(reader.end_of_stream() == State::complete);
  CHECK(out.body_excerpt == "part one, part two");
  CHECK_FALSE(reader.connection_reusable());

  out = {};
  reader.start(&out, false);
  CHECK(reader.feed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok") == State::complete);
  CHECK_FALSE(reader.connection_reusable());  // HTTP/1.0 without keep-alive
}

TEST_CASE("builtin: a response cut short, garbage, or followed by unasked bytes is told apart", "[builtin]") {
  http::Response out;
  ResponseReader reader(256);

  reader.start(&out, false);
  CHECK(reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") == State::reading);
  CHECK(reader.end_of_stream() == State::malformed);
  CHECK(reader.received_any());

  out = {};
  reader.start(&out, false);
  CHECK_FALSE(reader.received_any());
  CHECK(reader.end_of_stream() == State::reading);  // nothing came: the caller reports an empty reply

  out = {};
  reader.start(&out, false);
  CHECK(reader.feed("SSH-2.0-OpenSSH_9.2\r\n") == State::malformed);
  CHECK_FALSE(reader.error_text().empty());

  out = {};
  reader.start(&out, false);
  CHECK(reader.feed("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n") == State::complete);
  CHECK(out.status == 204);
  CHECK_FALSE(reader.connection_reusable());
}

TEST_CASE("builtin: IP literals need no lookup: names do", "[builtin]") {
  auto v4 = http::detail::literal_address("127.0.0.1", 8080);
  REQUIRE(v4);
  REQUIRE(v4->size() == 1);
  CHECK((*v4)[0].ss_family == AF_INET);
  auto v6 = http::detail::literal_address("::1", 8080);
  REQUIRE(v6);
  CHECK((*v6)[0].ss_family == AF_INET6);
  CHECK_FALSE(http::detail::literal_address("localhost", 8080));
}
