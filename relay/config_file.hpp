#pragma once

#include <map>
#include <string>
#include <string_view>
#include <variant>

// The configuration file (--config FILE, OUTBOX_CONFIG; outbox-relay.toml(5)): TOML whose top-level keys are
// the long options without their dashes (`batch-size = 200`, `http-timeout = "10s"`). This file only reads
// it and checks its shape; each value goes through the same parser as the option itself (cli.cpp), so a
// setting means the same in the file, in the environment and on the command line.
namespace relay {

struct ConfigSetting {
  std::string text;  // the value as the option would take it: "200", "10s", "true"
  int line = 0;      // where it is, for messages
};

struct ConfigFile {
  std::string path;
  std::map<std::string, ConfigSetting, std::less<>> settings;  // by option name, "--batch-size"

  // "FILE:LINE", for messages about one setting.
  std::string where(const ConfigSetting& setting) const;
};

// Reads and checks the file: TOML syntax, every key the name of an option (other than --config), every value
// a string, an integer, a float or a boolean. Returns the file, or a one-line reason naming FILE:LINE.
std::variant<ConfigFile, std::string> load_config_file(const std::string& path);

}  // namespace relay
