#include "bench/stats.hpp"

#include <algorithm>
#include <cmath>

namespace bench {

namespace {

double nearest_rank(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

Distribution distribution(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  Distribution d;
  d.count = samples.size();
  d.p50 = nearest_rank(samples, 0.50);
  d.p90 = nearest_rank(samples, 0.90);
  d.p99 = nearest_rank(samples, 0.99);
  d.p999 = nearest_rank(samples, 0.999);
  d.max = samples.empty() ? 0 : samples.back();
  return d;
}

double Figure::median() const {
  if (runs.empty()) return 0;
  std::vector<double> sorted = runs;
  std::sort(sorted.begin(), sorted.end());
  const auto n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

double Figure::min() const {
  return runs.empty() ? 0 : *std::min_element(runs.begin(), runs.end());
}

double Figure::max() const {
  return runs.empty() ? 0 : *std::max_element(runs.begin(), runs.end());
}

double milliseconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace bench
