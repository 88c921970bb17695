#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace relay {

// Renders --help. Under each flag, its environment variable and default. The top-level help lists every
// flag of every command once, with the commands that take it, so that one page shows all settings; a
// command's own help (`outbox-relay run --help`) shows that command's flags only.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter();
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override;
  std::string make_option_opts(const CLI::Option* opt) const override;
  std::string make_option_desc(const CLI::Option* opt) const override;
  std::string make_subcommand(const CLI::App* sub) const override;

 private:
  std::string make_overview(const CLI::App* app, const std::string& name) const;
  std::string make_all_flags(const CLI::App* app) const;
};

}  // namespace relay
