#include "relay/dispatcher.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "relay/cli.hpp"
#include "relay/log.hpp"
#include "relay/outbox_queries.hpp"
#include "relay/version.hpp"
#include "sql/embedded.hpp"

namespace relay {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Rows the sweep moves per statement; a larger backlog is swept in several statements back to back.
constexpr int kSweepBatch = 1000;
// How often a busy relay logs its running totals.
constexpr milliseconds kSummaryInterval{60'000};
// After --shutdown-timeout, how long the relay still tries to record outcomes before giving up on them.
constexpr milliseconds kFinalGrace{5'000};
// Busy mode (the wake-up flag, sql/triggers/notify.sql) pays off only while rows come faster than
// notifications are worth: it is left when a window of kBusyWindow claimed fewer than kBusyMinRows rows
// (under 400 rows/s), so that a moderate stream is served by NOTIFY with sub-millisecond latency, not by
// polling.
constexpr milliseconds kBusyWindow{25};
constexpr int kBusyMinRows = 10;
// A busy relay's poll is a claim that finds the rows that came since the last one. Each claim costs the
// database about the same whatever it finds (~0.3 ms for a few rows), so polls cost a fixed share of the
// database per second, and the interval trades latency against that share. At 2,000 rows/s, 1 ms rather
// than 2 ms halved the median latency and the p99 (bench: `--only latency`, alternated runs). Faster
// streams are where the database runs out of CPU, and there the interval grows by a millisecond per
// kBusyRowsPerSecondPerMs, up to 5 ms, where each claim carries about 50 rows: with 8 writers at ~11,000
// inserts/s, 1 ms polls cost the writers 12% of their rate (bench: `--only writers`, alternated runs).
constexpr milliseconds kBusyPollMin{1};
constexpr milliseconds kBusyPollMax{5};
constexpr double kBusyRowsPerSecondPerMs = 2'000;
// A busy relay that has sent no claim for this long (its requests slow to finish, claims failing) is not
// looking for rows: it lowers the flag, so that writers notify again and other relays on the table hear of
// their rows, and does not raise it again before it has caught up with the table (a claim came back short).
constexpr milliseconds kBusyStall{100};
// Pause before claiming again after a claim statement failed (not a broken connection).
constexpr milliseconds kClaimRetryPause{1'000};
// A claimed row still waiting for a slot is sent only if its lease outlasts its send by this much.
constexpr milliseconds kLeaseMargin{1'000};
// Idle connections kept open, per request slot. libcurl's default keeps four per transfer in the multi
// handle at the moment, and the client removes each transfer as it completes: after every lull a busy relay
// closed most of its connections and opened them again for the next wave (2,525 connects for 50,000
// messages in a drain). A fixed cache of the same size as the default under full load keeps them, also for
// a relay whose rows go to many hosts.
constexpr long kCachedConnectionsPerSlot = 4;

int expected_schema_version() {
  return outbox_sql::migrations().back().version;
}

pg::ConnectionOptions connection_options(const Config& config, const char* role, bool work) {
  pg::ConnectionOptions o;
  o.name = role;
  o.application_name = config.service_name + ":" + role;
  o.connect_timeout = config.connect_timeout;
  if (work) {
    for (const auto& setting : queries::work_session_settings())
      o.session_setup.push_back(setting.set_command());
  }
  return o;
}

// The claim session holds the wake-up flag. If the relay's host or its network goes away, the server only
// lets the session (and the flag) go when TCP says the peer is gone: by default after two hours of silence,
// or some 15 minutes of retransmissions when it had data on the way. Keepalives every second after 5 s of
// silence, 5 unanswered, and a 10 s limit on unacknowledged data bring that to about 10 s. (None of this
// applies to a Unix socket, where the peer's death is seen at once.) A relay that notices first ends that
// session itself when it is back (BusyFlag::reset).
pg::ConnectionOptions claim_connection_options(const Config& config) {
  pg::ConnectionOptions o = connection_options(config, "claim", true);
  o.session_setup.emplace_back("SET tcp_keepalives_idle = 5");
  o.session_setup.emplace_back("SET tcp_keepalives_interval = 1");
  o.session_setup.emplace_back("SET tcp_keepalives_count = 5");
  o.session_setup.emplace_back("SET tcp_user_timeout = 10000");
  return o;
}

Outcome::Status to_status(Verdict v) {
  switch (v) {
    case Verdict::sent:
      return Outcome::Status::sent;
    case Verdict::failed:
      return Outcome::Status::failed;
    case Verdict::dead:
      return Outcome::Status::dead;
  }
  return Outcome::Status::failed;
}

}  // namespace

Dispatcher::Dispatcher(uv_loop_t* loop, const Config& config, const pg::ConnInfo& info,
                       std::string lease_owner, Events events)
    : loop_(loop),
      config_(config),
      lease_owner_(std::move(lease_owner)),
      events_(std::move(events)),
      policy_(config.retry),
      delivery_{.default_target = config.target,
                .method = config.method,
                .connect_timeout = config.connect_timeout,
                .total_timeout = config.http_timeout,
                .max_payload_bytes = config.max_payload_bytes,
                .user_agent = std::string("outbox-relay/") + version},
      listener_(loop, info, connection_options(config, "listen", false), config.channel,
                pg::Listener::Events{.on_listening = [this] { wake(); },
                                     .on_lost = nullptr,
                                     .on_notification = [this](pg::Notification&&) { on_notified(); }}),
      claim_conn_(loop, info, claim_connection_options(config),
                  pg::ConnectionEvents{
                      .on_ready =
                          [this] {
                            busy_flag_.session_ready();
                            on_claim_connection_ready();
                          },
                      .on_lost = [this](std::string_view reason) { on_claim_connection_lost(reason); },
                      .on_notification = nullptr}),
      writer_(
          loop, info, connection_options(config, "complete", true), lease_owner_, policy_.max_attempts(0),
          OutcomeWriter::Events{.on_recorded = [this](const OutcomeWriter::Recorded& r) { on_recorded(r); },
                                .on_idle =
                                    [this] {
                                      maybe_finish_stop();
                                      maybe_finish_drain();
                                    },
                                .on_lost = [this](std::string_view reason) { on_database_lost(reason); }}),
      http_(loop,
            http::ClientOptions{.max_cached_connections = kCachedConnectionsPerSlot * config.concurrency,
                                .builtin_http1 = config.http_client == HttpClient::builtin},
            [this](std::uint64_t tag, http::Response&& r) { on_response(tag, std::move(r)); }),
      sweep_timer_(loop, [this] { sweep(); }),
      shutdown_timer_(loop,
                      [this] {
                        if (stopped_) return on_farewell_timeout();
                        abandoning_ ? on_final_grace_expired() : on_shutdown_deadline();
                      }),
      summary_timer_(loop, [this] { log_summary(); }),
      busy_poll_timer_(loop, [this] { wake(); }),
      busy_stall_timer_(loop, [this] { check_busy_claims(); }),
      busy_flag_(loop, claim_conn_,
                 BusyFlag::Events{.on_writers_ended = [this] { on_writers_ended(); },
                                  .on_lowered = [this] { on_busy_flag_lowered(); }}),
      schema_retry_timer_(loop,
                          [this] {
                            // A broken connection asks again by itself once it is back (on_ready).
                            if (claim_conn_.idle()) on_claim_connection_ready();
                          }),
      slots_(static_cast<std::size_t>(config.concurrency)),
      claim_threshold_(std::max<std::size_t>(
          1, static_cast<std::size_t>(std::min(config.batch_size, config.concurrency)) / 4)) {
  free_slots_.reserve(slots_.size());
  // Reversed so that slot 0 is handed out first: the low slots stay warm.
  for (auto i = static_cast<std::uint32_t>(slots_.size()); i-- > 0;)
    free_slots_.push_back(i);
}

void Dispatcher::start() {
  log::event(spdlog::level::info, "relay started",
             {{"lease_owner", lease_owner_},
              {"channel", config_.channel},
              {"concurrency", config_.concurrency},
              {"batch_size", config_.batch_size}});
  if (config_.target.empty())
    log::event(spdlog::level::warn, "no default target",
               {{"detail", "rows without target_url will go dead; set --target or OUTBOX_TARGET_URL"}});
  // A drain looks at the table once and goes until nothing is due: it needs no notifications.
  if (!draining_) {
    listener_.start();
    summary_timer_.start(kSummaryInterval);
  }
  claim_conn_.start();
  writer_.start();
}

// ---- connections and wake-ups ----

void Dispatcher::on_claim_connection_ready() {
  claim_conn_.execute(queries::schema_check, {}, [this](pg::Result&& r) { on_schema_checked(std::move(r)); });
}

void Dispatcher::on_schema_checked(pg::Result&& result) {
  if (result.connection_failed()) return;  // on_ready runs again after the reconnect
  if (!result.ok()) {
    const auto state = result.sqlstate();
    if (state == "42P01" || state == "3F000") {
      events_.on_fatal(exit_code::schema, "the outbox schema is missing: run `outbox-relay migrate` first");
      return;
    }
    // Anything else (a statement timeout, a server shutting down) may pass: ask again after a pause.
    spdlog::error("checking the outbox schema failed, retrying in {} ms: {}", kClaimRetryPause.count(),
                  result.error());
    schema_retry_timer_.start(kClaimRetryPause);
    return;
  }
  const auto found = result.is_null(0, 0) ? 0 : result.int64(0, 0);
  if (found != expected_schema_version()) {
    const bool older = found < expected_schema_version();
    events_.on_fatal(exit_code::schema,
                     "the outbox schema is at version " + std::to_string(found) + " but this relay needs " +
                         std::to_string(expected_schema_version()) +
                         (older ? ": run `outbox-relay migrate`" : ": upgrade outbox-relay"));
    return;
  }
  if (result.is_null(0, 1)) {
    log::event(spdlog::level::warn, "no notify trigger",
               {{"detail", "rows are found only by the sweep; run `outbox-relay migrate`"}});
  } else if (result.value(0, 1) != config_.channel) {
    log::event(spdlog::level::warn, "notify channel mismatch",
               {{"trigger_channel", result.value(0, 1)},
                {"channel", config_.channel},
                {"detail", "run `outbox-relay migrate --channel` with the relay's channel"}});
  }
  schema_ok_ = true;
  if (draining_) {
    // The sweep first, so that retries already due and expired leases are part of this drain.
    sweep();
    return;
  }
  // Writers that found a flag up (this relay's, on a session that broke, or one left by a relay that died)
  // may have skipped their NOTIFY: wait for them, and look again once they ended. The sweep does not wait
  // for that: an application transaction left open must not keep the relay from starting.
  go_idle();
  sweep();
}

void Dispatcher::on_database_lost(std::string_view reason) {
  // A drain cannot wait for the database: it fails, and the rows it claimed wait for their lease to expire.
  if (draining_ && !stopped_) {
    stopped_ = true;
    events_.on_fatal(exit_code::infrastructure, "the database was lost: " + std::string(reason));
  }
}

void Dispatcher::on_claim_connection_lost(std::string_view reason) {
  on_database_lost(reason);
  schema_ok_ = false;
  // B goes with the session; the reconnect waits for the writers that saw it (on_schema_checked).
  busy_ = false;
  busy_poll_timer_.stop();
  busy_stall_timer_.stop();
  busy_flag_.reset();
  maybe_finish_stop();
}

void Dispatcher::on_notified() {
  // Notifications arriving while the relay is already at work mean writers come faster than it goes idle:
  // tell them to stop notifying (each NOTIFY serialises their commits) and poll instead. Not while its
  // requests leave no room for a claim, nor after a stall until it caught up: a relay that cannot claim
  // would keep other relays from hearing of the rows.
  if (!busy_ && !stopping_ && schema_ok_ && !stalled_ && (claiming_ || http_.in_flight() > 0) &&
      has_room_to_claim())
    become_busy();
  wake();
}

void Dispatcher::become_busy() {
  busy_ = true;
  busy_window_start_ = Clock::now();
  busy_window_rows_ = 0;
  busy_poll_ = kBusyPollMin;
  busy_stall_timer_.start(kBusyStall);
  busy_flag_.raise();
}

void Dispatcher::go_idle() {
  busy_ = false;
  busy_poll_timer_.stop();
  busy_stall_timer_.stop();
  busy_flag_.lower();
}

void Dispatcher::check_busy_claims() {
  if (!busy_ || stopping_) return;
  const auto since = Clock::now() - last_claim_sent_;
  if (claiming_ || since < kBusyStall) {
    busy_stall_timer_.start(claiming_ ? kBusyStall : std::chrono::ceil<milliseconds>(kBusyStall - since));
    return;
  }
  spdlog::debug("no claim for {} ms while busy: back to notifications", kBusyStall.count());
  stalled_ = true;
  go_idle();
}

void Dispatcher::on_writers_ended() {
  // Their rows are committed now. A stopping relay claims nothing more: the others must.
  if (stopping_) {
    notify_other_relays(nullptr);
  } else {
    wake();
  }
}

void Dispatcher::on_busy_flag_lowered() {
  if (stopping_) return maybe_finish_stop();
  // Every writer that could have skipped its NOTIFY has committed: one more look finds their rows.
  wake();
}

// Counts what a busy relay's claims find; when the stream has thinned out, goes back to notifications.
// Returns false when it went idle.
bool Dispatcher::note_busy_progress(int rows) {
  const auto now = Clock::now();
  busy_window_rows_ += rows;
  const auto window = now - busy_window_start_;
  if (window >= kBusyWindow) {
    if (busy_window_rows_ < kBusyMinRows) {
      go_idle();
      return false;
    }
    const double per_second = busy_window_rows_ / std::chrono::duration<double>(window).count();
    busy_poll_ = std::clamp(milliseconds(static_cast<long>(per_second / kBusyRowsPerSecondPerMs)),
                            kBusyPollMin, kBusyPollMax);
    busy_window_start_ = now;
    busy_window_rows_ = 0;
    // Another relay held the flag when this one turned busy; it may have let go since.
    if (busy_flag_.state() == BusyFlag::State::down) busy_flag_.raise();
  }
  return true;
}

void Dispatcher::wake() {
  ++wakes_;
  want_claim_ = true;
  maybe_claim();
}

void Dispatcher::sweep() {
  if (stopping_ || !schema_ok_) return;
  if (claiming_ || sweeping_) {
    sweep_wanted_ = true;
    return;
  }
  sweep_wanted_ = false;
  sweeping_ = true;
  due_noted_while_sweeping_.reset();
  claim_conn_.execute(queries::sweep, {std::to_string(kSweepBatch), std::to_string(policy_.max_attempts(0))},
                      [this](pg::Result&& r) { on_swept(std::move(r)); });
}

void Dispatcher::on_swept(pg::Result&& result) {
  sweeping_ = false;
  if (!result.ok()) {
    if (!result.connection_failed()) spdlog::error("sweep failed: {}", result.error());
    sweep_timer_.start(kClaimRetryPause);
    return;
  }
  const auto changed = result.int64(0, 0);
  // The database's answer replaces what was known, except for retries recorded while the sweep ran: its
  // snapshot may predate them.
  next_due_ = std::exchange(due_noted_while_sweeping_, std::nullopt);
  if (!result.is_null(0, 1)) note_due_at(Clock::now() + milliseconds(result.int64(0, 1)));
  if (changed > 0) spdlog::debug("sweep put {} rows back to pending", changed);
  if (changed >= kSweepBatch) sweep_wanted_ = true;
  arm_sweep_timer();
  if (!ready_reported_) {
    ready_reported_ = true;
    if (events_.on_ready) events_.on_ready();
  }
  wake();
}

void Dispatcher::note_due_at(Clock::time_point due) {
  if (sweeping_ && (!due_noted_while_sweeping_ || due < *due_noted_while_sweeping_))
    due_noted_while_sweeping_ = due;
  if (!next_due_ || due < *next_due_) {
    next_due_ = due;
    arm_sweep_timer();
  }
}

void Dispatcher::arm_sweep_timer() {
  if (stopping_ || draining_) return;
  auto delay = config_.poll_interval;
  if (next_due_) {
    const auto until_due = std::chrono::ceil<milliseconds>(*next_due_ - Clock::now());
    delay = std::clamp(until_due, milliseconds(0), delay);
  }
  sweep_timer_.start(delay);
}

// ---- claims and sends ----

void Dispatcher::maybe_claim() {
  dispatch_claimed();
  if (sweep_wanted_ && !claiming_ && !sweeping_) {
    sweep();
    return;
  }
  if (stopping_ || !schema_ok_ || claiming_ || sweeping_ || !want_claim_ || !has_room_to_claim()) return;
  int requested = std::min(config_.batch_size, claim_room());
  if (draining_ && config_.limit > 0) {
    const auto left = static_cast<std::int64_t>(config_.limit) - static_cast<std::int64_t>(counters_.claimed);
    if (left <= 0) return;
    requested = static_cast<int>(std::min<std::int64_t>(requested, left));
  }
  claiming_ = true;
  const std::uint64_t wake_seen = wakes_;
  const auto sent_at = Clock::now();
  last_claim_sent_ = sent_at;
  // One line per claim: at info for a drain (a handful per run), at debug for the daemon (thousands a
  // second).
  log::event(draining_ ? spdlog::level::info : spdlog::level::debug, "start batch", {{"limit", requested}});
  claim_conn_.execute(queries::claim,
                      {lease_owner_, std::to_string(config_.lease.count()), std::to_string(requested)},
                      [this, requested, wake_seen, sent_at](pg::Result&& r) {
                        on_claimed(std::move(r), requested, wake_seen, sent_at);
                      });
}

// Whether the requests under way leave room for a claim now. An idle relay claims at once, for latency.
// While requests are in flight, it waits until a quarter of the window is free: a claim costs about as much
// for one row as for twenty, and a stream of one-row claims would spend the database on overhead. While
// claimed rows still wait for slots, the next claim goes out when half a window of room has opened, so that
// its rows arrive before the waiting ones run out: claims one after the other left the window half empty
// for the length of every claim (a drain spent 60 % of its time between claims).
bool Dispatcher::has_room_to_claim() const {
  const int room = claim_room();
  if (room <= 0) return false;
  if (claimed_waiting() > 0) return static_cast<std::size_t>(room) >= slots_.size() / 2;
  return http_.in_flight() == 0 || free_slots_.size() >= claim_threshold_;
}

// How many more rows the relay may hold: one per slot, and up to one window more when the leases allow
// it. A claim costs the database about as much for one row as for twenty, so a relay with a small
// --concurrency would otherwise pay that overhead on small batches, and rows already claimed keep the
// slots busy while the next claim runs. A waiting row waits at most for one send ahead of it, then needs
// its own send and kLeaseMargin; prefetching is left out when the lease would not cover that.
int Dispatcher::claim_room() const {
  const std::size_t limit = slots_.size() * (may_claim_ahead() ? 2 : 1);
  const std::size_t held = (slots_.size() - free_slots_.size()) + static_cast<std::size_t>(claimed_waiting());
  return held >= limit ? 0 : static_cast<int>(limit - held);
}

// Claimed rows not yet handed to a slot (the deque holds a claim or two).
int Dispatcher::claimed_waiting() const {
  int waiting = 0;
  for (const ClaimedBatch& batch : claimed_)
    waiting += batch.rows.rows() - batch.next;
  return waiting;
}

// The longest a request may take, as the lease check of the configuration counts it.
milliseconds Dispatcher::longest_send() const {
  return config_.http_timeout + config_.connect_timeout;
}

bool Dispatcher::may_claim_ahead() const {
  return config_.lease >= 2 * longest_send() + kLeaseMargin;
}

// Hands the waiting claimed rows to free slots. A row that waited so long that its lease might run out
// before its send ends goes back unsent, and so does every row once the relay is stopping.
void Dispatcher::dispatch_claimed() {
  // A row rejected at once finishes inside dispatch(), which comes back here through maybe_claim().
  if (dispatching_) return;
  dispatching_ = true;
  while (!claimed_.empty() && place_rows(claimed_.front()))
    claimed_.pop_front();
  dispatching_ = false;
}

// Hands one claim's waiting rows to free slots, or gives them back; returns whether none is left waiting.
bool Dispatcher::place_rows(ClaimedBatch& batch) {
  // Without claiming ahead, every row gets a slot as soon as its claim returns.
  const auto send_deadline = may_claim_ahead() ? batch.sent_at + config_.lease - longest_send() - kLeaseMargin
                                               : Clock::time_point::max();
  while (batch.next < batch.rows.rows()) {
    const int row = batch.next;
    if (stopping_ || Clock::now() > send_deadline) {
      ++batch.next;
      give_back(batch.rows, row);
      continue;
    }
    if (free_slots_.empty()) return false;
    ++batch.next;
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[slot].busy = true;
    slots_[slot].message.assign_from(batch.rows, row);
    dispatch(slot);
  }
  return true;
}

void Dispatcher::on_claimed(pg::Result&& result, int requested, std::uint64_t wake_seen,
                            Clock::time_point sent_at) {
  if (!result.ok()) {
    claiming_ = false;
    if (!result.connection_failed()) {
      spdlog::error("claiming rows failed, retrying in {} ms: {}", kClaimRetryPause.count(), result.error());
      sweep_timer_.start(kClaimRetryPause);
    }
    maybe_finish_stop();
    return;
  }
  const int rows = result.rows();
  // A claim asks for no more than the relay may hold.
  assert(rows <= requested);
  counters_.claimed += static_cast<std::uint64_t>(rows);
  if (rows > 0) claimed_.push_back(ClaimedBatch{std::move(result), 0, sent_at});
  // `claiming_` stays set while the rows are dispatched: a row finishing at once (rejected) must not start
  // another claim before this one's rows are placed.
  dispatch_claimed();
  claiming_ = false;
  // A short batch means the table had nothing more due when the claim looked, unless a wake-up arrived
  // since the claim was sent: its rows may have committed after the claim's snapshot.
  // The table had no more due rows than it gave: the relay has caught up.
  if (rows < requested) stalled_ = false;
  if (rows < requested && wakes_ == wake_seen) {
    want_claim_ = false;
    drain_exhausted_ = true;
    // Writers do not notify a busy relay, so it must come back by itself.
    if (busy_ && !stopping_ && note_busy_progress(rows)) busy_poll_timer_.start(busy_poll_);
  } else if (busy_ && !stopping_) {
    note_busy_progress(rows);
  }
  maybe_claim();
  maybe_finish_stop();
  maybe_finish_drain();
}

void Dispatcher::dispatch(std::uint32_t slot_index) {
  const Message& m = slots_[slot_index].message;
  if (std::string why = build_request(m, delivery_, request_); !why.empty()) {
    finish(slot_index, RetryPolicy::reject(std::move(why)));
    return;
  }
  http_.send(std::move(request_), slot_index);
  request_ = http::Request{};
}

void Dispatcher::on_response(std::uint64_t tag, http::Response&& response) {
  const auto slot_index = static_cast<std::uint32_t>(tag);
  if (abandoning_ && !response.has_status()) {
    // Aborted at the shutdown deadline: the request may or may not have arrived, so the attempt stands.
    Outcome o;
    o.id = slots_[slot_index].message.id;
    o.attempt = slots_[slot_index].message.attempts;
    o.status = Outcome::Status::pending;
    o.error = "interrupted by shutdown after " + std::to_string(config_.shutdown_timeout.count()) + " ms";
    slots_[slot_index].busy = false;
    free_slots_.push_back(slot_index);
    ++counters_.released;
    writer_.record(std::move(o));
    maybe_finish_stop();
    return;
  }
  const Message& m = slots_[slot_index].message;
  finish(slot_index, policy_.decide(response, m.attempts, m.max_attempts, std::chrono::system_clock::now()));
}

void Dispatcher::finish(std::uint32_t slot_index, const Decision& decision) {
  Slot& slot = slots_[slot_index];
  const Message& m = slot.message;
  switch (decision.verdict) {
    case Verdict::sent:
      ++counters_.sent;
      break;
    case Verdict::failed:
      ++counters_.failed;
      break;
    case Verdict::dead:
      ++counters_.dead;
      break;
  }
  if (decision.verdict != Verdict::sent) {
    log::event(spdlog::level::warn, "send failed",
               {{"message_id", m.id},
                {"topic", m.topic},
                {"attempt", m.attempts},
                {"status", decision.http_status},
                {"outcome", decision.verdict == Verdict::dead ? "dead" : "failed"},
                {"retry_in_ms", decision.delay.count()},
                {"error", decision.error}});
  }
  writer_.record(Outcome{.id = m.id,
                         .attempt = m.attempts,
                         .status = to_status(decision.verdict),
                         .refund = false,
                         .http_status = decision.http_status,
                         .error = decision.error,
                         .retry_delay = decision.delay,
                         .unblocks_successor = m.ordered && decision.verdict != Verdict::failed},
                 http_.in_flight() > 0 || claimed_waiting() > 0);
  slot.busy = false;
  free_slots_.push_back(slot_index);
  maybe_claim();
  maybe_finish_stop();
  maybe_finish_drain();
}

void Dispatcher::give_back(const pg::Result& claimed, int row) {
  ++counters_.released;
  Outcome o;
  o.id = claimed.int64(row, queries::kId);
  o.attempt = static_cast<int>(claimed.int64(row, queries::kAttempts));
  o.status = Outcome::Status::pending;
  o.refund = true;
  writer_.record(std::move(o));
}

void Dispatcher::on_recorded(const OutcomeWriter::Recorded& recorded) {
  if (recorded.next_retry_in) note_due_at(Clock::now() + *recorded.next_retry_in);
  if (!recorded.unblocked_successor) return;
  // The next message of that ordering key is claimable now. A stopping relay will not claim it, so it
  // tells the others before it goes (see finish_stop).
  if (!stopping_) wake();
}

// ---- shutdown ----

void Dispatcher::stop() {
  if (stopping_) return;
  stopping_ = true;
  log::event(spdlog::level::info, "stopping",
             {{"in_flight", http_.in_flight()}, {"shutdown_timeout_ms", config_.shutdown_timeout.count()}});
  sweep_timer_.stop();
  summary_timer_.stop();
  busy_ = false;
  busy_poll_timer_.stop();
  busy_stall_timer_.stop();
  // This relay claims nothing more: writers must notify the others from now on. Those that skipped their
  // NOTIFY because of its flag are waited for meanwhile (until --shutdown-timeout at most). Not on a
  // connection that is down: that cannot be waited on, and must not hold up the exit.
  if (claim_conn_.state() != pg::State::ready && claim_conn_.state() != pg::State::busy) {
    busy_flag_.reset();
  } else if (busy_flag_.state() != BusyFlag::State::down || busy_flag_.owes_wait()) {
    busy_flag_.lower();
  }
  listener_.close();
  shutdown_timer_.start(config_.shutdown_timeout);
  dispatch_claimed();  // gives back every claimed row still waiting for a slot
  maybe_finish_stop();
}

void Dispatcher::on_shutdown_deadline() {
  if (busy_flag_.state() != BusyFlag::State::down || busy_flag_.owes_wait()) {
    log::event(spdlog::level::warn, "writers still open at exit",
               {{"detail",
                 "they may have skipped their NOTIFY while this relay was busy; the other relays find their "
                 "rows at their next sweep"}});
  }
  busy_flag_.reset();
  log::event(spdlog::level::warn, "shutdown deadline reached",
             {{"in_flight", http_.in_flight()}, {"unrecorded_outcomes", writer_.backlog()}});
  abandoning_ = true;
  shutdown_timer_.start(kFinalGrace);
  // Each aborted request completes through on_response, which gives its row back.
  http_.abort_all();
  maybe_finish_stop();
}

void Dispatcher::on_final_grace_expired() {
  stopped_cleanly_ = false;
  log::event(spdlog::level::err, "outcomes not recorded",
             {{"count", writer_.backlog()},
              {"detail",
               "the database is unreachable; these rows keep their lease until it expires, then they "
               "are retried"}});
  stopped_ = true;
  finish_stop();
}

void Dispatcher::maybe_finish_stop() {
  if (!stopping_ || stopped_) return;
  if (claiming_ || claimed_waiting() > 0 || http_.in_flight() > 0 || !writer_.idle()) return;
  // Every request is over; the writers that skipped their NOTIFY because of this relay's flag may still be
  // waited for (the shutdown deadline ends that too).
  if (busy_flag_.state() != BusyFlag::State::down) return;
  stopped_ = true;
  // The NOTIFY below gets kFinalGrace, so that a connection that hangs cannot hold up the exit.
  shutdown_timer_.start(kFinalGrace);
  // Only on a healthy connection: a database that is down cannot be told, and must not hold up the exit.
  // Before the deadline, a statement still running (an abandoned wait's last look) is no reason to skip
  // the NOTIFY; after it, that statement may be what is stuck.
  const auto state = claim_conn_.state();
  const bool usable =
      abandoning_ ? claim_conn_.idle() : (state == pg::State::ready || state == pg::State::busy);
  if (!usable) return finish_stop();
  // Always: rows may have become claimable that this relay will not claim (writers it waited for, the next
  // message of an ordering key, a look it owed after its last wait), and one NOTIFY is cheap.
  notify_other_relays([this] { finish_stop(); });
}

void Dispatcher::on_farewell_timeout() {
  log::event(spdlog::level::warn, "could not wake the other relays",
             {{"detail", "the database did not answer in time; they find the rows at their next sweep"}});
  finish_stop();
}

void Dispatcher::notify_other_relays(std::function<void()> then) {
  claim_conn_.execute("SELECT pg_notify($1, '')", {config_.channel},
                      [then = std::move(then)](pg::Result&& r) {
                        if (!r.ok()) spdlog::warn("could not wake the other relays: {}", r.error());
                        if (then) then();
                      });
}

void Dispatcher::maybe_finish_drain() {
  if (!draining_ || stopped_) return;
  const bool limit_reached =
      config_.limit > 0 && counters_.claimed >= static_cast<std::uint64_t>(config_.limit);
  if (!(drain_exhausted_ || limit_reached) || claiming_ || claimed_waiting() > 0 || sweeping_ ||
      http_.in_flight() > 0 || !writer_.idle())
    return;
  stopping_ = true;
  stopped_ = true;
  finish_stop();
}

void Dispatcher::finish_stop() {
  // Closing the connection fails the NOTIFY still queued, whose callback comes back here.
  if (finished_) return;
  finished_ = true;
  shutdown_timer_.stop();
  claim_conn_.close();
  writer_.close();
  log_summary();
  events_.on_stopped();
}

void Dispatcher::log_summary() {
  const Counters& c = counters_;
  const bool changed = c.sent != last_summary_.sent || c.failed != last_summary_.failed ||
                       c.dead != last_summary_.dead || c.released != last_summary_.released;
  if (changed || stopping_) {
    log::event(spdlog::level::info, "summary",
               {{"processed", c.sent + c.failed + c.dead},
                {"sent", c.sent},
                {"failed", c.failed},
                {"dead", c.dead},
                {"released", c.released},
                {"lease_lost", writer_.lease_lost()},
                {"mode", draining_ ? "drain" : "run"}});
    last_summary_ = c;
  }
  if (!stopping_) summary_timer_.start(kSummaryInterval);
}

}  // namespace relay
