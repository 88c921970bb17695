#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <libpq-fe.h>

namespace pg {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// The outcome of one statement: a PGresult, or, when none could be obtained (the connection broke or was
// closed before the statement finished, or it could not be sent), the reason as text.
class Result {
 public:
  Result() = default;
  explicit Result(ResultPtr r) : res_(std::move(r)) {}
  static Result failure(std::string reason);

  // True for PGRES_COMMAND_OK and PGRES_TUPLES_OK.
  bool ok() const;
  // True when no PGresult exists: the statement's fate is unknown (the connection is the problem).
  bool connection_failed() const { return res_ == nullptr; }
  // The primary error message (server or connection); empty when ok().
  std::string error() const;
  // Five-character SQLSTATE of a server error; empty otherwise.
  std::string_view sqlstate() const;

  int rows() const;
  int columns() const;
  bool is_null(int row, int col) const;
  std::string_view value(int row, int col) const;
  std::int64_t int64(int row, int col) const;
  double float64(int row, int col) const;
  // Rows affected by INSERT/UPDATE/DELETE (PQcmdTuples); 0 when not applicable.
  std::int64_t affected() const;

  PGresult* get() const { return res_.get(); }

 private:
  ResultPtr res_;
  std::string failure_;
};

}  // namespace pg
