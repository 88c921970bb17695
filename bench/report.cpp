#include "bench/report.hpp"

#include <fstream>
#include <ostream>

#include <fmt/format.h>

namespace bench {

namespace {

std::string number(double v) {
  if (v >= 1000) return fmt::format("{:.0f}", v);
  if (v >= 10) return fmt::format("{:.1f}", v);
  return fmt::format("{:.3f}", v);
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

void Report::add(Figure figure, std::string target, std::function<bool(double)> met) {
  Row row{std::move(figure), std::move(target), std::nullopt};
  if (met) row.met = met(row.figure.median());
  rows_.push_back(std::move(row));
}

void Report::print(std::ostream& out) const {
  out << fmt::format("{:<58} {:>10} {:>21}  {:<8} {}\n", "figure", "median", "range", "unit", "target");
  for (const Row& r : rows_) {
    const auto& f = r.figure;
    std::string verdict;
    if (r.met) verdict = *r.met ? "  met" : "  NOT MET";
    out << fmt::format("{:<58} {:>10} {:>21}  {:<8} {}{}\n", f.name, number(f.median()),
                       number(f.min()) + " - " + number(f.max()), f.unit, r.target, verdict);
  }
}

void Report::write_json(const std::string& path, const std::string& command_line) const {
  std::ofstream out(path);
  out << "{\n  \"command\": \"" << json_escape(command_line) << "\",\n  \"figures\": [\n";
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const Row& r = rows_[i];
    out << "    {\"name\": \"" << json_escape(r.figure.name) << "\", \"unit\": \""
        << json_escape(r.figure.unit) << "\", \"median\": " << r.figure.median()
        << ", \"min\": " << r.figure.min() << ", \"max\": " << r.figure.max() << ", \"runs\": [";
    for (std::size_t k = 0; k < r.figure.runs.size(); ++k)
      out << (k ? ", " : "") << r.figure.runs[k];
    out << "], \"target\": \"" << json_escape(r.target) << "\", \"met\": ";
    out << (r.met ? (*r.met ? "true" : "false") : "null") << "}" << (i + 1 < rows_.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
}

}  // namespace bench
