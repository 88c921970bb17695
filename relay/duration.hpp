#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace relay {

// What a number without a unit means.
enum class BareNumber { rejected, milliseconds };

// Parses "250ms", "3s", "2m", "1h" (also "1.5s"; units ms, s, m, h). A bare number is milliseconds when
// `bare` says so, else an error. Returns nullopt on anything else (empty, negative, unknown unit, overflow).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, BareNumber bare);

// Renders a duration the way the parser reads it back, using the largest exact unit ("1h", "90s", "250ms").
std::string format_duration(std::chrono::milliseconds d);

}  // namespace relay
