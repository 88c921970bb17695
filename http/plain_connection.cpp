#include "http/plain_connection.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace http::detail {
namespace {

const char* state_name(PlainConnection::State state) {
  switch (state) {
    case PlainConnection::State::connecting:
      return "connecting";
    case PlainConnection::State::busy:
      return "busy";
    case PlainConnection::State::idle:
      return "idle";
    case PlainConnection::State::closed:
      return "closed";
  }
  return "?";
}

const sockaddr* as_sockaddr(const sockaddr_storage& address) {
  return reinterpret_cast<const sockaddr*>(&address);
}

std::string address_text(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&address), text, sizeof text);
  } else {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&address), text, sizeof text);
  }
  return text;
}

}  // namespace

PlainConnection::PlainConnection(uv_loop_t* loop, ConnectionOwner& owner, ReadBuffer buffer,
                                 std::size_t body_excerpt_bytes, std::uint64_t id, std::string origin)
    : loop_(loop),
      owner_(owner),
      buffer_(buffer),
      id_(id),
      origin_(std::move(origin)),
      reader_(body_excerpt_bytes) {
  auto timer = loop::allocate<uv_timer_t>();
  uv_timer_init(loop_, timer.get());  // cannot fail on Unix
  timer->data = this;
  timer_ = loop::Handle<uv_timer_t>(std::move(timer));
}

PlainConnection::~PlainConnection() {
  close();
}

std::optional<Outcome> PlainConnection::open(std::shared_ptr<const std::vector<sockaddr_storage>> addresses,
                                             Exchange* exchange) {
  addresses_ = std::move(addresses);
  next_address_ = 0;
  exchange_ = exchange;
  bytes_received_ = 0;
  connect_started_ = Clock::now();
  set_state(State::connecting);
  spdlog::debug("http: connection {} to {}: connecting", id_, origin_);
  connect_deadline_ = std::min(connect_started_ + exchange->connect_timeout, exchange->deadline);
  std::optional<Outcome> failed = connect_next();
  if (failed) close();
  return failed;
}

// Tries the addresses from next_address_ on until one starts connecting. A refusal found at once moves on
// to the next address, as one reported later does. Each address gets an equal share of the time left, so
// that one that drops packets (IPv6 without a route, say) leaves time for the others.
std::optional<Outcome> PlainConnection::connect_next() {
  while (next_address_ < addresses_->size()) {
    const auto left = static_cast<long>(addresses_->size() - next_address_);
    arm_timer(Clock::now() + (connect_deadline_ - Clock::now()) / left);
    const sockaddr_storage& address = (*addresses_)[next_address_++];
    auto socket = std::make_unique<Socket>();
    uv_tcp_init(loop_, socket.get());  // cannot fail on Unix (the socket itself is made by connect)
    socket->data = this;
    socket->connect_request.data = this;
    socket->write_request.data = this;
    socket_ = loop::Handle<Socket>(std::move(socket));
    // Requests are small and each waits for its answer: Nagle's algorithm would only delay them.
    uv_tcp_nodelay(socket_.get(), 1);
    const int rc = uv_tcp_connect(&socket_.get()->connect_request, socket_.get(), as_sockaddr(address),
                                  &PlainConnection::on_uv_connect);
    if (rc == 0) return std::nullopt;
    last_connect_error_ = rc;
    close_socket();
  }
  const std::string detail =
      fmt::format("Failed to connect to {} after {} ms: {}", origin_, milliseconds_since(connect_started_),
                  uv_strerror(last_connect_error_));
  return failure(CURLE_COULDNT_CONNECT, detail);
}

void PlainConnection::on_uv_connect(uv_connect_t* request, int status) {
  auto* self = static_cast<PlainConnection*>(request->data);
  if (self == nullptr || status == UV_ECANCELED) return;
  self->on_connected(status);
}

void PlainConnection::on_connected(int status) {
  if (state_ != State::connecting) return;
  std::optional<Outcome> failed;
  if (status < 0) {
    spdlog::debug("http: connection {} to {}: address {} refused: {}", id_, origin_,
                  address_text((*addresses_)[next_address_ - 1]), uv_strerror(status));
    last_connect_error_ = status;
    close_socket();
    failed = connect_next();
    if (!failed) return;  // connecting to the next address
  } else {
    set_state(State::busy);
    arm_timer(exchange_->deadline);
    failed = start_reading();
    if (!failed) failed = send_request();
  }
  if (failed) end_exchange(std::move(*failed));
}

std::optional<Outcome> PlainConnection::start_reading() {
  if (int rc = uv_read_start(stream(), &PlainConnection::on_uv_alloc, &PlainConnection::on_uv_read); rc != 0)
    return failure(CURLE_RECV_ERROR, std::string("cannot read from the connection: ") + uv_strerror(rc));
  return std::nullopt;
}

std::optional<Outcome> PlainConnection::carry(Exchange* exchange) {
  exchange_ = exchange;
  bytes_received_ = 0;
  set_state(State::busy);
  arm_timer(exchange->deadline);
  std::optional<Outcome> failed = send_request();
  if (failed) close();
  return failed;
}

std::optional<Outcome> PlainConnection::send_request() {
  reader_.start(&exchange_->response, exchange_->no_body);
  const std::string& wire = exchange_->wire;
  uv_buf_t whole = uv_buf_init(const_cast<char*>(wire.data()), static_cast<unsigned>(wire.size()));
  const int written = uv_try_write(stream(), &whole, 1);
  if (written == static_cast<int>(wire.size())) return std::nullopt;
  if (written < 0 && written != UV_EAGAIN)
    return failure_before_answer(CURLE_SEND_ERROR, std::string("Send failure: ") + uv_strerror(written));
  const std::size_t sent = written > 0 ? static_cast<std::size_t>(written) : 0;
  uv_buf_t rest =
      uv_buf_init(const_cast<char*>(wire.data()) + sent, static_cast<unsigned>(wire.size() - sent));
  if (int rc = uv_write(&socket_.get()->write_request, stream(), &rest, 1, &PlainConnection::on_uv_write);
      rc != 0)
    return failure_before_answer(CURLE_SEND_ERROR, std::string("Send failure: ") + uv_strerror(rc));
  writing_ = true;
  return std::nullopt;
}

void PlainConnection::on_uv_write(uv_write_t* request, int status) {
  auto* self = static_cast<PlainConnection*>(request->data);
  if (self == nullptr || status == UV_ECANCELED) return;
  self->on_written(status);
}

void PlainConnection::on_written(int status) {
  writing_ = false;
  if (state_ != State::busy) return;
  if (status < 0)
    end_exchange(
        failure_before_answer(CURLE_SEND_ERROR, std::string("Send failure: ") + uv_strerror(status)));
}

void PlainConnection::on_uv_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buffer) {
  auto* self = static_cast<PlainConnection*>(handle->data);
  *buffer = uv_buf_init(self->buffer_.data(), static_cast<unsigned>(self->buffer_.size()));
}

void PlainConnection::on_uv_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer) {
  auto* self = static_cast<PlainConnection*>(stream->data);
  if (self == nullptr || nread == 0) return;
  self->on_bytes(nread, buffer->base);
}

void PlainConnection::on_bytes(ssize_t nread, const char* data) {
  if (state_ == State::idle) {
    // Between exchanges the server either closed the connection or sent what nobody asked for: either
    // way it cannot carry another request.
    spdlog::debug("http: connection {} to {}: {} while idle", id_, origin_,
                  nread < 0 ? uv_strerror(static_cast<int>(nread)) : "unexpected bytes");
    close();
    owner_.on_idle_connection_lost(*this);
    return;
  }
  if (state_ != State::busy) return;
  if (nread > 0) {
    bytes_received_ += static_cast<std::size_t>(nread);
    reader_.feed(std::string_view(data, static_cast<std::size_t>(nread)));
    if (std::optional<Outcome> done = finish_if_read()) end_exchange(std::move(*done));
    return;
  }
  if (nread != UV_EOF) {
    end_exchange(failure_before_answer(CURLE_RECV_ERROR,
                                       std::string("Recv failure: ") + uv_strerror(static_cast<int>(nread))));
    return;
  }
  // Nothing, or only interim answers: libcurl calls both an empty reply.
  if (!reader_.received_any() || reader_.awaiting_final()) {
    end_exchange(failure_before_answer(CURLE_GOT_NOTHING, "Empty reply from server"));
    return;
  }
  // A body that runs to the end of the connection ends here; any other response was cut short.
  if (reader_.end_of_stream() == ResponseReader::State::complete) {
    end_exchange(Outcome{});
    return;
  }
  end_exchange(failure(CURLE_PARTIAL_FILE, "the connection closed before the response was complete"));
}

// The exchange's end, once the answer is read (or is malformed); nothing while it is still coming.
std::optional<Outcome> PlainConnection::finish_if_read() {
  switch (reader_.state()) {
    case ResponseReader::State::reading:
      return std::nullopt;
    case ResponseReader::State::malformed:
      // Not HTTP at all (another service on the port): libcurl takes it for HTTP/0.9, which it refuses
      // with a code the relay treats as permanent; the same code here, so that --http-client changes no
      // row's fate.
      if (!reader_.speaks_http())
        return failure(CURLE_UNSUPPORTED_PROTOCOL, "Received HTTP/0.9 when not allowed");
      return failure(CURLE_WEIRD_SERVER_REPLY,
                     std::string("malformed response: ") + std::string(reader_.error_text()));
    case ResponseReader::State::complete:
      return Outcome{};
  }
  return std::nullopt;
}

void PlainConnection::on_uv_timer(uv_timer_t* timer) {
  auto* self = static_cast<PlainConnection*>(timer->data);
  if (self != nullptr) self->on_timeout();
}

void PlainConnection::on_timeout() {
  if (state_ == State::connecting && next_address_ < addresses_->size() && Clock::now() < connect_deadline_) {
    spdlog::debug("http: connection {} to {}: address {} timed out; trying the next", id_, origin_,
                  address_text((*addresses_)[next_address_ - 1]));
    close_socket();
    if (std::optional<Outcome> failed = connect_next()) end_exchange(std::move(*failed));
    return;
  }
  if (state_ == State::connecting) {
    const bool overall = Clock::now() >= exchange_->deadline;
    end_exchange(failure(CURLE_OPERATION_TIMEDOUT,
                         overall
                             ? fmt::format("Operation timed out after {} milliseconds with 0 bytes received",
                                           milliseconds_since(exchange_->started))
                             : fmt::format("Connection timed out after {} milliseconds",
                                           milliseconds_since(connect_started_))));
    return;
  }
  if (state_ != State::busy) return;
  end_exchange(failure(CURLE_OPERATION_TIMEDOUT,
                       fmt::format("Operation timed out after {} milliseconds with {} bytes received",
                                   milliseconds_since(exchange_->started), bytes_received_)));
}

Outcome PlainConnection::failure(CURLcode code, std::string detail) const {
  return Outcome{code, std::move(detail), false};
}

// A connection that carried exchanges before may have been closed by the server while idle, before this
// request reached it; with no byte of an answer, the request is sent again once, on a new connection.
Outcome PlainConnection::failure_before_answer(CURLcode code, std::string detail) const {
  Outcome outcome = failure(code, std::move(detail));
  outcome.resend =
      exchanges_done_ > 0 && !reader_.received_any() && exchange_ != nullptr && !exchange_->resent;
  return outcome;
}

// Hands the exchange back to the owner, as the last step of a libuv callback: the connection goes idle
// when the answer allows it, and closes otherwise.
void PlainConnection::end_exchange(Outcome&& outcome) {
  Exchange* exchange = std::exchange(exchange_, nullptr);
  uv_timer_stop(timer_.get());
  // An answer that came before the whole request was out (a server refusing a large body early) leaves the
  // request's tail queued in libuv: the connection cannot carry another request, and closing it cancels
  // the write.
  if (outcome.code == CURLE_OK && reader_.connection_reusable() && !writing_) {
    ++exchanges_done_;
    idle_since_ = Clock::now();
    set_state(State::idle);
  } else {
    close();
  }
  owner_.on_exchange_over(*this, *exchange, std::move(outcome));
}

void PlainConnection::arm_timer(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) {
    uv_timer_stop(timer_.get());  // no time limit
    return;
  }
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  uv_timer_start(timer_.get(), &PlainConnection::on_uv_timer,
                 static_cast<std::uint64_t>(std::max<long long>(0, left.count())), 0);
}

Exchange* PlainConnection::close() {
  Exchange* exchange = std::exchange(exchange_, nullptr);
  if (state_ == State::closed) return exchange;
  if (timer_) uv_timer_stop(timer_.get());
  close_socket();
  set_state(State::closed);
  return exchange;
}

void PlainConnection::close_socket() {
  if (!socket_) return;
  // The requests' callbacks still run, cancelled, while libuv closes the handle: they must find no one.
  socket_.get()->connect_request.data = nullptr;
  socket_.get()->write_request.data = nullptr;
  writing_ = false;
  socket_.reset();
}

void PlainConnection::set_state(State next) {
  if (next == state_) return;
  spdlog::debug("http: connection {} to {}: {} -> {}", id_, origin_, state_name(state_), state_name(next));
  state_ = next;
}

uv_stream_t* PlainConnection::stream() const {
  return reinterpret_cast<uv_stream_t*>(static_cast<uv_tcp_t*>(socket_.get()));
}

}  // namespace http::detail
