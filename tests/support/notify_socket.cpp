#include "tests/support/notify_socket.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace testkit {

NotifySocket::NotifySocket() {
  std::string tmpl = "/tmp/outbox-notify-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  path_ = dir_ + "/notify";
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    throw std::runtime_error("cannot bind " + path_);
}

NotifySocket::~NotifySocket() {
  if (fd_ >= 0) close(fd_);
  unlink(path_.c_str());
  rmdir(dir_.c_str());
}

std::vector<std::string> NotifySocket::receive() {
  std::vector<std::string> fresh;
  char buf[4096];
  for (ssize_t n; (n = recv(fd_, buf, sizeof(buf), 0)) >= 0;)
    fresh.emplace_back(buf, static_cast<std::size_t>(n));
  received_.insert(received_.end(), fresh.begin(), fresh.end());
  return fresh;
}

std::size_t NotifySocket::count(const std::string& prefix) {
  receive();
  return static_cast<std::size_t>(std::count_if(received_.begin(), received_.end(),
                                                [&](const std::string& m) { return m.starts_with(prefix); }));
}

}  // namespace testkit
