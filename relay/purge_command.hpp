#pragma once

#include <iosfwd>

#include "relay/config.hpp"

namespace relay {

// `outbox-relay purge`: deletes sent rows (and with --include-dead, dead rows) older than --older-than, in
// batches of purge_sql::kBatchRows rows, each its own short transaction; prints how many on `out`. With
// --dry-run, counts them instead. Returns the exit code (see run_with_session).
int run_purge(const Config& config, std::ostream& out);

}  // namespace relay
