#include "relay/log_text.hpp"

#include <fmt/format.h>

namespace relay::log::text {
namespace {

bool in(unsigned char b, unsigned char lo, unsigned char hi) {
  return b >= lo && b <= hi;
}

bool is_control(unsigned char b) {
  return b < 0x20 || b == 0x7f;
}

// The escape for \b \f \n \r \t, or 0 for a control character that has no short form.
char short_escape(unsigned char b) {
  switch (b) {
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    default:
      return 0;
  }
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned char {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  if (i >= s.size()) return 0;
  unsigned char b0 = at(0);
  if (b0 < 0x80) return 1;
  // Ranges of the second byte per lead byte, from the Unicode standard's table of well-formed sequences.
  if (in(b0, 0xC2, 0xDF)) return in(at(1), 0x80, 0xBF) ? 2 : 0;
  unsigned char lo = 0x80, hi = 0xBF;
  std::size_t length = 0;
  if (in(b0, 0xE0, 0xEF)) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (in(b0, 0xF0, 0xF4)) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing beyond U+10FFFF
  } else {
    return 0;
  }
  if (!in(at(1), lo, hi)) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (!in(at(k), 0x80, 0xBF)) return 0;
  }
  return length;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b == '"' || b == '\\') {
      out += '\\';
      out += static_cast<char>(b);
    } else if (is_control(b)) {
      if (char e = short_escape(b)) {
        out += '\\';
        out += e;
      } else {
        out += fmt::format("\\u{:04x}", b);
      }
    } else if (std::size_t n = utf8_sequence_length(s, i); n == 0) {
      out += "\\ufffd";
    } else {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  out += '"';
}

void append_human(std::string& out, std::string_view s, bool quoted) {
  if (quoted) out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = utf8_sequence_length(s, i);
    if (quoted && (b == '"' || b == '\\')) {
      out += '\\';
      out += static_cast<char>(b);
    } else if (is_control(b) || n == 0) {
      char e = short_escape(b);
      out += e ? fmt::format("\\{}", e) : fmt::format("\\x{:02x}", b);
    } else {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  if (quoted) out += '"';
}

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (is_control(static_cast<unsigned char>(c))) return true;
    switch (c) {
      case ' ':
      case '=':
      case ',':
      case '{':
      case '}':
      case '"':
      case '\\':
        return true;
      default:
        break;
    }
  }
  return false;
}

}  // namespace relay::log::text
