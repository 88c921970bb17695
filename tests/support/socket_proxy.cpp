#include "tests/support/socket_proxy.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace testkit {

namespace {

using namespace std::chrono_literals;

// Long enough for a loaded CI machine; the thread answers a command within one poll wake-up.
constexpr auto kCommandTimeout = 10s;
// Per direction. A full buffer stops reading from its source until the destination takes it.
constexpr std::size_t kBufferSize = 64 * 1024;

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error("SocketProxy: " + what + ": " + std::strerror(errno));
}

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Bytes read from one side and not yet written to the other.
struct Buffer {
  std::vector<char> data = std::vector<char>(kBufferSize);
  std::size_t begin = 0;
  std::size_t end = 0;

  bool empty() const { return begin == end; }
};

enum class Io { kOk, kClosed };

// One read into an empty buffer; kClosed on end of stream or a socket error.
Io read_into(int fd, Buffer& buf) {
  while (true) {
    const ssize_t n = ::recv(fd, buf.data.data(), buf.data.size(), 0);
    if (n > 0) {
      buf.begin = 0;
      buf.end = static_cast<std::size_t>(n);
      return Io::kOk;
    }
    if (n == 0) return Io::kClosed;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? Io::kOk : Io::kClosed;
  }
}

// Writes what the destination takes now; the rest waits for POLLOUT.
Io flush(int fd, Buffer& buf) {
  while (!buf.empty()) {
    const ssize_t n = ::send(fd, buf.data.data() + buf.begin, buf.end - buf.begin, MSG_NOSIGNAL);
    if (n > 0) {
      buf.begin += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::kOk;
    return Io::kClosed;
  }
  buf.begin = buf.end = 0;
  return Io::kOk;
}

// One forwarded connection.
struct Pair {
  UniqueFd client;  // accepted TCP socket
  UniqueFd server;  // our connection to the unix socket
  Buffer to_server;
  Buffer to_client;
  bool connecting = false;  // non-blocking connect still in progress
  bool closed = false;
  bool holding = false;  // hold_replies(): the server's side is not read

  // Events wanted on each side. A side with nothing wanted is left out of poll altogether, so that a
  // hang-up there cannot make poll spin while the other side is slow; it is noticed on the next read.
  short client_events() const {
    short ev = 0;
    if (to_server.empty()) ev |= POLLIN;
    if (!connecting && !to_client.empty()) ev |= POLLOUT;
    return ev;
  }
  short server_events() const {
    if (connecting) return POLLOUT;
    short ev = 0;
    if (to_client.empty() && !holding) ev |= POLLIN;
    if (!to_server.empty()) ev |= POLLOUT;
    return ev;
  }
};

}  // namespace

struct SocketProxy::State {
  sockaddr_un target{};
  UniqueFd listener;
  UniqueFd wake_read;
  UniqueFd wake_write;

  // Owned by the thread.
  std::vector<Pair> pairs;
  std::vector<UniqueFd> held_server_sides;

  // Shared with the test thread, under `mutex`.
  std::mutex mutex;
  std::condition_variable done_cv;
  std::deque<Command> commands;
  std::uint64_t submitted = 0;  // commands queued so far
  std::uint64_t completed = 0;  // commands carried out so far
  bool stopping = false;
  bool failed = false;
  std::string failure;

  void wake() const {
    const char byte = 1;
    // A full pipe already holds a pending wake-up, so EAGAIN is fine.
    while (::write(wake_write.get(), &byte, 1) < 0 && errno == EINTR) {
    }
  }
  void drain_wake_pipe() const {
    char sink[256];
    while (true) {
      const ssize_t n = ::read(wake_read.get(), sink, sizeof sink);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      return;
    }
  }

  void accept_all(std::atomic<int>& accepted) {
    while (true) {
      UniqueFd client(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!client) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EAGAIN, or a transient error (EMFILE...) that the next POLLIN retries
      }
      accepted.fetch_add(1);
      const int one = 1;
      ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Pair pair;
      pair.client = std::move(client);
      pair.server = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!pair.server) continue;  // the client sees its connection closed
      if (::connect(pair.server.get(), reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
        // A unix socket with a full backlog answers EAGAIN, not EINPROGRESS: drop the client then too.
        if (errno != EINPROGRESS) continue;
        pair.connecting = true;
      }
      pairs.push_back(std::move(pair));
    }
  }

  static void finish_connect(Pair& p) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(p.server.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      p.closed = true;
      return;
    }
    p.connecting = false;
  }

  // Moves bytes both ways as far as the sockets allow without blocking.
  static void pump(Pair& p) {
    if (p.to_server.empty() && read_into(p.client.get(), p.to_server) == Io::kClosed) {
      p.closed = true;
      return;
    }
    if (p.connecting) return;
    if (flush(p.server.get(), p.to_server) == Io::kClosed ||
        (p.to_client.empty() && !p.holding && read_into(p.server.get(), p.to_client) == Io::kClosed) ||
        flush(p.client.get(), p.to_client) == Io::kClosed) {
      p.closed = true;
    }
  }

  void run(std::atomic<int>& accepted) {
    std::vector<pollfd> fds;
    while (true) {
      {
        std::lock_guard lock(mutex);
        if (stopping) return;
      }
      fds.clear();
      fds.push_back({wake_read.get(), POLLIN, 0});
      fds.push_back({listener.get(), POLLIN, 0});
      for (const Pair& p : pairs) {
        const short cev = p.client_events();
        const short sev = p.server_events();
        fds.push_back({cev != 0 ? p.client.get() : -1, cev, 0});
        fds.push_back({sev != 0 ? p.server.get() : -1, sev, 0});
      }
      // No timeout needed: shutdown and commands arrive through the wake pipe.
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        throw sys_error("poll");
      }
      // Only the pairs that were polled; accept_all() below appends new ones.
      const std::size_t polled = (fds.size() - 2) / 2;
      for (std::size_t i = 0; i < polled; ++i) {
        Pair& p = pairs[i];
        const short crev = fds[2 + 2 * i].revents;
        const short srev = fds[3 + 2 * i].revents;
        if (crev == 0 && srev == 0) continue;
        if (p.connecting && srev != 0) finish_connect(p);
        if (!p.closed) pump(p);
      }
      std::erase_if(pairs, [](const Pair& p) { return p.closed; });
      if (fds[1].revents != 0) accept_all(accepted);
      if (fds[0].revents != 0) {
        drain_wake_pipe();
        run_commands();
      }
    }
  }

  void run_commands() {
    std::deque<Command> todo;
    {
      std::lock_guard lock(mutex);
      todo.swap(commands);
    }
    for (const Command c : todo) {
      if (c == Command::kHold) {
        for (Pair& p : pairs)
          p.holding = true;
      } else if (c == Command::kCut) {
        for (Pair& p : pairs)
          held_server_sides.push_back(std::move(p.server));
        pairs.clear();  // closes the client sides and drops unforwarded bytes
      } else {
        held_server_sides.clear();
      }
    }
    {
      std::lock_guard lock(mutex);
      completed += todo.size();
    }
    done_cv.notify_all();
  }
};

SocketProxy::SocketProxy(std::string unix_socket_path) : state_(std::make_unique<State>()) {
  State& s = *state_;
  if (unix_socket_path.size() >= sizeof s.target.sun_path)
    throw std::invalid_argument("SocketProxy: unix socket path too long: " + unix_socket_path);
  s.target.sun_family = AF_UNIX;
  std::memcpy(s.target.sun_path, unix_socket_path.c_str(), unix_socket_path.size() + 1);

  s.listener = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s.listener) throw sys_error("socket");
  const int one = 1;
  ::setsockopt(s.listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port
  if (::bind(s.listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw sys_error("bind 127.0.0.1:0");
  if (::listen(s.listener.get(), SOMAXCONN) != 0) throw sys_error("listen");
  socklen_t len = sizeof addr;
  if (::getsockname(s.listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw sys_error("getsockname");
  port_ = ntohs(addr.sin_port);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) throw sys_error("pipe2");
  s.wake_read = UniqueFd(pipe_fds[0]);
  s.wake_write = UniqueFd(pipe_fds[1]);

  thread_ = std::thread([this] { thread_main(); });
}

SocketProxy::~SocketProxy() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake();
  thread_.join();
  // state_'s destructor closes the listener, every pair and every kept server side.
}

void SocketProxy::hold_replies() {
  run_command(Command::kHold);
}

void SocketProxy::cut_client_sides() {
  run_command(Command::kCut);
}

void SocketProxy::release_server_sides() {
  run_command(Command::kRelease);
}

void SocketProxy::run_command(Command command) {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  if (s.failed) throw std::runtime_error("SocketProxy: the forwarding thread failed: " + s.failure);
  s.commands.push_back(command);
  const std::uint64_t ticket = ++s.submitted;
  s.wake();
  if (!s.done_cv.wait_for(lock, kCommandTimeout, [&] { return s.completed >= ticket || s.failed; }))
    throw std::runtime_error("SocketProxy: the forwarding thread did not carry out a command in time");
  if (s.completed < ticket)
    throw std::runtime_error("SocketProxy: the forwarding thread failed: " + s.failure);
}

void SocketProxy::thread_main() {
  try {
    state_->run(accepted_);
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(state_->mutex);
      state_->failed = true;
      state_->failure = e.what();
    }
    state_->done_cv.notify_all();
  }
}

}  // namespace testkit
