#include "relay/message.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string_view>
#include <vector>

#include "relay/outbox_queries.hpp"

namespace relay {

namespace {

int to_int(std::string_view text) {
  int v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

bool same_header_name(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  return std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
}

bool row_sets_header(std::string_view row_headers, std::string_view name) {
  while (!row_headers.empty()) {
    const auto end = row_headers.find('\n');
    if (same_header_name(row_headers.substr(0, end), name)) return true;
    if (end == std::string_view::npos) break;
    row_headers.remove_prefix(end + 1);
  }
  return false;
}

void add_row_headers(std::string_view row_headers, std::vector<std::string>& out) {
  while (!row_headers.empty()) {
    const auto end = row_headers.find('\n');
    out.emplace_back(row_headers.substr(0, end));
    if (end == std::string_view::npos) break;
    row_headers.remove_prefix(end + 1);
  }
}

}  // namespace

void Message::assign_from(const pg::Result& claimed, int row) {
  using namespace queries;
  id = claimed.int64(row, kId);
  topic.assign(claimed.value(row, kTopic));
  payload.assign(claimed.value(row, kPayload));
  target_url.assign(claimed.value(row, kTargetUrl));
  headers.assign(claimed.value(row, kHeaders));
  attempts = to_int(claimed.value(row, kAttempts));
  max_attempts = claimed.is_null(row, kMaxAttempts) ? 0 : to_int(claimed.value(row, kMaxAttempts));
  ordered = claimed.value(row, kOrdered) == "t";
}

std::string build_request(const Message& message, const DeliverySettings& settings, http::Request& request) {
  const std::string& url = message.target_url.empty() ? settings.default_target : message.target_url;
  if (url.empty()) return "no destination: the row has no target_url and no --target is configured";
  if (message.payload.size() > settings.max_payload_bytes) {
    return "payload of " + std::to_string(message.payload.size()) + " bytes exceeds --max-payload-size (" +
           std::to_string(settings.max_payload_bytes) + " bytes)";
  }

  request.method = settings.method;
  request.url = url;
  request.body = message.payload;
  request.connect_timeout = settings.connect_timeout;
  request.total_timeout = settings.total_timeout;
  request.headers.clear();
  const std::array<std::pair<std::string_view, std::string>, 5> defaults{{
      {"Content-Type", "application/json"},
      {"User-Agent", settings.user_agent},
      {"webhook-id", std::to_string(message.id)},
      {"X-Outbox-Topic", message.topic},
      {"X-Outbox-Attempt", std::to_string(message.attempts)},
  }};
  // Sized up front: one allocation per line and one for the list (this runs for every message).
  request.headers.reserve(
      defaults.size() +
      static_cast<std::size_t>(std::count(message.headers.begin(), message.headers.end(), '\n')) + 1);
  for (const auto& [name, value] : defaults) {
    if (value.empty() || row_sets_header(message.headers, name)) continue;
    std::string& line = request.headers.emplace_back();
    line.reserve(name.size() + 2 + value.size());
    line.append(name).append(": ").append(value);
  }
  add_row_headers(message.headers, request.headers);
  return {};
}

}  // namespace relay
