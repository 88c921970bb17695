#include "relay/help_formatter.hpp"

#include <algorithm>
#include <sstream>
#include <utility>
#include <vector>

namespace relay {
namespace {

// Each flag's text goes on the lines under its name, indented this far: with names as long as
// "--backoff-multiplier FACTOR", a column beside them would push every line past 80 characters.
constexpr std::size_t kTextIndent = 6;
constexpr std::size_t kCommandColumn = 12;

// One flag as the overview shows it: the first command's option (all commands share its text) and the
// names of the commands that take it.
struct SharedFlag {
  const CLI::Option* option;
  std::string commands;
};

struct FlagGroup {
  std::string name;
  std::vector<SharedFlag> flags;
};

SharedFlag* find_shared(std::vector<FlagGroup>& groups, const std::string& flag_name) {
  for (FlagGroup& group : groups) {
    for (SharedFlag& flag : group.flags) {
      if (flag.option->get_name() == flag_name) return &flag;
    }
  }
  return nullptr;
}

void add_flag(std::vector<FlagGroup>& groups, const CLI::Option* option, const std::string& command) {
  if (SharedFlag* known = find_shared(groups, option->get_name())) {
    known->commands += (known->commands.empty() ? "" : ", ") + command;
    return;
  }
  auto group = std::find_if(groups.begin(), groups.end(),
                            [&](const FlagGroup& g) { return g.name == option->get_group(); });
  if (group == groups.end()) group = groups.insert(groups.end(), FlagGroup{option->get_group(), {}});
  group->flags.push_back({option, command});
}

// Every flag of every command, grouped under its heading, in the order the commands declare them. The
// program's own --help and --version come first, with no commands named; every command repeats --version,
// which is shown once.
std::vector<FlagGroup> collect_flags(const CLI::App* app) {
  std::vector<FlagGroup> groups;
  for (const CLI::Option* option : app->get_options())
    add_flag(groups, option, "");
  for (const CLI::App* command : app->get_subcommands({})) {
    for (const CLI::Option* option : command->get_options()) {
      if (option == command->get_help_ptr() || option == command->get_help_all_ptr() ||
          option == command->get_version_ptr())
        continue;
      add_flag(groups, option, command->get_name());
    }
  }
  return groups;
}

// The line under a flag's text: its variable and its default, when it has them.
std::string option_facts(const CLI::Option* opt) {
  std::string facts;
  if (!opt->get_envname().empty()) facts += "Env: " + opt->get_envname();
  if (!opt->get_default_str().empty())
    facts += (facts.empty() ? "" : "  ") + ("Default: " + opt->get_default_str());
  return facts;
}

}  // namespace

HelpFormatter::HelpFormatter() {
  column_width(kTextIndent);
}

std::string HelpFormatter::make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const {
  if (app->get_parent() == nullptr && mode != CLI::AppFormatMode::Sub) return make_overview(app, name);
  std::string help = CLI::Formatter::make_help(app, std::move(name), mode);
  // CLI11 puts two blank lines between option groups; one is enough.
  for (auto pos = help.find("\n\n\n"); pos != std::string::npos; pos = help.find("\n\n\n", pos)) {
    help.erase(pos, 1);
  }
  return help;
}

std::string HelpFormatter::make_subcommand(const CLI::App* sub) const {
  std::ostringstream out;
  CLI::detail::format_help(out, sub->get_name(), sub->get_description(), kCommandColumn);
  return out.str();
}

std::string HelpFormatter::make_option_opts(const CLI::Option* opt) const {
  if (opt->get_type_size() == 0 || opt->get_type_name().empty()) return {};
  return " " + opt->get_type_name();
}

std::string HelpFormatter::make_option_desc(const CLI::Option* opt) const {
  const std::string facts = option_facts(opt);
  return facts.empty() ? opt->get_description() : opt->get_description() + "\n" + facts;
}

std::string HelpFormatter::make_overview(const CLI::App* app, const std::string& name) const {
  std::ostringstream out;
  out << make_description(app) << get_label("Usage") << ": " << name << " [COMMAND] [OPTIONS]\n";
  out << "\nCommands:\n";
  for (const CLI::App* command : app->get_subcommands({}))
    out << make_subcommand(command);
  out << make_all_flags(app);
  out << '\n' << make_footer(app);
  return out.str();
}

std::string HelpFormatter::make_all_flags(const CLI::App* app) const {
  std::ostringstream out;
  for (const FlagGroup& group : collect_flags(app)) {
    out << "\n" << group.name << ":\n";
    for (const SharedFlag& flag : group.flags) {
      std::string facts = option_facts(flag.option);
      if (!flag.commands.empty()) facts += (facts.empty() ? "" : "  ") + ("Commands: " + flag.commands);
      const std::string& text = flag.option->get_description();
      CLI::detail::format_help(out, make_option_name(flag.option, false) + make_option_opts(flag.option),
                               facts.empty() ? text : text + "\n" + facts, column_width_);
    }
  }
  return out.str();
}

}  // namespace relay
