#include "http/plain_client.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/request_head.hpp"

namespace http::detail {
namespace {

// One read takes a whole answer to a delivery; larger answers take several.
constexpr std::size_t kReadBufferBytes = 64 * 1024;
// The request buffer an idle exchange keeps for the next one, at most: large bodies are not held on to.
constexpr std::size_t kKeptWireBytes = 64 * 1024;
// libcurl's limit for connecting when none is given.
constexpr std::chrono::milliseconds kDefaultConnectTimeout{300'000};

}  // namespace

PlainClient::PlainClient(uv_loop_t* loop, PlainClientOptions options, Completion on_complete)
    : loop_(loop),
      options_(options),
      on_complete_(std::move(on_complete)),
      read_buffer_(kReadBufferBytes),
      lookup_(loop, [this](const std::string& key, Addresses addresses, const std::string& error) {
        on_lookup_done(key, std::move(addresses), error);
      }) {
  auto timer = loop::allocate<uv_timer_t>();
  uv_timer_init(loop_, timer.get());  // cannot fail on Unix
  timer->data = this;
  queue_timer_ = loop::Handle<uv_timer_t>(std::move(timer));
  auto idle = loop::allocate<uv_idle_t>();
  uv_idle_init(loop_, idle.get());  // cannot fail on Unix
  idle->data = this;
  deferral_ = loop::Handle<uv_idle_t>(std::move(idle));
}

PlainClient::~PlainClient() {
  if (alive_ != nullptr) *alive_ = false;
  for (auto& connection : connections_)
    connection->close();
}

void PlainClient::send(Request&& request, std::uint64_t tag, const PlainTarget& target) {
  Exchange* exchange = take_spare();
  const Clock::time_point now = Clock::now();
  exchange->tag = tag;
  exchange->started = now;
  exchange->deadline =
      request.total_timeout.count() > 0 ? now + request.total_timeout : Clock::time_point::max();
  exchange->connect_timeout =
      request.connect_timeout.count() > 0 ? request.connect_timeout : kDefaultConnectTimeout;
  exchange->no_body = request.method == "HEAD";
  exchange->resent = false;
  write_request(request, target, exchange->wire);
  ++in_flight_;
  Origin& origin = origin_for(target);
  origin.queue.push_back(exchange);
  in_send_ = true;
  pump(origin);
  in_send_ = false;
  if (!finished_.empty()) uv_idle_start(deferral_.get(), &PlainClient::on_uv_idle);
}

bool PlainClient::abort_all() {
  for (auto& [key, origin] : origins_) {
    for (Exchange* exchange : origin->queue)
      finish(*exchange, Outcome{CURLE_ABORTED_BY_CALLBACK, {}, false});
    origin->queue.clear();
  }
  // forget() reorders connections_: walk a copy.
  std::vector<PlainConnection*> carrying;
  for (auto& connection : connections_)
    if (connection->exchange() != nullptr) carrying.push_back(connection.get());
  for (PlainConnection* connection : carrying) {
    Origin& origin = origin_of(*connection);
    Exchange* exchange = connection->close();
    forget(origin, *connection);
    finish(*exchange, Outcome{CURLE_ABORTED_BY_CALLBACK, {}, false});
  }
  if (!carrying.empty()) spdlog::debug("http: aborted {} requests on their connections", carrying.size());
  return run_completions();
}

Exchange* PlainClient::take_spare() {
  if (spare_.empty()) {
    exchanges_.push_back(std::make_unique<Exchange>());
    return exchanges_.back().get();
  }
  Exchange* exchange = spare_.back();
  spare_.pop_back();
  return exchange;
}

PlainClient::Origin& PlainClient::origin_for(const PlainTarget& target) {
  auto found = origins_.find(target.origin);
  if (found != origins_.end()) return *found->second;
  if (origins_.size() >= kMaxOrigins) forget_unused_origins();
  auto origin = std::make_unique<Origin>();
  origin->key = target.origin;
  origin->host = target.host;
  origin->port = target.port;
  if ((origin->addresses = literal_address(target.host, target.port))) {
    origin->addresses_expire = Clock::time_point::max();
  }
  return *origins_.emplace(target.origin, std::move(origin)).first->second;
}

// Rows that each name their own server would otherwise grow the map without end.
void PlainClient::forget_unused_origins() {
  std::erase_if(origins_, [](const auto& entry) {
    const Origin& origin = *entry.second;
    return origin.open == 0 && origin.queue.empty() && !origin.looking_up;
  });
}

PlainClient::Origin& PlainClient::origin_of(const PlainConnection& connection) {
  return *origins_.at(connection.origin());
}

// Starts what the server's queue allows: exchanges go to idle connections first, then to new ones within
// the limit. Failures found on the way are settled here, in this loop, and never call back into it.
void PlainClient::pump(Origin& origin) {
  while (!origin.queue.empty()) {
    Exchange* exchange = origin.queue.front();
    if (!exchange->resent) {
      if (PlainConnection* connection = take_idle(origin)) {
        origin.queue.pop_front();
        if (std::optional<Outcome> failed = connection->carry(exchange))
          settle(origin, *connection, *exchange, std::move(*failed));
        continue;
      }
    }
    const auto limit = static_cast<std::size_t>(std::max(0L, options_.max_host_connections));
    if (limit > 0 && origin.open >= limit) {
      // An exchange sent again must have a new connection: an idle one makes room for it.
      if (origin.idle.empty()) break;
      PlainConnection* spare = origin.idle.back();
      origin.idle.pop_back();
      --idle_count_;
      spare->close();
      forget(origin, *spare);
      continue;
    }
    if (!origin.addresses || Clock::now() >= origin.addresses_expire) {
      look_up(origin);
      break;
    }
    origin.queue.pop_front();
    PlainConnection& connection = open_connection(origin);
    if (std::optional<Outcome> failed = connection.open(origin.addresses, exchange))
      settle(origin, connection, *exchange, std::move(*failed));
  }
  if (!origin.queue.empty())
    arm_queue_timer(std::min(queue_deadline(origin, *origin.queue.front()),
                             queue_deadline(origin, *origin.queue.back())));
}

PlainConnection* PlainClient::take_idle(Origin& origin) {
  while (!origin.idle.empty()) {
    PlainConnection* connection = origin.idle.back();
    origin.idle.pop_back();
    --idle_count_;
    if (Clock::now() - connection->idle_since() <= kMaxIdleAge) return connection;
    connection->close();
    forget(origin, *connection);
  }
  return nullptr;
}

void PlainClient::look_up(Origin& origin) {
  if (origin.looking_up) return;
  origin.looking_up = true;
  origin.lookup_started = Clock::now();
  spdlog::debug("http: looking up {}", origin.host);
  if (std::string error = lookup_.start(origin.key, origin.host, origin.port); !error.empty()) {
    origin.looking_up = false;
    fail_queue(origin, CURLE_COULDNT_RESOLVE_HOST, error);
  }
}

void PlainClient::on_lookup_done(const std::string& key, Addresses addresses, const std::string& error) {
  auto found = origins_.find(key);
  if (found == origins_.end()) return;
  Origin& origin = *found->second;
  origin.looking_up = false;
  if (!addresses) {
    fail_queue(origin, CURLE_COULDNT_RESOLVE_HOST, error);
  } else {
    origin.addresses = std::move(addresses);
    origin.addresses_expire = Clock::now() + kAddressLifetime;
    pump(origin);
  }
  run_completions();
}

PlainConnection& PlainClient::open_connection(Origin& origin) {
  auto connection =
      std::make_unique<PlainConnection>(loop_, static_cast<ConnectionOwner&>(*this), ReadBuffer(read_buffer_),
                                        options_.body_excerpt_bytes, next_connection_id_++, origin.key);
  connection->slot = connections_.size();
  connections_.push_back(std::move(connection));
  ++origin.open;
  return *connections_.back();
}

// The connection's own queue takes it first; only then does the idle cache's limit apply, to the oldest
// idle connections of all servers (as libcurl's cache does).
void PlainClient::on_exchange_over(PlainConnection& connection, Exchange& exchange, Outcome&& outcome) {
  Origin& origin = origin_of(connection);
  settle(origin, connection, exchange, std::move(outcome));
  pump(origin);
  trim_idle();
  run_completions();
}

void PlainClient::on_idle_connection_lost(PlainConnection& connection) {
  Origin& origin = origin_of(connection);
  if (auto found = std::find(origin.idle.begin(), origin.idle.end(), &connection);
      found != origin.idle.end()) {
    origin.idle.erase(found);
    --idle_count_;
  }
  forget(origin, connection);
  // A connection fewer may let a queue waiting for the limit move.
  pump(origin);
  run_completions();
}

// Puts the connection where its state says and the exchange where its outcome says, without starting
// anything: the caller pumps.
void PlainClient::settle(Origin& origin, PlainConnection& connection, Exchange& exchange, Outcome&& outcome) {
  if (connection.state() == PlainConnection::State::idle) {
    park(origin, connection);
  } else {
    forget(origin, connection);
  }
  if (outcome.resend) {
    spdlog::debug("http: {}: kept-alive connection gone ({}); sending again on a new one", origin.key,
                  outcome.detail);
    exchange.resent = true;
    exchange.response = Response{};
    origin.queue.push_front(&exchange);
    return;
  }
  finish(exchange, outcome);
}

void PlainClient::park(Origin& origin, PlainConnection& connection) {
  origin.idle.push_back(&connection);
  ++idle_count_;
}

// Closes idle connections past kMaxIdleAge, and the oldest ones while there are more than the limit.
void PlainClient::trim_idle() {
  const auto limit = static_cast<std::size_t>(std::max(0L, options_.max_idle_connections));
  const Clock::time_point too_old = Clock::now() - kMaxIdleAge;
  while (idle_count_ > 0) {
    Origin* oldest = nullptr;
    for (auto& [key, origin] : origins_)
      if (!origin->idle.empty() &&
          (oldest == nullptr || origin->idle.front()->idle_since() < oldest->idle.front()->idle_since()))
        oldest = origin.get();
    PlainConnection* connection = oldest->idle.front();
    if (!(limit > 0 && idle_count_ > limit) && connection->idle_since() >= too_old) return;
    oldest->idle.erase(oldest->idle.begin());
    --idle_count_;
    connection->close();
    forget(*oldest, *connection);
  }
}

// Moves a closed connection out of the live list; it is destroyed on the next loop turn.
void PlainClient::forget(Origin& origin, PlainConnection& connection) {
  const std::size_t slot = connection.slot;
  if (slot >= connections_.size() || connections_[slot].get() != &connection) return;
  --origin.open;
  std::swap(connections_[slot], connections_.back());
  connections_[slot]->slot = slot;
  closed_.push_back(std::move(connections_.back()));
  connections_.pop_back();
  uv_idle_start(deferral_.get(), &PlainClient::on_uv_idle);
}

void PlainClient::finish(Exchange& exchange, const Outcome& outcome) {
  Response& response = exchange.response;
  response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - exchange.started);
  if (outcome.code != CURLE_OK) {
    response.status = 0;
    response.transport_error = static_cast<int>(outcome.code);
    response.error = curl_easy_strerror(outcome.code);
    if (!outcome.detail.empty()) response.error.append(": ").append(outcome.detail);
    if (outcome.code == CURLE_ABORTED_BY_CALLBACK) response.error = "aborted";
  }
  finished_.push_back(&exchange);
}

void PlainClient::fail_queue(Origin& origin, CURLcode code, const std::string& detail) {
  for (Exchange* exchange : origin.queue)
    finish(*exchange, Outcome{code, detail, false});
  origin.queue.clear();
}

void PlainClient::arm_queue_timer(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max() || deadline >= queue_timer_due_) return;
  queue_timer_due_ = deadline;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  uv_timer_start(queue_timer_.get(), &PlainClient::on_uv_queue_timer,
                 static_cast<std::uint64_t>(std::max<long long>(0, left.count())), 0);
}

void PlainClient::on_uv_queue_timer(uv_timer_t* timer) {
  auto* self = static_cast<PlainClient*>(timer->data);
  if (self == nullptr) return;
  self->expire_queued();
  self->run_completions();
}

// When a queued exchange times out: at its deadline, or, while its server's name is looked up, once the
// lookup has taken the connect timeout (libcurl's connect timeout covers the lookup too).
Clock::time_point PlainClient::queue_deadline(const Origin& origin, const Exchange& exchange) {
  if (!origin.looking_up) return exchange.deadline;
  return std::min(exchange.deadline,
                  std::max(exchange.started, origin.lookup_started) + exchange.connect_timeout);
}

// Exchanges still queued at their deadline time out there, as libcurl's do while waiting for a connection.
void PlainClient::expire_queued() {
  queue_timer_due_ = Clock::time_point::max();
  const Clock::time_point now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  for (auto& [key, origin] : origins_) {
    auto& queue = origin->queue;
    for (auto it = queue.begin(); it != queue.end();) {
      Exchange* exchange = *it;
      if (const Clock::time_point deadline = queue_deadline(*origin, *exchange); deadline > now) {
        next = std::min(next, deadline);
        ++it;
        continue;
      }
      const long long waited = milliseconds_since(exchange->started);
      finish(*exchange,
             Outcome{
                 CURLE_OPERATION_TIMEDOUT,
                 origin->looking_up
                     ? fmt::format("Resolving timed out after {} milliseconds", waited)
                     : fmt::format("Operation timed out after {} milliseconds with 0 bytes received", waited),
                 false});
      it = queue.erase(it);
    }
  }
  if (next != Clock::time_point::max()) arm_queue_timer(next);
}

void PlainClient::on_uv_idle(uv_idle_t* idle) {
  auto* self = static_cast<PlainClient*>(idle->data);
  if (self == nullptr) return;
  uv_idle_stop(idle);
  self->closed_.clear();
  self->run_completions();
}

bool PlainClient::run_completions() {
  if (in_send_) {
    // Never inside send(): the next loop turn delivers them.
    if (!finished_.empty()) uv_idle_start(deferral_.get(), &PlainClient::on_uv_idle);
    return true;
  }
  // A completion that calls abort_all() or send() only queues more: the outer call delivers it.
  if (completing_) return true;
  completing_ = true;
  bool alive = true;
  alive_ = &alive;
  // Indexes, not iterators: completions may append to finished_.
  for (std::size_t i = 0; i < finished_.size(); ++i) {
    Exchange* exchange = finished_[i];
    --in_flight_;
    on_complete_(exchange->tag, std::move(exchange->response));
    if (!alive) return false;
    recycle(*exchange);
  }
  finished_.clear();
  alive_ = nullptr;
  completing_ = false;
  return true;
}

void PlainClient::recycle(Exchange& exchange) {
  if (exchange.wire.capacity() > kKeptWireBytes) exchange.wire = std::string();
  exchange.response.status = 0;
  exchange.response.transport_error = 0;
  exchange.response.error.clear();
  exchange.response.retry_after.clear();
  exchange.response.body_excerpt.clear();
  exchange.response.elapsed = {};
  spare_.push_back(&exchange);
}

}  // namespace http::detail
