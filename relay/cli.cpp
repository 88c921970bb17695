#include "relay/cli.hpp"

#include <algorithm>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>

#include "relay/config_file.hpp"
#include "relay/flag_values.hpp"
#include "relay/flags.hpp"
#include "relay/help_formatter.hpp"
#include "relay/version.hpp"

namespace relay {
namespace {

constexpr std::string_view kProgram = "outbox-relay";
constexpr const char* kDefaultCommand = "run";  // must name a row of command_specs()

CliOutcome fail(std::ostream& err, std::string message, int code = exit_code::usage) {
  // Exactly one line, whatever the message holds: scripts and log collectors read stderr line by line.
  auto is_break = [](char c) { return c == '\n' || c == '\r'; };
  std::replace_if(message.begin(), message.end(), is_break, ' ');
  while (!message.empty() && message.back() == ' ') {
    message.pop_back();
  }
  err << kProgram << ": " << message << '\n';
  return CliOutcome{std::nullopt, code};
}

const CommandSpec* find_command(std::string_view name) {
  auto commands = command_specs();
  auto it =
      std::find_if(commands.begin(), commands.end(), [&](const CommandSpec& c) { return c.name == name; });
  return it == commands.end() ? nullptr : &*it;
}

std::string command_names() {
  std::string names;
  for (const CommandSpec& command : command_specs()) {
    names += (names.empty() ? "" : ", ") + std::string(command.name);
  }
  return names;
}

void add_flag(CLI::App& command, const FlagSpec& flag) {
  // No callback: values are read after parsing, so that each error names its flag in our words.
  CLI::Option* option =
      command.add_option(std::string(flag.name), CLI::callback_t{}, std::string(flag.help))
          ->type_name(std::string(flag.value_name))
          ->envname(std::string(flag.env))
          ->default_str(flag.show_default(Config{}))
          ->group(std::string(flag.group))
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag overrides an earlier one
  // A row without a value placeholder is a switch: given alone it reads "true" (CLI11's word), and its
  // variable or --flag=VALUE may say 1/0, yes/no... (flag_values::set_switch).
  if (flag.value_name.empty()) option->expected(0);
}

std::unique_ptr<CLI::App> build_app() {
  auto app = std::make_unique<CLI::App>("Delivers the rows of a PostgreSQL outbox table as HTTP requests.",
                                        std::string(kProgram));
  app->formatter(std::make_shared<HelpFormatter>());
  // Set before the commands are added: each command copies the help flag of its parent.
  app->set_help_flag("-h,--help", "Print this help and exit (after a command: that command's help)");
  app->set_version_flag("--version", std::string(kProgram) + " " + version, "Print the version and exit");
  app->footer(
      "Every flag can also be set by its environment variable, or in the --config file;\n"
      "a flag wins over its variable, a variable over the file.\n"
      "Durations take a unit (500ms, 3s, 2m, 1h, 1.5s); for the variables ending in _MS\n"
      "a bare number means milliseconds. See outbox-relay(1).");
  for (const CommandSpec& spec : command_specs()) {
    CLI::App* command = app->add_subcommand(std::string(spec.name), std::string(spec.summary));
    command->set_version_flag("--version", std::string(kProgram) + " " + version,
                              "Print the version and exit");
    for (std::string_view name : spec.flags) {
      add_flag(*command, *find_flag(name));  // every name is a row: cli_test checks the table
    }
  }
  app->require_subcommand(0, 1);
  return app;
}

// `run` is the default command: when the first argument is a flag (other than the top-level --help and
// --version) or there is none, "run" is put in front: `outbox-relay --target URL` is `run --target URL`.
std::vector<const char*> with_default_command(int argc, const char* const* argv) {
  std::vector<const char*> args(argv, argv + argc);
  if (args.empty()) args.push_back(kProgram.data());
  std::string_view first = args.size() > 1 ? args[1] : "";
  bool top_level = first == "-h" || first == "--help" || first == "--version";
  bool flag_or_nothing = first.empty() || first.starts_with('-');
  if (flag_or_nothing && !top_level) args.insert(args.begin() + 1, kDefaultCommand);
  return args;
}

// The flag's name as the message shows it; a value from the environment names its variable too, since that
// is where the operator has to look.
std::string source_of(const FlagSpec& flag, const CLI::App& command, const CLI::Option* option) {
  const auto& given = command.parse_order();
  if (std::find(given.begin(), given.end(), option) != given.end()) return std::string(flag.name);
  return std::string(flag.name) + " (from " + std::string(flag.env) + ")";
}

// CLI11's own message ("The following arguments were not expected: ...") quotes every stray argument, and a
// key=value connection string left unquoted (--database-url host=db password=...) would put the password
// on stderr. So: name the first stray argument only, and never one that may be part of a connection string.
std::string explain_extra(const std::string& extra, const CommandSpec& spec) {
  std::string_view arg = extra;
  if (arg.starts_with('-')) {
    std::string_view name = arg.substr(0, arg.find('='));  // never the value
    if (find_flag(name) != nullptr) {
      return std::string(name) + " is not an option of " + std::string(spec.name);
    }
    return "unknown option " + flag_values::quoted(name);
  }
  if (arg.find('=') != std::string_view::npos) {
    return "unexpected argument (not shown: it looks like part of a key=value connection string, "
           "which must be quoted as one argument)";
  }
  return "unexpected argument " + flag_values::quoted(arg);
}

// The file named by --config (or OUTBOX_CONFIG), if any. The file is read before the other options because
// each of them falls back to it.
std::variant<std::optional<ConfigFile>, std::string> read_config_file(const CLI::App& command) {
  const CLI::Option* option = command.get_option("--config");
  if (option->count() == 0) return std::optional<ConfigFile>();
  const auto path = option->as<std::string>();
  if (path.empty()) return std::optional<ConfigFile>();
  auto loaded = load_config_file(path);
  if (auto* reason = std::get_if<std::string>(&loaded)) return std::move(*reason);
  return std::optional<ConfigFile>(std::move(std::get<ConfigFile>(loaded)));
}

// Each option comes from the command line, else its variable, else the file, else its default. A setting in
// the file that this command does not take is left alone: one file serves every command.
CliOutcome read_config(const CommandSpec& spec, const CLI::App& command, std::ostream& err) {
  Config config;
  config.command = spec.command;
  auto file = read_config_file(command);
  if (auto* reason = std::get_if<std::string>(&file)) return fail(err, *reason);
  const auto& settings = std::get<std::optional<ConfigFile>>(file);
  for (std::string_view name : spec.flags) {
    const FlagSpec& flag = *find_flag(name);
    const CLI::Option* option = command.get_option(std::string(name));
    if (option->count() > 0) {
      std::string text = option->as<std::string>();
      if (auto reason = flag.apply(config, text, bare_number_rule(flag)); !reason.empty()) {
        return fail(err, source_of(flag, command, option) + ": " + reason);
      }
    } else if (settings) {
      auto it = settings->settings.find(name);
      if (it == settings->settings.end()) continue;
      if (auto reason = flag.apply(config, it->second.text, bare_number_rule(flag)); !reason.empty()) {
        return fail(err, settings->where(it->second) + ": " + std::string(name.substr(2)) + ": " + reason);
      }
    }
  }
  if (auto reason = validate(config); !reason.empty()) return fail(err, reason);
  return CliOutcome{std::move(config), exit_code::ok};
}

CliOutcome parse(const std::vector<const char*>& args, std::ostream& out, std::ostream& err) {
  std::string_view first = args[1];
  if (!first.starts_with('-') && find_command(first) == nullptr) {
    return fail(err,
                "unknown command " + flag_values::quoted(first) + " (commands: " + command_names() + ")");
  }
  const CommandSpec* spec = first.starts_with('-') ? nullptr : find_command(first);
  auto app = build_app();
  try {
    app->parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return CliOutcome{std::nullopt, app->exit(e, out, err)};  // --help, --version
    auto extras = app->remaining(true);
    if (spec && dynamic_cast<const CLI::ExtrasError*>(&e) && !extras.empty()) {
      return fail(err, explain_extra(extras.front(), *spec));
    }
    return fail(err, e.what());
  }
  if (spec == nullptr) return fail(err, "no command given (commands: " + command_names() + ")");
  return read_config(*spec, *app->get_subcommand(std::string(spec->name)), err);
}

}  // namespace

CliOutcome parse_command_line(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  try {
    return parse(with_default_command(argc, argv), out, err);
  } catch (const std::exception& e) {
    // Only a bug gets here (the parsers report bad input as text); still no exception leaves.
    return fail(err, std::string("internal error: ") + e.what(), exit_code::failure);
  }
}

}  // namespace relay
