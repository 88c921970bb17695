#include "relay/duration.hpp"

#include <charconv>
#include <cstdint>
#include <limits>

namespace relay {
namespace {

using Millis = std::chrono::milliseconds;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

struct Unit {
  std::string_view suffix;
  std::int64_t millis;
};
// "ms" before "m" and "s": the longest matching suffix wins.
constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}};

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<std::int64_t> to_int(std::string_view digits) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Splits "1.5s" into number "1.5" and unit millis 1000; a number without a unit gets 0.
std::pair<std::string_view, std::int64_t> split_unit(std::string_view text) {
  for (const Unit& unit : kUnits) {
    if (text.ends_with(unit.suffix)) {
      return {text.substr(0, text.size() - unit.suffix.size()), unit.millis};
    }
  }
  return {text, 0};
}

// "1.5" in units of `unit` ms, computed in integers so that "0.1s" is exactly 100ms. A value that is not a
// whole number of milliseconds (like "1.5ms") is refused rather than rounded: the operator meant something.
std::optional<std::int64_t> scale(std::string_view number, std::int64_t unit) {
  std::string_view whole = number;
  std::string_view fraction;
  if (auto dot = number.find('.'); dot != std::string_view::npos) {
    whole = number.substr(0, dot);
    fraction = number.substr(dot + 1);
    if (!is_digits(fraction)) return std::nullopt;
    while (fraction.ends_with('0'))
      fraction.remove_suffix(1);
  }
  if (!is_digits(whole)) return std::nullopt;
  auto whole_value = to_int(whole);
  if (!whole_value || *whole_value > kMax / unit) return std::nullopt;
  std::int64_t millis = *whole_value * unit;
  if (fraction.empty()) return millis;

  // With at most 9 significant fraction digits the product stays far below 2^63 (unit <= 3.6e6).
  if (fraction.size() > 9) return std::nullopt;
  std::int64_t denominator = 1;
  for (std::size_t i = 0; i < fraction.size(); ++i)
    denominator *= 10;
  std::int64_t numerator = *to_int(fraction) * unit;
  if (numerator % denominator != 0) return std::nullopt;
  std::int64_t extra = numerator / denominator;
  if (millis > kMax - extra) return std::nullopt;
  return millis + extra;
}

}  // namespace

std::optional<Millis> parse_duration(std::string_view text, BareNumber bare) {
  auto [number, unit] = split_unit(text);
  if (unit == 0) {
    if (bare != BareNumber::milliseconds) return std::nullopt;
    unit = 1;
  }
  auto millis = scale(number, unit);
  if (!millis) return std::nullopt;
  return Millis{*millis};
}

std::string format_duration(Millis d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string sign;
  if (ms < 0) {
    // Not produced by the parser; rendered anyway so that a bug shows as a readable value.
    if (ms == std::numeric_limits<std::int64_t>::min()) return std::to_string(ms) + "ms";
    sign = "-";
    ms = -ms;
  }
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (ms % it->millis == 0) return sign + std::to_string(ms / it->millis) + std::string(it->suffix);
  }
  return sign + std::to_string(ms) + "ms";  // unreachable: every count is a whole number of ms
}

}  // namespace relay
