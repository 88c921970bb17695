#pragma once

#include <functional>

#include <uv.h>

#include "loop/handle.hpp"

namespace loop {

// Delivers a POSIX signal to the loop thread as an ordinary callback.
class Signal {
 public:
  Signal(uv_loop_t* loop, int signum, std::function<void(int signum)> on_signal);
  // Keeps the loop from counting this watcher as a reason to stay alive.
  void unref();

 private:
  static void on_uv_signal(uv_signal_t* s, int signum);

  Handle<uv_signal_t> handle_;
  std::function<void(int)> on_signal_;
};

}  // namespace loop
