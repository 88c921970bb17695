#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <uv.h>

#include "http/request.hpp"

namespace http {

struct ClientOptions {
  // Upper bound on connections kept open per host (0: libcurl's default, unlimited).
  long max_host_connections = 0;
  // Connections kept open while idle, over all hosts (0: libcurl's default, four per request in flight at
  // the moment). A fixed size keeps a quieter stretch from closing the connections the next busy one needs.
  long max_cached_connections = 0;
  // Let HTTP/2 multiplex many requests over one connection where the server supports it (https).
  bool http2 = true;
  // How many leading bytes of each response body to keep in Response::body_excerpt.
  std::size_t body_excerpt_bytes = 256;
  // Plain http:// requests go through the client's own HTTP/1.1 code instead of libcurl: one write and one
  // read per request, where libcurl 7.88 spends several times the CPU (see PlainClient). Not when the
  // environment names a proxy, nor for URLs with credentials or requests with a Transfer-Encoding header:
  // libcurl carries those, and every https:// request.
  bool builtin_http1 = true;
  // Verify TLS peers and host names. Always on in production; the option exists for tests only.
  bool verify_tls = true;
};

// Plain HTTP/1.1 through built-in code (see builtin_http1), everything else through libcurl's multi
// interface driven by a libuv loop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION with
// uv_poll and one uv_timer), with connection reuse. Non-blocking: send() returns at once and the completion
// callback runs later on the loop thread, exactly once per request, never inside send().
class Client {
 public:
  // `tag` is the caller's identifier of the request, handed back with its response.
  using Completion = std::function<void(std::uint64_t tag, Response&& response)>;

  Client(uv_loop_t* loop, ClientOptions options, Completion on_complete);
  // Aborts whatever is in flight without running completions.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(Request&& request, std::uint64_t tag);
  std::size_t in_flight() const;
  // Requests handed to the built-in HTTP/1.1 code so far (the rest went to libcurl).
  std::size_t sent_by_builtin() const;
  // Aborts every request in flight; each completes with a transport error ("aborted").
  void abort_all();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace http
