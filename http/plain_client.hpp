#pragma once

// Private to http::Client: the built-in HTTP/1.1 code that carries plain http:// requests.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <uv.h>

#include "http/exchange.hpp"
#include "http/name_lookup.hpp"
#include "http/plain_connection.hpp"
#include "http/plain_target.hpp"
#include "http/request.hpp"
#include "loop/handle.hpp"

namespace http::detail {

struct PlainClientOptions {
  long max_host_connections = 0;  // 0: no limit
  long max_idle_connections = 0;  // over all servers; 0: no limit
  std::size_t body_excerpt_bytes = 256;
};

// Sends plain HTTP/1.1 requests over kept-alive connections of its own, on the loop, with the semantics of
// http::Client's libcurl side (timeouts, connection limits, error codes and texts, a request sent again when
// a kept-alive connection turns out closed). It exists because libcurl 7.88 spends most of a small
// request's cost formatting the head one character at a time and polling the socket twice more than
// needed; here a request costs one write and one read.
//
// Exchanges wait in their server's queue for an idle connection, or for a new one within the limit (after a
// name lookup, if the addresses are not known or older than a minute). Completions run on the loop, never
// inside send(), each exactly once.
class PlainClient final : private ConnectionOwner {
 public:
  using Completion = std::function<void(std::uint64_t tag, Response&& response)>;

  PlainClient(uv_loop_t* loop, PlainClientOptions options, Completion on_complete);
  // Closes every connection without running completions.
  ~PlainClient();
  PlainClient(const PlainClient&) = delete;
  PlainClient& operator=(const PlainClient&) = delete;

  void send(Request&& request, std::uint64_t tag, const PlainTarget& target);
  // Completes every exchange in flight with "aborted". False if a completion destroyed the client.
  [[nodiscard]] bool abort_all();
  std::size_t in_flight() const { return in_flight_; }

  // How long a name's addresses are used before they are looked up again (libcurl's default too).
  static constexpr std::chrono::seconds kAddressLifetime{60};
  // An idle connection older than this is closed rather than reused (libcurl's CURLOPT_MAXAGE_CONN).
  static constexpr std::chrono::seconds kMaxIdleAge{118};
  // Servers remembered (with their addresses and idle connections) before unused ones are dropped.
  static constexpr std::size_t kMaxOrigins = 1024;

 private:
  struct Origin {
    std::string key;
    std::string host;
    std::uint16_t port = 80;
    Addresses addresses;
    Clock::time_point addresses_expire{};
    bool looking_up = false;
    Clock::time_point lookup_started{};
    std::deque<Exchange*> queue;
    std::vector<PlainConnection*> idle;  // the most recently used last
    std::size_t open = 0;                // connections not closed, idle or not
  };

  void on_exchange_over(PlainConnection& connection, Exchange& exchange, Outcome&& outcome) override;
  void on_idle_connection_lost(PlainConnection& connection) override;
  void on_lookup_done(const std::string& key, Addresses addresses, const std::string& error);
  static void on_uv_queue_timer(uv_timer_t* timer);
  static void on_uv_idle(uv_idle_t* idle);

  Exchange* take_spare();
  Origin& origin_for(const PlainTarget& target);
  Origin& origin_of(const PlainConnection& connection);
  void forget_unused_origins();
  void pump(Origin& origin);
  PlainConnection* take_idle(Origin& origin);
  void look_up(Origin& origin);
  PlainConnection& open_connection(Origin& origin);
  void settle(Origin& origin, PlainConnection& connection, Exchange& exchange, Outcome&& outcome);
  void park(Origin& origin, PlainConnection& connection);
  void trim_idle();
  void forget(Origin& origin, PlainConnection& connection);
  void finish(Exchange& exchange, const Outcome& outcome);
  void fail_queue(Origin& origin, CURLcode code, const std::string& detail);
  static Clock::time_point queue_deadline(const Origin& origin, const Exchange& exchange);
  void arm_queue_timer(Clock::time_point deadline);
  void expire_queued();
  bool run_completions();
  void recycle(Exchange& exchange);

  uv_loop_t* loop_;
  PlainClientOptions options_;
  Completion on_complete_;
  std::vector<char> read_buffer_;
  NameLookup lookup_;
  loop::Handle<uv_timer_t> queue_timer_;
  Clock::time_point queue_timer_due_ = Clock::time_point::max();
  loop::Handle<uv_idle_t> deferral_;
  std::unordered_map<std::string, std::unique_ptr<Origin>> origins_;
  std::vector<std::unique_ptr<PlainConnection>> connections_;  // not closed
  // Closed connections, destroyed on the next loop turn: never inside one of their own callbacks.
  std::vector<std::unique_ptr<PlainConnection>> closed_;
  std::vector<std::unique_ptr<Exchange>> exchanges_;
  std::vector<Exchange*> spare_;
  std::vector<Exchange*> finished_;
  std::size_t idle_count_ = 0;
  std::size_t in_flight_ = 0;
  std::uint64_t next_connection_id_ = 1;
  bool in_send_ = false;
  bool completing_ = false;
  // Points at a flag of the running run_completions(), so that a completion that destroys the client
  // stops it from touching freed members.
  bool* alive_ = nullptr;
};

}  // namespace http::detail
