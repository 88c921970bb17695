#include "pg/conninfo.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <memory>

#include <libpq-fe.h>

namespace pg {

namespace {

struct OptionsDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
struct PqFreeDeleter {
  void operator()(char* p) const { PQfreemem(p); }
};

constexpr std::string_view kMask = "***";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Best effort: a malformed escape is kept as written, since this only feeds the list of things to hide.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

void add_secret(std::vector<std::string>& out, std::string_view raw) {
  if (raw.empty()) return;
  out.emplace_back(raw);
  if (auto decoded = percent_decode(raw); decoded != raw && !decoded.empty())
    out.push_back(std::move(decoded));
}

// Userinfo password and ?password= of a URL, read the way libpq reads them: the credentials end at the
// first '@' that comes before any '/'.
void url_passwords(std::string_view text, std::vector<std::string>& out) {
  const auto scheme_end = text.find("://");
  std::string_view rest = text.substr(scheme_end + 3);
  const auto stop = rest.find_first_of("@/");
  if (stop != std::string_view::npos && rest[stop] == '@') {
    const auto creds = rest.substr(0, stop);
    if (const auto colon = creds.find(':'); colon != std::string_view::npos)
      add_secret(out, creds.substr(colon + 1));
  }
  const auto query_start = text.find('?');
  if (query_start == std::string_view::npos) return;
  std::string_view query = text.substr(query_start + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto param = query.substr(0, amp);
    if (param.starts_with("password=")) add_secret(out, param.substr(9));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// The value after `password =` in key=value form. An unquoted value that runs into words without '=' is
// a password with spaces that the writer forgot to quote: libpq rejects it and echoes the stray word, so
// every word up to the next keyword counts as secret too.
void keyword_passwords(std::string_view text, std::vector<std::string>& out) {
  constexpr std::string_view kKey = "password";
  for (auto at = text.find(kKey); at != std::string_view::npos; at = text.find(kKey, at + 1)) {
    if (at > 0 && !is_space(text[at - 1])) continue;
    auto i = at + kKey.size();
    while (i < text.size() && is_space(text[i]))
      ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && is_space(text[i]))
      ++i;
    if (i < text.size() && text[i] == '\'') {
      std::string unescaped;
      const auto start = ++i;
      for (; i < text.size() && text[i] != '\''; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        unescaped.push_back(text[i]);
      }
      add_secret(out, text.substr(start, i - start));
      add_secret(out, unescaped);
      continue;
    }
    for (bool first = true; i < text.size(); first = false) {
      const auto end = std::min(text.size(), text.find_first_of(" \t\n\r\f\v", i));
      const auto word = text.substr(i, end - i);
      auto next = end;
      while (next < text.size() && is_space(text[next]))
        ++next;
      const bool next_keyword =
          word.find('=') != std::string_view::npos || (next < text.size() && text[next] == '=');
      if (!first && next_keyword) break;
      add_secret(out, word);
      i = next;
    }
  }
}

// Every form in which the password can appear in the text or in a message about it.
std::vector<std::string> secrets_of(std::string_view text, const std::string& parsed_password) {
  std::vector<std::string> out;
  add_secret(out, parsed_password);
  // Any scheme counts here, not just postgresql://: a mistyped one (mysql://, postgresq://) fails to parse
  // and libpq then echoes the whole text.
  if (text.find("://") != std::string_view::npos) {
    url_passwords(text, out);
  } else {
    keyword_passwords(text, out);
  }
  // The whole string is a secret because it holds the password; without one it is plain configuration.
  if (!out.empty()) out.emplace_back(text);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string replace_all(std::string text, std::string_view what, std::string_view with) {
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
  return text;
}

std::string describe_options(const PQconninfoOption* options) {
  constexpr std::array<std::string_view, 5> kShown = {"host", "hostaddr", "port", "dbname", "user"};
  std::string out;
  for (const auto key : kShown) {
    for (const auto* o = options; o->keyword != nullptr; ++o) {
      if (key != o->keyword || o->val == nullptr || *o->val == '\0') continue;
      if (!out.empty()) out += ' ';
      out.append(key).append("=").append(o->val);
    }
  }
  return out.empty() ? std::string("(libpq defaults)") : out;
}

std::string option_value(const PQconninfoOption* options, std::string_view key) {
  for (const auto* o = options; o->keyword != nullptr; ++o)
    if (key == o->keyword && o->val != nullptr) return o->val;
  return {};
}

// PQconninfoParse accepts any text as a value; libpq checks numbers only when it connects, and a daemon
// would then retry a typo forever. Ports are checked here, like the rest of the syntax.
std::string invalid_port(std::string_view ports) {
  while (true) {
    const auto comma = ports.find(',');
    const auto port = ports.substr(0, comma);
    int value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (!port.empty() &&
        (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535))
      return std::string(port);
    if (comma == std::string_view::npos) return {};
    ports.remove_prefix(comma + 1);
  }
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

ConnInfo ConnInfo::parse(std::string_view text) {
  ConnInfo info;
  info.text_ = std::string(text);
  if (text.find('\0') != std::string_view::npos)
    throw ConnInfoError("invalid connection string: contains a NUL byte");
  char* raw_error = nullptr;
  std::unique_ptr<PQconninfoOption, OptionsDeleter> options(PQconninfoParse(info.text_.c_str(), &raw_error));
  std::unique_ptr<char, PqFreeDeleter> error(raw_error);
  if (!options) {
    // libpq's message may quote the input (the whole URL, or the fragment it choked on), password included.
    info.secrets_ = secrets_of(text, {});
    const std::string why = error ? trimmed(error.get()) : std::string("out of memory");
    throw ConnInfoError(info.redact("invalid connection string: " + why));
  }
  info.secrets_ = secrets_of(text, option_value(options.get(), "password"));
  if (const auto bad = invalid_port(option_value(options.get(), "port")); !bad.empty())
    throw ConnInfoError(
        info.redact("invalid connection string: port \"" + bad + "\" is not a number from 1 to 65535"));
  // Redacted too: a password that happens to equal the user or a path component must not leak this way.
  info.description_ = info.redact(describe_options(options.get()));
  return info;
}

std::string ConnInfo::describe() const {
  return description_;
}

std::string ConnInfo::redact(std::string_view message) const {
  std::string out(message);
  for (const auto& secret : secrets_)
    out = replace_all(std::move(out), secret, kMask);
  return out;
}

}  // namespace pg
