#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <libpq-fe.h>
#include <uv.h>

#include "loop/poll.hpp"
#include "loop/timer.hpp"
#include "pg/conninfo.hpp"
#include "pg/result.hpp"

namespace pg {

// Life of one connection. Exactly one function (Connection::transition_to) changes it, and every change is
// logged at debug level with its reason.
enum class State {
  disconnected,  // not started yet, or waiting out the reconnect backoff
  connecting,    // PQconnectStart/PQconnectPoll in progress, then the session setup statements
  ready,         // connected and idle: the next queued statement may be sent
  busy,          // one statement sent, its results not all read yet
  broken,        // the connection failed; queued statements are being failed and a reconnect scheduled
  closed,        // close() was called: terminal
};
std::string_view to_string(State s);

struct Notification {
  std::string channel;
  std::string payload;
  int backend_pid = 0;
};

// Text-format parameters for one statement; std::nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;
using ResultCallback = std::function<void(Result&&)>;

// A statement run often: each connection prepares it once per session (server-side PREPARE), after which a
// call only binds parameters and executes, skipping parse and plan. Name and text must outlive the
// connection (string literals or other static data); the name must be unique among a connection's
// statements.
struct PreparedStatement {
  std::string_view name;
  std::string_view sql;
};

struct ReconnectPolicy {
  std::chrono::milliseconds initial{250};
  std::chrono::milliseconds max{10'000};
  double multiplier = 2.0;
};

struct ConnectionOptions {
  std::string name;                        // names the connection in log lines ("listen", "claim", ...)
  std::string application_name;            // passed as fallback_application_name
  std::vector<std::string> session_setup;  // run after every connect, before on_ready (e.g. SET ...)
  std::chrono::milliseconds connect_timeout{10'000};
  ReconnectPolicy reconnect;
};

struct ConnectionEvents {
  std::function<void()> on_ready;                        // after every successful (re)connect and setup
  std::function<void(std::string_view reason)> on_lost;  // broke (or failed to connect); will retry
  std::function<void(Notification&&)> on_notification;   // a NOTIFY on a channel this session LISTENs to
};

// One non-blocking libpq connection driven by the libuv loop: PQconnectStart/PQconnectPoll, PQsend*,
// PQconsumeInput, a uv_poll on PQsocket() re-registered after every (re)connect. Nothing here blocks.
// Statements are queued and sent one at a time. If the connection breaks, it reconnects by itself with
// capped exponential backoff, forever, until close().
class Connection {
 public:
  Connection(uv_loop_t* loop, ConnInfo info, ConnectionOptions options, ConnectionEvents events);
  // Finishes the connection without running any pending callback.
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts connecting. Calling it again is harmless.
  void start();
  // Queues one statement. `done` runs exactly once, on the loop thread and never inside this call: with the
  // result, or with Result::failure(reason) if the connection breaks or is closed before it completes.
  void execute(std::string sql, Params params, ResultCallback done);
  // The same for a prepared statement (prepared first on this session if it is not yet).
  void execute(const PreparedStatement& statement, Params params, ResultCallback done);
  // Stops for good: fails the queued statements, closes the socket, never reconnects.
  void close();

  State state() const { return state_; }
  // Connected, set up, and nothing queued or running.
  bool idle() const { return state_ == State::ready && queue_.empty(); }
  std::size_t queued() const { return queue_.size(); }
  // Successful connects so far (1 after the first connect).
  std::uint64_t connects() const { return connects_; }
  const std::string& name() const { return options_.name; }

 private:
  struct Pending {
    std::string sql;                              // ad-hoc statements
    const PreparedStatement* prepared = nullptr;  // prepared ones
    Params params;
    ResultCallback done;
  };
  struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };

  struct NotifyDeleter {
    void operator()(PGnotify* n) const { PQfreemem(n); }
  };

  void transition_to(State next, std::string_view reason);
  void begin_connect();
  void continue_connect();
  void on_connected();
  void run_next_setup();
  void on_setup_result(ResultPtr r);
  void become_ready();
  void fail(std::string reason);
  void drop_connection();
  void schedule_reconnect();
  void send_next();
  void send_current();
  bool flush_output();
  void read_input();
  void collect_results();
  void keep_result(ResultPtr r);
  void complete_statement();
  bool deliver_notifications();
  void finish_current(Result&& r);
  void on_socket_event(int status, int events);
  void on_dispatch();
  void fail_all_queued(const std::string& reason);
  bool watch_socket(int events);
  std::string connection_error(std::string_view what) const;

  ConnInfo info_;
  ConnectionOptions options_;
  ConnectionEvents events_;
  std::unique_ptr<PGconn, ConnDeleter> conn_;
  // Declared after conn_ so that it is destroyed first: the uv_poll must let go of the socket before
  // PQfinish closes it.
  loop::Poll poll_;
  loop::Timer retry_timer_;
  loop::Timer connect_deadline_;
  // Runs execute()'s follow-up on a later loop turn, so that no callback ever runs inside execute().
  loop::Timer dispatch_timer_;
  State state_ = State::disconnected;
  std::deque<Pending> queue_;
  std::optional<Pending> current_;
  ResultPtr current_result_;
  // Within `connecting`: true while PQconnectPoll drives the handshake, false during session setup.
  bool handshaking_ = false;
  std::size_t setup_index_ = 0;
  // A statement (user or setup) was sent and PQgetResult has not yet returned NULL for it.
  bool in_flight_ = false;
  // The statement in flight is the PREPARE of current_'s prepared statement, not the statement itself.
  bool preparing_ = false;
  // Names of the statements prepared on the current session (forgotten with it).
  std::unordered_set<std::string_view> prepared_names_;
  // PQflush returned 1: output is still queued in libpq, so the socket is watched for writability too.
  bool flushing_ = false;
  // Bumped whenever the PGconn is dropped; code that ran a callback compares it to know whether the
  // connection it was working on still exists.
  std::uint64_t generation_ = 0;
  std::chrono::milliseconds next_backoff_;
  std::uint64_t connects_ = 0;
  bool started_ = false;
};

}  // namespace pg
