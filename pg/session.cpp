#include "pg/session.hpp"

#include <string>

#include "pg/libpq_glue.hpp"

namespace pg {

Session::Session(const ConnInfo& info, const std::string& application_name, int timeout_s) : info_(info) {
  const std::string timeout = std::to_string(timeout_s);
  // Entries before the expanded dbname are defaults that the connection string may override.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), application_name.c_str(), info_.text().c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn_) throw ConnectionError("cannot allocate a libpq connection");
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    throw ConnectionError(
        info_.redact("cannot connect to PostgreSQL (" + info_.describe() + "): " + error_text(conn_.get())));
  }
  log_notices(conn_.get(), nullptr);
}

Result Session::exec(std::string_view sql, const Params& params) {
  const std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params)
    values.push_back(p ? p->c_str() : nullptr);
  return checked(PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, /*resultFormat=*/0));
}

Result Session::exec_script(std::string_view sql) {
  const std::string text(sql);
  return checked(PQexec(conn_.get(), text.c_str()));
}

Result Session::checked(PGresult* r) {
  ResultPtr owned(r);
  if (!owned || PQstatus(conn_.get()) == CONNECTION_BAD) {
    throw ConnectionError(info_.redact("lost the connection to PostgreSQL (" + info_.describe() +
                                       "): " + error_text(conn_.get())));
  }
  return Result(std::move(owned));
}

}  // namespace pg
