#include "pg/result.hpp"

#include <charconv>
#include <stdexcept>
#include <system_error>

namespace pg {

namespace {

std::string_view trim_trailing_newlines(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.remove_suffix(1);
  return s;
}

// A number column that does not parse means the query and the caller disagree on its type: a programming
// error, reported loudly rather than read as zero.
[[noreturn]] void throw_not_a_number(std::string_view kind, std::string_view text, int row, int col) {
  throw std::invalid_argument("pg::Result: value at row " + std::to_string(row) + ", column " +
                              std::to_string(col) + " is not " + std::string(kind) + ": \"" +
                              std::string(text) + "\"");
}

}  // namespace

Result Result::failure(std::string reason) {
  Result r;
  r.failure_ = std::move(reason);
  return r;
}

bool Result::ok() const {
  if (!res_) return false;
  const auto status = PQresultStatus(res_.get());
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

std::string Result::error() const {
  if (!res_) return failure_.empty() ? std::string("no result") : failure_;
  if (ok()) return {};
  const char* primary = PQresultErrorField(res_.get(), PG_DIAG_MESSAGE_PRIMARY);
  if (primary != nullptr) return primary;
  std::string_view full = PQresultErrorMessage(res_.get());
  full = trim_trailing_newlines(full);
  if (!full.empty()) return std::string(full);
  return std::string("unexpected result status ") + PQresStatus(PQresultStatus(res_.get()));
}

std::string_view Result::sqlstate() const {
  if (!res_) return {};
  const char* code = PQresultErrorField(res_.get(), PG_DIAG_SQLSTATE);
  return code == nullptr ? std::string_view() : std::string_view(code);
}

int Result::rows() const {
  return res_ ? PQntuples(res_.get()) : 0;
}

int Result::columns() const {
  return res_ ? PQnfields(res_.get()) : 0;
}

bool Result::is_null(int row, int col) const {
  // Out-of-range cells count as NULL, which is what PQgetisnull reports for them too.
  return !res_ || PQgetisnull(res_.get(), row, col) != 0;
}

std::string_view Result::value(int row, int col) const {
  if (!res_) return {};
  const char* v = PQgetvalue(res_.get(), row, col);
  if (v == nullptr) return {};
  return {v, static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
}

std::int64_t Result::int64(int row, int col) const {
  const auto text = value(row, col);
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    throw_not_a_number("an integer", text, row, col);
  return out;
}

double Result::float64(int row, int col) const {
  const auto text = value(row, col);
  double out = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    throw_not_a_number("a number", text, row, col);
  return out;
}

std::int64_t Result::affected() const {
  if (!res_) return 0;
  const std::string_view text = PQcmdTuples(res_.get());
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() ? out : 0;
}

}  // namespace pg
