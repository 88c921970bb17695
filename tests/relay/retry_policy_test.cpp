#include "relay/retry_policy.hpp"

#include <catch2/catch.hpp>
#include <curl/curl.h>

using namespace std::chrono_literals;
using relay::RetryPolicy;
using relay::RetrySettings;
using relay::Verdict;

namespace {

http::Response status(long code, std::string retry_after = {}, std::string body = {}) {
  http::Response r;
  r.status = code;
  r.retry_after = std::move(retry_after);
  r.body_excerpt = std::move(body);
  return r;
}

http::Response transport(int code, std::string error) {
  http::Response r;
  r.transport_error = code;
  r.error = std::move(error);
  return r;
}

RetrySettings no_jitter() {
  RetrySettings s;
  s.initial_delay = 1000ms;
  s.max_delay = 60'000ms;
  s.multiplier = 2.0;
  s.jitter = 0;
  s.max_retries = 5;
  return s;
}

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

}  // namespace

TEST_CASE("backoff grows geometrically from the initial delay and stops at the maximum") {
  RetryPolicy p(no_jitter());
  CHECK(p.backoff(1) == 1000ms);
  CHECK(p.backoff(2) == 2000ms);
  CHECK(p.backoff(3) == 4000ms);
  CHECK(p.backoff(6) == 32'000ms);
  CHECK(p.backoff(7) == 60'000ms);
  CHECK(p.backoff(500) == 60'000ms);  // no overflow for absurd attempt numbers
}

TEST_CASE("jitter spreads the delay within its fraction and never beyond the maximum") {
  auto s = no_jitter();
  s.jitter = 0.2;
  RetryPolicy p(s, 42);
  bool below = false;
  bool above = false;
  for (int i = 0; i < 500; ++i) {
    const auto d = p.backoff(2);
    CHECK(d >= 1600ms);
    CHECK(d <= 2400ms);
    below |= d < 2000ms;
    above |= d > 2000ms;
    CHECK(p.backoff(30) <= 60'000ms);
  }
  CHECK(below);
  CHECK(above);
}

TEST_CASE("2xx is sent: other statuses are classified as retryable or permanent") {
  RetryPolicy p(no_jitter());
  for (long code : {200L, 201L, 202L, 204L, 299L})
    CHECK(p.decide(status(code), 1, 0, kNow).verdict == Verdict::sent);
  for (long code : {408L, 425L, 429L, 500L, 502L, 503L, 504L, 599L, 301L, 302L, 101L}) {
    INFO(code);
    CHECK(p.decide(status(code), 1, 0, kNow).verdict == Verdict::failed);
  }
  for (long code : {400L, 401L, 403L, 404L, 405L, 409L, 410L, 413L, 422L}) {
    INFO(code);
    CHECK(p.decide(status(code), 1, 0, kNow).verdict == Verdict::dead);
  }
}

TEST_CASE("transport errors are retried unless no retry could fix the request") {
  RetryPolicy p(no_jitter());
  CHECK(p.decide(transport(CURLE_OPERATION_TIMEDOUT, "Timeout was reached"), 1, 0, kNow).verdict ==
        Verdict::failed);
  CHECK(p.decide(transport(CURLE_COULDNT_RESOLVE_HOST, "Could not resolve host"), 1, 0, kNow).verdict ==
        Verdict::failed);
  CHECK(p.decide(transport(CURLE_COULDNT_CONNECT, "Connection refused"), 1, 0, kNow).verdict ==
        Verdict::failed);
  CHECK(p.decide(transport(CURLE_RECV_ERROR, "Connection reset"), 1, 0, kNow).verdict == Verdict::failed);
  CHECK(p.decide(transport(CURLE_URL_MALFORMAT, "URL malformed"), 1, 0, kNow).verdict == Verdict::dead);
  CHECK(p.decide(transport(CURLE_UNSUPPORTED_PROTOCOL, "no gopher"), 1, 0, kNow).verdict == Verdict::dead);
}

TEST_CASE("a failure records why, with the status and a one-line excerpt of the body") {
  RetryPolicy p(no_jitter());
  auto d = p.decide(status(503, "", "upstream\r\ndown\n"), 1, 0, kNow);
  CHECK(d.http_status == 503);
  CHECK(d.error == "HTTP 503: upstream  down");
  CHECK(d.delay == 1000ms);
  auto t = p.decide(transport(CURLE_OPERATION_TIMEDOUT, "Timeout was reached"), 2, 0, kNow);
  CHECK(t.http_status == 0);
  CHECK(t.error == "Timeout was reached");
  CHECK(t.delay == 2000ms);
}

TEST_CASE("after the last attempt a retryable failure goes dead, saying so") {
  RetryPolicy p(no_jitter());  // max_retries 5: six attempts
  CHECK(p.max_attempts(0) == 6);
  CHECK(p.decide(status(500), 5, 0, kNow).verdict == Verdict::failed);
  auto d = p.decide(status(500), 6, 0, kNow);
  CHECK(d.verdict == Verdict::dead);
  CHECK(d.error == "gave up after 6 attempts: HTTP 500");
  // The row's own max_attempts wins over the default.
  CHECK(p.max_attempts(2) == 2);
  CHECK(p.decide(status(500), 2, 2, kNow).verdict == Verdict::dead);
  CHECK(p.decide(status(500), 1, 2, kNow).verdict == Verdict::failed);
}

TEST_CASE("Retry-After is honoured when longer than the backoff, in seconds or as a date") {
  RetryPolicy p(no_jitter());
  CHECK(p.decide(status(429, "7"), 1, 0, kNow).delay == 7000ms);
  CHECK(p.decide(status(503, "0"), 1, 0, kNow).delay == 1000ms);  // the backoff is the floor
  // An HTTP-date 90 s after kNow (2023-11-14T22:13:20Z).
  CHECK(p.decide(status(503, "Tue, 14 Nov 2023 22:14:50 GMT"), 1, 0, kNow).delay == 90'000ms);
  CHECK(p.decide(status(429, "soon"), 1, 0, kNow).delay == 1000ms);  // unparseable: ignored
  // A server cannot park a message for months.
  CHECK(p.decide(status(429, "99999999"), 1, 0, kNow).delay == RetryPolicy::kMaxRetryAfter);
}

TEST_CASE("reject makes a dead decision with the reason") {
  auto d = RetryPolicy::reject("payload too large");
  CHECK(d.verdict == Verdict::dead);
  CHECK(d.error == "payload too large");
}

TEST_CASE(
    "last_error is valid UTF-8 on one line, whatever bytes the body held, and never splits a character") {
  RetryPolicy p(no_jitter());
  // 199 ASCII bytes then a two-byte character: the cut at 200 bytes keeps it whole.
  auto cut = p.decide(status(500, "", std::string(199, 'x') + "\xC3\xA9" + "tail"), 1, 0, kNow).error;
  CHECK(cut == "HTTP 500: " + std::string(199, 'x') + "\xC3\xA9");
  auto bad = p.decide(status(500, "",
                             std::string("a\xFF"
                                         "b\0c\x80",
                                         6)),
                      1, 0, kNow)
                 .error;
  CHECK(bad ==
        "HTTP 500: a\xEF\xBF\xBD"
        "b c\xEF\xBF\xBD");
  auto lines = p.decide(status(502, "", "one\r\ntwo\tthree\x7f"), 1, 0, kNow).error;
  CHECK(lines == "HTTP 502: one  two three");
}
