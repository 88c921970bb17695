#pragma once

// Private to http::Client's built-in HTTP/1.1 code: the addresses of a server.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <uv.h>

namespace http::detail {

using Addresses = std::shared_ptr<const std::vector<sockaddr_storage>>;

// The address itself when `host` is an IPv4 or IPv6 literal (no lookup needed); null otherwise.
Addresses literal_address(const std::string& host, std::uint16_t port);

// Name lookups on libuv's thread pool (uv_getaddrinfo), as libcurl's threaded resolver does. The answer
// comes on the loop thread; a lookup still running when the NameLookup is destroyed is cancelled or, if
// already under way, its answer is dropped.
class NameLookup {
 public:
  // `addresses` is null when the name did not resolve; `error` then says why.
  using Done = std::function<void(const std::string& key, Addresses addresses, const std::string& error)>;

  NameLookup(uv_loop_t* loop, Done done);
  ~NameLookup();
  NameLookup(const NameLookup&) = delete;
  NameLookup& operator=(const NameLookup&) = delete;

  // Starts looking `host` up; `key` comes back with the answer. Returns why the lookup could not start
  // (and then nothing comes back), or an empty string.
  [[nodiscard]] std::string start(const std::string& key, const std::string& host, std::uint16_t port);

 private:
  struct Pending;
  static void on_uv_answer(uv_getaddrinfo_t* request, int status, addrinfo* result);

  uv_loop_t* loop_;
  Done done_;
  std::vector<Pending*> pending_;  // owned by libuv until their callback runs
};

}  // namespace http::detail
