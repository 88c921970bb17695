#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <uv.h>

#include "pg/connection.hpp"

namespace pg {

// A connection that LISTENs on one channel and hands every notification to its owner. After each
// (re)connect it issues LISTEN again and then reports on_listening: notifications sent while it was
// disconnected are lost, so the owner should treat on_listening as "look at the table again".
class Listener {
 public:
  struct Events {
    std::function<void()> on_listening;
    std::function<void(std::string_view reason)> on_lost;
    std::function<void(Notification&&)> on_notification;
  };

  Listener(uv_loop_t* loop, ConnInfo info, ConnectionOptions options, std::string channel, Events events);

  void start();
  void close();
  bool listening() const { return listening_; }
  const std::string& channel() const { return channel_; }

 private:
  void on_ready();
  void on_lost(std::string_view reason);

  std::string channel_;
  Events events_;
  Connection conn_;
  bool listening_ = false;
};

}  // namespace pg
