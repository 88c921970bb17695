#pragma once

#include <iosfwd>

#include "relay/config.hpp"

namespace relay {

// `outbox-relay replay`: puts the dead (or failed) rows that Config::replay names back to pending, due now,
// with their attempt count reset unless --keep-attempts; prints how many on `out` and wakes the relays
// listening on --channel. With --dry-run, lists what it would change instead. Returns the exit code (see
// run_with_session).
int run_replay(const Config& config, std::ostream& out);

}  // namespace relay
