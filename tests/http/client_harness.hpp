#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <uv.h>

#include "http/client.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer.hpp"

namespace http_test {

using namespace std::chrono_literals;

// Clears every variable libcurl reads for a proxy and puts them back at the end of the scope, so that a
// proxy test depends neither on the machine it runs on nor on a test before it.
class ProxyEnvironment {
 public:
  ProxyEnvironment() {
    for (const char* name : kNames) {
      if (const char* value = std::getenv(name)) saved_.emplace_back(name, value);
      unsetenv(name);
    }
  }
  ~ProxyEnvironment() {
    for (const char* name : kNames)
      unsetenv(name);
    for (const auto& [name, value] : saved_)
      setenv(name.c_str(), value.c_str(), 1);
  }
  ProxyEnvironment(const ProxyEnvironment&) = delete;
  ProxyEnvironment& operator=(const ProxyEnvironment&) = delete;

  void set(const char* name, const std::string& value) { REQUIRE(::setenv(name, value.c_str(), 1) == 0); }

 private:
  static constexpr const char* kNames[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                           "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
  std::vector<std::pair<std::string, std::string>> saved_;
};

// Which code a test wants for plain http://. Either way the proxy variables are cleared for the test (a
// proxy would send everything through libcurl), and a test made for the built-in code checks at the end that
// the built-in code carried its requests.
enum class Carrier { builtin, libcurl };

// A Client on its own loop, recording every completion. Tests drive the loop themselves, one turn at a time
// until a condition holds or a deadline passes, and end with finish(): 0 means no handle leaked.
struct ClientHarness {
  struct Completed {
    std::uint64_t tag;
    http::Response response;
  };

 private:
  // First, so that the proxy variables are cleared before the client reads them.
  std::optional<ProxyEnvironment> direct_;
  bool expect_builtin_ = false;

 public:
  ClientHarness(Carrier carrier, http::ClientOptions options = {})
      : direct_(std::in_place), expect_builtin_(carrier == Carrier::builtin) {
    options.builtin_http1 = expect_builtin_;
    make_client(options);
  }

  explicit ClientHarness(http::ClientOptions options = {}) { make_client(options); }

  void make_client(const http::ClientOptions& options) {
    client =
        std::make_unique<http::Client>(loop.get(), options, [this](std::uint64_t tag, http::Response&& r) {
          if (in_send) completed_inside_send = true;
          completed.push_back({tag, std::move(r)});
          if (on_complete) on_complete(completed.back());
        });
  }

  void send(http::Request request, std::uint64_t tag) {
    in_send = true;
    client->send(std::move(request), tag);
    in_send = false;
  }

  // Runs loop turns until `done()` holds or the deadline passes. A guard timer wakes each blocking turn
  // within `step`, both to bound it and to re-check conditions that another thread (the test server) makes
  // true without waking this loop.
  template <typename Condition>
  bool run_until(Condition done, std::chrono::milliseconds timeout = 10s,
                 std::chrono::milliseconds step = 10ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    loop::Timer guard(loop.get(), [] {});
    while (!done()) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return done();
      guard.start(std::min(left, step));
      uv_run(loop.get(), UV_RUN_ONCE);
    }
    return true;
  }

  bool run_until_completed(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    return run_until([&] { return completed.size() >= n; }, timeout);
  }

  // Destroys the client, then closes the loop; returns uv_loop_close's result.
  int finish() {
    if (expect_builtin_ && client) CHECK(client->sent_by_builtin() > 0);
    client.reset();
    return loop.close();
  }

  loop::EventLoop loop;
  std::unique_ptr<http::Client> client;
  std::vector<Completed> completed;
  std::function<void(Completed&)> on_complete;
  bool in_send = false;
  bool completed_inside_send = false;
};

inline http::Request request_to(std::string url, std::string body = "{}") {
  http::Request request;
  request.url = std::move(url);
  request.body = std::move(body);
  request.headers = {"Content-Type: application/json"};
  return request;
}

}  // namespace http_test
