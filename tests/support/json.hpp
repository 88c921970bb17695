#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// A small, strict JSON reader (RFC 8259) for tests: what the binary prints (status --json, JSON log lines)
// is parsed here, independently of the code that wrote it, and anything that is not valid JSON is refused.
namespace testkit::json {

struct Value {
  enum class Kind { null, boolean, number, string, array, object };

  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;  // a string's decoded value, or a number's text as written
  std::vector<Value> items;
  std::vector<std::pair<std::string, Value>> members;  // in document order

  bool is(Kind k) const { return kind == k; }
  // The member named `key`, or nullptr (also when this is not an object).
  const Value* find(std::string_view key) const;
  // The member named `key`; throws std::out_of_range when there is none.
  const Value& at(std::string_view key) const;
  // A number without fraction or exponent, as an integer; throws std::invalid_argument otherwise.
  std::int64_t integer() const;
};

// Parses one JSON text (surrounding whitespace allowed, nothing else); nullopt when it is not valid JSON.
std::optional<Value> parse(std::string_view text);

}  // namespace testkit::json
