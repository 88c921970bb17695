#include "relay/duration.hpp"

#include <catch2/catch.hpp>

using relay::BareNumber;
using relay::format_duration;
using relay::parse_duration;
using std::chrono::milliseconds;

namespace {
std::optional<long long> ms(std::string_view text, BareNumber bare = BareNumber::rejected) {
  auto d = parse_duration(text, bare);
  return d ? std::optional<long long>(d->count()) : std::nullopt;
}
}  // namespace

TEST_CASE("durations take the units ms, s, m and h", "[duration]") {
  CHECK(ms("500ms") == 500);
  CHECK(ms("3s") == 3'000);
  CHECK(ms("2m") == 120'000);
  CHECK(ms("1h") == 3'600'000);
  CHECK(ms("0s") == 0);
  CHECK(ms("0ms") == 0);
}

TEST_CASE("durations take decimals that are whole milliseconds", "[duration]") {
  CHECK(ms("1.5s") == 1'500);
  CHECK(ms("0.1s") == 100);
  CHECK(ms("0.25m") == 15'000);
  CHECK(ms("1.50000000000000s") == 1'500);  // trailing zeros do not count as precision
  CHECK(ms("2.0ms") == 2);
  CHECK_FALSE(ms("1.5ms"));  // half a millisecond: refused, not rounded
  CHECK_FALSE(ms("0.0001s"));
  CHECK_FALSE(ms("1.s"));
  CHECK_FALSE(ms(".5s"));
  CHECK_FALSE(ms("1.2.3s"));
}

TEST_CASE("a bare number is milliseconds only when the flag allows it", "[duration]") {
  CHECK_FALSE(ms("250"));
  CHECK(ms("250", BareNumber::milliseconds) == 250);
  CHECK(ms("0", BareNumber::milliseconds) == 0);
  CHECK_FALSE(ms("1.5", BareNumber::milliseconds));
  // A unit is still accepted where a bare number is.
  CHECK(ms("2s", BareNumber::milliseconds) == 2'000);
}

TEST_CASE("garbage is not a duration", "[duration]") {
  for (const char* text : {"", "s", "ms", "-1s", "+1s", " 1s", "1s ", "1 s", "1S", "1sec", "1d", "one s",
                           "1e3ms", "0x10s", "1s1", "nan", "infs", "1..5s"}) {
    INFO(text);
    CHECK_FALSE(ms(text, BareNumber::milliseconds));
  }
}

TEST_CASE("durations that overflow are refused", "[duration]") {
  CHECK(ms("9223372036854775807ms") == 9223372036854775807LL);
  CHECK_FALSE(ms("9223372036854775808ms"));
  CHECK_FALSE(ms("9223372036854775807s"));
  CHECK(ms("2562047788015h"));
  CHECK_FALSE(ms("2562047788016h"));  // just past 2^63 ms
  CHECK_FALSE(ms("99999999999999999999999h"));
  CHECK_FALSE(ms("9223372036854775807.5s"));
}

TEST_CASE("format_duration uses the largest exact unit", "[duration]") {
  CHECK(format_duration(milliseconds{0}) == "0s");
  CHECK(format_duration(milliseconds{250}) == "250ms");
  CHECK(format_duration(milliseconds{1'000}) == "1s");
  CHECK(format_duration(milliseconds{1'500}) == "1500ms");
  CHECK(format_duration(milliseconds{90'000}) == "90s");
  CHECK(format_duration(milliseconds{60'000}) == "1m");
  CHECK(format_duration(milliseconds{3'600'000}) == "1h");
  CHECK(format_duration(milliseconds{-2'000}) == "-2s");
}

TEST_CASE("format_duration reads back as the same duration", "[duration]") {
  for (long long count : {0LL, 1LL, 999LL, 1'000LL, 1'001LL, 59'999LL, 60'000LL, 61'000LL, 3'600'000LL,
                          86'400'000LL, 9223372036854775807LL}) {
    INFO(count);
    std::string text = format_duration(milliseconds{count});
    CHECK(ms(text) == count);
  }
}
