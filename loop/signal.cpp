#include "loop/signal.hpp"

#include <stdexcept>
#include <string>

namespace loop {

Signal::Signal(uv_loop_t* loop, int signum, std::function<void(int)> on_signal)
    : on_signal_(std::move(on_signal)) {
  auto h = allocate<uv_signal_t>();
  if (int rc = uv_signal_init(loop, h.get()); rc != 0)
    throw std::runtime_error(std::string("uv_signal_init: ") + uv_strerror(rc));
  h->data = this;
  handle_ = Handle<uv_signal_t>(std::move(h));
  if (int rc = uv_signal_start(handle_.get(), &Signal::on_uv_signal, signum); rc != 0)
    throw std::runtime_error(std::string("uv_signal_start: ") + uv_strerror(rc));
}

void Signal::unref() {
  uv_unref(handle_.base());
}

void Signal::on_uv_signal(uv_signal_t* s, int signum) {
  auto* self = static_cast<Signal*>(s->data);
  if (self != nullptr) self->on_signal_(signum);
}

}  // namespace loop
