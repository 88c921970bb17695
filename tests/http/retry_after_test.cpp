#include "http/retry_after.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using http::parse_retry_after;

namespace {

// Wed, 21 Oct 2015 07:28:00 GMT
const auto kNow = std::chrono::system_clock::from_time_t(1445412480);

}  // namespace

TEST_CASE("retry-after: delay-seconds", "[retry_after]") {
  CHECK(parse_retry_after("120", kNow) == std::optional(120'000ms));
  CHECK(parse_retry_after("2", kNow) == std::optional(2'000ms));
  CHECK(parse_retry_after(" 7 ", kNow) == std::optional(7'000ms));
  CHECK(parse_retry_after("007", kNow) == std::optional(7'000ms));
}

TEST_CASE("retry-after: zero means now", "[retry_after]") {
  CHECK(parse_retry_after("0", kNow) == std::optional(0ms));
}

TEST_CASE("retry-after: an HTTP-date in the future is the time left until it", "[retry_after]") {
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", kNow) == std::optional(30'000ms));
  CHECK(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", kNow) == std::optional(60'000ms));
  CHECK(parse_retry_after("Wed Oct 21 07:28:05 2015", kNow) == std::optional(5'000ms));
}

TEST_CASE("retry-after: an HTTP-date in the past is no delay, never a negative one", "[retry_after]") {
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", kNow) == std::optional(0ms));
  CHECK(parse_retry_after("Thu, 01 Jan 1998 00:00:00 GMT", kNow) == std::optional(0ms));
}

TEST_CASE("retry-after: garbage is rejected", "[retry_after]") {
  for (const char* value : {"", "   ", "soon", "1.5", "12abc", "0x10", "1e3", "tomorrow", "Wed, 99 Foo"}) {
    INFO(value);
    CHECK_FALSE(parse_retry_after(value, kNow).has_value());
  }
}

TEST_CASE("retry-after: negative numbers are rejected", "[retry_after]") {
  CHECK_FALSE(parse_retry_after("-1", kNow).has_value());
  CHECK_FALSE(parse_retry_after("-120", kNow).has_value());
  CHECK_FALSE(parse_retry_after("+5", kNow).has_value());
}

TEST_CASE("retry-after: values too large to represent are rejected", "[retry_after]") {
  CHECK_FALSE(parse_retry_after("99999999999999999999999", kNow).has_value());
  CHECK_FALSE(parse_retry_after("9223372036854775807", kNow).has_value());
  CHECK(parse_retry_after("86400", kNow) == std::optional(86'400'000ms));
  CHECK_FALSE(parse_retry_after(std::string(200, 'W'), kNow).has_value());
}
