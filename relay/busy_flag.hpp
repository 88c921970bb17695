#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <uv.h>

#include "loop/timer.hpp"
#include "pg/connection.hpp"

namespace relay {

// This relay's half of the wake-up handshake (sql/triggers/notify.sql). While it holds the flag (advisory
// lock B, on the claim session), writers skip their NOTIFY, so the relay must look for rows by itself.
// Lowering the flag releases B and then waits, without queueing for any lock, until every transaction that
// was writing to outbox.messages at that moment has ended: a claim after that sees every row whose NOTIFY
// was skipped.
//
//   down --raise--> raising --took B--> up --lower--> lowering --writers ended--> down
//                           --the try failed--> down
// raise() during lowering abandons the wait: a busy relay finds those rows by polling. The debt stays
// (owes_wait()) until a wait completes, whatever happens in between (a failed take, a broken session), so
// that a relay that stops or goes idle always waits for them. Every transition is logged at debug level.
//
// A claim session that broke on the relay's side may live on in the server, holding B, until the server
// notices (TCP keepalive). Whenever B may have been held on it (taken, or a take or a release whose answer
// was lost), the next lowering first ends that session, then lists the writers: those that skipped their
// NOTIFY because of it are waited for like the others.
class BusyFlag {
 public:
  enum class State { down, raising, up, lowering };
  struct Events {
    // Writers that may have skipped their NOTIFY have ended (at the first look: some of them may have):
    // their rows are visible now; the wait goes on.
    std::function<void()> on_writers_ended;
    // The wait is over: a claim from now on sees the rows of every writer that may have skipped its
    // NOTIFY because of this relay's flag.
    std::function<void()> on_lowered;
  };

  BusyFlag(uv_loop_t* loop, pg::Connection& session, Events events);
  BusyFlag(const BusyFlag&) = delete;
  BusyFlag& operator=(const BusyFlag&) = delete;

  // The session is (re)connected: learns which server session it is. Until then raise() does nothing, so
  // that B is never taken on a session this relay could not recognise later.
  void session_ready();
  // Tries to take B, unless this relay holds it or is taking it. The try fails while another relay holds B
  // (writers skip their NOTIFY because of that one, which waits for them in turn) and, rarely, while a
  // writer's trigger holds it shared for the instant of its test: this one stays down and may try again.
  void raise();
  // Releases B (if held) and waits for the writers open at that moment. With B already gone it only waits:
  // after a reconnect, that covers the writers that skipped their NOTIFY because of the broken session's B
  // (whose server side, if still there, is ended first).
  void lower();
  // Stops whatever is under way: the claim session broke (if B may have been held on it, its server side
  // may live on and hold B until the server notices: the next lower() ends it), or a stopping relay gives
  // up waiting.
  void reset();

  State state() const { return state_; }
  // Writers may have skipped their NOTIFY because of this relay's B, and no completed wait covered them.
  bool owes_wait() const { return owes_wait_; }
  // Writers the wait under way has listed and still follows (0 before the first listing).
  std::int64_t writers_left() const { return writers_left_; }

 private:
  // A server session: (backend pid, start time), which tells it from a later one that got the same pid.
  struct Session {
    std::string pid;
    std::string started;
  };

  void set_state(State next, std::string_view why);
  void on_identified(pg::Result&& result);
  void on_taken(pg::Result&& result, std::uint64_t generation);
  void release_and_wait();
  void start_wait();
  void on_released(pg::Result&& result, std::uint64_t generation, std::uint64_t takes);
  void end_orphan(const Session& orphan);
  void on_orphan_ended(pg::Result&& result, const Session& orphan, std::uint64_t generation);
  void retry_wait_later(std::chrono::milliseconds pause);
  void list_writers();
  void on_writers_listed(pg::Result&& result, std::uint64_t generation);
  void finish_wait();
  void on_recheck();
  bool session_broken() const;

  pg::Connection& session_;
  Events events_;
  loop::Timer recheck_timer_;
  State state_ = State::down;
  // Bumped whenever a wait or a take is abandoned, so that the answers of its statements are ignored.
  std::uint64_t generation_ = 0;
  bool lower_when_taken_ = false;
  bool owes_wait_ = false;
  // B may be held on the current session: a take was sent and no release has been confirmed since.
  bool may_hold_ = false;
  // Takes sent on any session so far: a release's answer clears may_hold_ only if none went out after it.
  std::uint64_t takes_sent_ = 0;
  // The current session, once session_identity answered.
  std::optional<Session> identity_;
  // Broken sessions that may still hold B on the server: ended by the next lowering, before it lists.
  std::vector<Session> orphans_;
  // The writers still waited for (transaction ids, as the text array open_writers returns); nullopt before
  // the first listing of the current wait.
  std::optional<std::string> waiting_for_;
  std::int64_t writers_left_ = 0;
  std::chrono::milliseconds recheck_after_{};
};

}  // namespace relay
