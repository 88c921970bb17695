#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/log.hpp"

// How an event travels from log::event() through spdlog to the formatter: packed into the message text.
// The packing starts with an ASCII record separator (0x1E), which no plain log message starts with, then
// length-prefixed parts ("<bytes>:<text>"), so any bytes in a name, key or value survive unchanged:
//   \x1e <name> { <type> <key> <value> }       type: i integer, d finite double, b bool, s string
// A message that does not decode is shown as a plain message, never dropped.
namespace relay::log::record {

inline constexpr char kMarker = '\x1e';

enum class Type : char { integer = 'i', number = 'd', boolean = 'b', string = 's' };

struct DecodedField {
  Type type;
  std::string_view key;
  std::string_view text;  // integer and number: JSON number text; boolean: "true"/"false"
};

struct Decoded {
  std::string_view name;
  std::vector<DecodedField> fields;
};

std::string encode(std::string_view name, std::initializer_list<Field> fields);

// nullopt for a plain message (or a malformed packing).
std::optional<Decoded> decode(std::string_view message);

}  // namespace relay::log::record
