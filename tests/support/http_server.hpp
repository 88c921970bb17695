#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace testkit {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::steady_clock::time_point arrived;
  std::chrono::system_clock::time_point arrived_wall;
  std::size_t connection_id = 0;  // which TCP connection carried it (keep-alive checks)

  // Value of the first header with this name (case-insensitive); "" when absent.
  std::string header(std::string_view name) const;
};

// What the server does with one request.
struct Reply {
  enum class Kind { respond, hang, reset };
  Kind kind = Kind::respond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // answer only after this long (kind == respond)
  // Close the connection once the answer is out, without announcing it (no "Connection: close"), as a
  // server does when its idle timeout for kept-alive connections strikes at once.
  bool then_close = false;

  static Reply with_status(int status, std::vector<std::pair<std::string, std::string>> headers = {});
  static Reply delayed(std::chrono::milliseconds delay, int status = 200);
  static Reply hang();   // never answer; the connection stays open until the client gives up
  static Reply reset();  // close the connection with a TCP reset, without answering
};

// A scriptable HTTP/1.1 server on 127.0.0.1 (port 0: the kernel picks) for tests and benchmarks. It runs
// its own libuv loop on its own thread, parses requests with http-parser, supports keep-alive, records every
// request (arrival time, method, path, headers, body) and answers as the handler says. The handler runs on
// the server thread. Efficient enough not to be the bottleneck of a benchmark.
class HttpServer {
 public:
  using Handler = std::function<Reply(const RecordedRequest&)>;

  // Starts listening at once; the default handler answers 200 with an empty body.
  explicit HttpServer(Handler handler = nullptr);
  // Stops the loop thread and closes every connection.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  std::string url(std::string_view path = "/") const;

  void set_handler(Handler handler);
  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  // Blocks until at least n requests were recorded or the timeout passes; returns whether they were.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;
  // Connections accepted so far.
  std::size_t connections_accepted() const;
  // Connections the server has closed so far (their socket is closed; the client has been sent the FIN).
  std::size_t connections_closed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace testkit
