#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pg {

// Thrown for a connection string that does not parse; the message never contains the password.
class ConnInfoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A validated connection string (postgresql:// URL or key=value form), with what is needed to keep its
// secret out of every log line and error message.
class ConnInfo {
 public:
  // Parses with PQconninfoParse, without connecting. Throws ConnInfoError on malformed input.
  static ConnInfo parse(std::string_view text);

  // The string as given, password included: for libpq only, never for logs.
  const std::string& text() const { return text_; }
  // A loggable summary such as "host=/tmp/pg port=5432 dbname=app user=relay" (never the password).
  std::string describe() const;
  // `message` with every occurrence of the password (and of the raw connection string) replaced by "***".
  std::string redact(std::string_view message) const;

 private:
  std::string text_;
  // What redact() hides, longest first so that no fragment of a longer secret survives a shorter one.
  std::vector<std::string> secrets_;
  std::string description_;
};

}  // namespace pg
