#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace relay {

// A one-line progress display for `drain` on a terminal: rows done out of those due, the rate and the time
// left, redrawn in place ("\r"). Only used when stderr is a terminal; a log file or a pipe gets none.
class ProgressBar {
 public:
  ProgressBar(std::FILE* out, std::uint64_t total);

  void update(std::uint64_t done);
  // Draws the last state and ends the line.
  void finish(std::uint64_t done);

  // The line for `done` rows after `elapsed`, without the leading "\r" (a pure function, for tests).
  static std::string render(std::uint64_t done, std::uint64_t total, std::chrono::duration<double> elapsed);

 private:
  std::FILE* out_;
  std::uint64_t total_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace relay
