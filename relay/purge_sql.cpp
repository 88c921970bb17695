#include "relay/purge_sql.hpp"

namespace relay::purge_sql {
namespace {

// The two predicates, each served by a partial index of migration 0002 (sent_at of sent rows, updated_at
// of dead rows), so that neither walks the whole table. "$n IS NOT NULL" is folded away by the planner,
// which sees the parameter values (an unnamed statement is planned for them).
constexpr const char* kOldSent =
    "$1::bigint IS NOT NULL AND status = 'sent' AND sent_at < now() - $1::bigint * interval '1 millisecond'";
constexpr const char* kOldDead =
    "$2::bigint IS NOT NULL AND status = 'dead' AND updated_at < now() - $2::bigint * interval '1 "
    "millisecond'";

std::string make_delete_batch() {
  return std::string(R"sql(
WITH old_sent AS (
  SELECT id FROM outbox.messages
   WHERE )sql") +
         kOldSent + R"sql(
   ORDER BY sent_at
   LIMIT $3
     FOR UPDATE SKIP LOCKED
), old_dead AS (
  SELECT id FROM outbox.messages
   WHERE )sql" +
         kOldDead + R"sql(
   ORDER BY updated_at
   LIMIT $3
     FOR UPDATE SKIP LOCKED
), deleted AS (
  DELETE FROM outbox.messages AS m
   WHERE m.id IN (SELECT id FROM old_sent UNION ALL SELECT id FROM old_dead)
  RETURNING m.status
)
SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'dead') FROM deleted
)sql";
}

std::string make_count() {
  return std::string("SELECT (SELECT count(*) FROM outbox.messages WHERE ") + kOldSent +
         "),\n       (SELECT count(*) FROM outbox.messages WHERE " + kOldDead + ")";
}

std::optional<std::string> millis(const std::optional<std::chrono::milliseconds>& age) {
  if (!age) return std::nullopt;
  return std::to_string(age->count());
}

}  // namespace

const std::string& delete_batch() {
  static const std::string text = make_delete_batch();
  return text;
}

const std::string& count() {
  static const std::string text = make_count();
  return text;
}

pg::Params count_params(const Ages& ages) {
  return {millis(ages.sent), millis(ages.dead)};
}

pg::Params batch_params(const Ages& ages) {
  pg::Params p = count_params(ages);
  p.emplace_back(std::to_string(kBatchRows));
  return p;
}

}  // namespace relay::purge_sql
