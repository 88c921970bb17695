#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pg {

// Builds a PostgreSQL array in text form ("{1,2,NULL}", "{\"a\\\"b\",NULL}") so that one statement can carry
// many rows' values (WHERE id = ANY($1), FROM unnest($1::bigint[], $2::text[])). Reuse an instance with
// clear() to keep its buffer.
class ArrayLiteral {
 public:
  void add(std::int64_t v);
  void add(std::string_view text);  // quoted and escaped
  void add_null();
  void clear();
  std::size_t size() const { return count_; }
  // The literal, including the braces.
  std::string str() const;

 private:
  void separator();

  std::string body_;
  std::size_t count_ = 0;
};

}  // namespace pg
