#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace bench {

// Percentiles of one run's samples (nearest-rank), in the samples' unit.
struct Distribution {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::size_t count = 0;
};
Distribution distribution(std::vector<double> samples);

// One figure measured in several repetitions: the median is reported, the range shows the noise.
struct Figure {
  std::string name;
  std::string unit;
  std::vector<double> runs;
  double median() const;
  double min() const;
  double max() const;
};

double milliseconds(std::chrono::steady_clock::duration d);

}  // namespace bench
