#include "relay/purge_command.hpp"

#include <ostream>

#include "relay/cli.hpp"
#include "relay/command_session.hpp"
#include "relay/log.hpp"
#include "relay/purge_sql.hpp"

namespace relay {
namespace {

struct Counts {
  std::int64_t sent = 0;
  std::int64_t dead = 0;
  std::int64_t total() const { return sent + dead; }
};

purge_sql::Ages ages_of(const Config& config) {
  return {.sent = config.older_than,
          .dead = config.include_dead ? std::optional(config.older_than) : std::nullopt};
}

Counts count_old_rows(pg::Session& session, const purge_sql::Ages& ages) {
  const auto r = require_ok(session.exec(purge_sql::count(), purge_sql::count_params(ages)), "counting rows");
  return {r.int64(0, 0), r.int64(0, 1)};
}

// Batch after batch until one finds fewer rows than it may take: the rows old enough are then gone (or
// locked by someone else, and left for the next purge).
Counts delete_old_rows(pg::Session& session, const purge_sql::Ages& ages) {
  Counts total;
  while (true) {
    const auto r =
        require_ok(session.exec(purge_sql::delete_batch(), purge_sql::batch_params(ages)), "deleting rows");
    const Counts batch{r.int64(0, 0), r.int64(0, 1)};
    total.sent += batch.sent;
    total.dead += batch.dead;
    log::event(spdlog::level::debug, "purge batch", {{"sent", batch.sent}, {"dead", batch.dead}});
    if (batch.sent < purge_sql::kBatchRows && batch.dead < purge_sql::kBatchRows) return total;
  }
}

std::string breakdown(const Counts& counts, bool include_dead) {
  if (!include_dead) return "sent";
  return std::to_string(counts.sent) + " sent, " + std::to_string(counts.dead) + " dead";
}

}  // namespace

int run_purge(const Config& config, std::ostream& out) {
  return run_with_session(config, {.command = "purge"}, [&](pg::Session& session) {
    const purge_sql::Ages ages = ages_of(config);
    if (config.dry_run) {
      const Counts would = count_old_rows(session, ages);
      out << rows_text(would.total()) << " would be purged (" << breakdown(would, config.include_dead)
          << "; dry run: nothing deleted)\n";
      log::event(spdlog::level::info, "purge done",
                 {{"sent", would.sent}, {"dead", would.dead}, {"mode", "dry-run"}});
      return exit_code::ok;
    }
    const Counts gone = delete_old_rows(session, ages);
    out << rows_text(gone.total()) << " purged (" << breakdown(gone, config.include_dead) << ")\n";
    log::event(spdlog::level::info, "purge done",
               {{"sent", gone.sent}, {"dead", gone.dead}, {"mode", "purge"}});
    return exit_code::ok;
  });
}

}  // namespace relay
