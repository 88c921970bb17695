#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tests/support/pg_cluster.hpp"

// Rows in every state for the tests of the operating commands, and the means to prove which rows a command
// changed: a snapshot of every row's text and xmin (a new row version gets a new xmin even when its text
// comes out the same).
namespace testkit {

// id -> the row as text plus its xmin.
using RowSnapshot = std::map<std::int64_t, std::string>;

inline RowSnapshot snapshot_rows(const PgCluster& pg) {
  RowSnapshot rows;
  for (const auto& row :
       pg.query("SELECT id, t::text || ' xmin=' || xmin FROM outbox.messages AS t ORDER BY id"))
    rows[std::stoll(row.at(0))] = row.at(1);
  return rows;
}

// The whole table as one hash: equal before and after means byte-for-byte unchanged.
inline std::string table_md5(const PgCluster& pg) {
  return pg.query_value("SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM outbox.messages AS t");
}

// Inserts one row with the given columns (SQL expressions; status and ages as the schema wants them).
inline std::int64_t insert_row(const PgCluster& pg, const std::string& columns, const std::string& values) {
  return std::stoll(pg.query_value("INSERT INTO outbox.messages (topic, payload, " + columns + ") VALUES (" +
                                   values + ") RETURNING id"));
}

// A table with rows in every state, ids in this order (the tests name them):
struct MixedRows {
  std::int64_t pending, pending_later, processing, sent_old, sent_new, failed_a, failed_b, dead_old_a,
      dead_new_b, dead_new_a;
};

inline MixedRows insert_mixed_rows(const PgCluster& pg) {
  MixedRows r{};
  const std::string c =
      "status, attempts, last_status, last_error, created_at, updated_at, sent_at, next_attempt_at";
  r.pending = insert_row(pg, c, "'a', '{\"n\":1}', 'pending', 0, NULL, NULL, now(), now(), NULL, now()");
  r.pending_later = insert_row(
      pg, c, "'a', '{\"n\":2}', 'pending', 0, NULL, NULL, now(), now(), NULL, now() + interval '1 day'");
  r.processing = insert_row(pg, c + ", lease_owner, lease_expires_at",
                            "'a', '{\"n\":3}', 'processing', 1, NULL, NULL, now(), now(), NULL, now(), "
                            "'other-relay', now() + interval '1 hour'");
  r.sent_old =
      insert_row(pg, c,
                 "'a', '{\"n\":4}', 'sent', 1, 200, NULL, now() - interval '11 days', "
                 "now() - interval '10 days', now() - interval '10 days', now() - interval '11 days'");
  r.sent_new = insert_row(pg, c,
                          "'b', '{\"n\":5}', 'sent', 1, 200, NULL, now() - interval '2 hours', "
                          "now() - interval '1 hour', now() - interval '1 hour', now() - interval '2 hours'");
  r.failed_a = insert_row(pg, c,
                          "'a', '{\"n\":6}', 'failed', 2, 503, 'HTTP 503 Service Unavailable', "
                          "'2026-01-05T00:00Z', now(), NULL, now() + interval '1 hour'");
  r.failed_b =
      insert_row(pg, c,
                 "'b', '{\"n\":7}', 'failed', 1, NULL, 'connection refused', '2026-01-06T00:00Z', now(), "
                 "NULL, now() - interval '1 minute'");
  r.dead_old_a = insert_row(pg, c,
                            "'a', '{\"n\":8}', 'dead', 6, 400, 'HTTP 400 Bad Request', '2026-01-10T00:00Z', "
                            "now() - interval '10 days', NULL, now() - interval '10 days'");
  r.dead_new_b = insert_row(pg, c,
                            "'b', '{\"n\":9}', 'dead', 6, NULL, 'operation timed out after 10000 ms', "
                            "'2026-01-20T00:00Z', now() - interval '1 hour', NULL, now()");
  r.dead_new_a = insert_row(pg, c,
                            "'a', '{\"n\":10}', 'dead', 6, NULL, 'Operation TIMED OUT', '2026-01-30T00:00Z', "
                            "now() - interval '1 hour', NULL, now()");
  return r;
}

}  // namespace testkit
