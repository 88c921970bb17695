#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
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
  int attempt = 0;  // the row's attempt count as this relay's claim left it: which claim this ends
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
// the next UPDATE carries all of them (one round trip for many rows). While more sends are in flight, a
// short batch also waits a few milliseconds for company (an UPDATE costs the database about as much for
// one row as for dozens); the last outcome of a burst, and one that unblocks an ordering key, go at once.
// Owns its connection. A broken connection loses nothing: the batch is written again after the reconnect. A
// statement the database refuses is retried after a pause in ever smaller batches, so that one bad outcome
// cannot hold up the others; an outcome refused on its own three times is given up, loudly (its row keeps
// its lease until that expires, and is then retried).
class OutcomeWriter {
 public:
  struct Recorded {
    bool unblocked_successor = false;
    // Until the earliest retry among the rows just recorded as failed, as the database counts it.
    std::optional<std::chrono::milliseconds> next_retry_in;
  };
  struct Events {
    std::function<void(const Recorded&)> on_recorded;
    // The writer became idle: nothing buffered, nothing being written (used to finish a shutdown).
    std::function<void()> on_idle;
    // Its connection broke (it reconnects by itself and writes the outcomes then).
    std::function<void(std::string_view reason)> on_lost;
  };

  OutcomeWriter(uv_loop_t* loop, pg::ConnInfo info, pg::ConnectionOptions options, std::string lease_owner,
                int default_max_attempts, Events events);

  // Outcomes written by one statement at most; a larger backlog goes in several.
  static constexpr std::size_t kMaxBatch = 1000;

  void start();
  // `more_coming`: other sends are in flight, so more outcomes will follow shortly.
  void record(Outcome&& outcome, bool more_coming = false);
  bool idle() const { return buffered_.empty() && writing_.empty(); }
  std::size_t backlog() const { return buffered_.size() + writing_.size(); }
  void close();

  std::uint64_t written() const { return written_; }
  // Outcomes the database did not take because this relay no longer held the row in that attempt.
  std::uint64_t lease_lost() const { return lease_lost_; }

 private:
  void flush_or_gather();
  void flush();
  void on_written(pg::Result&& result);
  void on_refused(const pg::Result& result);
  void requeue_batch();
  pg::Params batch_params();

  pg::Connection conn_;
  loop::Timer retry_timer_;
  loop::Timer gather_timer_;
  bool more_coming_ = false;
  bool urgent_ = false;  // a buffered outcome unblocks an ordering key
  std::string lease_owner_;
  std::string default_max_attempts_;
  Events events_;
  std::vector<Outcome> buffered_;
  std::vector<Outcome> writing_;
  std::size_t batch_limit_;
  int lone_refusals_ = 0;
  pg::ArrayLiteral ids_, attempts_, statuses_, refunds_, http_statuses_, errors_, delays_;
  std::uint64_t written_ = 0;
  std::uint64_t lease_lost_ = 0;
};

}  // namespace relay
