#include "relay/config_file.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include <toml++/toml.h>

#include "relay/flag_values.hpp"
#include "relay/flags.hpp"

namespace relay {
namespace {

std::string at(const std::string& path, const toml::source_region& where) {
  return path + ":" + std::to_string(where.begin.line);
}

// A float as an operator would have typed it: a whole number as an integer (1e9 is "1000000000", which a
// count accepts), anything else in its shortest exact spelling (0.1 stays "0.1").
std::string shortest(double value) {
  char buffer[64];
  const bool whole = std::isfinite(value) && std::fabs(value) < 1e15 && std::floor(value) == value;
  auto [end, ec] = whole ? std::to_chars(buffer, buffer + sizeof(buffer), static_cast<long long>(value))
                         : std::to_chars(buffer, buffer + sizeof(buffer), value);
  return ec == std::errc{} ? std::string(buffer, end) : std::to_string(value);
}

// toml++ quotes the text it stumbled on ('...'); on the database-url line that could be part of a password,
// so the message keeps only the words around the quotes.
std::string without_quoted_text(std::string_view description) {
  std::string out;
  bool quoted = false;
  for (char c : description) {
    if (c == '\'') {
      if (!quoted) out += "'...'";
      quoted = !quoted;
    } else if (!quoted) {
      out += c;
    }
  }
  return out;
}

// The value as option text, or nothing when TOML gives it a shape no option takes (table, array, date).
std::optional<std::string> as_option_text(const toml::node& value) {
  if (auto s = value.as_string()) return s->get();
  if (auto i = value.as_integer()) return std::to_string(i->get());
  if (auto f = value.as_floating_point()) return shortest(f->get());
  if (auto b = value.as_boolean()) return std::string(b->get() ? "true" : "false");
  return std::nullopt;
}

}  // namespace

std::string ConfigFile::where(const ConfigSetting& setting) const {
  return path + ":" + std::to_string(setting.line);
}

std::variant<ConfigFile, std::string> load_config_file(const std::string& path) {
  // Opened here rather than by the parser so that a missing or unreadable file is reported as such. A
  // directory opens too and would read as an empty file: refuse it.
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return path + ": is a directory, not a configuration file";
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": cannot read the configuration file: " + std::strerror(errno);
  toml::table table;
  try {
    table = toml::parse(in, path);
  } catch (const toml::parse_error& e) {
    return at(path, e.source()) + ": not valid TOML: " + without_quoted_text(e.description());
  }
  ConfigFile file{path, {}};
  for (auto&& [key, value] : table) {
    const std::string name = "--" + std::string(key.str());
    const FlagSpec* flag = find_flag(name);
    if (flag == nullptr || name == "--config") {
      return at(path, key.source()) + ": unknown setting " + flag_values::quoted(key.str()) +
             " (the settings are the long options without their dashes; see outbox-relay.toml(5))";
    }
    auto text = as_option_text(value);
    if (!text) {
      return at(path, value.source()) + ": " + std::string(key.str()) +
             ": must be a string, a number or true/false";
    }
    file.settings.emplace(name, ConfigSetting{std::move(*text), static_cast<int>(key.source().begin.line)});
  }
  return file;
}

}  // namespace relay
