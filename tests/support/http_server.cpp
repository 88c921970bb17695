#include "tests/support/http_server.hpp"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <http_parser.h>
#include <strings.h>
#include <uv.h>

#include "loop/handle.hpp"

namespace testkit {

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (field.size() == name.size() && strncasecmp(field.data(), name.data(), name.size()) == 0) return value;
  }
  return "";
}

Reply Reply::with_status(int status, std::vector<std::pair<std::string, std::string>> headers) {
  Reply reply;
  reply.status = status;
  reply.headers = std::move(headers);
  return reply;
}

Reply Reply::delayed(std::chrono::milliseconds delay, int status) {
  Reply reply;
  reply.status = status;
  reply.delay = delay;
  return reply;
}

Reply Reply::hang() {
  Reply reply;
  reply.kind = Kind::hang;
  return reply;
}

Reply Reply::reset() {
  Reply reply;
  reply.kind = Kind::reset;
  return reply;
}

namespace {

std::string format_response(const Reply& reply, bool keep_alive, bool head_request) {
  std::string text;
  text.reserve(96 + reply.body.size());
  char number[24];
  text += "HTTP/1.1 ";
  text.append(number, std::to_chars(number, number + sizeof(number), reply.status).ptr);
  text += ' ';
  text += http_status_str(static_cast<http_status>(reply.status));
  text += "\r\n";
  for (const auto& [name, value] : reply.headers) {
    if (strcasecmp(name.c_str(), "Content-Length") == 0) continue;  // ours below is always right
    text += name;
    text += ": ";
    text += value;
    text += "\r\n";
  }
  text += "Content-Length: ";
  text.append(number, std::to_chars(number, number + sizeof(number), reply.body.size()).ptr);
  text += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  if (!head_request) text += reply.body;
  return text;
}

}  // namespace

struct HttpServer::Impl {
  struct Outgoing;
  class Connection;

  explicit Impl(Handler handler);
  ~Impl();

  // Shared with the test thread, under mutex_.
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<RecordedRequest> requests_;
  std::shared_ptr<const Handler> handler_;
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> closed_{0};
  int port_ = 0;

  // The server thread's own; set up before it starts.
  uv_loop_t loop_{};
  uv_tcp_t listener_{};
  uv_async_t stop_{};
  http_parser_settings parser_settings_{};
  std::unordered_map<std::size_t, std::unique_ptr<Connection>> connections_;
  std::size_t next_connection_id_ = 1;
  // Each read is parsed before the next one is allocated, so one buffer serves every connection.
  char read_buffer_[64 * 1024];
  std::thread thread_;

  void listen_on_loopback();
  void teardown_loop();
  Reply reply_to(const RecordedRequest& request);
  void record(RecordedRequest&& request);

  static void on_uv_connection(uv_stream_t* listener, int status);
  static void on_uv_stop(uv_async_t* async);
};

// What the server owes one request. Replies leave a connection in request order (HTTP/1.1 pipelining), so
// a delayed or hanging reply holds back those queued behind it.
struct HttpServer::Impl::Outgoing {
  enum class State { waiting, ready, hang, reset };
  Connection* connection = nullptr;
  State state = State::ready;
  std::string bytes;
  loop::Handle<uv_timer_t> timer;
};

class HttpServer::Impl::Connection {
 public:
  Connection(Impl* server, std::size_t id) : server_(server), id_(id) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    tcp_.data = this;
  }

  uv_tcp_t* tcp() { return &tcp_; }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  int start() {
    uv_tcp_nodelay(&tcp_, 1);
    return uv_read_start(stream(), &Connection::on_uv_alloc, &Connection::on_uv_read);
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    queue_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::on_uv_closed);
  }

  // http-parser callbacks.
  static int on_message_begin(http_parser* parser);
  static int on_url(http_parser* parser, const char* at, std::size_t length);
  static int on_header_field(http_parser* parser, const char* at, std::size_t length);
  static int on_header_value(http_parser* parser, const char* at, std::size_t length);
  static int on_headers_complete(http_parser* parser);
  static int on_body(http_parser* parser, const char* at, std::size_t length);
  static int on_message_complete(http_parser* parser);

 private:
  static Connection* of(http_parser* parser) { return static_cast<Connection*>(parser->data); }
  static void on_uv_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_uv_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_uv_written(uv_write_t* request, int status);
  static void on_uv_delay_over(uv_timer_t* timer);
  static void on_uv_closed(uv_handle_t* handle);

  void consume(const char* data, std::size_t size);
  void answer(const Reply& reply, bool keep_alive, bool head_request);
  void queue_delayed(std::string bytes, std::chrono::milliseconds delay);
  void move_ready_replies_out();
  void flush();
  void close_with_reset();

  Impl* server_;
  std::size_t id_;
  uv_tcp_t tcp_{};
  http_parser parser_{};
  RecordedRequest current_;
  bool in_header_value_ = false;
  bool done_reading_ = false;   // after a last request, a reset or a parse error, input is ignored
  std::deque<Outgoing> queue_;  // deque: queued entries keep their address, the timers point at them
  std::string out_;             // bytes ready to go, in order
  std::string writing_;         // bytes handed to uv_write, kept alive until its callback
  uv_write_t write_request_{};
  bool write_in_flight_ = false;
  bool close_when_flushed_ = false;
  bool reset_when_flushed_ = false;
  bool closing_ = false;
};

int HttpServer::Impl::Connection::on_message_begin(http_parser* parser) {
  Connection* self = of(parser);
  self->current_ = RecordedRequest{};
  self->in_header_value_ = false;
  return 0;
}

int HttpServer::Impl::Connection::on_url(http_parser* parser, const char* at, std::size_t length) {
  of(parser)->current_.path.append(at, length);
  return 0;
}

// http-parser may hand over a name or a value in several pieces, split wherever a read ended.
int HttpServer::Impl::Connection::on_header_field(http_parser* parser, const char* at, std::size_t length) {
  Connection* self = of(parser);
  auto& headers = self->current_.headers;
  if (self->in_header_value_ || headers.empty()) headers.emplace_back();
  self->in_header_value_ = false;
  headers.back().first.append(at, length);
  return 0;
}

int HttpServer::Impl::Connection::on_header_value(http_parser* parser, const char* at, std::size_t length) {
  Connection* self = of(parser);
  self->current_.headers.back().second.append(at, length);
  self->in_header_value_ = true;
  return 0;
}

int HttpServer::Impl::Connection::on_headers_complete(http_parser* parser) {
  of(parser)->current_.method = http_method_str(static_cast<http_method>(parser->method));
  return 0;
}

int HttpServer::Impl::Connection::on_body(http_parser* parser, const char* at, std::size_t length) {
  of(parser)->current_.body.append(at, length);
  return 0;
}

int HttpServer::Impl::Connection::on_message_complete(http_parser* parser) {
  Connection* self = of(parser);
  RecordedRequest& request = self->current_;
  request.arrived = std::chrono::steady_clock::now();
  request.arrived_wall = std::chrono::system_clock::now();
  request.connection_id = self->id_;
  const bool keep_alive = http_should_keep_alive(parser) != 0;
  const bool head_request = parser->method == HTTP_HEAD;
  const Reply reply = self->server_->reply_to(request);
  self->server_->record(std::move(request));
  self->answer(reply, keep_alive, head_request);
  if (!keep_alive || reply.then_close || reply.kind == Reply::Kind::reset) {
    self->done_reading_ = true;
    http_parser_pause(parser, 1);  // stops this very execute, which may hold more requests
  }
  return 0;
}

void HttpServer::Impl::Connection::on_uv_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(self->server_->read_buffer_, sizeof(self->server_->read_buffer_));
}

void HttpServer::Impl::Connection::on_uv_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  if (nread < 0) {
    self->close();  // EOF or error: the client is gone, whatever was still owed to it
    return;
  }
  if (nread > 0) self->consume(buf->base, static_cast<std::size_t>(nread));
}

void HttpServer::Impl::Connection::consume(const char* data, std::size_t size) {
  if (closing_ || done_reading_) return;
  http_parser_execute(&parser_, &server_->parser_settings_, data, size);
  const http_errno error = HTTP_PARSER_ERRNO(&parser_);
  if (error != HPE_OK && error != HPE_PAUSED) {
    Reply bad = Reply::with_status(400);
    bad.body = http_errno_description(error);
    answer(bad, false, false);
    done_reading_ = true;
  }
  flush();
}

void HttpServer::Impl::Connection::answer(const Reply& reply, bool keep_alive, bool head_request) {
  switch (reply.kind) {
    case Reply::Kind::respond: {
      if (!keep_alive || reply.then_close) close_when_flushed_ = true;
      std::string bytes = format_response(reply, keep_alive, head_request);
      if (reply.delay.count() > 0) {
        queue_delayed(std::move(bytes), reply.delay);
      } else if (queue_.empty()) {
        out_ += bytes;  // the common case: nothing ahead of it, straight to the output
      } else {
        queue_.push_back(Outgoing{this, Outgoing::State::ready, std::move(bytes), {}});
      }
      return;
    }
    case Reply::Kind::hang:
      queue_.push_back(Outgoing{this, Outgoing::State::hang, {}, {}});
      return;
    case Reply::Kind::reset:
      queue_.push_back(Outgoing{this, Outgoing::State::reset, {}, {}});
      return;
  }
}

void HttpServer::Impl::Connection::queue_delayed(std::string bytes, std::chrono::milliseconds delay) {
  Outgoing& entry = queue_.emplace_back();
  entry.connection = this;
  entry.state = Outgoing::State::waiting;
  entry.bytes = std::move(bytes);
  auto timer = loop::allocate<uv_timer_t>();
  uv_timer_init(&server_->loop_, timer.get());
  timer->data = &entry;
  entry.timer = loop::Handle<uv_timer_t>(std::move(timer));
  // The delay is a lower bound that tests compare with arrival times: count it from now, not from the
  // loop's cached time (taken before this request was read), and round the loop's millisecond clock up.
  uv_update_time(&server_->loop_);
  uv_timer_start(entry.timer.get(), &Connection::on_uv_delay_over,
                 static_cast<std::uint64_t>(delay.count()) + 1, 0);
}

void HttpServer::Impl::Connection::on_uv_delay_over(uv_timer_t* timer) {
  auto* entry = static_cast<Outgoing*>(timer->data);
  if (entry == nullptr) return;
  entry->state = Outgoing::State::ready;
  entry->connection->flush();
}

void HttpServer::Impl::Connection::move_ready_replies_out() {
  while (!queue_.empty()) {
    Outgoing& head = queue_.front();
    if (head.state == Outgoing::State::reset) reset_when_flushed_ = true;
    if (head.state != Outgoing::State::ready) return;
    out_ += head.bytes;
    queue_.pop_front();
  }
}

// One write per batch of replies: everything a read produced (pipelined requests) leaves together.
void HttpServer::Impl::Connection::flush() {
  if (closing_) return;
  move_ready_replies_out();
  if (write_in_flight_) return;
  if (!out_.empty()) {
    uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    int written = uv_try_write(stream(), &buf, 1);
    if (written == UV_EAGAIN) written = 0;
    if (written < 0) return close();
    out_.erase(0, static_cast<std::size_t>(written));
    if (!out_.empty()) {
      writing_.swap(out_);
      buf = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
      write_request_.data = this;
      if (uv_write(&write_request_, stream(), &buf, 1, &Connection::on_uv_written) != 0) return close();
      write_in_flight_ = true;
      return;
    }
  }
  if (reset_when_flushed_) return close_with_reset();
  if (close_when_flushed_ && queue_.empty()) close();
}

void HttpServer::Impl::Connection::on_uv_written(uv_write_t* request, int status) {
  auto* self = static_cast<Connection*>(request->data);
  self->write_in_flight_ = false;
  self->writing_.clear();
  if (status < 0) return self->close();
  self->flush();
}

void HttpServer::Impl::Connection::close_with_reset() {
  closing_ = true;
  queue_.clear();
  if (uv_tcp_close_reset(&tcp_, &Connection::on_uv_closed) != 0)
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::on_uv_closed);
}

void HttpServer::Impl::Connection::on_uv_closed(uv_handle_t* handle) {
  auto* self = static_cast<Connection*>(handle->data);
  self->server_->closed_.fetch_add(1, std::memory_order_relaxed);
  self->server_->connections_.erase(self->id_);  // frees the connection
}

HttpServer::Impl::Impl(Handler handler) {
  if (handler) handler_ = std::make_shared<const Handler>(std::move(handler));
  parser_settings_.on_message_begin = &Connection::on_message_begin;
  parser_settings_.on_url = &Connection::on_url;
  parser_settings_.on_header_field = &Connection::on_header_field;
  parser_settings_.on_header_value = &Connection::on_header_value;
  parser_settings_.on_headers_complete = &Connection::on_headers_complete;
  parser_settings_.on_body = &Connection::on_body;
  parser_settings_.on_message_complete = &Connection::on_message_complete;
  if (int rc = uv_loop_init(&loop_); rc != 0)
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  uv_async_init(&loop_, &stop_, &Impl::on_uv_stop);
  stop_.data = this;
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  try {
    listen_on_loopback();
  } catch (...) {
    teardown_loop();
    throw;
  }
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

void HttpServer::Impl::listen_on_loopback() {
  sockaddr_in address{};
  uv_ip4_addr("127.0.0.1", 0, &address);
  auto* listener = reinterpret_cast<uv_stream_t*>(&listener_);
  if (int rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&address), 0); rc != 0)
    throw std::runtime_error(std::string("test HTTP server: bind: ") + uv_strerror(rc));
  if (int rc = uv_listen(listener, 1024, &Impl::on_uv_connection); rc != 0)
    throw std::runtime_error(std::string("test HTTP server: listen: ") + uv_strerror(rc));
  sockaddr_storage bound{};
  int length = sizeof(bound);
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
}

// Runs on the constructing thread when setup failed, or after the server thread has ended.
void HttpServer::Impl::teardown_loop() {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&stop_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_), nullptr);
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

HttpServer::Impl::~Impl() {
  uv_async_send(&stop_);
  thread_.join();
  teardown_loop();
}

void HttpServer::Impl::on_uv_stop(uv_async_t* async) {
  auto* self = static_cast<Impl*>(async->data);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->listener_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
  for (auto& [id, connection] : self->connections_)
    connection->close();
}

void HttpServer::Impl::on_uv_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Impl*>(listener->data);
  if (status < 0) return;
  const std::size_t id = self->next_connection_id_++;
  auto [slot, inserted] = self->connections_.emplace(id, std::make_unique<Connection>(self, id));
  Connection& connection = *slot->second;
  uv_tcp_init(&self->loop_, connection.tcp());
  if (uv_accept(listener, connection.stream()) != 0 || connection.start() != 0) return connection.close();
  self->accepted_.fetch_add(1, std::memory_order_relaxed);
}

Reply HttpServer::Impl::reply_to(const RecordedRequest& request) {
  std::shared_ptr<const Handler> handler;
  {
    std::lock_guard lock(mutex_);
    handler = handler_;
  }
  if (!handler) return Reply{};
  try {
    return (*handler)(request);
  } catch (const std::exception& e) {
    Reply failed = Reply::with_status(500);
    failed.body = e.what();
    return failed;
  }
}

void HttpServer::Impl::record(RecordedRequest&& request) {
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
  }
  arrived_.notify_all();
}

HttpServer::HttpServer(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {}

HttpServer::~HttpServer() = default;

int HttpServer::port() const {
  return impl_->port_;
}

std::string HttpServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port_) + std::string(path);
}

void HttpServer::set_handler(Handler handler) {
  auto shared = handler ? std::make_shared<const Handler>(std::move(handler)) : nullptr;
  std::lock_guard lock(impl_->mutex_);
  impl_->handler_ = std::move(shared);
}

std::vector<RecordedRequest> HttpServer::requests() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->requests_;
}

std::size_t HttpServer::request_count() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->requests_.size();
}

bool HttpServer::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex_);
  return impl_->arrived_.wait_for(lock, timeout, [&] { return impl_->requests_.size() >= n; });
}

std::size_t HttpServer::connections_accepted() const {
  return impl_->accepted_.load(std::memory_order_relaxed);
}

std::size_t HttpServer::connections_closed() const {
  return impl_->closed_.load(std::memory_order_relaxed);
}

}  // namespace testkit
