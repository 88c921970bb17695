#include "relay/log_record.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace relay::log::record {
namespace {

void append_part(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out.append(part);
}

// The type tag and text of a value. A non-finite double has no JSON form, so it travels as a string.
std::pair<Type, std::string> typed_text(const Value& value) {
  struct Visitor {
    std::pair<Type, std::string> operator()(std::int64_t v) const {
      return {Type::integer, std::to_string(v)};
    }
    std::pair<Type, std::string> operator()(double v) const {
      return {std::isfinite(v) ? Type::number : Type::string, fmt::format("{}", v)};
    }
    std::pair<Type, std::string> operator()(bool v) const { return {Type::boolean, v ? "true" : "false"}; }
    std::pair<Type, std::string> operator()(std::string_view v) const {
      return {Type::string, std::string(v)};
    }
  };
  return std::visit(Visitor{}, value.get());
}

// Reads one "<bytes>:<text>" part from the front of `in`.
std::optional<std::string_view> take_part(std::string_view& in) {
  std::size_t length = 0;
  auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), length);
  if (ec != std::errc{} || end == in.data() + in.size() || *end != ':') return std::nullopt;
  in.remove_prefix(static_cast<std::size_t>(end - in.data()) + 1);
  if (length > in.size()) return std::nullopt;
  std::string_view part = in.substr(0, length);
  in.remove_prefix(length);
  return part;
}

// The JSON number grammar. Checked again on decode so that a plain message that happens to look packed
// cannot put an invalid token into a JSON line.
bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

bool valid_text(Type type, std::string_view text) {
  switch (type) {
    case Type::integer:
    case Type::number:
      return is_json_number(text);
    case Type::boolean:
      return text == "true" || text == "false";
    case Type::string:
      return true;
  }
  return false;
}

}  // namespace

std::string encode(std::string_view name, std::initializer_list<Field> fields) {
  std::string out(1, kMarker);
  append_part(out, name);
  for (const Field& field : fields) {
    auto [type, text] = typed_text(field.value);
    out += static_cast<char>(type);
    append_part(out, field.key);
    append_part(out, text);
  }
  return out;
}

std::optional<Decoded> decode(std::string_view message) {
  if (message.empty() || message.front() != kMarker) return std::nullopt;
  message.remove_prefix(1);
  auto name = take_part(message);
  if (!name) return std::nullopt;
  Decoded decoded{*name, {}};
  while (!message.empty()) {
    auto type = static_cast<Type>(message.front());
    message.remove_prefix(1);
    auto key = take_part(message);
    auto text = key ? take_part(message) : std::nullopt;
    if (!text || !valid_text(type, *text)) return std::nullopt;
    decoded.fields.push_back({type, *key, *text});
  }
  return decoded;
}

}  // namespace relay::log::record
