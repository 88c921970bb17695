#pragma once

#include <span>
#include <string>
#include <string_view>

#include "pg/connection.hpp"

// The SQL the daemon runs against outbox.messages, as statements each connection prepares once. Each is
// one short transaction of its own: nothing is held open across network I/O.
namespace relay::queries {

// A setting of the relay's work sessions (claims, outcomes, sweeps), set after every connect.
struct SessionSetting {
  std::string_view name;
  std::string_view value;

  std::string set_command() const {
    return std::string("SET ").append(name).append(" = '").append(value).append("'");
  }
};
// The settings these statements were planned and measured with (bench/ceiling.cpp runs them too).
std::span<const SessionSetting> work_session_settings();

// Claims up to $3 due rows for lease owner $1 for $2 milliseconds: pending rows whose next_attempt_at has
// come, by priority then id, skipping rows other relays hold (SKIP LOCKED) and rows whose ordering key has
// a message in flight or an earlier one still undelivered. Counts the attempt now, so that a relay dying
// mid-send still uses up attempts (a message that crashes relays ends up dead instead of looping).
// Returns the columns listed in ClaimColumn.
extern const pg::PreparedStatement claim;
enum ClaimColumn {
  kId,
  kTopic,
  kPayload,
  kTargetUrl,
  kHeaders,  // "Name: value" lines separated by \n (the schema forbids line breaks inside headers)
  kAttempts,
  kMaxAttempts,
  kOrdered,  // has an ordering key: its successor waits for this row's outcome
};

// Puts back to pending, up to $1 rows: failed rows whose retry time has come, and rows whose lease expired
// (their relay stopped or lost the database); an expired row that already used its $2 default (or its own)
// attempts goes dead instead. Returns one row: (rows changed, milliseconds until the next retry or lease
// expiry that is not due yet, NULL when there is none).
extern const pg::PreparedStatement sweep;

// Records many outcomes in one statement for lease owner $8, from parallel arrays: ids $1, the attempt
// number each claim made $2, statuses $3 (sent|failed|dead|pending), attempt refunds $4 (1 when the row
// goes back unsent), HTTP statuses $5, errors $6, retry delays in milliseconds $7. A row this relay no
// longer holds in that same attempt is left alone (its lease expired and it was claimed again). A row put
// back after an attempt that already used its last allowed one ($9 by default) goes dead instead.
// Returns one row: (rows recorded, milliseconds until the earliest retry among them or NULL).
extern const pg::PreparedStatement complete;

// One row: (schema version, channel of the insert trigger or NULL). Fails with 42P01/3F000 when the schema
// is missing.
extern const pg::PreparedStatement schema_check;

// The wake-up flag (sql/triggers/notify.sql): advisory lock B, held exclusively on the claim session while
// the relay is busy. Take tries (never waits) and answers whether it got B; release lets go of it however
// many times it was taken. session_identity answers this session's (backend pid, start time).
extern const pg::PreparedStatement busy_flag_take;
extern const pg::PreparedStatement busy_flag_release;
extern const pg::PreparedStatement session_identity;
// The writers still open: transactions of other sessions that hold ROW EXCLUSIVE on outbox.messages, as
// (count, their transaction ids as a text array). writers_still_open takes such an array as $1 and answers
// the same for those of it still open.
extern const pg::PreparedStatement open_writers;
extern const pg::PreparedStatement writers_still_open;
// After a reconnect: ends the relay's previous claim session (backend pid $1, started at $2) if the server
// still keeps it and it holds B, and waits for it to be gone. Answers a row only if it held B: true once it
// is gone, false if it did not go within 5 s.
extern const pg::PreparedStatement end_orphaned_flag;

}  // namespace relay::queries
