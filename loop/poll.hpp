#pragma once

#include <functional>

#include <uv.h>

#include "loop/handle.hpp"

namespace loop {

// Watches one file descriptor for readability/writability. The descriptor may change over the watcher's
// life (libpq opens a new socket on every reconnect): `watch` re-creates the uv_poll handle whenever the
// descriptor differs from the one being watched, because a uv_poll is bound to its descriptor for life.
class Poll {
 public:
  // `on_event(status, events)`: status < 0 is a libuv error; events is a mask of UV_READABLE/UV_WRITABLE.
  Poll(uv_loop_t* loop, std::function<void(int status, int events)> on_event);

  // Starts (or changes) watching `fd` for `events`. Returns 0 or a libuv error code.
  [[nodiscard]] int watch(int fd, int events);
  // Stops watching and releases the handle; the next `watch` starts afresh.
  void stop();
  int fd() const { return fd_; }
  int events() const { return events_; }

 private:
  static void on_uv_poll(uv_poll_t* p, int status, int events);

  uv_loop_t* loop_;
  Handle<uv_poll_t> handle_;
  std::function<void(int, int)> on_event_;
  int fd_ = -1;
  int events_ = 0;
};

}  // namespace loop
