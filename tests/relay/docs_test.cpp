// Holds --help, the man page and the README's Configuration table to the same flags, variables and defaults.
#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "relay/cli.hpp"
#include "relay/flags.hpp"
#include "relay/version.hpp"

namespace {

struct FlagDoc {
  std::string env;
  std::string default_text;
  std::string text;  // everything the document says about the flag
};
using FlagDocs = std::map<std::string, FlagDoc>;

std::string read_file(const std::string& relative) {
  std::ifstream in(std::string(OUTBOX_SOURCE_DIR) + "/" + relative);
  REQUIRE(in);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// (Plain string scanning rather than std::regex: g++ 12 with the sanitizers warns inside <regex>.)

bool is_flag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}
bool is_env_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Every "--name" in `text` (lower-case letters, digits and dashes, starting with a letter).
std::vector<std::string> long_flags_in(const std::string& text) {
  std::vector<std::string> found;
  for (auto pos = text.find("--"); pos != std::string::npos; pos = text.find("--", pos + 2)) {
    bool starts_word = pos == 0 || !is_flag_char(text[pos - 1]);
    if (!starts_word || pos + 2 >= text.size() || text[pos + 2] < 'a' || text[pos + 2] > 'z') continue;
    auto end = pos + 2;
    while (end < text.size() && is_flag_char(text[end]))
      ++end;
    found.push_back(text.substr(pos, end - pos));
  }
  return found;
}

// The text after `label` up to `stop` (or the end), or empty when `label` is absent.
std::string after(const std::string& text, const std::string& label, const std::string& stop = "") {
  auto start = text.find(label);
  if (start == std::string::npos) return {};
  start += label.size();
  auto end = stop.empty() ? std::string::npos : text.find(stop, start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string first_env_name(const std::string& text) {
  auto start = std::find_if(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  return std::string(start, std::find_if_not(start, text.end(), is_env_char));
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

std::string help_output(std::vector<const char*> args) {
  args.insert(args.begin(), "outbox-relay");
  std::ostringstream out, err;
  auto outcome = relay::parse_command_line(static_cast<int>(args.size()), args.data(), out, err);
  REQUIRE(outcome.exit_code == 0);
  REQUIRE(err.str().empty());
  return out.str();
}

// --help: a flag's line starts with its names ("  --lease DURATION", "  -h,--help"); the line with
// "Env: X  Default: Y" follows it.
FlagDocs flags_in_help(const std::string& help) {
  FlagDocs docs;
  std::string current;
  for (const std::string& line : lines_of(help)) {
    bool short_and_long = line.size() > 6 && line.starts_with("  -") && line[4] == ',' && line[5] == '-';
    if (line.starts_with("  --") || short_and_long) {
      std::string names = line.substr(0, line.find(' ', 2));
      current = long_flags_in(names).at(0);
      docs[current].text = line;
    } else if (!current.empty() && line.find("Env: ") != std::string::npos) {
      docs[current].env = first_env_name(after(line, "Env: "));
      docs[current].default_text = after(line, "  Default: ", "  Commands: ");
    }
  }
  return docs;
}

// Roff source to plain words: "\-\-batch\-size" to "--batch-size", font changes and macro names dropped.
std::string plain_roff(std::string line) {
  if (line.starts_with(".")) line.erase(0, std::min(line.find(' '), line.size()));
  replace_all(line, "\\-", "-");
  for (const char* escape : {"\\fB", "\\fI", "\\fR", "\\fP", "\\&"})
    replace_all(line, escape, "");
  line.erase(std::remove(line.begin(), line.end(), '"'), line.end());
  line.erase(0, line.find_first_not_of(' '));
  return line;
}

std::string man_section(const std::string& man, const std::string& name) {
  auto start = man.find("\n.SH " + name + "\n");
  REQUIRE(start != std::string::npos);
  auto end = man.find("\n.SH ", start + 1);
  return man.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The man page's OPTIONS section: each ".TP" is followed by a tag line naming the flag, then its text.
FlagDocs flags_in_man(const std::string& man) {
  FlagDocs docs;
  std::vector<std::string> current;
  bool tag_next = false;
  for (const std::string& raw : lines_of(man_section(man, "OPTIONS"))) {
    if (raw == ".TP") {
      tag_next = true;
      continue;
    }
    if (raw.starts_with(".SS") || raw.starts_with(".SH")) current.clear();
    std::string line = plain_roff(raw);
    if (tag_next) {
      current = long_flags_in(line);
      tag_next = false;
    }
    for (const std::string& flag : current) {
      docs[flag].text += line + " ";
      if (line.starts_with("Default: ")) {
        std::string value = after(line, "Default: ");
        if (value.ends_with('.')) value.pop_back();
        docs[flag].default_text = value;
      }
    }
  }
  return docs;
}

// The README's "## Configuration" table: | flag | variable | default | meaning |.
FlagDocs flags_in_readme(const std::string& readme) {
  auto start = readme.find("\n## Configuration\n");
  REQUIRE(start != std::string::npos);
  auto end = readme.find("\n## ", start + 1);
  FlagDocs docs;
  for (const std::string& line : lines_of(readme.substr(start, end - start))) {
    if (!line.starts_with("|") || line.starts_with("|--") || line.starts_with("| Flag")) continue;
    std::vector<std::string> cells;
    std::istringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) {
      cell.erase(std::remove(cell.begin(), cell.end(), '`'), cell.end());
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
    }
    REQUIRE(cells.size() >= 4);
    for (const std::string& flag : long_flags_in(cells[0])) {
      docs[flag].env = first_env_name(cells[1]);
      docs[flag].default_text = cells[2];
      docs[flag].text = line;
    }
  }
  return docs;
}

std::set<std::string> names(const FlagDocs& docs) {
  std::set<std::string> result;
  for (const auto& [name, doc] : docs)
    result.insert(name);
  return result;
}

}  // namespace

TEST_CASE("help, man page and README document the same flags", "[docs]") {
  FlagDocs help = flags_in_help(help_output({"--help"}));
  FlagDocs man = flags_in_man(read_file("man/outbox-relay.1"));
  FlagDocs readme = flags_in_readme(read_file("README.md"));

  REQUIRE(help.count("--help"));
  REQUIRE(help.count("--version"));
  CHECK(names(man) == names(help));
  CHECK(names(readme) == names(help));
}

TEST_CASE("each flag's variable and default agree in all three", "[docs]") {
  std::string man_text = read_file("man/outbox-relay.1");
  std::string environment = plain_roff(man_section(man_text, "ENVIRONMENT"));
  FlagDocs help = flags_in_help(help_output({"--help"}));
  FlagDocs man = flags_in_man(man_text);
  FlagDocs readme = flags_in_readme(read_file("README.md"));

  for (const auto& [flag, doc] : help) {
    if (doc.env.empty()) continue;  // --help, --version
    INFO(flag << " (" << doc.env << ", default " << doc.default_text << ")");
    CHECK_THAT(man[flag].text, Catch::Contains(doc.env));
    CHECK_THAT(environment, Catch::Contains(doc.env));
    CHECK(man[flag].default_text == doc.default_text);
    CHECK(readme[flag].env == doc.env);
    CHECK(readme[flag].default_text == doc.default_text);
  }
}

TEST_CASE("the top-level help shows every flag of every command with its variable", "[docs]") {
  FlagDocs help = flags_in_help(help_output({"--help"}));
  for (const relay::FlagSpec& flag : relay::flag_specs()) {
    INFO(flag.name);
    REQUIRE(help.count(std::string(flag.name)));
    CHECK(help[std::string(flag.name)].env == flag.env);
  }
  for (const relay::CommandSpec& command : relay::command_specs()) {
    std::string name(command.name);
    FlagDocs own = flags_in_help(help_output({name.c_str(), "--help"}));
    std::set<std::string> expected = {"--help", "--version"};
    for (std::string_view flag : command.flags)
      expected.insert(std::string(flag));
    INFO(name);
    CHECK(names(own) == expected);
  }
}

// Every command has its own --version, and --config shares the heading of --help and --version: the
// overview once listed --version twice, under two "Options:" headings, the second one with its commands run
// into its text.
TEST_CASE("the top-level help names each flag once and each heading once", "[docs]") {
  std::map<std::string, int> flag_lines, headings;
  for (const std::string& line : lines_of(help_output({"--help"}))) {
    bool short_and_long = line.size() > 6 && line.starts_with("  -") && line[4] == ',' && line[5] == '-';
    if (line.starts_with("  --") || short_and_long) ++flag_lines[line.substr(0, line.find(' ', 2))];
    if (!line.empty() && line.back() == ':' && !line.starts_with(" ")) ++headings[line];
    if (line.find("Commands: ") != std::string::npos) {
      INFO(line);
      CHECK(line.starts_with("      Env: "));  // on the line of the variable, never after the text
    }
  }
  CHECK(flag_lines.size() == relay::flag_specs().size() + 2);  // and --help, --version
  for (const auto& [flag, count] : flag_lines) {
    INFO(flag);
    CHECK(count == 1);
  }
  for (const auto& [heading, count] : headings) {
    INFO(heading);
    CHECK(count == 1);
  }
}

TEST_CASE("version flag prints the project version", "[docs]") {
  CHECK(help_output({"--version"}) == std::string("outbox-relay ") + relay::version + "\n");

  std::string cmake = read_file("CMakeLists.txt");
  CHECK(after(cmake, "project(outbox-relay VERSION ", " ") == relay::version);

  // The man pages' title lines name the version they document.
  for (const char* page : {"man/outbox-relay.1", "man/outbox-relay.toml.5"}) {
    INFO(page);
    std::string title = after(read_file(page), "\n.TH ", "\n");
    CHECK_THAT(title, Catch::Contains(std::string("outbox-relay ") + relay::version));
  }
}

TEST_CASE("outbox-relay.toml(5) lists every setting of run as a key", "[docs]") {
  const std::string page = read_file("man/outbox-relay.toml.5");
  const auto& run = relay::command_specs()[0];
  REQUIRE(run.command == relay::Command::run);
  for (std::string_view name : run.flags) {
    if (name == "--config") continue;
    std::string key;  // "batch-size" as roff writes it: batch\-size
    for (char c : name.substr(2)) {
      if (c == '-') key += '\\';
      key += c;
    }
    INFO(name);
    CHECK_THAT(page, Catch::Contains("\n.BR " + key + " \""));
  }
}
