// The example configuration that the Debian package installs (packaging/debian/outbox-relay.toml) against the
// flag table: it names every setting of `run`, each line shows the built-in default (or, where there is none,
// a value the option accepts), and the file loads both as shipped and with every line uncommented.
#include "relay/config_file.hpp"

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "relay/flags.hpp"

namespace {

const std::string kExample = std::string(OUTBOX_SOURCE_DIR) + "/packaging/debian/outbox-relay.toml";

std::string read_example() {
  std::ifstream in(kExample);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The example's "#key = value" lines with the "#" taken off; the prose comments stay comments.
std::string uncommented(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    const bool setting = line.size() > 1 && line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
                         line.find(" = ") != std::string::npos;
    out += (setting ? line.substr(1) : line) + "\n";
  }
  return out;
}

const relay::CommandSpec& run_command() {
  const auto& run = relay::command_specs()[0];
  REQUIRE(run.command == relay::Command::run);
  return run;
}

}  // namespace

TEST_CASE("the example configuration loads as shipped, with every setting commented out", "[config]") {
  auto loaded = relay::load_config_file(kExample);
  INFO((std::holds_alternative<std::string>(loaded) ? std::get<std::string>(loaded) : ""));
  REQUIRE(std::holds_alternative<relay::ConfigFile>(loaded));
  CHECK(std::get<relay::ConfigFile>(loaded).settings.empty());
}

TEST_CASE("the example configuration names every setting of run, each with its default", "[config]") {
  const std::string path = "/tmp/outbox-example-" + std::to_string(getpid()) + ".toml";
  std::ofstream(path) << uncommented(read_example());
  auto loaded = relay::load_config_file(path);
  std::remove(path.c_str());
  INFO((std::holds_alternative<std::string>(loaded) ? std::get<std::string>(loaded) : ""));
  REQUIRE(std::holds_alternative<relay::ConfigFile>(loaded));
  const auto& file = std::get<relay::ConfigFile>(loaded);

  const relay::Config defaults;
  for (std::string_view name : run_command().flags) {
    if (name == "--config") continue;
    INFO(name);
    const auto* flag = relay::find_flag(name);
    auto it = file.settings.find(name);
    REQUIRE(it != file.settings.end());
    relay::Config applied;
    CHECK(flag->apply(applied, it->second.text, relay::bare_number_rule(*flag)).empty());
    const auto shown_default = flag->show_default(defaults);
    // A setting without a default shows an example value instead; every other shows exactly the default.
    if (!shown_default.starts_with("none")) CHECK(flag->show_default(applied) == shown_default);
  }
  CHECK(file.settings.size() == run_command().flags.size() - 1);
}
