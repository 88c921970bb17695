#include "pg/connection.hpp"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include <spdlog/spdlog.h>

#include "pg/libpq_glue.hpp"

namespace pg {

namespace {

using std::chrono::milliseconds;

// The only state changes the design allows; anything else is a bug in this file.
bool transition_allowed(State from, State to) {
  switch (from) {
    case State::disconnected:
      return to == State::connecting || to == State::closed;
    case State::connecting:
      return to == State::ready || to == State::broken || to == State::closed;
    case State::ready:
      return to == State::busy || to == State::broken || to == State::closed;
    case State::busy:
      return to == State::ready || to == State::broken || to == State::closed;
    case State::broken:
      return to == State::disconnected || to == State::closed;
    case State::closed:
      return false;
  }
  return false;
}

bool is_error(const PGresult* r) {
  const auto status = PQresultStatus(r);
  return status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR;
}

bool is_copy(const PGresult* r) {
  const auto status = PQresultStatus(r);
  return status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH;
}

milliseconds next_delay(milliseconds current, const ReconnectPolicy& policy) {
  const double grown = static_cast<double>(current.count()) * std::max(1.0, policy.multiplier);
  const double capped = std::min(grown, static_cast<double>(policy.max.count()));
  return milliseconds(static_cast<milliseconds::rep>(capped));
}

}  // namespace

std::string_view to_string(State s) {
  switch (s) {
    case State::disconnected:
      return "disconnected";
    case State::connecting:
      return "connecting";
    case State::ready:
      return "ready";
    case State::busy:
      return "busy";
    case State::broken:
      return "broken";
    case State::closed:
      return "closed";
  }
  return "unknown";
}

Connection::Connection(uv_loop_t* loop, ConnInfo info, ConnectionOptions options, ConnectionEvents events)
    : info_(std::move(info)),
      options_(std::move(options)),
      events_(std::move(events)),
      poll_(loop, [this](int status, int ready) { on_socket_event(status, ready); }),
      retry_timer_(loop, [this] { begin_connect(); }),
      connect_deadline_(loop,
                        [this] {
                          fail("connection attempt timed out after " +
                               std::to_string(options_.connect_timeout.count()) + " ms");
                        }),
      dispatch_timer_(loop, [this] { on_dispatch(); }),
      next_backoff_(std::max(options_.reconnect.initial, milliseconds(1))) {}

Connection::~Connection() {
  poll_.stop();
  conn_.reset();
}

void Connection::start() {
  if (started_ || state_ == State::closed) return;
  started_ = true;
  // Connecting on the next loop turn keeps every event (on_lost included) out of the caller's stack.
  retry_timer_.start(milliseconds(0));
}

void Connection::execute(std::string sql, Params params, ResultCallback done) {
  queue_.push_back(Pending{std::move(sql), nullptr, std::move(params), std::move(done)});
  if (state_ == State::ready || state_ == State::closed) dispatch_timer_.start(milliseconds(0));
}

void Connection::execute(const PreparedStatement& statement, Params params, ResultCallback done) {
  queue_.push_back(Pending{{}, &statement, std::move(params), std::move(done)});
  if (state_ == State::ready || state_ == State::closed) dispatch_timer_.start(milliseconds(0));
}

void Connection::close() {
  if (state_ == State::closed) return;
  transition_to(State::closed, "close() called");
  retry_timer_.stop();
  drop_connection();
  fail_all_queued("connection " + options_.name + " closed");
}

void Connection::transition_to(State next, std::string_view reason) {
  if (!transition_allowed(state_, next)) {
    spdlog::critical("pg {}: impossible transition {} -> {} ({})", options_.name, to_string(state_),
                     to_string(next), reason);
    std::abort();
  }
  spdlog::debug("pg {}: {} -> {} ({})", options_.name, to_string(state_), to_string(next), reason);
  state_ = next;
}

void Connection::begin_connect() {
  transition_to(State::connecting,
                (connects_ == 0 ? "connecting to " : "reconnecting to ") + info_.describe());
  // Defaults first, so that the connection string (expanded from dbname) can override them. Keepalives
  // make a silently vanished server show up as a broken idle connection instead of eternal silence.
  const char* keys[] = {"keepalives_idle",  "keepalives_interval",
                        "keepalives_count", "fallback_application_name",
                        "dbname",           nullptr};
  const char* values[] = {"30", "10", "3", options_.application_name.c_str(), info_.text().c_str(), nullptr};
  conn_.reset(PQconnectStartParams(keys, values, /*expand_dbname=*/1));
  if (!conn_) return fail("cannot allocate a libpq connection");
  log_notices(conn_.get(), &options_.name);
  if (PQstatus(conn_.get()) == CONNECTION_BAD) return fail(connection_error("cannot connect"));
  handshaking_ = true;
  // PQconnectPoll ignores connect_timeout, so the deadline is ours; it also covers the session setup.
  // Zero means no deadline, as it does for libpq.
  if (options_.connect_timeout.count() > 0) connect_deadline_.start(options_.connect_timeout);
  // libpq's protocol: before the first PQconnectPoll, behave as if it had asked for writability.
  watch_socket(UV_WRITABLE);
}

void Connection::continue_connect() {
  // PQconnectPoll may close the socket and open another (next host or address, SSL or GSS fallback), even
  // under the same number; a uv_poll must never outlive its descriptor, so it is re-created each step.
  poll_.stop();
  switch (PQconnectPoll(conn_.get())) {
    case PGRES_POLLING_READING:
      watch_socket(UV_READABLE);
      return;
    case PGRES_POLLING_WRITING:
      watch_socket(UV_WRITABLE);
      return;
    case PGRES_POLLING_OK:
      on_connected();
      return;
    default:
      fail(connection_error("cannot connect"));
      return;
  }
}

void Connection::on_connected() {
  handshaking_ = false;
  if (PQsetnonblocking(conn_.get(), 1) != 0)
    return fail(connection_error("cannot make the connection non-blocking"));
  // Idle connections keep watching for input: notifications and a server going away show up at once.
  if (!watch_socket(UV_READABLE)) return;
  setup_index_ = 0;
  run_next_setup();
}

void Connection::run_next_setup() {
  if (setup_index_ == options_.session_setup.size()) return become_ready();
  const std::string& sql = options_.session_setup[setup_index_++];
  if (PQsendQuery(conn_.get(), sql.c_str()) == 0) return fail(connection_error("cannot send session setup"));
  in_flight_ = true;
  flush_output();
}

void Connection::on_setup_result(ResultPtr r) {
  const Result result(std::move(r));
  if (!result.ok()) {
    return fail("session setup statement " + std::to_string(setup_index_) + " failed: " + result.error());
  }
  run_next_setup();
}

void Connection::become_ready() {
  connect_deadline_.stop();
  next_backoff_ = std::max(options_.reconnect.initial, milliseconds(1));
  ++connects_;
  spdlog::info("pg {}: connected to {} (backend pid {}, connect #{})", options_.name, info_.describe(),
               PQbackendPID(conn_.get()), connects_);
  transition_to(State::ready, "connected and set up");
  const auto generation = generation_;
  if (events_.on_ready) events_.on_ready();
  if (generation != generation_) return;
  send_next();
}

void Connection::fail(std::string reason) {
  if (state_ == State::closed || state_ == State::broken) return;
  const std::string why = info_.redact(reason);
  spdlog::warn("pg {}: {}", options_.name, why);
  transition_to(State::broken, why);
  drop_connection();
  fail_all_queued(why);
  // Any callback may have closed the connection; only a still-broken one goes on to report and retry.
  if (state_ != State::broken) return;
  if (events_.on_lost) events_.on_lost(why);
  if (state_ != State::broken) return;
  schedule_reconnect();
}

void Connection::drop_connection() {
  poll_.stop();
  conn_.reset();
  connect_deadline_.stop();
  current_result_.reset();
  handshaking_ = false;
  in_flight_ = false;
  preparing_ = false;
  prepared_names_.clear();
  flushing_ = false;
  ++generation_;
}

void Connection::schedule_reconnect() {
  const auto delay = next_backoff_;
  next_backoff_ = next_delay(next_backoff_, options_.reconnect);
  transition_to(State::disconnected, "reconnecting in " + std::to_string(delay.count()) + " ms");
  retry_timer_.start(delay);
}

void Connection::send_next() {
  if (state_ != State::ready || queue_.empty()) return;
  current_ = std::move(queue_.front());
  queue_.pop_front();
  transition_to(State::busy, "statement sent");
  const PreparedStatement* prepared = current_->prepared;
  if (prepared != nullptr && !prepared_names_.contains(prepared->name)) {
    // PQsendPrepare needs NUL-terminated strings; a name and text made of string literals are.
    preparing_ = true;
    if (PQsendPrepare(conn_.get(), prepared->name.data(), prepared->sql.data(),
                      static_cast<int>(current_->params.size()), nullptr) == 0) {
      preparing_ = false;
      if (PQstatus(conn_.get()) == CONNECTION_BAD) return fail(connection_error("cannot send statement"));
      return finish_current(Result::failure(info_.redact(connection_error("cannot prepare statement"))));
    }
    in_flight_ = true;
    flush_output();
    return;
  }
  send_current();
}

void Connection::send_current() {
  std::vector<const char*> values;
  values.reserve(current_->params.size());
  for (const auto& p : current_->params)
    values.push_back(p ? p->c_str() : nullptr);
  const int count = static_cast<int>(values.size());
  const int sent = current_->prepared != nullptr
                       ? PQsendQueryPrepared(conn_.get(), current_->prepared->name.data(), count,
                                             values.data(), nullptr, nullptr, /*resultFormat=*/0)
                       : PQsendQueryParams(conn_.get(), current_->sql.c_str(), count, nullptr, values.data(),
                                           nullptr, nullptr, /*resultFormat=*/0);
  if (sent == 0) {
    // libpq also refuses statements it cannot encode (too many parameters): only that statement fails.
    if (PQstatus(conn_.get()) == CONNECTION_BAD) return fail(connection_error("cannot send statement"));
    return finish_current(Result::failure(info_.redact(connection_error("cannot send statement"))));
  }
  in_flight_ = true;
  flush_output();
}

bool Connection::flush_output() {
  const int rc = PQflush(conn_.get());
  if (rc < 0) {
    fail(connection_error("cannot send to the server"));
    return false;
  }
  flushing_ = rc == 1;
  return watch_socket(flushing_ ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

void Connection::on_socket_event(int status, int events) {
  if (!conn_) return;
  if (status < 0) return fail(std::string("socket error: ") + uv_strerror(status));
  if (handshaking_) return continue_connect();
  const auto generation = generation_;
  if ((events & UV_READABLE) != 0) {
    read_input();
    if (generation != generation_) return;
  }
  // Per libpq, pending output is flushed on writability and again after input has been consumed.
  if (flushing_ || (events & UV_WRITABLE) != 0) flush_output();
}

void Connection::read_input() {
  if (PQconsumeInput(conn_.get()) == 0) return fail(connection_error("lost the connection"));
  const auto generation = generation_;
  collect_results();
  if (generation != generation_) return;
  if (PQstatus(conn_.get()) == CONNECTION_BAD) return fail(connection_error("lost the connection"));
  deliver_notifications();
}

void Connection::collect_results() {
  const auto generation = generation_;
  while (generation == generation_ && in_flight_ && PQisBusy(conn_.get()) == 0) {
    ResultPtr r(PQgetResult(conn_.get()));
    if (r && is_copy(r.get())) return fail("COPY is not supported on this connection");
    if (r) {
      keep_result(std::move(r));
      continue;
    }
    in_flight_ = false;
    complete_statement();
  }
}

void Connection::keep_result(ResultPtr r) {
  // A statement's first error explains it best; otherwise the last result is the statement's outcome.
  if (current_result_ && is_error(current_result_.get())) return;
  current_result_ = std::move(r);
}

void Connection::complete_statement() {
  // An error result produced because the socket died is the connection's failure, not the statement's.
  if (PQstatus(conn_.get()) == CONNECTION_BAD) return fail(connection_error("lost the connection"));
  ResultPtr r = std::move(current_result_);
  if (state_ == State::connecting) return on_setup_result(std::move(r));
  if (!r) return finish_current(Result::failure("the statement produced no result"));
  if (preparing_) {
    preparing_ = false;
    Result prepared(std::move(r));
    if (!prepared.ok()) return finish_current(std::move(prepared));
    prepared_names_.insert(current_->prepared->name);
    return send_current();
  }
  finish_current(Result(std::move(r)));
}

void Connection::finish_current(Result&& r) {
  ResultCallback done = std::move(current_->done);
  current_.reset();
  transition_to(State::ready, "statement done");
  const auto generation = generation_;
  if (done) done(std::move(r));
  if (generation != generation_ || state_ != State::ready) return;
  send_next();
}

bool Connection::deliver_notifications() {
  const auto generation = generation_;
  while (generation == generation_) {
    std::unique_ptr<PGnotify, NotifyDeleter> raw(PQnotifies(conn_.get()));
    if (!raw) return true;
    Notification n{raw->relname, raw->extra == nullptr ? "" : raw->extra, raw->be_pid};
    raw.reset();
    if (events_.on_notification) events_.on_notification(std::move(n));
  }
  return false;
}

void Connection::on_dispatch() {
  if (state_ == State::closed) return fail_all_queued("connection " + options_.name + " closed");
  send_next();
}

void Connection::fail_all_queued(const std::string& reason) {
  // Taken out first: each callback may execute() again (onto the fresh queue) or close() this connection.
  std::deque<Pending> doomed;
  if (current_) doomed.push_back(std::move(*current_));
  current_.reset();
  std::move(queue_.begin(), queue_.end(), std::back_inserter(doomed));
  queue_.clear();
  for (auto& p : doomed)
    if (p.done) p.done(Result::failure(reason));
}

bool Connection::watch_socket(int events) {
  const int fd = PQsocket(conn_.get());
  if (fd < 0) {
    fail(connection_error("the connection has no socket"));
    return false;
  }
  if (const int rc = poll_.watch(fd, events); rc != 0) {
    fail(std::string("cannot watch the socket: ") + uv_strerror(rc));
    return false;
  }
  return true;
}

std::string Connection::connection_error(std::string_view what) const {
  std::string message(what);
  message += " (" + info_.describe() + ")";
  if (const auto detail = error_text(conn_.get()); !detail.empty()) message += ": " + detail;
  return info_.redact(message);
}

}  // namespace pg
