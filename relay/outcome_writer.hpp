#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <uv.h>

#include "loop/timer.hpp"
#include "pg/array_literal.hpp"
#include "pg/connection.hpp"

namespace relay {

// The end of one claimed row's stay with this relay.
struct Outcome {
  enum class Status { sent, failed, dead, pending };
  std::int64_t id = 0;
  Status status = Status::sent;
  bool refund = false;  // the attempt counted at claim time never happened (row given back unsent)
  int http_status = 0;
  std::string error;
  std::chrono::milliseconds retry_delay{0};
  // The row has an ordering key and leaves the queue (sent or dead): once recorded, the next message of
  // its key becomes claimable, and nothing else would announce that.
  bool unblocks_successor = false;
};

// Writes outcomes to outbox.messages in batches: while one UPDATE is on its way, new outcomes gather, and
// the next UPDATE carries all of them (one round trip for many rows, with no timer adding latency). Owns
// its connection. An outcome is never dropped: if the connection breaks or the statement fails, the batch
// goes back to the buffer and is written after the reconnect (or a short pause).
class OutcomeWriter {
 public:
  OutcomeWriter(uv_loop_t* loop, pg::ConnInfo info, pg::ConnectionOptions options, std::string lease_owner);

  void start();
  void record(Outcome&& outcome);
  // Nothing buffered and nothing being written.
  bool idle() const { return buffered_.empty() && writing_.empty(); }
  std::size_t backlog() const { return buffered_.size() + writing_.size(); }
  // Runs whenever the writer becomes idle (used to finish a shutdown).
  void on_idle(std::function<void()> callback) { on_idle_ = std::move(callback); }
  // Runs after a batch holding an outcome with unblocks_successor was recorded.
  void on_successor_unblocked(std::function<void()> callback) { on_unblocked_ = std::move(callback); }
  void close();

  std::uint64_t written() const { return written_; }
  // Outcomes the database did not take because this relay no longer held the row's lease.
  std::uint64_t lease_lost() const { return lease_lost_; }

 private:
  void flush();
  void on_written(pg::Result&& result);
  void requeue_batch();
  pg::Params batch_params();

  pg::Connection conn_;
  loop::Timer retry_timer_;
  std::string lease_owner_;
  std::vector<Outcome> buffered_;
  std::vector<Outcome> writing_;
  pg::ArrayLiteral ids_, statuses_, refunds_, http_statuses_, errors_, delays_;
  std::function<void()> on_idle_;
  std::function<void()> on_unblocked_;
  std::uint64_t written_ = 0;
  std::uint64_t lease_lost_ = 0;
};

}  // namespace relay
