#pragma once

#include <string>

#include <libpq-fe.h>

// libpq glue shared by Connection and Session.
namespace pg {

// Routes the server's NOTICE/WARNING messages (and the FATAL a server sends before it drops an idle
// connection) to spdlog instead of libpq's default, which prints to stderr. `name` labels the lines and must
// outlive `conn`; nullptr for an unnamed connection.
void log_notices(PGconn* conn, const std::string* name);

// PQerrorMessage on one line: libpq's messages span lines ("...failed: No such file\n\tIs the server
// running...?") but a log line must not. Not yet redacted.
std::string error_text(const PGconn* conn);

}  // namespace pg
