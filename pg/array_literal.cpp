#include "pg/array_literal.hpp"

namespace pg {

void ArrayLiteral::add(std::int64_t v) {
  separator();
  body_ += std::to_string(v);
}

void ArrayLiteral::add(std::string_view text) {
  separator();
  // Always quoted: an unquoted element would be read as NULL if it spelled NULL, and would need escaping
  // for commas, braces, spaces and the empty string anyway.
  body_.reserve(body_.size() + text.size() + 2);
  body_.push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') body_.push_back('\\');
    body_.push_back(c);
  }
  body_.push_back('"');
}

void ArrayLiteral::add_null() {
  separator();
  body_ += "NULL";
}

void ArrayLiteral::clear() {
  body_.clear();
  count_ = 0;
}

std::string ArrayLiteral::str() const {
  return "{" + body_ + "}";
}

void ArrayLiteral::separator() {
  if (count_ > 0) body_.push_back(',');
  ++count_;
}

}  // namespace pg
