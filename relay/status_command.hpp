#pragma once

#include <iosfwd>

#include "relay/config.hpp"

namespace relay {

// `outbox-relay status`: counts by status and topic, the due rows and how long the oldest has waited, the
// rows in flight by lease owner (and expired leases), and the newest --top dead rows with their last error;
// as tables on `out`, or with --json as one JSON object. Read-only; returns the exit code (see
// run_with_session).
int run_status(const Config& config, std::ostream& out);

}  // namespace relay
