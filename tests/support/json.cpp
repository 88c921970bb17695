#include "tests/support/json.hpp"

#include <charconv>
#include <stdexcept>

namespace testkit::json {
namespace {

constexpr int kMaxDepth = 64;

// Recursive descent over the text; every read_* returns false on the first thing that is not JSON.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<Value> document() {
    Value v;
    skip_space();
    if (!read_value(v, 0)) return std::nullopt;
    skip_space();
    if (pos_ != text_.size()) return std::nullopt;
    return v;
  }

 private:
  bool read_value(Value& v, int depth) {
    if (depth > kMaxDepth || pos_ >= text_.size()) return false;
    switch (text_[pos_]) {
      case '{':
        return read_object(v, depth);
      case '[':
        return read_array(v, depth);
      case '"':
        v.kind = Value::Kind::string;
        return read_string(v.text);
      case 't':
        v.kind = Value::Kind::boolean;
        v.boolean = true;
        return literal("true");
      case 'f':
        v.kind = Value::Kind::boolean;
        return literal("false");
      case 'n':
        return literal("null");
      default:
        v.kind = Value::Kind::number;
        return read_number(v.text);
    }
  }

  bool read_object(Value& v, int depth) {
    v.kind = Value::Kind::object;
    ++pos_;
    skip_space();
    if (take('}')) return true;
    while (true) {
      std::string key;
      Value member;
      skip_space();
      if (!read_string(key)) return false;
      skip_space();
      if (!take(':')) return false;
      skip_space();
      if (!read_value(member, depth + 1)) return false;
      v.members.emplace_back(std::move(key), std::move(member));
      skip_space();
      if (take('}')) return true;
      if (!take(',')) return false;
    }
  }

  bool read_array(Value& v, int depth) {
    v.kind = Value::Kind::array;
    ++pos_;
    skip_space();
    if (take(']')) return true;
    while (true) {
      Value item;
      skip_space();
      if (!read_value(item, depth + 1)) return false;
      v.items.push_back(std::move(item));
      skip_space();
      if (take(']')) return true;
      if (!take(',')) return false;
    }
  }

  bool read_string(std::string& out) {
    if (!take('"')) return false;
    while (pos_ < text_.size()) {
      const auto c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;  // control characters must be escaped
      if (c >= 0x80) {
        if (!read_utf8(c, out)) return false;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (!read_escape(out)) return false;
    }
    return false;
  }

  // The rest of a multi-byte UTF-8 sequence whose lead byte was `lead`: JSON text must be valid UTF-8
  // (no stray continuation bytes, overlong forms, surrogates or values beyond U+10FFFF).
  bool read_utf8(unsigned char lead, std::string& out) {
    std::size_t extra = 0;
    unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (text_.size() - pos_ < extra) return false;
    out += static_cast<char>(lead);
    for (std::size_t i = 0; i < extra; ++i) {
      const auto b = static_cast<unsigned char>(text_[pos_ + i]);
      if (b < (i == 0 ? low : 0x80) || b > (i == 0 ? high : 0xBF)) return false;
      out += static_cast<char>(b);
    }
    pos_ += extra;
    return true;
  }

  bool read_escape(std::string& out) {
    if (pos_ >= text_.size()) return false;
    const char e = text_[pos_++];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        return read_unicode(out);
      default:
        return false;
    }
  }

  bool read_hex4(unsigned& out) {
    if (text_.size() - pos_ < 4) return false;
    auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, out, 16);
    if (ec != std::errc{} || end != text_.data() + pos_ + 4) return false;
    pos_ += 4;
    return true;
  }

  bool read_unicode(std::string& out) {
    unsigned code = 0;
    if (!read_hex4(code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return false;  // a low surrogate alone
    if (code >= 0xD800 && code <= 0xDBFF) {
      unsigned low = 0;
      if (!take('\\') || !take('u') || !read_hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
    return true;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool read_number(std::string& out) {
    const std::size_t start = pos_;
    take('-');
    if (take('0')) {
      // no leading zeros
    } else if (!digits()) {
      return false;
    }
    if (take('.') && !digits()) return false;
    if (take('e') || take('E')) {
      if (!take('+')) take('-');
      if (!digits()) return false;
    }
    out = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  bool digits() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
      ++pos_;
    return pos_ > start;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool take(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

const Value* Value::find(std::string_view key) const {
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) throw std::out_of_range("no member \"" + std::string(key) + "\"");
  return *v;
}

std::int64_t Value::integer() const {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (kind != Kind::number || ec != std::errc{} || end != text.data() + text.size()) {
    throw std::invalid_argument("not an integer: " + text);
  }
  return n;
}

std::optional<Value> parse(std::string_view text) {
  return Parser(text).document();
}

}  // namespace testkit::json
