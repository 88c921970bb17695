#include "relay/command_session.hpp"

#include <fmt/format.h>

#include "relay/cli.hpp"
#include "relay/log.hpp"
#include "sql/embedded.hpp"

namespace relay {
namespace {

// Thrown by check_schema; carries the operator's next step.
class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void check_schema(pg::Session& session) {
  const int expected = outbox_sql::migrations().back().version;
  const auto found = session.exec("SELECT max(version) FROM outbox.schema_migrations");
  const auto state = found.sqlstate();
  if (state == "42P01" || state == "3F000") {
    throw SchemaError("the outbox schema is missing: run `outbox-relay migrate` first");
  }
  if (!found.ok()) throw CommandError("reading the schema version: " + found.error());
  const auto version = found.is_null(0, 0) ? 0 : found.int64(0, 0);
  if (version != expected) {
    throw SchemaError(
        fmt::format("the outbox schema is at version {} but this outbox-relay needs {}: {}", version,
                    expected, version < expected ? "run `outbox-relay migrate`" : "upgrade outbox-relay"));
  }
}

int failed(std::string_view command, const std::string& error, int code) {
  log::event(spdlog::level::err, fmt::format("{} failed", command), {{"error", error}, {"exit_code", code}});
  return code;
}

}  // namespace

pg::Result require_ok(pg::Result result, std::string_view what) {
  if (!result.ok()) throw CommandError(fmt::format("{}: {}", what, result.error()));
  return result;
}

std::string rows_text(long long count) {
  return fmt::format("{} {}", count, count == 1 ? "row" : "rows");
}

int run_with_session(const Config& config, const CommandSession& options,
                     const std::function<int(pg::Session&)>& body) {
  try {
    pg::Session session(pg::ConnInfo::parse(config.database_url),
                        fmt::format("{}:{}", config.service_name, options.command));
    // Notices (e.g. from the trigger's DDL) are not the operator's business here.
    require_ok(session.exec("SET client_min_messages = warning"), "configuring the session");
    if (options.read_only) {
      require_ok(session.exec("SET default_transaction_read_only = on"), "configuring the session");
    }
    check_schema(session);
    return body(session);
  } catch (const pg::ConnectionError& e) {
    return failed(options.command, e.what(), exit_code::infrastructure);
  } catch (const SchemaError& e) {
    return failed(options.command, e.what(), exit_code::schema);
  } catch (const CommandError& e) {
    return failed(options.command, e.what(), exit_code::failure);
  }
}

}  // namespace relay
