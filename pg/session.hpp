#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <libpq-fe.h>

#include "pg/connection.hpp"
#include "pg/conninfo.hpp"
#include "pg/result.hpp"

namespace pg {

// An infrastructure failure talking to PostgreSQL (cannot connect, connection lost). The message names
// the cause and never contains the password.
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A plain blocking connection for the one-shot commands (migrate, status, ...) and for tests. It is never
// used on the daemon's event loop.
class Session {
 public:
  // Connects (blocking, honouring connect_timeout from the connection string, else `timeout_s`).
  // Throws ConnectionError.
  Session(const ConnInfo& info, const std::string& application_name, int timeout_s = 10);

  // Runs one statement. Server errors come back in the Result (check ok()); a broken connection throws
  // ConnectionError.
  Result exec(std::string_view sql, const Params& params = {});
  // Runs a script of one or more statements with the simple query protocol (no parameters).
  Result exec_script(std::string_view sql);

  PGconn* get() const { return conn_.get(); }

 private:
  struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  Result checked(PGresult* r);

  ConnInfo info_;
  std::unique_ptr<PGconn, ConnDeleter> conn_;
};

}  // namespace pg
