#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <uv.h>

#include "http/client.hpp"
#include "loop/timer.hpp"
#include "pg/connection.hpp"
#include "pg/listener.hpp"
#include "relay/busy_flag.hpp"
#include "relay/config.hpp"
#include "relay/message.hpp"
#include "relay/outcome_writer.hpp"
#include "relay/retry_policy.hpp"

namespace relay {

// The relay's cycle (SPEC §5), on one libuv loop:
//   wake (NOTIFY, sweep timer, a completion freeing a slot)
//   -> claim due rows for the free slots and up to one window ahead (at most batch-size), in one short
//      transaction; the next claim may go out while claimed rows still wait for slots
//   -> start their HTTP requests (a sliding window of at most `concurrency` in flight)
//   -> as responses arrive, decide each row's fate and hand it to the OutcomeWriter (batched UPDATEs)
//   -> claim again while rows remain; otherwise sleep until a NOTIFY or the sweep timer, armed for the
//      earliest retry or lease expiry (and at most poll-interval away).
// Three connections: one LISTENs, one claims and sweeps, one records outcomes, so that none waits behind
// another's statement.
class Dispatcher {
 public:
  struct Events {
    // An error the relay cannot work around (the schema is missing or of another version). The owner
    // should stop the process with `exit_code`.
    std::function<void(int exit_code, const std::string& reason)> on_fatal;
    // After stop(): in-flight requests finished or were abandoned, leases given back, outcomes recorded
    // (or, if the database stayed unreachable, given up on: see stopped_cleanly()).
    std::function<void()> on_stopped;
    // Once, when the relay first works: connected, the schema checked, the table looked at.
    std::function<void()> on_ready;
  };
  struct Counters {
    std::uint64_t claimed = 0;
    std::uint64_t sent = 0;
    std::uint64_t failed = 0;
    std::uint64_t dead = 0;
    std::uint64_t released = 0;
  };

  Dispatcher(uv_loop_t* loop, const Config& config, const pg::ConnInfo& info, std::string lease_owner,
             Events events);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void start();
  // Graceful stop: no more claims; in-flight requests may finish until --shutdown-timeout, then they are
  // abandoned; every row not sent goes back to pending without a lease; then on_stopped runs.
  void stop();

  const Counters& counters() const { return counters_; }
  // False when some outcome could not be recorded before giving up (the database stayed unreachable);
  // those rows keep their lease until it expires, then another relay retries them.
  bool stopped_cleanly() const { return stopped_cleanly_; }
  const std::string& lease_owner() const { return lease_owner_; }

 private:
  struct Slot {
    Message message;
    bool busy = false;
  };

  // Connections and wake-ups.
  void on_claim_connection_ready();
  void on_claim_connection_lost(std::string_view reason);
  void on_database_lost(std::string_view reason);
  void on_notified();
  // Busy mode: polling, with the wake-up flag up (see relay/busy_flag.hpp).
  void become_busy();
  void go_idle();
  void check_busy_claims();
  bool has_room_to_claim() const;
  bool note_busy_progress(int rows);
  void on_writers_ended();
  void on_busy_flag_lowered();
  void on_schema_checked(pg::Result&& result);
  void wake();
  // The sweep: due retries and expired leases back to pending; learns when the next one is due.
  void sweep();
  void on_swept(pg::Result&& result);
  void arm_sweep_timer();
  void note_due_at(std::chrono::steady_clock::time_point due);

  // The rows of one claim, handed to slots in order.
  struct ClaimedBatch {
    pg::Result rows;
    int next = 0;
    std::chrono::steady_clock::time_point sent_at;
  };

  // Claims and sends.
  void maybe_claim();
  void on_claimed(pg::Result&& result, int requested, std::uint64_t wake_seen,
                  std::chrono::steady_clock::time_point sent_at);
  int claim_room() const;
  std::chrono::milliseconds longest_send() const;
  bool may_claim_ahead() const;
  void dispatch_claimed();
  bool place_rows(ClaimedBatch& batch);
  int claimed_waiting() const;
  void dispatch(std::uint32_t slot_index);
  void on_response(std::uint64_t tag, http::Response&& response);
  void finish(std::uint32_t slot_index, const Decision& decision);
  void give_back(const pg::Result& claimed, int row);

  // Shutdown.
  void on_shutdown_deadline();
  void on_final_grace_expired();
  void on_farewell_timeout();
  void notify_other_relays(std::function<void()> then);
  void maybe_finish_stop();
  void maybe_finish_drain();
  void finish_stop();
  void on_recorded(const OutcomeWriter::Recorded& recorded);
  void log_summary();

  uv_loop_t* loop_;
  const Config& config_;
  std::string lease_owner_;
  Events events_;
  RetryPolicy policy_;
  DeliverySettings delivery_;

  pg::Listener listener_;
  pg::Connection claim_conn_;
  OutcomeWriter writer_;
  http::Client http_;
  loop::Timer sweep_timer_;
  loop::Timer shutdown_timer_;
  loop::Timer summary_timer_;
  loop::Timer busy_poll_timer_;
  loop::Timer busy_stall_timer_;
  BusyFlag busy_flag_;
  loop::Timer schema_retry_timer_;

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  // Free slots worth a claim while requests are in flight and no claimed row waits.
  const std::size_t claim_threshold_;
  // Claimed rows, handed to slots as they free up, oldest claim first: the relay may hold up to one window
  // more rows than there are slots (see claim_room), and those wait here, leased, for their turn.
  std::deque<ClaimedBatch> claimed_;
  bool dispatching_ = false;
  http::Request request_;

  bool schema_ok_ = false;
  bool claiming_ = false;
  bool sweeping_ = false;
  bool sweep_wanted_ = false;
  bool want_claim_ = false;
  bool busy_ = false;  // polling for rows, rather than waiting for notifications
  // Went idle because no claim could go out; not busy again until a claim comes back short.
  bool stalled_ = false;
  std::chrono::steady_clock::time_point busy_window_start_;
  int busy_window_rows_ = 0;
  std::chrono::milliseconds busy_poll_{};
  std::chrono::steady_clock::time_point last_claim_sent_;
  std::uint64_t wakes_ = 0;  // notifications and other reasons to look at the table, counted
  std::optional<std::chrono::steady_clock::time_point> next_due_;
  std::optional<std::chrono::steady_clock::time_point> due_noted_while_sweeping_;

  const bool draining_ = config_.command == Command::drain;  // one pass over what is due, then stop
  bool drain_exhausted_ = false;                             // a drain's claim found nothing more due
  bool stopping_ = false;
  bool abandoning_ = false;  // past the shutdown deadline: in-flight requests are being aborted
  bool stopped_ = false;
  bool finished_ = false;  // finish_stop ran
  bool stopped_cleanly_ = true;
  bool ready_reported_ = false;
  Counters counters_;
  Counters last_summary_;
};

}  // namespace relay
