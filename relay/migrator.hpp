#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "pg/conninfo.hpp"

namespace relay {

// A migration could not be applied (a SQL error, or a database newer than this binary). Nothing of the
// failing migration was applied: each runs in its own transaction.
class MigrationError : public std::runtime_error {
 public:
  MigrationError(const std::string& what, bool schema_too_new)
      : std::runtime_error(what), schema_too_new_(schema_too_new) {}
  bool schema_too_new() const { return schema_too_new_; }

 private:
  bool schema_too_new_;
};

struct MigrationReport {
  int from_version = 0;
  int to_version = 0;
  std::vector<std::string> applied;  // file names, in order
};

// Brings the outbox schema to the newest embedded version, then (re)installs the NOTIFY triggers for
// `channel`. Safe to run from several processes at once: an advisory lock serialises them, and each sees
// what the previous one applied. Throws pg::ConnectionError when the database cannot be reached.
MigrationReport migrate(const pg::ConnInfo& info, const std::string& channel,
                        const std::string& application_name);

}  // namespace relay
