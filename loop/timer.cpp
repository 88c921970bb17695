#include "loop/timer.hpp"

#include <cassert>

namespace loop {

Timer::Timer(uv_loop_t* loop, std::function<void()> on_fire) : on_fire_(std::move(on_fire)) {
  auto h = allocate<uv_timer_t>();
  // uv_timer_init cannot fail on Unix; the assertion documents the assumption.
  [[maybe_unused]] int rc = uv_timer_init(loop, h.get());
  assert(rc == 0);
  h->data = this;
  handle_ = Handle<uv_timer_t>(std::move(h));
}

void Timer::start(std::chrono::milliseconds after) {
  const auto ms = after.count() < 0 ? 0 : static_cast<uint64_t>(after.count());
  uv_timer_start(handle_.get(), &Timer::on_uv_timer, ms, 0);
}

void Timer::stop() {
  uv_timer_stop(handle_.get());
}

bool Timer::armed() const {
  return uv_is_active(handle_.base()) != 0;
}

std::chrono::milliseconds Timer::due_in() const {
  if (!armed()) return std::chrono::milliseconds::zero();
  return std::chrono::milliseconds(uv_timer_get_due_in(handle_.get()));
}

void Timer::unref() {
  uv_unref(handle_.base());
}

void Timer::on_uv_timer(uv_timer_t* t) {
  auto* self = static_cast<Timer*>(t->data);
  if (self != nullptr) self->on_fire_();
}

}  // namespace loop
