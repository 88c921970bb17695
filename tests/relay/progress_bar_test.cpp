#include "relay/progress_bar.hpp"

#include <catch2/catch.hpp>

using relay::ProgressBar;
using namespace std::chrono_literals;

TEST_CASE("the progress line shows rows done of due, the rate and the time left") {
  CHECK(ProgressBar::render(0, 100, 0s) == "[>                             ] 0/100 rows  0/s  ETA -");
  CHECK(ProgressBar::render(50, 100, 2s) == "[===============>              ] 50/100 rows  25/s  ETA 2s");
  CHECK(ProgressBar::render(100, 100, 4s) == "[==============================] 100/100 rows  25/s  ETA -");
  CHECK(ProgressBar::render(1000, 100000, 10s) ==
        "[>                             ] 1000/100000 rows  100/s  ETA 16m30s");
}

TEST_CASE("rows that became due during the drain extend the total instead of overflowing the bar") {
  CHECK(ProgressBar::render(120, 100, 1s) == "[==============================] 120/120 rows  120/s  ETA -");
  CHECK(ProgressBar::render(0, 0, 1s) == "[==============================] 0/0 rows  0/s  ETA -");
}
