#pragma once

#include <span>
#include <string>
#include <string_view>

#include "relay/config.hpp"
#include "relay/duration.hpp"

// The one table of command-line flags. Each row says a flag's name, its environment variable, what its value
// looks like, its help line, how to show its default (read from a default Config, so the help can never
// disagree with config.hpp) and how to store a value into a Config. The CLI builds every subcommand's flags
// from these rows; docs_test holds the man page and the README to the same set.
namespace relay {

struct FlagSpec {
  std::string_view name;        // long name, "--batch-size"
  std::string_view env;         // environment variable read when the flag is absent
  std::string_view value_name;  // placeholder in the help: "N", "DURATION", "URL"
  std::string_view group;       // heading in the help
  std::string_view help;        // one line; the man page says more
  std::string (*show_default)(const Config& defaults);
  // Stores `text` into `config`. Returns the reason it is not acceptable (without the flag's name), or an
  // empty string. `bare` says what a duration without a unit means for this flag.
  std::string (*apply)(Config& config, std::string_view text, BareNumber bare);
};

struct CommandSpec {
  Command command;
  std::string_view name;
  std::string_view summary;
  std::span<const std::string_view> flags;  // names of rows of flag_specs(), in help order
};

// A bare number is milliseconds exactly for the flags whose variable ends in _MS (the names operators
// already use, e.g. OUTBOX_POLL_INTERVAL_MS=500); every other duration needs a unit.
BareNumber bare_number_rule(const FlagSpec& flag);

std::span<const FlagSpec> flag_specs();
std::span<const CommandSpec> command_specs();

// nullptr when no row has that name.
const FlagSpec* find_flag(std::string_view name);

}  // namespace relay
