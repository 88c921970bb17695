#include "loop/poll.hpp"

namespace loop {

Poll::Poll(uv_loop_t* loop, std::function<void(int, int)> on_event)
    : loop_(loop), on_event_(std::move(on_event)) {}

int Poll::watch(int fd, int events) {
  if (fd != fd_ || !handle_) {
    stop();
    auto h = allocate<uv_poll_t>();
    // A failed init leaves nothing for uv_close to do, so the memory is simply dropped here.
    if (int rc = uv_poll_init(loop_, h.get(), fd); rc != 0) return rc;
    h->data = this;
    handle_ = Handle<uv_poll_t>(std::move(h));
    fd_ = fd;
    events_ = 0;
  }
  if (events == events_) return 0;
  int rc = uv_poll_start(handle_.get(), events, &Poll::on_uv_poll);
  if (rc == 0) events_ = events;
  return rc;
}

void Poll::stop() {
  handle_.reset();
  fd_ = -1;
  events_ = 0;
}

void Poll::on_uv_poll(uv_poll_t* p, int status, int events) {
  auto* self = static_cast<Poll*>(p->data);
  if (self != nullptr) self->on_event_(status, events);
}

}  // namespace loop
