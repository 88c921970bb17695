#pragma once

#include <string>
#include <string_view>

#include "relay/config.hpp"

namespace relay {

// `run --dry-run` and `drain --dry-run`: reads the batch of due rows a relay would claim next (at most
// --batch-size, or --limit when smaller) with a plain SELECT in a read-only transaction, logs each as a
// "dry-run payload" event and a "summary" with mode dry-run, and exits. Nothing is sent and nothing in the
// database changes: no claim, no lease, no attempt counted.
class DryRun {
 public:
  explicit DryRun(const Config& config) : config_(config) {}

  // The exit code: 0, or as run_with_session says (3 database unreachable, 4 schema, 1 query failed).
  int run();

 private:
  int batch_limit() const;
  std::string destination(std::string_view target_url) const;

  const Config& config_;
};

}  // namespace relay
