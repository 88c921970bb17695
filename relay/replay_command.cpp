#include "relay/replay_command.hpp"

#include <algorithm>
#include <ostream>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "pg/array_literal.hpp"
#include "relay/cli.hpp"
#include "relay/command_session.hpp"
#include "relay/command_values.hpp"
#include "relay/flag_values.hpp"
#include "relay/log.hpp"

namespace relay {
namespace {

// Rows changed per UPDATE: each is one short transaction, so the relays (woken by the first ones) can
// start delivering while the rest are still being replayed.
constexpr std::size_t kChunkRows = 1000;
// Rows a dry run lists one by one; the count covers the rest.
constexpr std::size_t kPreviewRows = 20;

// The filters, with parameters $1-$7 (see filter_params). Each unused filter is NULL and folded away by the
// planner, which plans an unnamed statement for its parameter values; the status test then matches the
// partial indexes on dead and failed rows, so no filter walks the whole table. Only dead and failed rows can
// ever match: a row in any other state is never touched, whatever else is given.
constexpr const char* kFilter = R"sql(
      (($1::boolean AND m.status = 'dead') OR ($2::boolean AND m.status = 'failed'))
  AND ($3::text IS NULL OR m.topic = $3::text)
  AND ($4::bigint[] IS NULL OR m.id = ANY ($4::bigint[]))
  AND ($5::timestamptz IS NULL OR m.created_at >= $5::timestamptz)
  AND ($6::timestamptz IS NULL OR m.created_at < $6::timestamptz)
  AND ($7::text IS NULL OR m.last_error ILIKE $7::text))sql";

std::string select_ids_sql() {
  return fmt::format("SELECT m.id FROM outbox.messages AS m WHERE {}\n ORDER BY m.id", kFilter);
}

std::string preview_sql() {
  return fmt::format(
      "SELECT m.id, m.topic, m.status, m.attempts, coalesce(m.last_error, '')\n"
      "  FROM outbox.messages AS m WHERE m.id = ANY ($8::bigint[]) AND {}\n ORDER BY m.id",
      kFilter);
}

// The filter is checked again row by row: a row that changed since the ids were read (a relay is not
// involved with dead rows, but another replay or an operator may be) is left alone.
std::string update_sql() {
  return fmt::format(
      "UPDATE outbox.messages AS m\n"
      "   SET status = 'pending',\n"
      "       attempts = CASE WHEN $9::boolean THEN m.attempts ELSE 0 END,\n"
      "       next_attempt_at = now(),\n"
      "       updated_at = now()\n"
      " WHERE m.id = ANY ($8::bigint[]) AND {}",
      kFilter);
}

std::optional<std::string> text_or_null(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

std::optional<std::string> time_or_null(const std::optional<flag_values::TimePoint>& t) {
  if (!t) return std::nullopt;
  return flag_values::format_time(*t);
}

std::string id_array(std::span<const std::int64_t> ids) {
  pg::ArrayLiteral array;
  for (std::int64_t id : ids)
    array.add(id);
  return array.str();
}

// Rows named by --id may be dead or failed unless --status narrows them: the ids already say which rows.
bool takes(const ReplayFilter& filter, const char* status) {
  if (filter.status) return *filter.status == status;
  return std::string_view(status) == "dead" || !filter.ids.empty();
}

pg::Params filter_params(const ReplayFilter& filter) {
  return {takes(filter, "dead") ? "true" : "false",
          takes(filter, "failed") ? "true" : "false",
          text_or_null(filter.topic),
          filter.ids.empty() ? std::nullopt : std::optional(id_array(filter.ids)),
          time_or_null(filter.since),
          time_or_null(filter.until),
          text_or_null(filter.error_like)};
}

std::vector<std::int64_t> matching_ids(pg::Session& session, const pg::Params& params) {
  const auto r = require_ok(session.exec(select_ids_sql(), params), "finding the rows to replay");
  std::vector<std::int64_t> ids;
  ids.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row)
    ids.push_back(r.int64(row, 0));
  return ids;
}

void print_preview(pg::Session& session, pg::Params params, const std::vector<std::int64_t>& ids,
                   std::ostream& out) {
  const auto first = std::span(ids).first(std::min(ids.size(), kPreviewRows));
  params.emplace_back(id_array(first));
  const auto r = require_ok(session.exec(preview_sql(), params), "reading the rows to replay");
  for (int row = 0; row < r.rows(); ++row) {
    out << fmt::format("  id={} topic={} status={} attempts={} last_error={}\n", r.value(row, 0),
                       flag_values::quoted(r.value(row, 1)), r.value(row, 2), r.value(row, 3),
                       flag_values::quoted(r.value(row, 4)));
  }
  if (ids.size() > first.size())
    out << "  ... and " << rows_text(static_cast<long long>(ids.size() - first.size())) << " more\n";
}

std::int64_t replay_in_chunks(pg::Session& session, const pg::Params& params,
                              const std::vector<std::int64_t>& ids, bool keep_attempts) {
  const std::string sql = update_sql();
  std::int64_t changed = 0;
  for (std::size_t start = 0; start < ids.size(); start += kChunkRows) {
    pg::Params chunk = params;
    chunk.emplace_back(id_array(std::span(ids).subspan(start, std::min(kChunkRows, ids.size() - start))));
    chunk.emplace_back(keep_attempts ? "true" : "false");
    changed += require_ok(session.exec(sql, chunk), "replaying rows").affected();
  }
  return changed;
}

// The NOTIFY trigger already wakes the relays on the trigger's channel; this reaches relays on --channel
// too, should the two differ.
void wake_relays(pg::Session& session, const std::string& channel) {
  auto r = session.exec("SELECT pg_notify($1, '')", {channel});
  if (!r.ok()) log::event(spdlog::level::warn, "could not wake the relays", {{"error", r.error()}});
}

}  // namespace

int run_replay(const Config& config, std::ostream& out) {
  return run_with_session(config, {.command = "replay"}, [&](pg::Session& session) {
    const pg::Params params = filter_params(config.replay);
    const std::vector<std::int64_t> ids = matching_ids(session, params);
    const auto found = static_cast<long long>(ids.size());
    if (config.dry_run) {
      out << rows_text(found) << " would be replayed (dry run: nothing changed)\n";
      if (!ids.empty()) print_preview(session, params, ids, out);
      log::event(spdlog::level::info, "replay done", {{"rows", found}, {"mode", "dry-run"}});
      return exit_code::ok;
    }
    const std::int64_t changed = replay_in_chunks(session, params, ids, config.replay.keep_attempts);
    if (changed > 0) wake_relays(session, config.channel);
    out << rows_text(changed) << " replayed"
        << (config.replay.keep_attempts ? " (attempts kept)" : " (attempts reset to 0)") << "\n";
    log::event(spdlog::level::info, "replay done", {{"rows", changed}, {"found", found}, {"mode", "replay"}});
    return exit_code::ok;
  });
}

}  // namespace relay
