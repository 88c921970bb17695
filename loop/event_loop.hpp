#pragma once

#include <uv.h>

namespace loop {

// Owns a uv_loop_t. The destructor first lets every closing handle finish closing (their close callbacks
// free memory), then closes the loop; a handle still open at that point is a leak in the owner's teardown.
class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* get() { return &loop_; }
  // Runs until no active handle remains or `stop` is called.
  void run();
  void stop();
  // Runs the loop until pending close callbacks have run, then uv_loop_close. Returns its result (0, or
  // UV_EBUSY when some handle was never closed). Called by the destructor if not called before.
  int close();

 private:
  uv_loop_t loop_{};
  bool closed_ = false;
};

}  // namespace loop
