#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace testkit {

// A TCP front (127.0.0.1, a free port) for a unix-domain socket, for fault tests. The test clusters listen
// on a unix socket only, and a unix socket cannot be broken from one side: closing the client closes the
// server's end too. Through the proxy a test can break the client's side of a PostgreSQL connection while
// the server's side lives on, as a network failure does, and show what the server still holds (locks).
// Linux only. One background thread does all socket work, so the test thread never blocks on a socket.
class SocketProxy {
 public:
  // Throws std::runtime_error (or std::invalid_argument for a path too long for sockaddr_un).
  explicit SocketProxy(std::string unix_socket_path);
  // Returns promptly even with connections open: the thread is woken, not waited out.
  ~SocketProxy();
  // The thread refers to this object.
  SocketProxy(const SocketProxy&) = delete;
  SocketProxy& operator=(const SocketProxy&) = delete;

  int port() const { return port_; }

  // Stops reading what the server sends on the connections forwarded so far, while requests still go
  // through: answers wait in the server's socket, so that a cut_client_sides() after it loses them (the
  // server did the work, the client never hears of it). Done when it returns.
  void hold_replies();
  // Closes the client-facing socket of every connection forwarded so far, and stops forwarding them, but
  // keeps their server-facing sockets open (the server sees nothing), until release_server_sides() or the
  // destructor. The kept sockets are not read either, as with a peer that vanished from the network.
  // New connections accepted afterwards are forwarded normally. Done when it returns.
  void cut_client_sides();
  // Closes the server-facing sockets kept by cut_client_sides() (the server then sees its clients go).
  // Done when it returns.
  void release_server_sides();
  // Connections accepted so far (including any whose unix-socket connect failed and were dropped).
  int accepted() const { return accepted_.load(); }

 private:
  struct State;
  enum class Command { kHold, kCut, kRelease };

  // Hands a command to the thread and waits (bounded) until it has been carried out; throws
  // std::runtime_error when the thread has failed or does not answer.
  void run_command(Command command);
  void thread_main();

  std::unique_ptr<State> state_;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace testkit
