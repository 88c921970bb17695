#pragma once

#include <iosfwd>
#include <optional>

#include "relay/config.hpp"

namespace relay {

// Process exit codes, documented in the man page (EXIT STATUS).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failure = 1;         // the command ran and something it did failed
inline constexpr int usage = 2;           // bad flag, value, URL or combination: nothing was touched
inline constexpr int infrastructure = 3;  // the database could not be reached or was lost
inline constexpr int schema = 4;          // the outbox schema is missing or of another version
}  // namespace exit_code

struct CliOutcome {
  // Set when the command should run; empty when the process should exit with `exit_code` at once
  // (after --help or --version, printed on `out`, or after a one-line error printed on `err`).
  std::optional<Config> config;
  int exit_code = exit_code::ok;
};

// Parses the command line, falling back to the environment for every flag that has a variable, and
// validates the result. Never throws and never touches the network.
CliOutcome parse_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace relay
