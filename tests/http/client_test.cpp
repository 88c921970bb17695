#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/parsed_urls.hpp"
#include "http/retry_after.hpp"
#include "http/transfer.hpp"
#include "tests/http/client_harness.hpp"
#include "tests/support/http_server.hpp"

using namespace std::chrono_literals;
using http_test::Carrier;
using http_test::ClientHarness;
using http_test::ProxyEnvironment;
using http_test::request_to;
using testkit::HttpServer;
using testkit::RecordedRequest;
using testkit::Reply;

namespace {

Reply by_path(const RecordedRequest& request) {
  if (request.path == "/missing") return Reply::with_status(404);
  if (request.path == "/broken") return Reply::with_status(500);
  return Reply::with_status(200);
}

}  // namespace

TEST_CASE("client: a 200 response arrives with its body, and the request arrives intact", "[client]") {
  HttpServer server([](const RecordedRequest&) {
    Reply reply = Reply::with_status(200, {{"X-Reply", "yes"}});
    reply.body = "hello from the server";
    return reply;
  });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  http::Request request = request_to(server.url("/hook?x=1"));
  request.method = "PUT";
  request.headers = {"Content-Type: application/json", "webhook-id: 42", "X-Custom: a b c"};
  request.body = std::string("{\"k\":\"v\"}\0\xff tail", 17);
  const std::string sent_body = request.body;
  h.send(std::move(request), 7);

  REQUIRE(h.run_until_completed(1));
  REQUIRE(h.completed.size() == 1);
  const http::Response& response = h.completed[0].response;
  CHECK(h.completed[0].tag == 7);
  CHECK(response.status == 200);
  CHECK(response.transport_error == 0);
  CHECK(response.error.empty());
  CHECK(response.body_excerpt == "hello from the server");
  CHECK(response.retry_after.empty());
  CHECK(response.elapsed.count() > 0);
  CHECK_FALSE(h.completed_inside_send);
  CHECK(h.client->in_flight() == 0);

  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "PUT");
  CHECK(requests[0].path == "/hook?x=1");
  CHECK(requests[0].body == sent_body);
  CHECK(requests[0].header("content-type") == "application/json");
  CHECK(requests[0].header("Webhook-Id") == "42");
  CHECK(requests[0].header("X-Custom") == "a b c");
  CHECK(requests[0].header("Content-Length") == std::to_string(sent_body.size()));
  CHECK(requests[0].header("Expect").empty());
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: POST is the default method and a large body is sent without Expect: 100-continue",
          "[client]") {
  HttpServer server;
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  std::string big(2 << 20, 'x');
  big.front() = '[';
  big.back() = ']';
  h.send(request_to(server.url("/big"), big), 1);

  REQUIRE(h.run_until_completed(1));
  CHECK(h.completed[0].response.status == 200);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].body == big);
  CHECK(requests[0].header("Expect").empty());
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: only the first body_excerpt_bytes of a response body are kept", "[client]") {
  HttpServer server([](const RecordedRequest&) {
    Reply reply = Reply::with_status(200);
    reply.body = std::string(100'000, 'b');
    return reply;
  });
  http::ClientOptions options;
  options.body_excerpt_bytes = 16;
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl), options);
  h.send(request_to(server.url()), 1);
  REQUIRE(h.run_until_completed(1));
  CHECK(h.completed[0].response.status == 200);
  CHECK(h.completed[0].response.body_excerpt == std::string(16, 'b'));
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a response many times the receive buffer arrives whole, headers across reads",
          "[client]") {
  HttpServer server([](const RecordedRequest&) {
    // Headers of several KiB before the one the client keeps, then a body of 200 KiB.
    Reply reply = Reply::with_status(503, {{"X-Padding-1", std::string(3'000, 'p')},
                                           {"X-Padding-2", std::string(3'000, 'q')},
                                           {"Retry-After", "7"}});
    reply.body = std::string(200'000, 'b');
    reply.body.replace(0, 5, "first");
    return reply;
  });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  for (std::uint64_t tag = 1; tag <= 3; ++tag)
    h.send(request_to(server.url()), tag);
  REQUIRE(h.run_until_completed(3));
  for (const auto& c : h.completed) {
    CHECK(c.response.status == 503);
    CHECK(c.response.transport_error == 0);
    CHECK(c.response.retry_after == "7");
    CHECK(c.response.body_excerpt == "first" + std::string(251, 'b'));
  }
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: 500 and 404 statuses are reported as statuses", "[client]") {
  HttpServer server(by_path);
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  h.send(request_to(server.url("/broken")), 1);
  h.send(request_to(server.url("/missing")), 2);
  REQUIRE(h.run_until_completed(2));
  REQUIRE(h.completed.size() == 2);
  std::map<std::uint64_t, http::Response> by_tag;
  for (auto& c : h.completed)
    by_tag[c.tag] = c.response;
  CHECK(by_tag[1].status == 500);
  CHECK(by_tag[1].transport_error == 0);
  CHECK(by_tag[2].status == 404);
  CHECK(by_tag[2].transport_error == 0);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: 429 with Retry-After has the header captured, whatever its case", "[client]") {
  HttpServer server([](const RecordedRequest& request) {
    const std::string name = request.path == "/lower" ? "retry-after" : "Retry-After";
    return Reply::with_status(429, {{name, "2"}});
  });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  h.send(request_to(server.url("/upper")), 1);
  h.send(request_to(server.url("/lower")), 2);
  REQUIRE(h.run_until_completed(2));
  for (const auto& c : h.completed) {
    CHECK(c.response.status == 429);
    CHECK(c.response.retry_after == "2");
    const auto delay = http::parse_retry_after(c.response.retry_after, std::chrono::system_clock::now());
    REQUIRE(delay.has_value());
    CHECK(*delay == 2000ms);
  }
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a hanging server hits the total timeout", "[client]") {
  HttpServer server([](const RecordedRequest&) { return Reply::hang(); });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  http::Request request = request_to(server.url());
  request.total_timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  h.send(std::move(request), 1);
  REQUIRE(h.run_until_completed(1, 5s));
  const auto took = std::chrono::steady_clock::now() - started;
  const http::Response& response = h.completed[0].response;
  CHECK(response.status == 0);
  CHECK(response.transport_error == CURLE_OPERATION_TIMEDOUT);
  CHECK_THAT(response.error, Catch::Contains("Timeout"));
  CHECK(took >= 290ms);
  CHECK(took < 3s);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a request's handle kind follows its URL: HTTP/2 may multiplex only over https",
          "[client]") {
  using http::detail::transfer_kind;
  using http::detail::TransferKind;
  CHECK(transfer_kind(true, "http://127.0.0.1:8080/hook") == TransferKind::plain);
  CHECK(transfer_kind(true, "https://example.com/hook") == TransferKind::multiplexed);
  CHECK(transfer_kind(true, "HTTPS://EXAMPLE.COM/hook") == TransferKind::multiplexed);
  CHECK(transfer_kind(false, "https://example.com/hook") == TransferKind::plain);
  CHECK(transfer_kind(true, "") == TransferKind::plain);
  CHECK(transfer_kind(true, "ftp://example.com/") == TransferKind::plain);
}

// What libcurl hands the write callback at once is at most its receive buffer: 1 KiB for a plain handle,
// libcurl's default (16 KiB) for one that may carry HTTP/2 streams.
TEST_CASE("client: a plain handle receives through a 1 KiB buffer, a multiplexed one through the default",
          "[client]") {
  ProxyEnvironment no_proxy;
  HttpServer server([](const RecordedRequest&) {
    Reply reply = Reply::with_status(200);
    reply.body = std::string(64'000, 'b');
    return reply;
  });
  const auto kind = GENERATE(http::detail::TransferKind::plain, http::detail::TransferKind::multiplexed);
  http::detail::Transfer transfer(http::detail::TransferSettings{.kind = kind});
  REQUIRE(transfer.prepare(request_to(server.url("/big")), 1, nullptr) == CURLE_OK);
  struct Chunks {
    std::size_t total = 0;
    std::size_t largest = 0;
  } chunks;
  const curl_write_callback record = [](char*, std::size_t size, std::size_t count, void* userp) {
    auto* c = static_cast<Chunks*>(userp);
    c->total += size * count;
    c->largest = std::max(c->largest, size * count);
    return size * count;
  };
  REQUIRE(curl_easy_setopt(transfer.easy(), CURLOPT_WRITEFUNCTION, record) == CURLE_OK);
  REQUIRE(curl_easy_setopt(transfer.easy(), CURLOPT_WRITEDATA, &chunks) == CURLE_OK);
  REQUIRE(curl_easy_perform(transfer.easy()) == CURLE_OK);
  CHECK(chunks.total == 64'000);
  if (kind == http::detail::TransferKind::plain) {
    CHECK(chunks.largest <= 1024);
  } else {
    CHECK(chunks.largest > 1024);
  }
}

// Each kind has its own pool, so a handle never changes kind: libcurl 7.88 refuses a new receive buffer size
// on a handle that kept its buffer from a failed transfer (a name that did not resolve), which failed every
// later request on that handle when the size was set per request. So the plain requests fail and succeed in
// turn, on handles reused across rounds.
TEST_CASE("client: http and https requests alternate on one client, reused handles of both kinds",
          "[client]") {
  ProxyEnvironment no_proxy;  // straight to the ports, whatever the machine's proxy settings
  HttpServer server([](const RecordedRequest&) {
    Reply reply = Reply::with_status(200, {{"X-Padding", std::string(2'000, 'p')}});
    reply.body = "ok" + std::string(3'000, 'b');
    return reply;
  });
  std::string refused_http;
  {
    HttpServer gone;
    refused_http = gone.url("/");
  }
  const std::string refused_https = "https" + refused_http.substr(4);
  ClientHarness h(Carrier::libcurl);  // libcurl's handle kinds, plain and multiplexed
  std::uint64_t tag = 0;
  for (int round = 1; round <= 3; ++round) {
    INFO("round " << round);
    for (int i = 0; i < 4; ++i) {
      h.send(request_to("http://nonexistent.invalid/hook"), ++tag);
      h.send(request_to(refused_http), ++tag);
      h.send(request_to(refused_https), ++tag);
      h.send(request_to(server.url("/hook")), ++tag);
    }
    REQUIRE(h.run_until_completed(tag));
  }
  std::size_t delivered = 0;
  for (const auto& c : h.completed) {
    INFO("tag " << c.tag << ": " << c.response.error);
    if (c.tag % 4 == 1) {
      CHECK(c.response.transport_error == CURLE_COULDNT_RESOLVE_HOST);
    } else if (c.tag % 4 != 0) {
      CHECK(c.response.transport_error == CURLE_COULDNT_CONNECT);
    } else {
      CHECK(c.response.transport_error == 0);
      CHECK(c.response.status == 200);
      CHECK(c.response.body_excerpt.starts_with("ok"));
      ++delivered;
    }
  }
  CHECK(delivered == 12);
  CHECK(server.request_count() == 12);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a closed port is a connection-refused transport error", "[client]") {
  std::string url;
  {
    HttpServer gone;
    url = gone.url("/");
  }
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  h.send(request_to(url), 1);
  REQUIRE(h.run_until_completed(1));
  const http::Response& response = h.completed[0].response;
  CHECK(response.status == 0);
  CHECK(response.transport_error == CURLE_COULDNT_CONNECT);
  CHECK_FALSE(response.error.empty());
  CHECK_FALSE(response.has_status());
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a connection reset by the server is a transport error", "[client]") {
  HttpServer server([](const RecordedRequest&) { return Reply::reset(); });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  h.send(request_to(server.url()), 1);
  REQUIRE(h.run_until_completed(1));
  const http::Response& response = h.completed[0].response;
  CHECK(response.status == 0);
  CHECK(response.transport_error != 0);
  CHECK_FALSE(response.error.empty());
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a host that does not resolve is a resolve error", "[client]") {
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  h.send(request_to("http://nonexistent.invalid/"), 1);
  REQUIRE(h.run_until_completed(1, 30s));
  const http::Response& response = h.completed[0].response;
  CHECK(response.status == 0);
  CHECK(response.transport_error == CURLE_COULDNT_RESOLVE_HOST);
  CHECK_THAT(response.error, Catch::Contains("nonexistent.invalid"));
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a scheme other than http(s) is refused by libcurl, not sent", "[client]") {
  ClientHarness h;
  h.send(request_to("ftp://127.0.0.1/"), 1);
  REQUIRE(h.run_until_completed(1));
  CHECK(h.completed[0].response.transport_error == CURLE_UNSUPPORTED_PROTOCOL);
  CHECK_FALSE(h.completed_inside_send);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: sequential requests reuse one connection", "[client]") {
  HttpServer server;
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  for (std::uint64_t tag = 1; tag <= 5; ++tag) {
    h.send(request_to(server.url()), tag);
    REQUIRE(h.run_until_completed(tag));
    CHECK(h.completed.back().response.status == 200);
  }
  CHECK(server.connections_accepted() == 1);
  const auto requests = server.requests();
  REQUIRE(requests.size() == 5);
  for (const auto& r : requests)
    CHECK(r.connection_id == requests[0].connection_id);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: 500 concurrent requests all complete exactly once", "[client]") {
  const std::size_t limit = GENERATE(0, 8);  // 0: one connection each; 8: the rest queue inside libcurl
  HttpServer server;
  http::ClientOptions options;
  options.max_host_connections = static_cast<long>(limit);
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl), options);
  constexpr std::uint64_t kCount = 500;
  for (std::uint64_t tag = 0; tag < kCount; ++tag)
    h.send(request_to(server.url(), std::to_string(tag)), tag);
  CHECK(h.client->in_flight() == kCount);

  REQUIRE(h.run_until_completed(kCount, 30s));
  CHECK(h.completed.size() == kCount);
  std::set<std::uint64_t> tags;
  for (const auto& c : h.completed) {
    CHECK(c.response.status == 200);
    tags.insert(c.tag);
  }
  CHECK(tags.size() == kCount);
  CHECK(h.client->in_flight() == 0);
  CHECK(server.request_count() == kCount);
  if (limit > 0) CHECK(server.connections_accepted() <= limit);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: abort_all completes each request in flight once, with \"aborted\"", "[client]") {
  HttpServer server([](const RecordedRequest&) { return Reply::hang(); });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  constexpr std::uint64_t kCount = 10;
  for (std::uint64_t tag = 0; tag < kCount; ++tag)
    h.send(request_to(server.url()), tag);
  REQUIRE(h.run_until([&] { return server.request_count() == kCount; }));
  CHECK(h.completed.empty());

  h.client->abort_all();
  REQUIRE(h.completed.size() == kCount);
  std::set<std::uint64_t> tags;
  for (const auto& c : h.completed) {
    CHECK(c.response.status == 0);
    CHECK(c.response.transport_error == CURLE_ABORTED_BY_CALLBACK);
    CHECK(c.response.error == "aborted");
    tags.insert(c.tag);
  }
  CHECK(tags.size() == kCount);
  CHECK(h.client->in_flight() == 0);
  h.client->abort_all();  // nothing left: no second completion
  uv_run(h.loop.get(), UV_RUN_NOWAIT);
  CHECK(h.completed.size() == kCount);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a completion may send again, re-entrantly", "[client]") {
  HttpServer server;
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  constexpr std::uint64_t kChain = 20;
  h.on_complete = [&](ClientHarness::Completed& done) {
    if (done.tag + 1 < kChain)
      h.client->send(request_to(server.url(), std::to_string(done.tag + 1)), done.tag + 1);
  };
  h.send(request_to(server.url(), "0"), 0);
  REQUIRE(h.run_until_completed(kChain));
  REQUIRE(h.completed.size() == kChain);
  for (std::uint64_t i = 0; i < kChain; ++i) {
    CHECK(h.completed[i].tag == i);
    CHECK(h.completed[i].response.status == 200);
  }
  CHECK(server.connections_accepted() == 1);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a request libcurl refuses up front completes later, never inside send()", "[client]") {
  ClientHarness h;
  // Longer than libcurl accepts for any string option (CURL_MAX_INPUT_LENGTH), so setting the URL fails.
  std::string url = "http://127.0.0.1/" + std::string(9'000'000, 'a');
  h.send(request_to(std::move(url)), 1);
  CHECK(h.completed.empty());
  CHECK(h.client->in_flight() == 1);
  REQUIRE(h.run_until_completed(1));
  CHECK_FALSE(h.completed_inside_send);
  CHECK(h.completed[0].response.transport_error == CURLE_BAD_FUNCTION_ARGUMENT);
  CHECK(h.client->in_flight() == 0);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: destroying the client with requests in flight runs no completion", "[client]") {
  HttpServer server([](const RecordedRequest&) { return Reply::hang(); });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  for (std::uint64_t tag = 0; tag < 3; ++tag)
    h.send(request_to(server.url()), tag);
  REQUIRE(h.run_until([&] { return server.request_count() == 3; }));
  REQUIRE(h.finish() == 0);
  CHECK(h.completed.empty());
}

TEST_CASE("client: a completion may destroy the client", "[client]") {
  HttpServer server;
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  h.on_complete = [&](ClientHarness::Completed&) { h.client.reset(); };
  h.send(request_to(server.url()), 1);
  h.send(request_to(server.url()), 2);
  REQUIRE(h.run_until([&] { return h.client == nullptr; }));
  CHECK(h.completed.size() == 1);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a pooled transfer carries nothing over from its previous request", "[client]") {
  HttpServer server([](const RecordedRequest& request) {
    Reply reply = Reply::with_status(200);
    reply.body = request.method;
    return reply;
  });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"PUT", "put-body"}, {"GET", ""}, {"HEAD", ""}, {"POST", ""}, {"DELETE", ""}, {"PATCH", "patch-body"}};
  for (const auto& [method, body] : steps) {
    http::Request request = request_to(server.url("/" + method), body);
    request.method = method;
    request.headers = {"X-Step: " + method};
    h.send(std::move(request), h.completed.size());
    REQUIRE(h.run_until_completed(h.completed.size() + 1));
    INFO(method);
    CHECK(h.completed.back().response.status == 200);
    CHECK(h.completed.back().response.body_excerpt == (method == "HEAD" ? "" : method));
  }
  const auto requests = server.requests();
  REQUIRE(requests.size() == steps.size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    INFO(steps[i].first);
    CHECK(requests[i].method == steps[i].first);
    CHECK(requests[i].body == steps[i].second);
    CHECK(requests[i].header("X-Step") == steps[i].first);
    CHECK(requests[i].headers.size() < 8);  // no header left over from an earlier step
  }
  CHECK(requests[3].header("Content-Length") == "0");  // an empty POST still says it has no body
  CHECK(server.connections_accepted() == 1);
  REQUIRE(h.finish() == 0);
}

// libcurl's connection cache holds by default four connections per transfer added to the multi handle at
// the moment, and this client removes each transfer when it completes: after a quieter stretch it closed
// most of a busy relay's connections and opened them again for the next wave (1,597 and 2,525 connects for
// 50,000 messages in two drains).
TEST_CASE("client: connections opened for a wave of requests survive a quieter stretch", "[client]") {
  constexpr std::uint64_t kWave = 32;
  HttpServer server;
  http::ClientOptions options;
  options.max_cached_connections = static_cast<long>(kWave);
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl), options);
  std::uint64_t tag = 0;
  const auto send_wave = [&](std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i, ++tag)
      h.send(request_to(server.url(), std::to_string(tag)), tag);
    REQUIRE(h.run_until_completed(tag));
  };
  send_wave(kWave);
  CHECK(server.connections_accepted() == kWave);
  for (int i = 0; i < 10; ++i)
    send_wave(1);
  send_wave(kWave);
  CHECK(server.connections_accepted() == kWave);
  for (const auto& c : h.completed)
    CHECK(c.response.status == 200);
  REQUIRE(h.finish() == 0);
}

namespace {

// Descriptors libcurl has closed are free for anyone on the loop: a stale watcher would make uv_poll_init on
// a new socket with the same number fail with UV_EEXIST (libpq's connection, in the relay). New sockets
// take the lowest free numbers, so a few cover every number libcurl just released.
bool fresh_sockets_can_be_watched(uv_loop_t* loop) {
  constexpr int kSockets = 16;
  std::vector<int> fds;
  std::vector<std::unique_ptr<uv_poll_t>> polls;
  bool all = true;
  for (int i = 0; i < kSockets; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    fds.push_back(fd);
    auto poll = std::make_unique<uv_poll_t>();
    if (int rc = uv_poll_init_socket(loop, poll.get(), fd); rc != 0) {
      UNSCOPED_INFO("uv_poll_init_socket on descriptor " << fd << ": " << uv_strerror(rc));
      all = false;
      continue;
    }
    polls.push_back(std::move(poll));
  }
  for (auto& poll : polls)
    uv_close(reinterpret_cast<uv_handle_t*>(poll.get()), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  for (int fd : fds)
    close(fd);
  return all && fds.size() == kSockets;
}

}  // namespace

// An idle kept-alive socket stays watched for readability between requests (no system call to stop and
// restart the watch); when the server closes it, the next request must go out on a new connection, and the
// closed socket must not keep waking the loop.
TEST_CASE("client: a kept-alive connection the server closed while idle is replaced, and the loop rests",
          "[client]") {
  HttpServer server([](const RecordedRequest&) {
    Reply r = Reply::with_status(200);
    r.then_close = true;
    return r;
  });
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  constexpr std::uint64_t kRequests = 20;
  for (std::uint64_t tag = 1; tag <= kRequests; ++tag) {
    h.send(request_to(server.url()), tag);
    REQUIRE(h.run_until_completed(tag));
    CHECK(h.completed.back().response.status == 200);
    CHECK(h.completed.back().response.transport_error == 0);
    // Only once the server has closed the connection: a request sent just before that would race the
    // close, as on any kept-alive connection, which is not what this test is about.
    REQUIRE(h.run_until([&] { return server.connections_closed() >= tag; }));
  }
  CHECK(server.connections_accepted() == kRequests);

  // The last connection is closed: count loop turns over 200 ms of nothing to do. Each turn that the
  // closed socket caused would show here; the guard timers of run_until make ~20.
  int turns = 0;
  uv_prepare_t counter;
  uv_prepare_init(h.loop.get(), &counter);
  counter.data = &turns;
  uv_prepare_start(&counter, [](uv_prepare_t* p) { ++*static_cast<int*>(p->data); });
  const auto until = std::chrono::steady_clock::now() + 200ms;
  h.run_until([&] { return std::chrono::steady_clock::now() >= until; }, 1s);
  uv_prepare_stop(&counter);
  uv_close(reinterpret_cast<uv_handle_t*>(&counter), nullptr);
  uv_run(h.loop.get(), UV_RUN_NOWAIT);
  CHECK(turns < 100);
  REQUIRE(h.finish() == 0);
}

// libcurl closes connection sockets through the client (CURLOPT_CLOSESOCKETFUNCTION), which unwatches them
// first; the threaded resolver's socket it closes by itself, so that one is unwatched as soon as libcurl
// lets go of it.
TEST_CASE("client: the descriptors of closed connections and of name lookups are free for new watchers",
          "[client]") {
  HttpServer server;
  ClientHarness h(GENERATE(Carrier::builtin, Carrier::libcurl));
  constexpr std::uint64_t kRequests = 5;
  for (std::uint64_t tag = 1; tag <= kRequests; ++tag) {
    http::Request request = request_to(server.url());
    request.headers.push_back("Connection: close");
    h.send(std::move(request), tag);
    REQUIRE(h.run_until_completed(tag, 5s));
    CHECK(h.completed.back().response.status == 200);
  }
  CHECK(server.connections_accepted() == kRequests);
  CHECK(fresh_sockets_can_be_watched(h.loop.get()));

  h.send(request_to("http://nonexistent.invalid/"), kRequests + 1);
  REQUIRE(h.run_until_completed(kRequests + 1, 30s));
  CHECK(h.completed.back().response.transport_error == CURLE_COULDNT_RESOLVE_HOST);
  CHECK(fresh_sockets_can_be_watched(h.loop.get()));
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: requests to more distinct URLs than the parsed-URL cache holds each reach their own",
          "[client]") {
  HttpServer server;
  ClientHarness h;
  // Two waves over the cache's capacity: the second sends every URL again, so that hits, misses and the
  // cache being emptied with transfers in flight all happen.
  const std::uint64_t distinct = http::detail::ParsedUrls::kCapacity + 44;
  std::uint64_t tag = 0;
  for (int wave = 0; wave < 2; ++wave) {
    for (std::uint64_t n = 0; n < distinct; ++n, ++tag) {
      const std::string target = "/target/" + std::to_string(n) + "?n=" + std::to_string(n);
      h.send(request_to(server.url(target), std::to_string(tag)), tag);
    }
    REQUIRE(h.run_until_completed(tag, 30s));
  }
  for (const auto& c : h.completed)
    CHECK(c.response.status == 200);
  std::map<std::string, int> seen;
  for (const auto& r : server.requests()) {
    const std::string n = std::to_string(std::stoull(r.body) % distinct);
    CHECK(r.path == "/target/" + n + "?n=" + n);
    ++seen[r.path];
  }
  CHECK(seen.size() == distinct);
  for (const auto& [path, count] : seen)
    CHECK(count == 2);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: a proxy named in the environment is used, as libcurl does by default", "[client]") {
  const char* variable = GENERATE("http_proxy", "all_proxy", "ALL_PROXY");
  HttpServer proxy;
  HttpServer target;
  ProxyEnvironment environment;
  environment.set(variable, proxy.url());
  ClientHarness h;
  h.send(request_to(target.url("/through?x=1")), 1);
  REQUIRE(h.run_until_completed(1));
  CHECK(h.completed[0].response.status == 200);
  // A proxy is asked for the absolute URL; the target itself hears nothing.
  REQUIRE(proxy.request_count() == 1);
  CHECK(proxy.requests()[0].path == target.url("/through?x=1"));
  CHECK(target.request_count() == 0);
  REQUIRE(h.finish() == 0);
}

TEST_CASE("client: the environment's proxy settings are read once, when the client is made", "[client]") {
  HttpServer proxy;
  HttpServer target;
  ProxyEnvironment environment;
  ClientHarness h;  // made with no proxy in the environment
  environment.set("http_proxy", proxy.url());
  h.send(request_to(target.url("/direct")), 1);
  REQUIRE(h.run_until_completed(1));
  CHECK(h.completed[0].response.status == 200);
  REQUIRE(target.request_count() == 1);
  CHECK(target.requests()[0].path == "/direct");
  CHECK(proxy.request_count() == 0);
  REQUIRE(h.finish() == 0);
}
