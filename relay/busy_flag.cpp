#include "relay/busy_flag.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "relay/outbox_queries.hpp"

namespace relay {

namespace {

using std::chrono::milliseconds;

// How soon the relay looks again at writers it waits for, doubling each time up to the cap. A writer found
// open is usually between its INSERT and the flush of its COMMIT, a millisecond or two; one that stays open
// (an application transaction that goes on working) costs a read of pg_locks 20 times a second (each read
// briefly takes every lock-table partition: new lock requests wait those microseconds), and its row is
// claimed at most 50 ms after it commits. The cap is also the pause before a failed step is tried again.
constexpr milliseconds kFirstRecheck{1};
constexpr milliseconds kMaxRecheck{50};
// An orphan that did not end when told to took the session 5 s already; the next try waits a while.
constexpr milliseconds kOrphanRetry{1'000};

const char* name(BusyFlag::State s) {
  switch (s) {
    case BusyFlag::State::down:
      return "down";
    case BusyFlag::State::raising:
      return "raising";
    case BusyFlag::State::up:
      return "up";
    case BusyFlag::State::lowering:
      return "lowering";
  }
  return "?";
}

}  // namespace

BusyFlag::BusyFlag(uv_loop_t* loop, pg::Connection& session, Events events)
    : session_(session), events_(std::move(events)), recheck_timer_(loop, [this] { on_recheck(); }) {}

void BusyFlag::set_state(State next, std::string_view why) {
  spdlog::debug("wake-up flag {} -> {}: {}", name(state_), name(next), why);
  state_ = next;
}

// A failed statement whose session is still up is that statement's failure; otherwise the owner's reset()
// follows.
bool BusyFlag::session_broken() const {
  return session_.state() != pg::State::ready && session_.state() != pg::State::busy;
}

void BusyFlag::session_ready() {
  identity_.reset();
  session_.execute(queries::session_identity, {}, [this](pg::Result&& r) { on_identified(std::move(r)); });
}

void BusyFlag::on_identified(pg::Result&& result) {
  if (result.ok() && result.rows() == 1) {
    identity_ = Session{std::string(result.value(0, 0)), std::string(result.value(0, 1))};
  } else if (!session_broken()) {
    spdlog::error("the claim session cannot name itself, so it will not take the wake-up flag: {}",
                  result.ok() ? "pg_stat_activity does not show it" : result.error());
  }
}

void BusyFlag::raise() {
  if (state_ == State::raising || state_ == State::up) {
    lower_when_taken_ = false;
    return;
  }
  if (!identity_) return;
  // A wait under way is abandoned: the relay polls again, which finds those writers' rows.
  ++generation_;
  recheck_timer_.stop();
  set_state(State::raising, "rows come faster than notifications are worth");
  may_hold_ = true;
  ++takes_sent_;
  session_.execute(queries::busy_flag_take, {},
                   [this, generation = generation_](pg::Result&& r) { on_taken(std::move(r), generation); });
}

void BusyFlag::on_taken(pg::Result&& result, std::uint64_t generation) {
  if (generation != generation_) return;
  if (!result.ok()) {
    if (session_broken()) {
      // The server may have taken B before the connection broke: reset() keeps the session as an orphan.
      set_state(State::down, "the session broke during the take");
    } else {
      // Whether B was taken is not known: release it to be sure, and wait for writers as after any take.
      spdlog::error("raising the wake-up flag failed: {}", result.error());
      owes_wait_ = true;
      lower_when_taken_ = true;
      set_state(State::down, "the statement failed");
    }
  } else if (result.value(0, 0) == "t") {
    may_hold_ = true;
    owes_wait_ = true;
    set_state(State::up, "writers stop notifying while this relay drains");
  } else {
    may_hold_ = false;
    set_state(State::down, "taken: another relay holds it, or a writer's trigger was testing it");
  }
  if (std::exchange(lower_when_taken_, false)) lower();
}

void BusyFlag::lower() {
  switch (state_) {
    case State::raising:
      // The take's answer decides whether there is anything to release; lower then.
      lower_when_taken_ = true;
      return;
    case State::lowering:
      return;
    case State::up:
    case State::down:
      release_and_wait();
      return;
  }
}

void BusyFlag::release_and_wait() {
  ++generation_;
  set_state(State::lowering, may_hold_ ? "releasing it, then waiting for the writers open at that moment"
                                       : "waiting for the writers open now");
  // Until this wait completes, stopping must wait too, even if a take comes in between and fails.
  owes_wait_ = true;
  recheck_after_ = kFirstRecheck;
  start_wait();
}

// B must be free (this session's and every orphan's) before pg_locks is read: a writer that found B held
// took its locks before that moment. The statements go on the one session, in this order; a step that fails
// bumps the generation, so that the listing queued behind it is ignored, and the whole wait starts again.
void BusyFlag::start_wait() {
  waiting_for_.reset();
  writers_left_ = 0;
  const auto generation = generation_;
  if (may_hold_) {
    session_.execute(queries::busy_flag_release, {}, [this, generation, takes = takes_sent_](pg::Result&& r) {
      on_released(std::move(r), generation, takes);
    });
  }
  for (const Session& orphan : orphans_)
    end_orphan(orphan);
  list_writers();
}

void BusyFlag::on_released(pg::Result&& result, std::uint64_t generation, std::uint64_t takes) {
  // Whatever the wait's fate, a confirmed release means B is not held here, unless a take went out since.
  if (result.ok()) {
    if (takes == takes_sent_) may_hold_ = false;
    return;
  }
  if (session_broken()) return;  // B may still be held on the server: reset() keeps the session
  spdlog::error("releasing the wake-up flag failed, trying again in {} ms: {}", kMaxRecheck.count(),
                result.error());
  if (generation == generation_) retry_wait_later(kMaxRecheck);
}

void BusyFlag::end_orphan(const Session& orphan) {
  session_.execute(queries::end_orphaned_flag, {orphan.pid, orphan.started},
                   [this, orphan, generation = generation_](pg::Result&& r) {
                     on_orphan_ended(std::move(r), orphan, generation);
                   });
}

void BusyFlag::on_orphan_ended(pg::Result&& result, const Session& orphan, std::uint64_t generation) {
  const auto forget = [&] {
    std::erase_if(orphans_,
                  [&](const Session& s) { return s.pid == orphan.pid && s.started == orphan.started; });
  };
  if (result.ok() && result.rows() == 0) {
    forget();  // gone already, or it does not hold B
    return;
  }
  if (result.ok() && result.value(0, 0) == "t") {
    spdlog::warn("ended the previous claim session (pid {}): the server still kept it, holding the flag",
                 orphan.pid);
    forget();
    return;
  }
  if (!result.ok() && session_broken()) return;  // tried again after the reconnect
  if (result.ok()) {
    spdlog::error(
        "the previous claim session (pid {}) still holds the flag after being told to end: writers skip "
        "their NOTIFY until it goes; trying again",
        orphan.pid);
  } else {
    spdlog::error("ending the previous claim session (pid {}) failed, trying again: {}", orphan.pid,
                  result.error());
  }
  if (generation != generation_) return;
  retry_wait_later(kOrphanRetry);
  // Meanwhile writers skip their NOTIFY: look at the table at each try rather than leave their rows.
  events_.on_writers_ended();
}

void BusyFlag::retry_wait_later(milliseconds pause) {
  ++generation_;
  waiting_for_.reset();
  writers_left_ = 0;
  recheck_timer_.start(pause);
}

void BusyFlag::on_recheck() {
  if (state_ != State::lowering) return;
  if (waiting_for_) {
    list_writers();
  } else {
    start_wait();
  }
}

void BusyFlag::list_writers() {
  auto done = [this, generation = generation_](pg::Result&& r) {
    on_writers_listed(std::move(r), generation);
  };
  if (waiting_for_) {
    session_.execute(queries::writers_still_open, {waiting_for_}, std::move(done));
  } else {
    session_.execute(queries::open_writers, {}, std::move(done));
  }
}

void BusyFlag::on_writers_listed(pg::Result&& result, std::uint64_t generation) {
  if (generation != generation_) return;
  if (!result.ok()) {
    if (session_broken()) return;  // reset() follows, and the reconnect lowers again
    spdlog::error("looking for open writers failed, looking again in {} ms: {}", kMaxRecheck.count(),
                  result.error());
    recheck_timer_.start(kMaxRecheck);
    return;
  }
  const std::int64_t left = result.int64(0, 0);
  const bool first = !waiting_for_;
  const bool some_ended = first || left < writers_left_;
  if (first && left > 0) spdlog::debug("waiting for {} open writers", left);
  writers_left_ = left;
  if (left == 0) return finish_wait();
  waiting_for_ = std::string(result.value(0, 1));
  recheck_timer_.start(recheck_after_);
  recheck_after_ = std::min(recheck_after_ * 2, kMaxRecheck);
  // At the first look, writers that skipped their NOTIFY and ended before it are not on the list: their
  // rows must not wait for the slowest writer that is.
  if (some_ended) events_.on_writers_ended();
}

void BusyFlag::finish_wait() {
  waiting_for_.reset();
  writers_left_ = 0;
  owes_wait_ = false;
  set_state(State::down, "no writer that may have skipped its NOTIFY is open: writers notify again");
  events_.on_lowered();
}

void BusyFlag::reset() {
  // The server side of the session may still hold B if this side noticed first.
  if (may_hold_ && identity_) orphans_.push_back(*identity_);
  if (may_hold_ || state_ == State::up) owes_wait_ = true;
  may_hold_ = false;
  identity_.reset();
  ++generation_;
  recheck_timer_.stop();
  lower_when_taken_ = false;
  waiting_for_.reset();
  writers_left_ = 0;
  if (state_ != State::down) set_state(State::down, "reset: the session broke or the relay stops waiting");
}

}  // namespace relay
