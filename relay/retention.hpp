#pragma once

#include <chrono>
#include <cstdint>

#include <uv.h>

#include "loop/timer.hpp"
#include "pg/connection.hpp"
#include "relay/config.hpp"
#include "relay/purge_sql.hpp"

namespace relay {

// The daemon's continuous purge (--retain-sent, --retain-dead): on the loop, with a connection of its own so
// that it never delays a claim or an outcome, it deletes sent and dead rows older than their retention, in
// batches of purge_sql::kBatchRows (the statement `outbox-relay purge` runs), batch after batch until none
// is left, then waits `interval` and looks again. A failed statement is logged and retried at the next
// pass; the connection reconnects by itself.
class Retention {
 public:
  static constexpr std::chrono::milliseconds kDefaultInterval{60'000};

  struct Totals {
    std::uint64_t sent = 0;
    std::uint64_t dead = 0;
    std::uint64_t passes = 0;  // passes completed, deleting or not
  };

  Retention(uv_loop_t* loop, const pg::ConnInfo& info, const Config& config,
            std::chrono::milliseconds interval = kDefaultInterval);
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  // Nothing to do (and no connection opened) unless --retain-sent or --retain-dead is set.
  bool enabled() const { return ages_.sent.has_value() || ages_.dead.has_value(); }
  // Connects; the first pass runs as soon as the connection is ready. Harmless when not enabled.
  void start();
  // Closes the connection and the timer; no callback runs afterwards. A batch in flight is abandoned: the
  // server finishes or rolls back that one short transaction on its own.
  void stop();

  const Totals& totals() const { return totals_; }

 private:
  enum class Phase { stopped, waiting, deleting };

  void on_ready();
  void begin_pass();
  void delete_batch();
  void on_batch(pg::Result&& result);
  void end_pass();

  purge_sql::Ages ages_;
  std::chrono::milliseconds interval_;
  pg::Connection conn_;
  loop::Timer timer_;
  Phase phase_ = Phase::stopped;
  Totals totals_;
  Totals pass_;  // what the current pass deleted so far
};

}  // namespace relay
