#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/http/client_harness.hpp"
#include "tests/support/http_server.hpp"

using namespace std::chrono_literals;
using http_test::Carrier;
using http_test::ClientHarness;
using http_test::request_to;
using testkit::HttpServer;
using testkit::RecordedRequest;
using testkit::Reply;

namespace {

// A server on 127.0.0.1 that answers each request with bytes a script gives, exactly as given, on a thread
// per connection: for answers no well-behaved server gives (the test server only gives good ones). An
// answer starting with "CLOSE:" closes the connection after the rest is written; with "RESET:", resets it
// (and with "EARLY:", see serve()).
class ScriptedServer {
 public:
  using Script = std::function<std::string(int request)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    REQUIRE(listen(listener_, 64) == 0);
    REQUIRE(getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_all(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    close(listener_);
    std::lock_guard lock(mutex_);
    for (std::thread& t : connections_)
      t.join();
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int requests() const { return requests_; }
  int accepted() const { return accepted_; }

 private:
  void accept_all() {
    for (;;) {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++accepted_;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Reads request heads and Content-Length bodies; the client closing the connection ends it. An answer
  // starting with "EARLY:" goes out as soon as the head is in, and nothing more is read.
  void serve(int fd) {
    std::string in;
    std::array<char, 65536> buffer{};
    const auto read_more = [&] {
      const ssize_t n = read(fd, buffer.data(), buffer.size());
      if (n > 0) in.append(buffer.data(), static_cast<std::size_t>(n));
      return n > 0;
    };
    for (;;) {
      std::size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos)
        if (!read_more()) return finish(fd);
      std::string out = script_(requests_++);
      if (out.starts_with("EARLY:")) {
        (void)!write(fd, out.data() + 6, out.size() - 6);
        // Nothing more is read, so a large body stays stuck in the client's write queue.
        // The client's closed socket cannot even send its FIN past the unread body: wait for the end.
        while (!stopping_)
          std::this_thread::sleep_for(10ms);
        return finish(fd);
      }
      const std::size_t length = body_length(in.substr(0, end));
      while (in.size() < end + 4 + length)
        if (!read_more()) return finish(fd);
      in.erase(0, end + 4 + length);
      const bool reset = out.starts_with("RESET:");
      const bool close_after = reset || out.starts_with("CLOSE:");
      if (close_after) out.erase(0, out.find(':') + 1);
      (void)!write(fd, out.data(), out.size());
      if (close_after) {
        if (reset) {
          const linger abort_on_close{1, 0};
          setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
        }
        return finish(fd);
      }
    }
  }

  static void finish(int fd) { close(fd); }

  static std::size_t body_length(const std::string& head) {
    const auto at = head.find("Content-Length: ");
    return at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
  }

  Script script_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;
};

http::Response one_exchange(Carrier carrier, const std::string& answer) {
  ScriptedServer server([&answer](int) { return "CLOSE:" + answer; });
  ClientHarness h(carrier);
  http::Request request = request_to(server.url());
  request.total_timeout = 3s;
  h.send(std::move(request), 1);
  REQUIRE(h.run_until_completed(1));
  http::Response response = h.completed[0].response;
  REQUIRE(h.finish() == 0);
  return response;
}

}  // namespace

TEST_CASE(
    "builtin client: plain http goes through the built-in code: https, credentials, chunked "
    "uploads and a switched-off option go through libcurl",
    "[builtin]") {
  HttpServer server;
  ClientHarness h;
  h.send(request_to(server.url("/plain")), 1);
  h.send(request_to("https" + server.url("/tls").substr(4)), 2);  // a TLS handshake with a plain server
  h.send(request_to("http://user:secret@" + server.url("/auth").substr(7)), 3);
  http::Request chunked = request_to(server.url("/chunked"));
  chunked.headers.push_back("Transfer-Encoding: chunked");
  h.send(std::move(chunked), 4);
  REQUIRE(h.run_until_completed(4));
  CHECK(h.client->sent_by_builtin() == 1);
  for (const auto& c : h.completed)
    if (c.tag != 2) CHECK(c.response.status == 200);
  const auto requests = server.requests();
  for (const auto& r : requests)
    if (r.path == "/auth") CHECK(r.header("Authorization") == "Basic dXNlcjpzZWNyZXQ=");
  REQUIRE(h.finish() == 0);

  ClientHarness off(Carrier::libcurl);
  off.send(request_to(server.url("/plain")), 1);
  REQUIRE(off.run_until_completed(1));
  CHECK(off.completed[0].response.status == 200);
  CHECK(off.client->sent_by_builtin() == 0);
  REQUIRE(off.finish() == 0);
}

// A server may close a kept-alive connection just as the next request goes out on it. Without a byte of an
// answer the request goes again, once, on a new connection. (libcurl 7.88 does so for a connection it
// finds closed before sending, but reports a failed send, error 55, for this one: the built-in code spares
// the row an attempt and a backoff. A duplicate is possible either way, as with any retry.)
TEST_CASE("builtin client: a request on a kept-alive connection that dies unanswered goes again on a new one",
          "[builtin]") {
  std::atomic<int> seen{0};
  HttpServer server(
      [&](const RecordedRequest&) { return ++seen == 2 ? Reply::reset() : Reply::with_status(200); });
  ClientHarness h;
  h.send(request_to(server.url()), 1);
  REQUIRE(h.run_until_completed(1));
  h.send(request_to(server.url()), 2);
  REQUIRE(h.run_until_completed(2));
  CHECK(h.completed[1].response.status == 200);
  CHECK(h.completed[1].response.transport_error == 0);
  CHECK(server.request_count() == 3);
  CHECK(server.connections_accepted() == 2);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("builtin client: a request is sent again only once, and then fails with the reason", "[builtin]") {
  std::atomic<int> seen{0};
  HttpServer server(
      [&](const RecordedRequest&) { return ++seen == 1 ? Reply::with_status(200) : Reply::reset(); });
  ClientHarness h;
  h.send(request_to(server.url()), 1);
  REQUIRE(h.run_until_completed(1));
  h.send(request_to(server.url()), 2);
  REQUIRE(h.run_until_completed(2));
  const http::Response& second = h.completed[1].response;
  CHECK(second.status == 0);
  CHECK(second.transport_error != 0);
  CHECK_FALSE(second.error.empty());
  CHECK(server.request_count() == 3);  // the first, then the second twice
  REQUIRE(h.finish() == 0);
}

// "localhost" has to be looked up, and may name ::1 before 127.0.0.1, where the server listens: a refused
// address moves on to the next.
TEST_CASE("builtin client: a name is looked up and its addresses tried in turn", "[builtin]") {
  const Carrier carrier = GENERATE(Carrier::builtin, Carrier::libcurl);
  INFO((carrier == Carrier::builtin ? "built-in" : "libcurl"));
  HttpServer server;
  const std::string url = server.url("/by-name");
  ClientHarness h(carrier);
  for (std::uint64_t tag = 1; tag <= 3; ++tag)
    h.send(request_to("http://localhost" + url.substr(url.rfind(':'))), tag);
  REQUIRE(h.run_until_completed(3));
  for (const auto& c : h.completed) {
    INFO(c.response.error);
    CHECK(c.response.status == 200);
  }
  REQUIRE(server.request_count() == 3);
  CHECK(server.requests()[0].header("Host") ==
        "localhost" + url.substr(url.rfind(':'), url.find('/', 7) - url.rfind(':')));
  REQUIRE(h.finish() == 0);
}

TEST_CASE("builtin client: a request waiting for a connection under the limit times out there", "[builtin]") {
  HttpServer server(
      [](const RecordedRequest& r) { return r.path == "/hang" ? Reply::hang() : Reply::with_status(200); });
  http::ClientOptions options;
  options.max_host_connections = 1;
  ClientHarness h(options);
  http::Request hanging = request_to(server.url("/hang"));
  hanging.total_timeout = 5s;
  h.send(std::move(hanging), 1);
  http::Request waiting = request_to(server.url("/wait"));
  waiting.total_timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  h.send(std::move(waiting), 2);
  REQUIRE(h.run_until_completed(1, 3s));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(h.completed[0].tag == 2);
  CHECK(h.completed[0].response.transport_error == CURLE_OPERATION_TIMEDOUT);
  CHECK(took >= 290ms);
  CHECK(took < 2s);
  CHECK(server.request_count() == 1);
  CHECK(h.client->in_flight() == 1);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("builtin client: idle connections beyond the cache's size are closed", "[builtin]") {
  const Carrier carrier = GENERATE(Carrier::builtin, Carrier::libcurl);
  INFO((carrier == Carrier::builtin ? "built-in" : "libcurl"));
  HttpServer server([](const RecordedRequest&) { return Reply::delayed(50ms); });
  http::ClientOptions options;
  options.max_cached_connections = 2;
  ClientHarness h(carrier, options);
  for (std::uint64_t tag = 1; tag <= 6; ++tag)
    h.send(request_to(server.url()), tag);
  REQUIRE(h.run_until_completed(6));
  CHECK(server.connections_accepted() == 6);
  REQUIRE(h.run_until([&] { return server.connections_closed() >= 4; }));
  // The two kept carry the next requests.
  for (std::uint64_t tag = 7; tag <= 8; ++tag)
    h.send(request_to(server.url()), tag);
  REQUIRE(h.run_until_completed(8));
  CHECK(server.connections_accepted() == 6);
  CHECK(server.connections_closed() == 4);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("builtin client: a response that says Connection: close ends its connection", "[builtin]") {
  const Carrier carrier = GENERATE(Carrier::builtin, Carrier::libcurl);
  INFO((carrier == Carrier::builtin ? "built-in" : "libcurl"));
  HttpServer server([](const RecordedRequest&) {
    return Reply::with_status(200, {{"Connection", "close"}});
  });
  ClientHarness h(carrier);
  for (std::uint64_t tag = 1; tag <= 3; ++tag) {
    h.send(request_to(server.url()), tag);
    REQUIRE(h.run_until_completed(tag));
    CHECK(h.completed.back().response.status == 200);
  }
  CHECK(server.connections_accepted() == 3);
  REQUIRE(h.finish() == 0);
}

// The codes of Response::transport_error decide a row's fate (relay/retry_policy.cpp), so both codes must
// give the same one for the same answer. Two answers are read differently, on purpose: a repeated
// Content-Length (http-parser refuses it; RFC 9112 lets a client do so) and headers cut off mid-line (libcurl
// 7.88 reports the status of a response it never finished reading).
TEST_CASE("builtin client: odd answers end with the same status or error code as through libcurl",
          "[builtin]") {
  const std::pair<const char*, std::string> answers[] = {
      {"chunked and a length",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"no length, ended by the close", "HTTP/1.1 200 OK\r\n\r\nall of it"},
      {"HTTP/1.0", "HTTP/1.0 204 No Content\r\n\r\n"},
      {"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n"},
      {"an interim answer, then the close", "HTTP/1.1 100 Continue\r\n\r\n"},
      {"nothing", ""},
      {"a body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
  };
  for (const auto& [name, answer] : answers) {
    const http::Response curl = one_exchange(Carrier::libcurl, answer);
    const http::Response mine = one_exchange(Carrier::builtin, answer);
    INFO(name << "\n libcurl: " << curl.status << " " << curl.transport_error << " " << curl.error
              << "\n built-in: " << mine.status << " " << mine.transport_error << " " << mine.error);
    CHECK(mine.status == curl.status);
    CHECK(mine.transport_error == curl.transport_error);
  }
}

TEST_CASE("builtin client: no second send once any of the answer came", "[builtin]") {
  ScriptedServer server([](int request) {
    return request == 0 ? std::string("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        : std::string("RESET:HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
  });
  ClientHarness h(Carrier::builtin);
  h.send(request_to(server.url()), 1);
  REQUIRE(h.run_until_completed(1));
  h.send(request_to(server.url()), 2);
  REQUIRE(h.run_until_completed(2));
  CHECK(h.completed[1].response.transport_error != 0);
  CHECK(server.requests() == 2);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("builtin client: an answer before the body is all out ends the exchange and its connection",
          "[builtin]") {
  ScriptedServer early(
      [](int) { return std::string("EARLY:HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"); });
  ClientHarness h(Carrier::builtin);
  for (std::uint64_t tag = 1; tag <= 2; ++tag) {
    h.send(request_to(early.url(), std::string(16 << 20, 'x')), tag);
    REQUIRE(h.run_until_completed(tag));
    CHECK(h.completed.back().response.status == 413);
  }
  // The request's tail was still queued: neither connection could carry another request.
  CHECK(early.accepted() == 2);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("builtin client: HEAD and interim answers leave a kept-alive connection ready for the next",
          "[builtin]") {
  ScriptedServer server([](int request) {
    if (request == 0) return std::string("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n");  // to HEAD
    if (request == 1)
      return std::string("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    return std::string("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
  });
  ClientHarness h(Carrier::builtin);
  http::Request head = request_to(server.url(), "");
  head.method = "HEAD";
  h.send(std::move(head), 1);
  REQUIRE(h.run_until_completed(1));
  h.send(request_to(server.url()), 2);
  REQUIRE(h.run_until_completed(2));
  h.send(request_to(server.url()), 3);
  REQUIRE(h.run_until_completed(3));
  CHECK(h.completed[0].response.status == 200);
  CHECK(h.completed[1].response.status == 201);
  CHECK(h.completed[1].response.body_excerpt == "ok");
  CHECK(h.completed[2].response.status == 202);
  CHECK(server.accepted() == 1);
  REQUIRE(h.finish() == 0);
}

// The idle cache's limit applies to the oldest idle connections of all servers, after the connection just
// freed has served its own queue.
TEST_CASE("builtin client: a full idle cache keeps the connection its queue is waiting for", "[builtin]") {
  const Carrier carrier = GENERATE(Carrier::builtin, Carrier::libcurl);
  INFO((carrier == Carrier::builtin ? "built-in" : "libcurl"));
  HttpServer busy([](const RecordedRequest&) { return Reply::delayed(30ms); });
  HttpServer other;
  http::ClientOptions options;
  options.max_cached_connections = 1;
  options.max_host_connections = 1;
  ClientHarness h(carrier, options);
  h.send(request_to(other.url()), 1);
  REQUIRE(h.run_until_completed(1));
  for (std::uint64_t tag = 2; tag <= 5; ++tag)
    h.send(request_to(busy.url()), tag);
  REQUIRE(h.run_until_completed(5));
  for (const auto& c : h.completed)
    CHECK(c.response.status == 200);
  CHECK(busy.connections_accepted() == 1);
  REQUIRE(h.run_until([&] { return other.connections_closed() == 1; }));
  REQUIRE(h.finish() == 0);
}

// libcurl's connect timeout covers the name lookup. libuv's thread pool (four threads) is kept busy here, so
// that the lookup cannot even start.
TEST_CASE("builtin client: the connect timeout bounds the name lookup too", "[builtin]") {
  HttpServer server;
  ClientHarness h(Carrier::builtin);
  std::array<uv_work_t, 4> blockers{};
  for (uv_work_t& blocker : blockers)
    uv_queue_work(
        h.loop.get(), &blocker, [](uv_work_t*) { std::this_thread::sleep_for(1500ms); },
        [](uv_work_t*, int) {});
  const std::string url = server.url("/x");
  http::Request request = request_to("http://localhost" + url.substr(url.rfind(':')));
  request.connect_timeout = 200ms;
  request.total_timeout = 5s;
  const auto started = std::chrono::steady_clock::now();
  h.send(std::move(request), 1);
  REQUIRE(h.run_until_completed(1));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(h.completed[0].response.transport_error == CURLE_OPERATION_TIMEDOUT);
  CHECK_THAT(h.completed[0].response.error, Catch::Contains("Resolving timed out"));
  CHECK(took >= 190ms);
  CHECK(took < 1000ms);
  // The blockers and the cancelled lookup finish before the loop closes.
  h.run_until([] { return false; }, 1700ms);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("builtin client: a completion may destroy the client on any path of the built-in code",
          "[builtin]") {
  const int path = GENERATE(0, 1, 2, 3);
  INFO("path " << path);
  HttpServer hanging([](const RecordedRequest&) { return Reply::hang(); });
  std::string refused;
  {
    HttpServer gone;
    refused = gone.url("/");
  }
  ClientHarness h(Carrier::builtin);
  h.on_complete = [&](ClientHarness::Completed&) { h.client.reset(); };
  http::Request request = request_to(hanging.url());
  if (path == 0) request = request_to("http://nonexistent.invalid/");  // the lookup fails
  if (path == 1) request.total_timeout = 100ms;                        // the connection's timer
  if (path == 2) request = request_to(refused);                        // refused, reported later
  h.send(std::move(request), 1);
  if (path == 3) {  // abort_all
    h.send(request_to(hanging.url()), 2);
    REQUIRE(h.run_until([&] { return hanging.request_count() == 2; }));
    h.client->abort_all();
  }
  REQUIRE(h.run_until([&] { return h.client == nullptr; }, 30s));
  CHECK(h.completed.size() == 1);
  REQUIRE(h.finish() == 0);
}
