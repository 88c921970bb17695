#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Parsers for the values of the operating commands' flags (status, replay, purge, retention, dry-run), in
// the style of flag_values.hpp: each stores into `out` and returns an empty string, or leaves `out` alone
// and returns a one-line reason that the caller prefixes with the flag's name.
namespace relay::flag_values {

using TimePoint = std::chrono::system_clock::time_point;

// An on/off switch: 1, true, yes, on / 0, false, no, off, in any case. Given on the command line without a
// value it reads "true" (CLI11 fills that in).
std::string set_switch(std::string_view text, bool& out);

// An age such as 90s, 30m, 12h or 7d (a duration, plus days: ages are usually counted in days), in
// [min, max]. "3 weeks" and other spellings are refused.
std::string set_age(std::string_view text, std::chrono::milliseconds min, std::chrono::milliseconds max,
                    std::chrono::milliseconds& out);

// A point in time: 2026-11-23, 2026-11-23T14:00, 2026-11-23 14:00:05.250+02:00 (UTC unless an offset or Z
// says otherwise), or an age as set_age reads it, meaning that long before `now`.
std::string set_time(std::string_view text, TimePoint now, std::optional<TimePoint>& out);

// Message ids: one or more positive whole numbers separated by commas ("42" or "42,43,90").
std::string set_id_list(std::string_view text, std::vector<std::int64_t>& out);

// The status replay takes rows from: dead or failed.
std::string set_replay_status(std::string_view text, std::optional<std::string>& out);

// "2026-11-23T14:00:05Z", with milliseconds when there are any: how messages show a time back.
std::string format_time(TimePoint t);

}  // namespace relay::flag_values
