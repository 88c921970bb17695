#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "bench/stats.hpp"

namespace bench {

// The figures of one benchmark invocation, printed as a table and written as JSON. A target is checked
// against a figure's median.
class Report {
 public:
  void add(Figure figure, std::string target = {}, std::function<bool(double)> met = nullptr);
  void print(std::ostream& out) const;
  void write_json(const std::string& path, const std::string& command_line) const;

 private:
  struct Row {
    Figure figure;
    std::string target;
    std::optional<bool> met;
  };
  std::vector<Row> rows_;
};

}  // namespace bench
