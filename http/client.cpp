#include "http/client.hpp"

#include <array>
#include <cassert>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "http/plain_client.hpp"
#include "http/plain_target.hpp"
#include "http/transfer.hpp"
#include "loop/handle.hpp"

namespace http {
namespace {

// The variables libcurl reads for a proxy (it tries the upper-case spelling of each except http_proxy; both
// are checked here, so that nothing libcurl would have used is missed).
bool environment_names_a_proxy() {
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') return true;
  return false;
}

struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;

}  // namespace

using detail::ParsedUrls;
using detail::SharedUrl;
using detail::Transfer;

// Transfers live in `transfers_` for the client's whole life and move between four lists:
//   idle_      ready for the next send(), one list per TransferKind
//   active_    added to the multi handle, waiting for libcurl to finish them
//   deferred_  failed inside send(); completed on the next loop turn, never inside send()
//   finished_  done; their completions run next (collected first, so a completion may call send())
struct Client::Impl {
  Impl(uv_loop_t* loop, ClientOptions options, Completion on_complete);
  ~Impl();

  void send(Request&& request, std::uint64_t tag);
  void abort_all();
  std::size_t in_flight() const { return in_flight_ + (plain_ ? plain_->in_flight() : 0); }
  std::size_t sent_by_builtin() const { return sent_by_builtin_; }

 private:
  // The libuv watcher of a socket libcurl asked us to watch, attached to it with curl_multi_assign.
  struct SocketContext {
    Impl* owner;
    curl_socket_t fd;
    loop::Handle<uv_poll_t> poll;  // freed in its uv_close callback, after the context is gone
    int events = 0;                // what the poll watches now (UV_READABLE | UV_WRITABLE); 0: stopped
    bool curl_watches = false;     // false: parked (see park_socket)
  };

  // Called by libuv.
  static void on_uv_socket(uv_poll_t* poll, int status, int events);
  static void on_uv_timeout(uv_timer_t* timer);
  static void on_uv_idle(uv_idle_t* idle);
  // Called by libcurl.
  static int cb_socket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int cb_timer(CURLM* multi, long timeout_ms, void* userp);
  static int cb_sockopt(void* clientp, curl_socket_t fd, curlsocktype purpose);
  static int cb_close_socket(void* clientp, curl_socket_t fd);

  void configure_multi();
  void on_socket_ready(curl_socket_t fd, int status, int events);
  void update_socket(curl_socket_t fd, int what, SocketContext* context);
  void watch_socket(curl_socket_t fd, int what, SocketContext* context);
  void park_socket(curl_socket_t fd);
  void stop_watching(SocketContext& context);
  SocketContext* context_for(curl_socket_t fd);
  void arm_timer(long timeout_ms);

  // Runs libcurl for `fd` (or its timers), then completes whatever it finished. False if a completion
  // destroyed the client, in which case the caller must return without touching it.
  bool drive(curl_socket_t fd, int flags);
  void collect_finished();
  bool run_completions();
  void complete_deferred();
  bool abort_transfers();
  std::shared_ptr<const detail::PlainTarget> builtin_target(const Request& request);

  Transfer* acquire(detail::TransferKind kind);
  void activate(Transfer* transfer);
  void deactivate(Transfer* transfer);
  void defer(Transfer* transfer);

  uv_loop_t* loop_;
  ClientOptions options_;
  Completion on_complete_;
  loop::Handle<uv_timer_t> timer_;
  loop::Handle<uv_idle_t> deferral_;
  MultiPtr multi_;
  // One watcher per descriptor number libcurl has used, watching or parked (see context_for).
  std::unordered_map<curl_socket_t, std::unique_ptr<SocketContext>> sockets_;
  // Connection sockets, which libcurl closes through cb_close_socket. Others it watches (the threaded
  // resolver's socketpair) it closes by itself, after CURL_POLL_REMOVE.
  std::unordered_set<curl_socket_t> connection_sockets_;

  std::vector<std::unique_ptr<Transfer>> transfers_;
  ParsedUrls urls_;
  const bool proxy_in_environment_ = environment_names_a_proxy();
  // Plain http:// requests, when the built-in HTTP/1.1 code takes them (see ClientOptions::builtin_http1).
  std::unique_ptr<detail::PlainClient> plain_;
  detail::PlainTargets plain_targets_;
  std::size_t sent_by_builtin_ = 0;
  std::array<std::vector<Transfer*>, detail::kTransferKinds> idle_;
  std::vector<Transfer*> active_;
  std::vector<Transfer*> deferred_;
  std::vector<Transfer*> finished_;
  std::size_t in_flight_ = 0;
  bool completing_ = false;
  // Points at a flag of the running run_completions(), so that a completion that destroys the client
  // stops the loop over the others instead of letting it touch freed members.
  bool* alive_ = nullptr;
};

Client::Impl::Impl(uv_loop_t* loop, ClientOptions options, Completion on_complete)
    : loop_(loop), options_(options), on_complete_(std::move(on_complete)), multi_(curl_multi_init()) {
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  auto timer = loop::allocate<uv_timer_t>();
  uv_timer_init(loop_, timer.get());  // cannot fail on Unix
  timer->data = this;
  timer_ = loop::Handle<uv_timer_t>(std::move(timer));
  auto idle = loop::allocate<uv_idle_t>();
  uv_idle_init(loop_, idle.get());  // cannot fail on Unix
  idle->data = this;
  deferral_ = loop::Handle<uv_idle_t>(std::move(idle));
  configure_multi();
  // With a proxy in the environment libcurl carries everything, so that the proxy applies as it always has.
  if (options_.builtin_http1 && !proxy_in_environment_) {
    plain_ = std::make_unique<detail::PlainClient>(
        loop_,
        detail::PlainClientOptions{.max_host_connections = options_.max_host_connections,
                                   .max_idle_connections = options_.max_cached_connections,
                                   .body_excerpt_bytes = options_.body_excerpt_bytes},
        on_complete_);
  }
}

void Client::Impl::configure_multi() {
  // Typed locals: curl_multi_setopt is variadic and would accept a callback of the wrong type silently.
  curl_socket_callback socket_fn = &Impl::cb_socket;
  curl_multi_timer_callback timer_fn = &Impl::cb_timer;
  CURLM* m = multi_.get();
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, socket_fn);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_fn);
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(m, CURLMOPT_PIPELINING, options_.http2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
  if (options_.max_host_connections > 0)
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, options_.max_host_connections);
  if (options_.max_cached_connections > 0)
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, options_.max_cached_connections);
}

Client::Impl::~Impl() {
  if (alive_ != nullptr) *alive_ = false;
  // libcurl's order: remove easy handles from the multi, clean them up, then clean up the multi (which
  // closes the pooled connections and may still call cb_socket / cb_timer, so those targets stay alive).
  for (Transfer* transfer : active_)
    curl_multi_remove_handle(multi_.get(), transfer->easy());
  active_.clear();
  transfers_.clear();
  multi_.reset();
  sockets_.clear();
}

void Client::Impl::send(Request&& request, std::uint64_t tag) {
  if (auto target = builtin_target(request)) {
    ++sent_by_builtin_;
    plain_->send(std::move(request), tag, *target);
    return;
  }
  Transfer* transfer = acquire(detail::transfer_kind(options_.http2, request.url));
  ++in_flight_;
  SharedUrl url = urls_.find_or_parse(request.url);
  if (CURLcode rc = transfer->prepare(std::move(request), tag, std::move(url)); rc != CURLE_OK) {
    transfer->fail(rc, "request refused before sending");
    defer(transfer);
    return;
  }
  if (CURLMcode rc = curl_multi_add_handle(multi_.get(), transfer->easy()); rc != CURLM_OK) {
    spdlog::warn("http: curl_multi_add_handle: {}", curl_multi_strerror(rc));
    transfer->fail(CURLE_FAILED_INIT, curl_multi_strerror(rc));
    defer(transfer);
    return;
  }
  activate(transfer);
}

// Where the built-in code takes the request: a plain http:// URL it can parse, with no header
// that only libcurl handles. Null: libcurl carries it.
std::shared_ptr<const detail::PlainTarget> Client::Impl::builtin_target(const Request& request) {
  if (!plain_) return nullptr;
  auto target = plain_targets_.find_or_parse(request.url);
  if (!target || detail::headers_need_libcurl(request.headers.data(), request.headers.size())) return nullptr;
  return target;
}

void Client::Impl::abort_all() {
  if (!abort_transfers()) return;
  if (plain_) (void)plain_->abort_all();
}

// False if a completion destroyed the client.
bool Client::Impl::abort_transfers() {
  if (active_.empty()) return true;
  spdlog::debug("http: aborting {} requests in flight", active_.size());
  while (!active_.empty()) {
    Transfer* transfer = active_.back();
    deactivate(transfer);
    transfer->abort();
    finished_.push_back(transfer);
  }
  return run_completions();
}

void Client::Impl::on_uv_socket(uv_poll_t* poll, int status, int events) {
  auto* context = static_cast<SocketContext*>(poll->data);
  if (context == nullptr) return;
  // On an error libuv has stopped the watcher already.
  if (status < 0) context->owner->stop_watching(*context);
  if (!context->curl_watches) {
    // An idle kept-alive connection became readable: the server closed it (or sent what nobody asked for).
    // libcurl finds out when it next considers reusing it; until then, a level-triggered readiness would
    // wake the loop over and over.
    context->owner->stop_watching(*context);
    return;
  }
  context->owner->on_socket_ready(context->fd, status, events);
}

void Client::Impl::on_uv_timeout(uv_timer_t* timer) {
  auto* self = static_cast<Impl*>(timer->data);
  if (self != nullptr) self->drive(CURL_SOCKET_TIMEOUT, 0);
}

void Client::Impl::on_uv_idle(uv_idle_t* idle) {
  auto* self = static_cast<Impl*>(idle->data);
  if (self != nullptr) self->complete_deferred();
}

int Client::Impl::cb_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  static_cast<Impl*>(userp)->update_socket(fd, what, static_cast<SocketContext*>(socketp));
  // Never -1: libcurl 7.88 would mark the whole multi handle dead. A socket we failed to watch only stalls
  // its own transfer until that transfer's timeout.
  return 0;
}

int Client::Impl::cb_sockopt(void* clientp, curl_socket_t fd, curlsocktype purpose) {
  if (purpose == CURLSOCKTYPE_IPCXN) static_cast<Impl*>(clientp)->connection_sockets_.insert(fd);
  return CURL_SOCKOPT_OK;
}

int Client::Impl::cb_close_socket(void* clientp, curl_socket_t fd) {
  auto* self = static_cast<Impl*>(clientp);
  self->connection_sockets_.erase(fd);
  auto found = self->sockets_.find(fd);
  if (found != self->sockets_.end()) self->stop_watching(*found->second);
  return close(fd);
}

int Client::Impl::cb_timer(CURLM*, long timeout_ms, void* userp) {
  static_cast<Impl*>(userp)->arm_timer(timeout_ms);
  return 0;
}

void Client::Impl::on_socket_ready(curl_socket_t fd, int status, int events) {
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  drive(fd, flags);
}

void Client::Impl::update_socket(curl_socket_t fd, int what, SocketContext* context) {
  if (what == CURL_POLL_REMOVE) {
    park_socket(fd);
  } else {
    watch_socket(fd, what, context);
  }
}

void Client::Impl::watch_socket(curl_socket_t fd, int what, SocketContext* context) {
  if (context == nullptr) context = context_for(fd);
  if (context == nullptr) return;
  context->curl_watches = true;
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  // Already watched for exactly these (a parked connection taken up again): nothing to change, and no
  // system call.
  if (events == context->events) return;
  if (int rc = uv_poll_start(context->poll.get(), events, &Impl::on_uv_socket); rc != 0) {
    spdlog::warn("http: uv_poll_start on socket {}: {}", fd, uv_strerror(rc));
    context->events = 0;
    return;
  }
  context->events = events;
}

// libcurl removes a kept-alive connection's socket after every transfer and adds it back for the next one.
// Its watcher is therefore parked (kept) rather than closed: a new uv_poll costs an allocation and four
// system calls. A watcher is only ever registered while its socket is open (connection sockets are closed
// through cb_close_socket, which stops the watcher first; other sockets are unwatched when parked), so it
// is safe to restart for a different socket that got the same descriptor number, and no other handle on
// the loop ever finds that number taken.
Client::Impl::SocketContext* Client::Impl::context_for(curl_socket_t fd) {
  auto parked = sockets_.find(fd);
  if (parked != sockets_.end()) {
    curl_multi_assign(multi_.get(), fd, parked->second.get());
    return parked->second.get();
  }
  auto poll = loop::allocate<uv_poll_t>();
  if (int rc = uv_poll_init_socket(loop_, poll.get(), fd); rc != 0) {
    spdlog::warn("http: uv_poll_init_socket on socket {}: {}", fd, uv_strerror(rc));
    return nullptr;
  }
  auto context = std::make_unique<SocketContext>(SocketContext{this, fd, {}});
  poll->data = context.get();
  context->poll = loop::Handle<uv_poll_t>(std::move(poll));
  SocketContext* raw = context.get();
  sockets_.emplace(fd, std::move(context));
  curl_multi_assign(multi_.get(), fd, raw);
  return raw;
}

// A parked connection stays watched for readability: the next request on it asks for just that, and then
// costs no system call, where stopping and restarting the watcher cost three epoll_ctl per request.
// Writability would be reported at once and forever, so it is never left on. Any other socket (the
// resolver's, closed by libcurl right after this) is unwatched now, before its descriptor is closed.
void Client::Impl::park_socket(curl_socket_t fd) {
  auto found = sockets_.find(fd);
  if (found == sockets_.end()) return;
  SocketContext& context = *found->second;
  context.curl_watches = false;
  curl_multi_assign(multi_.get(), fd, nullptr);
  if ((context.events & UV_WRITABLE) != 0 || !connection_sockets_.contains(fd)) stop_watching(context);
}

// Removes the descriptor from epoll now (before libcurl closes it, when called from cb_close_socket).
void Client::Impl::stop_watching(SocketContext& context) {
  if (context.events == 0) return;
  uv_poll_stop(context.poll.get());
  context.events = 0;
}

void Client::Impl::arm_timer(long timeout_ms) {
  if (timeout_ms < 0) {
    uv_timer_stop(timer_.get());
    return;
  }
  // 0 means "act now", but socket_action may not be called from inside this callback: a 0 ms uv timer
  // runs it from the loop as soon as the current callback has returned.
  uv_timer_start(timer_.get(), &Impl::on_uv_timeout, static_cast<std::uint64_t>(timeout_ms), 0);
}

bool Client::Impl::drive(curl_socket_t fd, int flags) {
  int running = 0;
  if (CURLMcode rc = curl_multi_socket_action(multi_.get(), fd, flags, &running); rc != CURLM_OK)
    spdlog::debug("http: curl_multi_socket_action: {}", curl_multi_strerror(rc));
  // Every socket_action may finish transfers, whichever event drove it.
  collect_finished();
  return run_completions();
}

void Client::Impl::collect_finished() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_.get(), &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    // The message is invalid once its handle is removed: read it first.
    CURLcode result = message->data.result;
    Transfer* transfer = Transfer::from(message->easy_handle);
    transfer->finish(result);
    deactivate(transfer);
    finished_.push_back(transfer);
  }
}

bool Client::Impl::run_completions() {
  // A completion that calls abort_all() only queues more work: the outer call finishes it.
  if (completing_) return true;
  completing_ = true;
  bool alive = true;
  alive_ = &alive;
  // Indexes, not iterators: completions may append to finished_.
  for (std::size_t i = 0; i < finished_.size(); ++i) {
    Transfer* transfer = finished_[i];
    --in_flight_;
    on_complete_(transfer->tag(), std::move(transfer->response()));
    if (!alive) return false;
    transfer->recycle();
    idle_[static_cast<std::size_t>(transfer->kind())].push_back(transfer);
  }
  finished_.clear();
  alive_ = nullptr;
  completing_ = false;
  return true;
}

void Client::Impl::complete_deferred() {
  uv_idle_stop(deferral_.get());
  finished_.insert(finished_.end(), deferred_.begin(), deferred_.end());
  deferred_.clear();
  run_completions();
}

Transfer* Client::Impl::acquire(detail::TransferKind kind) {
  auto& idle = idle_[static_cast<std::size_t>(kind)];
  if (!idle.empty()) {
    Transfer* transfer = idle.back();
    idle.pop_back();
    assert(transfer->kind() == kind);
    return transfer;
  }
  const detail::TransferSettings settings{.kind = kind,
                                          .http2 = options_.http2,
                                          .verify_tls = options_.verify_tls,
                                          .body_excerpt_bytes = options_.body_excerpt_bytes,
                                          .proxy_in_environment = proxy_in_environment_,
                                          .socket_opened = &Impl::cb_sockopt,
                                          .close_socket = &Impl::cb_close_socket,
                                          .socket_hooks_data = this};
  transfers_.push_back(std::make_unique<Transfer>(settings));
  return transfers_.back().get();
}

void Client::Impl::activate(Transfer* transfer) {
  transfer->active_slot = active_.size();
  active_.push_back(transfer);
}

void Client::Impl::deactivate(Transfer* transfer) {
  curl_multi_remove_handle(multi_.get(), transfer->easy());
  Transfer* last = active_.back();
  active_[transfer->active_slot] = last;
  last->active_slot = transfer->active_slot;
  active_.pop_back();
}

void Client::Impl::defer(Transfer* transfer) {
  deferred_.push_back(transfer);
  uv_idle_start(deferral_.get(), &Impl::on_uv_idle);
}

Client::Client(uv_loop_t* loop, ClientOptions options, Completion on_complete)
    : impl_(std::make_unique<Impl>(loop, options, std::move(on_complete))) {}

Client::~Client() = default;

void Client::send(Request&& request, std::uint64_t tag) {
  impl_->send(std::move(request), tag);
}

std::size_t Client::in_flight() const {
  return impl_->in_flight();
}

std::size_t Client::sent_by_builtin() const {
  return impl_->sent_by_builtin();
}

void Client::abort_all() {
  impl_->abort_all();
}

}  // namespace http
