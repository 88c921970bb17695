#include "pg/libpq_glue.hpp"

#include <string_view>

#include <spdlog/spdlog.h>

namespace pg {

namespace {

void on_pq_notice(void* arg, const PGresult* notice) {
  const auto* name = static_cast<const std::string*>(arg);
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const char* text = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
  const std::string_view level = severity == nullptr ? "NOTICE" : severity;
  const std::string_view label = name == nullptr ? std::string_view("session") : std::string_view(*name);
  const std::string_view message = text == nullptr ? std::string_view() : std::string_view(text);
  // NOTICE and below are chatter (e.g. "relation already exists, skipping"); anything stronger matters.
  if (level == "NOTICE" || level == "INFO" || level == "LOG" || level == "DEBUG") {
    spdlog::debug("pg {}: server {}: {}", label, level, message);
  } else {
    spdlog::warn("pg {}: server {}: {}", label, level, message);
  }
}

}  // namespace

void log_notices(PGconn* conn, const std::string* name) {
  PQsetNoticeReceiver(conn, &on_pq_notice, const_cast<std::string*>(name));
}

std::string error_text(const PGconn* conn) {
  if (conn == nullptr) return {};
  const std::string_view text = PQerrorMessage(conn);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out.push_back(space ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

}  // namespace pg
