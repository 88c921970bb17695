#include "bench/sink.hpp"

#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

namespace bench {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kRefusal =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
constexpr std::size_t kLargestHead = 64 * 1024;
// Far above any benchmark payload; a larger Content-Length is refused rather than buffered.
constexpr std::size_t kLargestBody = 64 * 1024 * 1024;
constexpr std::size_t kReadBuffer = 64 * 1024;

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trimmed(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

}  // namespace

ScannedRequest scan_request(std::string_view bytes) {
  ScannedRequest out;
  const auto head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    out.malformed = bytes.size() > kLargestHead;
    return out;
  }
  std::size_t body = 0;
  // Header lines run from the end of the request line to the blank line.
  for (auto at = bytes.find("\r\n") + 2; at < head_end;) {
    const auto end = bytes.find("\r\n", at);
    const std::string_view line = bytes.substr(at, end - at);
    at = end + 2;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trimmed(line.substr(colon + 1));
    if (same_name(name, "content-length")) {
      const auto [rest, error] = std::from_chars(value.data(), value.data() + value.size(), body);
      if (error != std::errc() || rest != value.data() + value.size() || body > kLargestBody) {
        out.malformed = true;
        return out;
      }
    } else if (same_name(name, "webhook-id")) {
      out.message_id = value;
    } else if (same_name(name, "transfer-encoding")) {
      out.malformed = true;  // the relay always sends a Content-Length; a chunked body is not ours
      return out;
    }
  }
  const std::size_t length = head_end + 4 + body;
  if (bytes.size() < length) return out;
  out.complete = true;
  out.length = length;
  return out;
}

struct Sink::Impl {
  class Connection;

  Impl();
  ~Impl();

  // Shared with the benchmark's thread.
  mutable std::mutex mutex;
  mutable std::condition_variable reached;
  mutable std::size_t awaited = 0;  // the count a waiting thread wants; 0: nobody waits
  std::vector<Arrival> arrivals;
  std::atomic<std::size_t> count{0};
  std::atomic<long long> delay_ms{0};
  std::atomic<pid_t> thread_id{0};
  int port = 0;

  // The sink thread's own.
  uv_loop_t loop{};
  uv_tcp_t listener{};
  uv_async_t stop{};
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections;
  std::thread thread;

  void listen_on_loopback();
  void close_loop();
  static void on_uv_connection(uv_stream_t* listener, int status);
  static void on_uv_stop(uv_async_t* async);
};

// One client connection. Requests are read into one buffer that only grows for a request larger than it;
// every complete request in a read is recorded under one lock and answered in one write.
class Sink::Impl::Connection {
 public:
  explicit Connection(Impl& sink) : sink_(sink), buffer_(kReadBuffer) { write_.data = this; }

  // Both handles are registered with the loop even when accepting fails, so close() always applies.
  bool start(uv_stream_t* listener) {
    uv_tcp_init(&sink_.loop, &tcp_);
    uv_timer_init(&sink_.loop, &timer_);
    tcp_.data = this;
    timer_.data = this;
    if (uv_accept(listener, stream()) != 0) return false;
    uv_tcp_nodelay(&tcp_, 1);
    return uv_read_start(stream(), &on_uv_alloc, &on_uv_read) == 0;
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &on_uv_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &on_uv_closed);
  }

 private:
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  static void on_uv_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<Connection*>(handle->data);
    if (self->used_ == self->buffer_.size()) self->buffer_.resize(self->buffer_.size() * 2);
    *buf = uv_buf_init(self->buffer_.data() + self->used_,
                       static_cast<unsigned>(self->buffer_.size() - self->used_));
  }

  static void on_uv_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
    auto* self = static_cast<Connection*>(stream->data);
    if (nread < 0) return self->close();
    self->used_ += static_cast<std::size_t>(nread);
    self->take_requests();
  }

  void take_requests() {
    const auto now = Clock::now();
    std::size_t taken = 0;
    std::size_t answers = 0;
    bool refused = false;
    bool awaited_count_reached = false;
    {
      std::lock_guard lock(sink_.mutex);
      for (;;) {
        const auto request = scan_request(std::string_view(buffer_.data() + taken, used_ - taken));
        if (request.malformed) {
          refused = true;
          break;
        }
        if (!request.complete) break;
        sink_.arrivals.push_back({now, std::string(request.message_id)});
        taken += request.length;
        ++answers;
      }
      const std::size_t total = sink_.count.fetch_add(answers, std::memory_order_release) + answers;
      awaited_count_reached = sink_.awaited != 0 && total >= sink_.awaited;
    }
    if (awaited_count_reached) sink_.reached.notify_all();
    used_ -= taken;
    if (used_ > 0 && taken > 0) std::memmove(buffer_.data(), buffer_.data() + taken, used_);
    if (refused) uv_read_stop(stream());
    answer(answers, now, refused);
  }

  void answer(std::size_t answers, Clock::time_point arrived, bool refused) {
    const auto delay = std::chrono::milliseconds(sink_.delay_ms.load(std::memory_order_relaxed));
    if (delay.count() > 0 || !held_.empty()) {
      held_.insert(held_.end(), answers, arrived + delay);
      if (refused) held_refusal_ = true;
      arm_timer();
      return;
    }
    queue_answers(answers, refused);
  }

  void queue_answers(std::size_t answers, bool refused) {
    for (std::size_t i = 0; i < answers; ++i)
      pending_.append(kAnswer);
    if (refused) {
      // Closed once the refusal is out, not before the answers held ahead of it.
      pending_.append(kRefusal);
      close_after_flush_ = true;
    }
    flush();
  }

  void arm_timer() {
    if (held_.empty()) return;
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(held_.front() - Clock::now());
    uv_timer_start(&timer_, &on_uv_timer, static_cast<std::uint64_t>(std::max<long long>(wait.count(), 0)),
                   0);
  }

  static void on_uv_timer(uv_timer_t* timer) {
    auto* self = static_cast<Connection*>(timer->data);
    const auto now = Clock::now();
    std::size_t due = 0;
    while (!self->held_.empty() && self->held_.front() <= now) {
      self->held_.pop_front();
      ++due;
    }
    const bool refused = self->held_.empty() && std::exchange(self->held_refusal_, false);
    self->queue_answers(due, refused);
    self->arm_timer();
  }

  // Writes what is pending: at once when the socket takes it, else through one uv_write at a time.
  void flush() {
    if (writing_in_flight_ || pending_.empty() || closing_) return;
    const uv_buf_t now = uv_buf_init(pending_.data(), static_cast<unsigned>(pending_.size()));
    const int written = uv_try_write(stream(), &now, 1);
    if (written == static_cast<int>(pending_.size())) {
      pending_.clear();
      if (close_after_flush_) close();
      return;
    }
    if (written < 0 && written != UV_EAGAIN) return close();
    writing_.assign(pending_, written > 0 ? static_cast<std::size_t>(written) : 0);
    pending_.clear();
    const uv_buf_t rest = uv_buf_init(writing_.data(), static_cast<unsigned>(writing_.size()));
    writing_in_flight_ = true;
    if (uv_write(&write_, stream(), &rest, 1, &on_uv_written) != 0) {
      writing_in_flight_ = false;
      close();
    }
  }

  static void on_uv_written(uv_write_t* request, int status) {
    auto* self = static_cast<Connection*>(request->data);
    self->writing_in_flight_ = false;
    if (status < 0) return self->close();
    self->flush();
    if (self->pending_.empty() && self->close_after_flush_) self->close();
  }

  static void on_uv_closed(uv_handle_t* handle) {
    auto* self = static_cast<Connection*>(handle->data);
    if (++self->closed_handles_ < 2) return;
    self->sink_.connections.erase(self);  // frees self
  }

  Impl& sink_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_write_t write_{};
  std::vector<char> buffer_;
  std::size_t used_ = 0;
  std::deque<Clock::time_point> held_;  // when each held answer is due, in request order
  bool held_refusal_ = false;
  std::string pending_;  // answers not yet handed to the socket
  std::string writing_;  // the bytes of the uv_write in flight
  bool writing_in_flight_ = false;
  bool close_after_flush_ = false;
  bool closing_ = false;
  int closed_handles_ = 0;
};

Sink::Impl::Impl() {
  if (int rc = uv_loop_init(&loop); rc != 0)
    throw std::runtime_error(std::string("sink: ") + uv_strerror(rc));
  uv_async_init(&loop, &stop, &Impl::on_uv_stop);
  stop.data = this;
  uv_tcp_init(&loop, &listener);
  listener.data = this;
  try {
    listen_on_loopback();
  } catch (...) {
    close_loop();
    throw;
  }
  thread = std::thread([this] {
    thread_id.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_release);
    uv_run(&loop, UV_RUN_DEFAULT);
  });
}

void Sink::Impl::listen_on_loopback() {
  sockaddr_in address{};
  uv_ip4_addr("127.0.0.1", 0, &address);
  if (int rc = uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&address), 0); rc != 0)
    throw std::runtime_error(std::string("sink: bind: ") + uv_strerror(rc));
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 4096, &Impl::on_uv_connection); rc != 0)
    throw std::runtime_error(std::string("sink: listen: ") + uv_strerror(rc));
  sockaddr_storage bound{};
  int length = sizeof(bound);
  uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&bound), &length);
  port = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
}

// Closes what is still open and lets the close callbacks run; on the constructing thread, once the sink
// thread has ended (or never started).
void Sink::Impl::close_loop() {
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&stop), reinterpret_cast<uv_handle_t*>(&listener)})
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

Sink::Impl::~Impl() {
  uv_async_send(&stop);
  thread.join();
  close_loop();
}

void Sink::Impl::on_uv_stop(uv_async_t* async) {
  auto* self = static_cast<Impl*>(async->data);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->listener), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->stop), nullptr);
  for (auto& [raw, connection] : self->connections)
    connection->close();
}

void Sink::Impl::on_uv_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Impl*>(listener->data);
  if (status < 0) return;
  auto owned = std::make_unique<Connection>(*self);
  Connection* connection = owned.get();
  self->connections.emplace(connection, std::move(owned));
  if (!connection->start(listener)) connection->close();
}

Sink::Sink() : impl_(std::make_unique<Impl>()) {}

Sink::~Sink() = default;

std::string Sink::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + std::string(path);
}

void Sink::answer_after(std::chrono::milliseconds delay) {
  impl_->delay_ms.store(delay.count(), std::memory_order_relaxed);
}

std::size_t Sink::count() const {
  return impl_->count.load(std::memory_order_acquire);
}

bool Sink::wait_for_count(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  impl_->awaited = n;
  const bool arrived = impl_->reached.wait_for(lock, timeout, [&] { return impl_->count.load() >= n; });
  impl_->awaited = 0;
  return arrived;
}

std::vector<Arrival> Sink::arrivals() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->arrivals;
}

std::chrono::microseconds Sink::cpu() const {
  const pid_t tid = impl_->thread_id.load(std::memory_order_acquire);
  long long nanoseconds = 0;
  std::ifstream("/proc/self/task/" + std::to_string(tid) + "/schedstat") >> nanoseconds;
  return std::chrono::microseconds(nanoseconds / 1000);
}

}  // namespace bench
