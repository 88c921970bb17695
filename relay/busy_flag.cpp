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
// claimed at most 50 ms after it commits.
constexpr milliseconds kFirstRecheck{1};
constexpr milliseconds kMaxRecheck{50};

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
    : session_(session), events_(std::move(events)), recheck_timer_(loop, [this] { list_writers(); }) {}

void BusyFlag::set_state(State next, std::string_view why) {
  spdlog::debug("wake-up flag {} -> {}: {}", name(state_), name(next), why);
  state_ = next;
}

void BusyFlag::raise() {
  if (state_ == State::raising || state_ == State::up) {
    lower_when_taken_ = false;
    return;
  }
  // A wait under way is abandoned: the relay polls again, which finds those writers' rows.
  ++generation_;
  recheck_timer_.stop();
  set_state(State::raising, "rows come faster than notifications are worth");
  session_.execute(queries::busy_flag_take, {},
                   [this, generation = generation_](pg::Result&& r) { on_taken(std::move(r), generation); });
}

void BusyFlag::on_taken(pg::Result&& result, std::uint64_t generation) {
  if (generation != generation_) return;
  if (!result.ok()) {
    // A broken session is reset() by its owner; B went with it.
    if (!result.connection_failed()) spdlog::error("raising the wake-up flag failed: {}", result.error());
    set_state(State::down, "the statement failed");
  } else if (result.value(0, 0) == "t") {
    owes_wait_ = true;
    holder_ = Session{std::string(result.value(0, 1)), std::string(result.value(0, 2))};
    set_state(State::up, "writers stop notifying while this relay drains");
  } else {
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
  const bool held = state_ == State::up;
  ++generation_;
  set_state(State::lowering, held ? "releasing it, then waiting for the writers open at that moment"
                                  : "waiting for the writers open now");
  // Until this wait completes, stopping must wait too, even if a take comes in between and fails.
  owes_wait_ = true;
  waiting_for_.reset();
  writers_left_ = 0;
  recheck_after_ = kFirstRecheck;
  // B must be free before pg_locks is read: a writer that found B held took its locks before that moment.
  // The statements go on the one session, in this order.
  if (held) {
    session_.execute(queries::busy_flag_release, {}, [this](pg::Result&& r) {
      if (r.ok()) holder_.reset();
      if (!r.ok() && !r.connection_failed())
        spdlog::error("releasing the wake-up flag failed: {}", r.error());
    });
  }
  if (orphan_) {
    const Session orphan = *std::exchange(orphan_, std::nullopt);
    session_.execute(queries::end_orphaned_flag, {orphan.pid, orphan.started}, [orphan](pg::Result&& r) {
      if (!r.ok()) {
        if (!r.connection_failed())
          spdlog::error("ending the previous claim session (pid {}) failed: {}", orphan.pid, r.error());
      } else if (r.rows() > 0 && r.value(0, 0) == "t") {
        spdlog::warn("ended the previous claim session (pid {}): the server still kept it, holding the flag",
                     orphan.pid);
      } else if (r.rows() > 0) {
        spdlog::error(
            "the previous claim session (pid {}) still holds the flag: writers skip their NOTIFY "
            "until the server lets it go",
            orphan.pid);
      }
    });
  }
  list_writers();
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
    if (result.connection_failed()) return;  // reset() follows, and the reconnect lowers again
    spdlog::error("looking for open writers failed, looking again in {} ms: {}", kMaxRecheck.count(),
                  result.error());
    recheck_timer_.start(kMaxRecheck);
    return;
  }
  const std::int64_t left = result.int64(0, 0);
  const bool some_ended = waiting_for_ && left < writers_left_;
  if (!waiting_for_ && left > 0) spdlog::debug("waiting for {} open writers", left);
  writers_left_ = left;
  if (left == 0) return finish_wait();
  waiting_for_ = std::string(result.value(0, 1));
  recheck_timer_.start(recheck_after_);
  recheck_after_ = std::min(recheck_after_ * 2, kMaxRecheck);
  if (some_ended) events_.on_writers_ended();
}

void BusyFlag::finish_wait() {
  waiting_for_.reset();
  owes_wait_ = false;
  set_state(State::down, "no writer that may have skipped its NOTIFY is open: writers notify again");
  events_.on_lowered();
}

void BusyFlag::reset() {
  // The session that took B may still be alive on the server, holding it, if this side noticed first.
  if (holder_) orphan_ = std::exchange(holder_, std::nullopt);
  if (state_ == State::raising || state_ == State::up) owes_wait_ = true;
  ++generation_;
  recheck_timer_.stop();
  lower_when_taken_ = false;
  waiting_for_.reset();
  writers_left_ = 0;
  if (state_ != State::down) set_state(State::down, "reset: the session broke or the relay stops waiting");
}

}  // namespace relay
