#pragma once

#include <chrono>
#include <thread>

namespace testkit {

// Waits until `condition()` holds or `timeout` passes, re-checking every `step`; returns the last result.
// A deadline on a condition, never a bare sleep: the test proceeds as soon as the condition holds.
template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(step);
  }
}

}  // namespace testkit
