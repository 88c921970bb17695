// Load measurements, hidden from CTest ([.] tag): run them by hand, e.g.
//   ./tests/http_tests '[.bench]' -s
// They print figures and assert only completeness, never timings.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/http/client_harness.hpp"
#include "tests/support/http_server.hpp"

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of every thread of this process except the calling one: here, the test server's thread.
std::chrono::milliseconds cpu_of_other_threads() {
  const long self = static_cast<long>(gettid());
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  long ticks = 0;
  DIR* tasks = opendir("/proc/self/task");
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.' || std::stol(entry->d_name) == self) continue;
    std::ifstream stat(std::string("/proc/self/task/") + entry->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::stol(field);
      if (i == 15) stime = std::stol(field);
    }
    ticks += utime + stime;
  }
  closedir(tasks);
  return std::chrono::milliseconds(ticks * 1000 / ticks_per_second);
}

std::chrono::microseconds cpu_of_this_thread() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::microseconds(now.tv_nsec / 1000);
}

struct Measurement {
  Clock::time_point wall = Clock::now();
  std::chrono::milliseconds server_cpu = cpu_of_other_threads();
  std::chrono::microseconds client_cpu = cpu_of_this_thread();
};

// Wall-clock rates depend on what else the machine runs; CPU per request does much less.
void report(const char* what, std::size_t requests, const Measurement& start) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start.wall).count();
  const double server = std::chrono::duration<double>(cpu_of_other_threads() - start.server_cpu).count();
  const double client = std::chrono::duration<double>(cpu_of_this_thread() - start.client_cpu).count();
  const auto n = static_cast<double>(requests);
  std::printf(
      "%s: %zu requests in %.2f s = %.0f req/s | server thread %.2f CPU-s = %.0f req/CPU-s | client thread "
      "%.2f CPU-s = %.1f us/req\n",
      what, requests, seconds, n / seconds, server, server > 0 ? n / server : 0.0, client, client * 1e6 / n);
}

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

TEST_CASE("bench: http::Client against the test server, keep-alive", "[.bench]") {
  testkit::HttpServer server;
  http::ClientOptions options;
  options.max_host_connections = 8;
  http_test::ClientHarness h(options);
  constexpr std::uint64_t kTotal = 100'000;
  constexpr std::uint64_t kWindow = 64;
  const std::string url = server.url("/bench");
  const std::string body(200, 'p');
  std::uint64_t sent = 0;
  h.on_complete = [&](http_test::ClientHarness::Completed&) {
    if (sent < kTotal) h.client->send(http_test::request_to(url, body), sent++);
  };
  h.completed.reserve(kTotal);
  const Measurement start;
  while (sent < kWindow)
    h.send(http_test::request_to(url, body), sent++);
  REQUIRE(h.run_until_completed(kTotal, 120s));
  report("client->server", kTotal, start);
  CHECK(server.request_count() == kTotal);
  std::printf("connections: %zu\n", server.connections_accepted());
  REQUIRE(h.finish() == 0);
}

// A raw pipelining client that costs almost nothing, so the server thread is the bottleneck.
TEST_CASE("bench: test server alone, pipelined keep-alive requests", "[.bench]") {
  testkit::HttpServer server;
  constexpr int kConnections = 4;
  constexpr int kBatch = 32;
  constexpr int kRounds = 2'000;
  std::string batch;
  for (int i = 0; i < kBatch; ++i)
    batch +=
        "POST /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
        "13\r\n\r\n"
        "{\"id\":123456}";
  std::vector<int> fds;
  for (int i = 0; i < kConnections; ++i)
    fds.push_back(connect_to(server.port()));
  // Each empty 200 response ends with the blank line after its headers.
  const std::string response_end = "\r\n\r\n";
  std::vector<char> buffer(1 << 16);
  const Measurement start;
  for (int round = 0; round < kRounds; ++round) {
    for (int fd : fds)
      REQUIRE(write(fd, batch.data(), batch.size()) == static_cast<ssize_t>(batch.size()));
    for (int fd : fds) {
      int seen = 0;
      std::string tail;
      while (seen < kBatch) {
        const ssize_t n = read(fd, buffer.data(), buffer.size());
        REQUIRE(n > 0);
        std::string chunk = tail + std::string(buffer.data(), static_cast<std::size_t>(n));
        std::size_t at = 0;
        while ((at = chunk.find(response_end, at)) != std::string::npos) {
          ++seen;
          at += response_end.size();
        }
        // A terminator split across two reads is found on the next one; three bytes cannot hold a whole one.
        tail = chunk.substr(chunk.size() > 3 ? chunk.size() - 3 : 0);
      }
    }
  }
  const std::size_t total = static_cast<std::size_t>(kConnections) * kBatch * kRounds;
  report("pipelined->server", total, start);
  for (int fd : fds)
    close(fd);
  CHECK(server.request_count() == total);
}
