#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// Escaping for log lines: whatever bytes a message or a field holds, a line stays one line, and a JSON line
// stays valid JSON (invalid UTF-8 becomes U+FFFD).
namespace relay::log::text {

// The length of the well-formed UTF-8 sequence that starts at s[i], or 0 if none does (a stray continuation
// byte, an overlong form, a surrogate, a value beyond U+10FFFF or a cut-off sequence).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// Appends `s` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

// Appends `s` for the human format: control characters and invalid bytes as \n, \t, \xNN. With `quoted`,
// also escapes '"' and '\' and puts the whole in double quotes.
void append_human(std::string& out, std::string_view s, bool quoted);

// Whether a human-format field value must be quoted to be read back unambiguously (empty, or holding a
// space, '=', ',', '{', '}', '"', '\' or a control character).
bool needs_quotes(std::string_view s);

}  // namespace relay::log::text
