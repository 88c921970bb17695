#pragma once

// Private to http/: the small text tests that HTTP's case-insensitive names and padded values need.

#include <algorithm>
#include <cctype>
#include <string_view>

namespace http::detail {

inline bool same_letter_ignoring_case(char a, char b) {
  return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
}

inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), same_letter_ignoring_case);
}

inline bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

// `text` without the given characters at either end (by default, the blanks that pad a header value).
inline std::string_view trim(std::string_view text, std::string_view padding = " \t") {
  const auto first = text.find_first_not_of(padding);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(padding) - first + 1);
}

}  // namespace http::detail
