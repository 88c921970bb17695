#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/config.hpp"
#include "relay/duration.hpp"

// Parsers for the values of command-line flags and environment variables. Each stores into `out` and
// returns an empty string, or leaves `out` alone and returns a one-line reason that the caller prefixes
// with the flag's name, e.g. "must be between 1 and 10000 (got 0)".
namespace relay::flag_values {

std::string set_int(std::string_view text, std::int64_t min, std::int64_t max, int& out);
std::string set_size(std::string_view text, std::uint64_t min, std::uint64_t max, std::size_t& out);
// A finite decimal number in [min, max].
std::string set_number(std::string_view text, double min, double max, double& out);
// A finite decimal number in [0, 1).
std::string set_fraction(std::string_view text, double& out);
std::string set_duration(std::string_view text, BareNumber bare, std::chrono::milliseconds min,
                         std::chrono::milliseconds max, std::chrono::milliseconds& out);

// A libpq connection string; the reason never contains the password (nor the string itself).
std::string set_database_url(std::string_view text, std::string& out);
// An http:// or https:// URL, or empty for "none".
std::string set_http_url(std::string_view text, std::string& out);
std::string set_http_method(std::string_view text, std::string& out);
// A LISTEN/NOTIFY channel: a lower-case identifier, so that LISTEN and pg_notify() agree on its spelling.
std::string set_channel(std::string_view text, std::string& out);
std::string set_service_name(std::string_view text, std::string& out);
std::string set_log_level(std::string_view text, std::string& out);
std::string set_log_format(std::string_view text, LogFormat& out);
std::string set_http_client(std::string_view text, HttpClient& out);

// `text` made safe to echo in a one-line message: control characters replaced, long values shortened.
std::string quoted(std::string_view text);

}  // namespace relay::flag_values
