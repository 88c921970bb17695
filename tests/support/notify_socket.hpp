#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace testkit {

// The systemd side of NOTIFY_SOCKET for tests: a unix datagram socket bound in a fresh temp dir.
class NotifySocket {
 public:
  NotifySocket();
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  // The datagrams that arrived since the last call, one string each (never blocks).
  std::vector<std::string> receive();
  // How many datagrams received so far (this call included) start with `prefix`.
  std::size_t count(const std::string& prefix);

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> received_;
};

}  // namespace testkit
