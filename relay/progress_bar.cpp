#include "relay/progress_bar.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace relay {

namespace {

constexpr int kWidth = 30;

std::string eta_text(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace

ProgressBar::ProgressBar(std::FILE* out, std::uint64_t total)
    : out_(out), total_(total), started_(std::chrono::steady_clock::now()) {}

std::string ProgressBar::render(std::uint64_t done, std::uint64_t total,
                                std::chrono::duration<double> elapsed) {
  // Rows that became due during the drain can push `done` past the count taken at its start.
  const std::uint64_t shown_total = std::max(done, total);
  const double fraction =
      shown_total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(shown_total);
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  const double rate = elapsed.count() > 0 ? static_cast<double>(done) / elapsed.count() : 0;
  const std::string eta =
      rate > 0 && done < shown_total ? eta_text(static_cast<double>(shown_total - done) / rate) : "-";
  return fmt::format("[{}] {}/{} rows  {:.0f}/s  ETA {}", bar, done, shown_total, rate, eta);
}

void ProgressBar::update(std::uint64_t done) {
  const std::string line = render(done, total_, std::chrono::steady_clock::now() - started_);
  // The trailing spaces clear what a longer previous line left behind.
  std::fprintf(out_, "\r%s   ", line.c_str());
  std::fflush(out_);
}

void ProgressBar::finish(std::uint64_t done) {
  update(done);
  std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace relay
