#include "loop/event_loop.hpp"

#include <stdexcept>
#include <string>

namespace loop {

EventLoop::EventLoop() {
  if (int rc = uv_loop_init(&loop_); rc != 0)
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
}

EventLoop::~EventLoop() {
  close();
}

void EventLoop::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void EventLoop::stop() {
  uv_stop(&loop_);
}

int EventLoop::close() {
  if (closed_) return 0;
  // Close callbacks run in the next loop iteration; NOWAIT lets them run without blocking on live handles.
  uv_run(&loop_, UV_RUN_NOWAIT);
  int rc = uv_loop_close(&loop_);
  if (rc == 0) closed_ = true;
  return rc;
}

}  // namespace loop
