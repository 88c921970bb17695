#pragma once

#include <iosfwd>

#include "relay/config.hpp"

namespace relay {

// `outbox-relay check`: what a deploy pipeline or a health probe runs. Checks, one line each on `out`
// ("ok" or "FAIL", the check's name, what was found): the database is reachable; the schema is at the
// version this binary needs; both NOTIFY triggers are installed, enabled, on --channel; LISTEN works (a
// NOTIFY on a fresh random channel comes back); and every target resolves and accepts a connection
// (--target and the distinct origins of the target_url of rows waiting for delivery). Returns 0 when all
// pass, 3 when the database cannot be reached (the targets are still checked), else 1.
int run_check(const Config& config, std::ostream& out);

}  // namespace relay
