#pragma once

// Private to http::Client's built-in HTTP/1.1 code: one TCP connection to a server.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <uv.h>

#include "http/exchange.hpp"
#include "http/response_reader.hpp"
#include "loop/handle.hpp"

namespace http::detail {

class PlainConnection;

// Hears how the exchanges a connection carries end, and of idle connections the server closed. Called
// from the connection's libuv callbacks, as their last step; the owner may close the connection but must
// not destroy it there.
class ConnectionOwner {
 public:
  virtual void on_exchange_over(PlainConnection& connection, Exchange& exchange, Outcome&& outcome) = 0;
  virtual void on_idle_connection_lost(PlainConnection& connection) = 0;

 protected:
  ~ConnectionOwner() = default;
};

// The receive buffer the connections of one client share: a read is consumed before the next one starts.
using ReadBuffer = std::span<char>;

// A TCP connection carrying one exchange at a time:
//   connecting  trying the server's addresses in turn, with the first exchange waiting
//   busy        the request is written and its answer read
//   idle        kept alive for the next exchange; still read, so that a close by the server shows at once
//   closed      its socket is closed (a libuv close, finished by the loop); nothing happens any more
// Every transition is logged at debug level. Requests go out with uv_try_write, one system call; whatever
// the socket does not take at once is queued with uv_write.
class PlainConnection {
 public:
  enum class State { connecting, busy, idle, closed };

  PlainConnection(uv_loop_t* loop, ConnectionOwner& owner, ReadBuffer buffer, std::size_t body_excerpt_bytes,
                  std::uint64_t id, std::string origin);
  ~PlainConnection();
  PlainConnection(const PlainConnection&) = delete;
  PlainConnection& operator=(const PlainConnection&) = delete;

  // Connects to the first of `addresses` that accepts, then sends `exchange`. A failure found at once is
  // returned (the owner hears nothing of it); later ones reach the owner.
  std::optional<Outcome> open(std::shared_ptr<const std::vector<sockaddr_storage>> addresses,
                              Exchange* exchange);
  // Sends `exchange` on this idle connection, on the same terms as open().
  std::optional<Outcome> carry(Exchange* exchange);
  // Closes the connection and lets go of its exchange, if any, without a word to the owner.
  Exchange* close();

  State state() const { return state_; }
  Exchange* exchange() const { return exchange_; }
  const std::string& origin() const { return origin_; }
  Clock::time_point idle_since() const { return idle_since_; }

  // Position in the owner's lists (bookkeeping owned by the owner).
  std::size_t slot = 0;

 private:
  // The libuv handle with the requests made on it: libuv runs their callbacks (cancelled) while closing
  // the handle, before freeing it, so they live exactly as long as the handle.
  struct Socket : uv_tcp_t {
    uv_connect_t connect_request{};
    uv_write_t write_request{};
  };

  static void on_uv_connect(uv_connect_t* request, int status);
  static void on_uv_write(uv_write_t* request, int status);
  static void on_uv_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buffer);
  static void on_uv_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer);
  static void on_uv_timer(uv_timer_t* timer);

  std::optional<Outcome> connect_next();
  void on_connected(int status);
  std::optional<Outcome> start_reading();
  std::optional<Outcome> send_request();
  void on_written(int status);
  void on_bytes(ssize_t nread, const char* data);
  void on_timeout();

  Outcome failure(CURLcode code, std::string detail) const;
  Outcome failure_before_answer(CURLcode code, std::string detail) const;
  std::optional<Outcome> finish_if_read();
  void end_exchange(Outcome&& outcome);
  void arm_timer(Clock::time_point deadline);
  void close_socket();
  void set_state(State next);
  uv_stream_t* stream() const;

  uv_loop_t* loop_;
  ConnectionOwner& owner_;
  ReadBuffer buffer_;
  const std::uint64_t id_;
  const std::string origin_;
  loop::Handle<Socket> socket_;
  loop::Handle<uv_timer_t> timer_;
  ResponseReader reader_;
  std::shared_ptr<const std::vector<sockaddr_storage>> addresses_;
  std::size_t next_address_ = 0;
  int last_connect_error_ = 0;
  Clock::time_point connect_started_{};
  Clock::time_point connect_deadline_{};
  Exchange* exchange_ = nullptr;
  State state_ = State::connecting;
  std::size_t exchanges_done_ = 0;  // answered exchanges: a connection that had some may have gone stale
  std::size_t bytes_received_ = 0;  // for the current exchange, for timeout messages
  bool writing_ = false;            // part of the request still waits in libuv's write queue
  Clock::time_point idle_since_{};
};

}  // namespace http::detail
