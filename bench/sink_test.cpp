// The benchmark's sink: what it counts is what every benchmark figure stands on.
#include "bench/sink.hpp"

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

std::string request(const std::string& id, const std::string& body) {
  return "POST /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nwebhook-id: " + id +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A plain TCP client, to write requests split and pipelined exactly as a test needs.
class RawClient {
 public:
  explicit RawClient(const std::string& url) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))));
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~RawClient() { close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send_bytes(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  }

  // Whether no byte has arrived (without waiting for one).
  bool nothing_received_yet() {
    char byte = 0;
    return recv(fd_, &byte, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // Reads until `expected` bytes have come or the peer closes.
  std::string receive(std::size_t expected) {
    std::string got;
    char buffer[4096];
    while (got.size() < expected) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }

 private:
  int fd_;
};

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

}  // namespace

TEST_CASE("a request is complete once its head and its Content-Length of body are there", "[sink]") {
  const std::string whole = request("42", R"({"a":1})");
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    const auto partial = bench::scan_request(std::string_view(whole).substr(0, cut));
    CHECK_FALSE(partial.complete);
    CHECK_FALSE(partial.malformed);
  }
  const auto scanned = bench::scan_request(whole + request("43", "{}"));
  CHECK(scanned.complete);
  CHECK(scanned.length == whole.size());
  CHECK(scanned.message_id == "42");
}

TEST_CASE("header names are matched without regard to case, values without surrounding blanks", "[sink]") {
  const auto scanned = bench::scan_request(
      "POST / HTTP/1.1\r\nWEBHOOK-ID: \t 7 \r\ncontent-LENGTH:  2\r\nX-Other: 1\r\n\r\n{}");
  CHECK(scanned.complete);
  CHECK(scanned.message_id == "7");
  const auto without_body = bench::scan_request("GET / HTTP/1.1\r\nHost: x\r\n\r\nrest");
  CHECK(without_body.complete);
  CHECK(without_body.length == std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n").size());
  CHECK(without_body.message_id.empty());
}

TEST_CASE("requests the sink cannot take are malformed, not waited for", "[sink]") {
  CHECK(bench::scan_request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            .malformed);
  CHECK(bench::scan_request("POST / HTTP/1.1\r\nContent-Length: 2x\r\n\r\n{}").malformed);
  CHECK(bench::scan_request("POST / HTTP/1.1\r\nX: " + std::string(70'000, 'a')).malformed);
}

TEST_CASE("the sink records every request of a kept-alive connection, with its message id, in order",
          "[sink]") {
  bench::Sink sink;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  const std::string url = sink.url("/bench");
  for (int i = 1; i <= 50; ++i) {
    curl_slist* headers = curl_slist_append(nullptr, ("webhook-id: " + std::to_string(i)).c_str());
    const std::string body = R"({"n":)" + std::to_string(i) + "}";
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    const CURLcode rc = curl_easy_perform(curl.get());
    curl_slist_free_all(headers);
    REQUIRE(rc == CURLE_OK);
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    REQUIRE(status == 200);
    if (i > 1) {
      long new_connections = -1;
      curl_easy_getinfo(curl.get(), CURLINFO_NUM_CONNECTS, &new_connections);
      CHECK(new_connections == 0);
    }
  }
  REQUIRE(sink.count() == 50);
  const auto arrivals = sink.arrivals();
  REQUIRE(arrivals.size() == 50);
  for (int i = 0; i < 50; ++i)
    CHECK(arrivals[static_cast<std::size_t>(i)].message_id == std::to_string(i + 1));
  for (std::size_t i = 1; i < arrivals.size(); ++i)
    CHECK(arrivals[i - 1].at <= arrivals[i].at);
  CHECK(sink.cpu() > 0us);  // its thread's time is found and counted
}

TEST_CASE("pipelined requests and requests split across reads are each answered once", "[sink]") {
  bench::Sink sink;
  RawClient client(sink.url("/"));
  const std::string third = request("3", std::string(100'000, 'x'));  // larger than the read buffer
  // Two whole requests and the start of a third in one write: the sink must keep that start.
  const std::size_t cut = third.find("webhook-id") + 20;  // past what tells it from the others
  client.send_bytes(request("1", "{}") + request("2", "{}") + third.substr(0, cut));
  REQUIRE(sink.wait_for_count(2, 5s));
  client.send_bytes(third.substr(cut));
  REQUIRE(sink.wait_for_count(3, 5s));
  CHECK(client.receive(3 * kOk.size()) == std::string(kOk) + std::string(kOk) + std::string(kOk));
  const auto arrivals = sink.arrivals();
  REQUIRE(arrivals.size() == 3);
  CHECK(arrivals[0].message_id == "1");
  CHECK(arrivals[1].message_id == "2");
  CHECK(arrivals[2].message_id == "3");
}

TEST_CASE("a malformed request is refused and its connection closed", "[sink]") {
  bench::Sink sink;
  RawClient client(sink.url("/"));
  client.send_bytes(request("1", "{}") + "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string got = client.receive(1'000);  // until the sink closes
  CHECK(got ==
        std::string(kOk) + "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(sink.count() == 1);
}

TEST_CASE("a slow sink counts a request when it arrives and answers it after the delay", "[sink]") {
  bench::Sink sink;
  sink.answer_after(1s);
  RawClient client(sink.url("/"));
  const auto sent = std::chrono::steady_clock::now();
  client.send_bytes(request("1", "{}"));
  REQUIRE(sink.wait_for_count(1, 5s));
  CHECK(client.nothing_received_yet());  // counted, not yet answered
  CHECK(client.receive(kOk.size()) == kOk);
  CHECK(std::chrono::steady_clock::now() - sent >= 1s);
}

TEST_CASE("a slow sink refuses a malformed request only after the answers held before it", "[sink]") {
  bench::Sink sink;
  sink.answer_after(200ms);
  RawClient client(sink.url("/"));
  client.send_bytes(request("1", "{}"));
  REQUIRE(sink.wait_for_count(1, 5s));
  // The rest arrives in a later read, so its answers fall due after the first one's.
  std::this_thread::sleep_for(50ms);
  client.send_bytes(request("2", "{}") + "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
  const std::string got = client.receive(1'000);  // until the sink closes
  CHECK(got == std::string(kOk) + std::string(kOk) +
                   "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST_CASE("a Content-Length too large to buffer is refused, not waited for", "[sink]") {
  CHECK(bench::scan_request("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n").malformed);
  CHECK(bench::scan_request("POST / HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n").malformed);
}

TEST_CASE("waiting for a count that does not come ends at the timeout", "[sink]") {
  bench::Sink sink;
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(sink.wait_for_count(1, 100ms));
  CHECK(std::chrono::steady_clock::now() - started >= 100ms);
}
