#include "relay/flag_values.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

#include <fmt/format.h>

#include "http/url.hpp"
#include "pg/conninfo.hpp"
#include "relay/log.hpp"

namespace relay::flag_values {
namespace {

constexpr std::size_t kEchoLimit = 64;

template <typename T>
std::errc parse_whole(std::string_view text, T& value) {
  // from_chars accepts a leading '-' for signed types only; a '+' or spaces are refused, as they should be.
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size()) return std::errc::invalid_argument;
  return ec;
}

// A value that parsed as a number is echoed as it is; anything else in quotes.
template <typename T>
std::string set_whole(std::string_view text, T min, T max, T& value) {
  std::errc ec = parse_whole(text, value);
  if (ec == std::errc::invalid_argument) return fmt::format("must be a whole number (got {})", quoted(text));
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return fmt::format("must be between {} and {} (got {})", min, max, text);
  }
  return {};
}

bool is_lower_identifier(std::string_view text) {
  if (text.empty() || (text[0] >= '0' && text[0] <= '9')) return false;
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_word(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// libpq's parse errors quote pieces of the input: an option name (safe), but also whole tokens or URL parts
// (`missing "=" after "mysql://u:pw@db/app"`, `unexpected spaces found in "my secret"`), and when parsing
// fails pg::ConnInfo may not know which piece is the password. So every quoted piece is masked unless it
// is a word that the input uses as a key ("key=..."), or the "=" of libpq's own wording.
std::string mask_quoted_input(std::string_view reason, std::string_view input) {
  std::string out;
  while (true) {
    auto open = reason.find('"');
    auto close = open == std::string_view::npos ? open : reason.find('"', open + 1);
    if (close == std::string_view::npos) break;
    std::string_view piece = reason.substr(open + 1, close - open - 1);
    bool safe =
        piece == "=" || (is_word(piece) && input.find(std::string(piece) + "=") != std::string_view::npos);
    out.append(reason.substr(0, open + 1)).append(safe ? piece : "***").append("\"");
    reason.remove_prefix(close + 1);
  }
  return out.append(reason);
}

}  // namespace

std::string quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, kEchoLimit)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (text.size() > kEchoLimit) out += "...";
  return out + "'";
}

std::string set_int(std::string_view text, std::int64_t min, std::int64_t max, int& out) {
  std::int64_t value = 0;
  if (auto reason = set_whole(text, min, max, value); !reason.empty()) return reason;
  out = static_cast<int>(value);
  return {};
}

std::string set_size(std::string_view text, std::uint64_t min, std::uint64_t max, std::size_t& out) {
  std::uint64_t value = 0;
  if (auto reason = set_whole(text, min, max, value); !reason.empty()) return reason;
  out = static_cast<std::size_t>(value);
  return {};
}

std::string set_number(std::string_view text, double min, double max, double& out) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // from_chars also reads "nan" and "inf": neither is a usable setting.
  if (ec == std::errc::invalid_argument || end != text.data() + text.size() || !std::isfinite(value)) {
    return fmt::format("must be a number (got {})", quoted(text));
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return fmt::format("must be between {} and {} (got {})", min, max, text);
  }
  out = value;
  return {};
}

std::string set_fraction(std::string_view text, double& out) {
  double value = 0;
  constexpr double kAny = std::numeric_limits<double>::max();
  if (auto reason = set_number(text, -kAny, kAny, value); !reason.empty()) return reason;
  if (value < 0 || value >= 1) return fmt::format("must be at least 0 and less than 1 (got {})", text);
  out = value;
  return {};
}

std::string set_duration(std::string_view text, BareNumber bare, std::chrono::milliseconds min,
                         std::chrono::milliseconds max, std::chrono::milliseconds& out) {
  auto value = parse_duration(text, bare);
  if (!value) {
    if (bare == BareNumber::rejected && parse_duration(text, BareNumber::milliseconds)) {
      return fmt::format("needs a unit: ms, s, m or h, e.g. {}s (got {})", text, quoted(text));
    }
    return fmt::format("must be a duration such as 500ms, 3s, 2m, 1h or 1.5s (got {})", quoted(text));
  }
  if (*value < min || *value > max) {
    return fmt::format("must be between {} and {} (got {})", format_duration(min), format_duration(max),
                       format_duration(*value));
  }
  out = *value;
  return {};
}

std::string set_database_url(std::string_view text, std::string& out) {
  if (!text.empty()) {
    try {
      (void)pg::ConnInfo::parse(text);
    } catch (const pg::ConnInfoError& e) {
      return mask_quoted_input(e.what(), text);
    } catch (const std::exception&) {
      // Unknown failure: its text might quote the input, so it is not passed on.
      return "invalid connection string";
    }
  }
  out = text;
  return {};
}

std::string set_http_url(std::string_view text, std::string& out) {
  if (!text.empty()) {
    if (auto reason = http::check_http_url(text); !reason.empty()) {
      return fmt::format("must be an http:// or https:// URL: {} (got {})", reason,
                         quoted(http::redact_url(text)));
    }
  }
  out = text;
  return {};
}

std::string set_http_method(std::string_view text, std::string& out) {
  bool upper = !text.empty() && text.size() <= 16;
  for (char c : text)
    upper = upper && c >= 'A' && c <= 'Z';
  if (!upper)
    return fmt::format("must be an upper-case HTTP method such as POST, PUT or PATCH (got {})", quoted(text));
  out = text;
  return {};
}

std::string set_channel(std::string_view text, std::string& out) {
  // 63 bytes is PostgreSQL's identifier limit (NAMEDATALEN - 1); longer names would be cut silently.
  if (!is_lower_identifier(text) || text.size() > 63) {
    return fmt::format("must be a lower-case identifier of at most 63 characters: a-z, 0-9, _ (got {})",
                       quoted(text));
  }
  out = text;
  return {};
}

std::string set_service_name(std::string_view text, std::string& out) {
  bool ok = !text.empty() && text.size() <= 64;
  for (char c : text) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '_' || c == '.');
  }
  if (!ok)
    return fmt::format("must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.' (got {})", quoted(text));
  out = text;
  return {};
}

std::string set_log_level(std::string_view text, std::string& out) {
  if (!relay::log::parse_level(text)) {
    return fmt::format("must be one of trace, debug, info, warn, error, critical, off (got {})",
                       quoted(text));
  }
  out = lower(text);
  return {};
}

std::string set_log_format(std::string_view text, LogFormat& out) {
  if (text == "human") {
    out = LogFormat::human;
  } else if (text == "json") {
    out = LogFormat::json;
  } else {
    return fmt::format("must be human or json (got {})", quoted(text));
  }
  return {};
}

std::string set_http_client(std::string_view text, HttpClient& out) {
  if (text == "builtin") {
    out = HttpClient::builtin;
  } else if (text == "libcurl") {
    out = HttpClient::libcurl;
  } else {
    return fmt::format("must be builtin or libcurl (got {})", quoted(text));
  }
  return {};
}

}  // namespace relay::flag_values
