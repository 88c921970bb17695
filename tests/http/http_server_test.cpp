// The test server itself, driven by a plain blocking socket so that what goes over the wire is exact.
#include "tests/support/http_server.hpp"

#include <chrono>
#include <string>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using testkit::HttpServer;
using testkit::RecordedRequest;
using testkit::Reply;

namespace {

class RawClient {
 public:
  explicit RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~RawClient() { close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(const std::string& bytes) {
    REQUIRE(write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }

  // Reads until `needle` has appeared `count` times, the peer closes, or the deadline passes.
  std::string read_until(const std::string& needle, int count, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (occurrences(needle) < count && !closed_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[4096];
      const ssize_t n = read(fd_, buffer, sizeof(buffer));
      if (n <= 0) {
        closed_ = true;
        break;
      }
      received_.append(buffer, static_cast<std::size_t>(n));
    }
    return received_;
  }

  // Whether the server closed the connection (waiting for it up to the deadline).
  bool closed_by_peer(std::chrono::milliseconds timeout = 5s) {
    read_until("\x01never\x01", 1, timeout);
    return closed_;
  }

 private:
  int occurrences(const std::string& needle) const {
    int n = 0;
    for (std::size_t at = received_.find(needle); at != std::string::npos;
         at = received_.find(needle, at + 1))
      ++n;
    return n;
  }

  int fd_;
  std::string received_;
  bool closed_ = false;
};

Reply echo_path(const RecordedRequest& request) {
  Reply reply = request.path == "/slow" ? Reply::delayed(100ms) : Reply::with_status(200);
  reply.body = request.path;
  return reply;
}

}  // namespace

TEST_CASE("test server: records method, path, headers, body and where and when each request arrived",
          "[http_server]") {
  HttpServer server;
  const auto before = std::chrono::steady_clock::now();
  RawClient client(server.port());
  client.send(
      "PATCH /a/b?c=d HTTP/1.1\r\nHost: x\r\nX-One: 1\r\nx-two:  two \r\nContent-Length: 5\r\n\r\nhello");
  const std::string reply = client.read_until("\r\n\r\n", 1);
  CHECK(reply.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_THAT(reply, Catch::Contains("Content-Length: 0\r\n"));
  REQUIRE(server.wait_for_requests(1, 5s));
  const RecordedRequest request = server.requests().at(0);
  CHECK(request.method == "PATCH");
  CHECK(request.path == "/a/b?c=d");
  CHECK(request.body == "hello");
  CHECK(request.header("x-one") == "1");
  CHECK(request.header("X-Two") == "two ");
  CHECK(request.header("absent").empty());
  CHECK(request.arrived >= before);
  CHECK(request.arrived_wall.time_since_epoch().count() > 0);
  CHECK(request.connection_id == 1);
  CHECK(server.connections_accepted() == 1);
}

TEST_CASE("test server: pipelined requests are answered in order, even behind a delayed reply",
          "[http_server]") {
  HttpServer server(echo_path);
  RawClient client(server.port());
  client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string replies = client.read_until("HTTP/1.1 200", 2);
  const auto slow = replies.find("/slow");
  const auto fast = replies.find("/fast");
  REQUIRE(slow != std::string::npos);
  REQUIRE(fast != std::string::npos);
  CHECK(slow < fast);
  CHECK(server.request_count() == 2);
}

TEST_CASE("test server: Connection: close is honoured", "[http_server]") {
  HttpServer server;
  RawClient client(server.port());
  client.send(
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string reply = client.read_until("\r\n\r\n", 1);
  CHECK_THAT(reply, Catch::Contains("Connection: close\r\n"));
  CHECK(client.closed_by_peer());
  CHECK(server.request_count() == 1);
}

TEST_CASE("test server: chunked request bodies are recorded whole", "[http_server]") {
  HttpServer server;
  RawClient client(server.port());
  client.send(
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
      "world\r\n0\r\n\r\n");
  REQUIRE(server.wait_for_requests(1, 5s));
  CHECK(server.requests().at(0).body == "hello world");
  CHECK_THAT(client.read_until("\r\n\r\n", 1), Catch::Contains("200 OK"));
}

TEST_CASE("test server: a reply with headers and a body carries its own Content-Length", "[http_server]") {
  HttpServer server([](const RecordedRequest&) {
    Reply reply = Reply::with_status(503, {{"Retry-After", "7"}, {"Content-Length", "999"}});
    reply.body = "busy";
    return reply;
  });
  RawClient client(server.port());
  client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string reply = client.read_until("busy", 1);
  CHECK(reply.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK_THAT(reply, Catch::Contains("Retry-After: 7\r\n"));
  CHECK_THAT(reply, Catch::Contains("Content-Length: 4\r\n"));
  CHECK(reply.find("999") == std::string::npos);
}

TEST_CASE("test server: reset closes the connection without an answer", "[http_server]") {
  HttpServer server([](const RecordedRequest&) { return Reply::reset(); });
  RawClient client(server.port());
  client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(client.closed_by_peer());
  CHECK(client.read_until("HTTP", 1, 0ms).empty());
  CHECK(server.request_count() == 1);
}

TEST_CASE("test server: a malformed request gets 400 and the connection is closed", "[http_server]") {
  HttpServer server;
  RawClient client(server.port());
  client.send("NOT HTTP AT ALL\r\n\r\n");
  CHECK_THAT(client.read_until("\r\n\r\n", 1), Catch::Contains("400 Bad Request"));
  CHECK(client.closed_by_peer());
  CHECK(server.request_count() == 0);
}

TEST_CASE("test server: wait_for_requests gives up at its deadline", "[http_server]") {
  HttpServer server;
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(server.wait_for_requests(1, 50ms));
  CHECK(std::chrono::steady_clock::now() - started >= 50ms);
}

TEST_CASE("test server: stops with hanging and delayed replies still pending", "[http_server]") {
  auto server = std::make_unique<HttpServer>([](const RecordedRequest& request) {
    return request.path == "/hang" ? Reply::hang() : Reply::delayed(60s);
  });
  RawClient hanging(server->port());
  RawClient delayed(server->port());
  hanging.send("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
  delayed.send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(server->wait_for_requests(2, 5s));
  server.reset();  // must return promptly: no timer or connection keeps its loop alive
  CHECK(hanging.closed_by_peer());
  CHECK(delayed.closed_by_peer());
}
