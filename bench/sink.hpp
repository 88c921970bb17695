#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// One request as the benchmark needs it: when it arrived and which message it carried.
struct Arrival {
  std::chrono::steady_clock::time_point at;
  std::string message_id;  // the webhook-id header
};

// The benchmark's HTTP sink on 127.0.0.1: HTTP/1.1 with keep-alive and pipelining, Content-Length bodies,
// every answer an empty 200. It shares the machine's two cores with the relay and the database, so it
// does as little as an HTTP server can: one read buffer per connection, no allocation per request, the
// request line and headers scanned only for the two it needs, the answers of one read written together.
// Its own libuv loop runs on its own thread; cpu() reports what that thread used.
class Sink {
 public:
  Sink();
  // Stops the loop thread and closes every connection.
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  std::string url(std::string_view path) const;
  // Answers each request this long after it arrived instead of at once (a slow target), for requests
  // that arrive from now on.
  void answer_after(std::chrono::milliseconds delay);

  std::size_t count() const;
  // Blocks until `n` requests have arrived or the timeout passes; returns whether they did. The waiting
  // thread sleeps until then: a benchmark that polled would take CPU from what it measures.
  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout) const;
  std::vector<Arrival> arrivals() const;
  // CPU time the sink's thread has used so far.
  std::chrono::microseconds cpu() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Where the HTTP/1.1 request at the start of `bytes` ends, and its webhook-id. `complete` is false while
// more bytes are needed; `malformed` when they will never make a request this sink takes (a chunked body,
// a Content-Length that is not a number or over 64 MiB, a header section over 64 KiB).
struct ScannedRequest {
  bool complete = false;
  bool malformed = false;
  std::size_t length = 0;
  std::string_view message_id;
};
ScannedRequest scan_request(std::string_view bytes);

}  // namespace bench
