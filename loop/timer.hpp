#pragma once

#include <chrono>
#include <functional>

#include <uv.h>

#include "loop/handle.hpp"

namespace loop {

// A one-shot timer. `start` (re)arms it; the callback runs once per arming, on the loop thread.
class Timer {
 public:
  Timer(uv_loop_t* loop, std::function<void()> on_fire);

  void start(std::chrono::milliseconds after);
  void stop();
  bool armed() const;
  // Time until the timer fires; zero when it is not armed.
  std::chrono::milliseconds due_in() const;
  // Keeps the loop from counting this timer as a reason to stay alive (see uv_unref).
  void unref();

 private:
  static void on_uv_timer(uv_timer_t* t);

  Handle<uv_timer_t> handle_;
  std::function<void()> on_fire_;
};

}  // namespace loop
