#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pg/session.hpp"
#include "relay/config.hpp"

// What the one-shot commands (status, replay, purge, dry-run) share: a blocking session, the schema check,
// and one mapping from failures to exit codes, so that every command fails the same way.
namespace relay {

// A statement of a one-shot command failed on the server: the command stops, exit status 1.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Returns `result` when it succeeded; otherwise throws CommandError("<what>: <server message>"). Takes and
// gives the result by value, so that `auto r = require_ok(session.exec(...), ...)` owns it.
pg::Result require_ok(pg::Result result, std::string_view what);

// "1 row", "0 rows", "25 rows": how the commands report what they touched.
std::string rows_text(long long count);

struct CommandSession {
  std::string_view command;  // names the command in log events and in application_name
  // Every transaction of the session is READ ONLY: PostgreSQL itself then refuses any write, which is how
  // status and dry-run promise to change nothing.
  bool read_only = false;
};

// Connects, checks that the outbox schema is at the version this binary knows, and runs `body`, returning
// its exit code. Otherwise: 3 when the database cannot be reached or is lost (pg::ConnectionError), 4 when
// the schema is missing or of another version, 1 on CommandError. Each failure is logged as the event
// "<command> failed" with the cause, on one line.
int run_with_session(const Config& config, const CommandSession& options,
                     const std::function<int(pg::Session&)>& body);

}  // namespace relay
