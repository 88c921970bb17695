#pragma once

#include "relay/config.hpp"

namespace relay {

// `outbox-relay run`: the daemon. Returns the process exit code: 0 after a graceful stop (SIGTERM/SIGINT)
// with every outcome recorded; 128+signal after a second signal (immediate exit); 3 when outcomes could not
// be recorded before giving up; 4 when the schema is missing or of another version.
int run_daemon(const Config& config);

// `outbox-relay drain`: claims and delivers the rows that are due (at most --limit when set), records the
// outcomes, logs a summary and exits: 0 when every attempted row was sent, 1 when some failed or went dead
// (recorded, retried by a later run), 3 when the database was unreachable or lost (claimed rows keep their
// lease and are retried after it expires).
int run_drain(const Config& config);

// `outbox-relay migrate`. Returns 0, 3 (database unreachable), 4 (schema newer than this binary) or 1.
int run_migrate(const Config& config);

}  // namespace relay
