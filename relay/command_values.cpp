#include "relay/command_values.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "relay/duration.hpp"
#include "relay/flag_values.hpp"

namespace relay::flag_values {
namespace {

using namespace std::chrono;

constexpr std::size_t kMaxIds = 10'000;  // a longer list belongs in a filter, not on a command line

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

// An age in days or in the units of parse_duration; nullopt when it is neither.
std::optional<milliseconds> parse_age(std::string_view text) {
  if (!text.ends_with('d')) return parse_duration(text, BareNumber::rejected);
  // "1.5d" is "1.5h" times 24: parse_duration does the decimal arithmetic exactly.
  auto hours = parse_duration(std::string(text.substr(0, text.size() - 1)) + "h", BareNumber::rejected);
  if (!hours || hours->count() > std::numeric_limits<milliseconds::rep>::max() / 24) return std::nullopt;
  return *hours * 24;
}

// A reader over the text of a timestamp: each step consumes what it read, or fails and the whole fails.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }
  bool take(char c) {
    if (done() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool take_any(std::string_view chars) {
    if (done() || chars.find(text_[pos_]) == std::string_view::npos) return false;
    ++pos_;
    return true;
  }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  // Exactly `count` digits as a number, or nullopt.
  std::optional<int> number(std::size_t count) {
    if (text_.size() - pos_ < count) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      char c = text_[pos_ + i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos_ += count;
    return value;
  }
  // One to six digits after a decimal point, as microseconds (PostgreSQL's precision: no more).
  std::optional<microseconds> fraction() {
    std::size_t start = pos_;
    while (!done() && text_[pos_] >= '0' && text_[pos_] <= '9')
      ++pos_;
    std::size_t length = pos_ - start;
    if (length == 0 || length > 6) return std::nullopt;
    std::string padded(text_.substr(start, length));
    padded.resize(6, '0');
    return microseconds(std::stoi(padded));
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<sys_days> read_date(Cursor& in) {
  auto y = in.number(4);
  if (!y || !in.take('-')) return std::nullopt;
  auto m = in.number(2);
  if (!m || !in.take('-')) return std::nullopt;
  auto d = in.number(2);
  if (!d) return std::nullopt;
  year_month_day date{year{*y}, month{static_cast<unsigned>(*m)}, day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;  // 2026-02-30 and the like
  return sys_days(date);
}

std::optional<microseconds> read_clock(Cursor& in) {
  auto h = in.number(2);
  if (!h || *h > 23 || !in.take(':')) return std::nullopt;
  auto m = in.number(2);
  if (!m || *m > 59) return std::nullopt;
  microseconds since_midnight = hours(*h) + minutes(*m);
  if (!in.take(':')) return since_midnight;
  auto s = in.number(2);
  if (!s || *s > 59) return std::nullopt;
  since_midnight += seconds(*s);
  if (!in.take('.')) return since_midnight;
  auto fraction = in.fraction();
  if (!fraction) return std::nullopt;
  return since_midnight + *fraction;
}

// What to subtract from the written time to get UTC: Z, +hh, +hh:mm, +hhmm (or -), or nothing for UTC.
std::optional<minutes> read_offset(Cursor& in) {
  if (in.done() || in.take_any("Zz")) return minutes(0);
  const char sign = in.peek();
  if (!in.take_any("+-")) return std::nullopt;
  auto h = in.number(2);
  if (!h || *h > 23) return std::nullopt;
  int m = 0;
  if (!in.done()) {
    in.take(':');
    auto mm = in.number(2);
    if (!mm || *mm > 59) return std::nullopt;
    m = *mm;
  }
  minutes offset = hours(*h) + minutes(m);
  return sign == '-' ? -offset : offset;
}

std::optional<TimePoint> parse_timestamp(std::string_view text) {
  Cursor in(text);
  auto date = read_date(in);
  if (!date) return std::nullopt;
  microseconds clock{0};
  minutes offset{0};
  if (!in.done()) {
    if (!in.take_any("Tt ")) return std::nullopt;
    auto read = read_clock(in);
    if (!read) return std::nullopt;
    clock = *read;
    auto zone = read_offset(in);
    if (!zone || !in.done()) return std::nullopt;
    offset = *zone;
  }
  return TimePoint(time_point_cast<TimePoint::duration>(*date + clock - offset));
}

}  // namespace

std::string set_switch(std::string_view text, bool& out) {
  const std::string word = lower(text);
  if (word == "1" || word == "true" || word == "yes" || word == "on") {
    out = true;
  } else if (word == "0" || word == "false" || word == "no" || word == "off") {
    out = false;
  } else {
    return fmt::format("must be 1, true, yes or on, or 0, false, no or off (got {})", quoted(text));
  }
  return {};
}

std::string set_age(std::string_view text, milliseconds min, milliseconds max, milliseconds& out) {
  auto age = parse_age(text);
  if (!age) return fmt::format("must be an age such as 90s, 30m, 12h or 7d (got {})", quoted(text));
  if (*age < min || *age > max) {
    return fmt::format("must be between {} and {} (got {})", format_duration(min), format_duration(max),
                       format_duration(*age));
  }
  out = *age;
  return {};
}

std::string set_time(std::string_view text, TimePoint now, std::optional<TimePoint>& out) {
  if (auto at = parse_timestamp(text)) {
    out = *at;
    return {};
  }
  if (auto age = parse_age(text)) {
    out = now - *age;
    return {};
  }
  return fmt::format(
      "must be a time such as 2026-11-23, 2026-11-23T14:00, 2026-11-23 14:00:05+02:00, or an age such as "
      "2h or 7d meaning that long ago (got {})",
      quoted(text));
}

std::string set_id_list(std::string_view text, std::vector<std::int64_t>& out) {
  std::vector<std::int64_t> ids;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    std::int64_t id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc{} || end != item.data() + item.size() || id < 1) {
      return fmt::format("must be message ids, positive whole numbers separated by commas (got {})",
                         quoted(text));
    }
    ids.push_back(id);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (ids.size() > kMaxIds) return fmt::format("lists {} ids; at most {} are accepted", ids.size(), kMaxIds);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  out = std::move(ids);
  return {};
}

std::string set_replay_status(std::string_view text, std::optional<std::string>& out) {
  if (text != "dead" && text != "failed") return fmt::format("must be dead or failed (got {})", quoted(text));
  out = std::string(text);
  return {};
}

std::string format_time(TimePoint t) {
  const auto micros = floor<microseconds>(t);
  const auto day = floor<days>(micros);
  const year_month_day date(day);
  const hh_mm_ss clock(micros - day);
  std::string text = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                                 static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                                 clock.hours().count(), clock.minutes().count(), clock.seconds().count());
  if (auto fraction = clock.subseconds().count(); fraction != 0) {
    std::string digits = fmt::format(".{:06}", fraction);
    while (digits.back() == '0')
      digits.pop_back();
    text += digits;
  }
  return text + "Z";
}

}  // namespace relay::flag_values
