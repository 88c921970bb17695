#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "pg/connection.hpp"

// The deletion of old sent and dead rows, shared by `outbox-relay purge` and the daemon's retention
// (--retain-sent, --retain-dead): one statement text, so that both delete exactly the same rows.
namespace relay::purge_sql {

// Rows deleted per statement at most, of each status: each statement is one short transaction, so no
// lock is held for long and the application's writes never wait behind a purge.
inline constexpr int kBatchRows = 1000;

// Ages are "older than": sent rows by sent_at, dead rows by updated_at (when they went dead). An unset age
// leaves that status alone.
struct Ages {
  std::optional<std::chrono::milliseconds> sent;
  std::optional<std::chrono::milliseconds> dead;
};

// Deletes up to kBatchRows sent and up to kBatchRows dead rows older than their age, skipping rows another
// transaction holds. Parameters: batch_params(ages). Returns one row: (sent rows deleted, dead rows deleted).
// A batch that deletes fewer than kBatchRows of each status found no more such rows (or only locked ones).
const std::string& delete_batch();

// Counts the rows delete_batch would delete if run until none remain (for --dry-run). Parameters:
// count_params(ages). Returns one row: (sent rows, dead rows).
const std::string& count();

// $1 sent age in ms or NULL, $2 dead age in ms or NULL.
pg::Params count_params(const Ages& ages);
// The same, then $3 kBatchRows.
pg::Params batch_params(const Ages& ages);

}  // namespace relay::purge_sql
