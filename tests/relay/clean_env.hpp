#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "relay/flags.hpp"

namespace testkit {

// Unsets every variable the CLI reads (the machine running the tests may set DATABASE_URL or LOG_LEVEL) for
// the test's life, lets the test set its own, and puts back what was there before.
class CleanEnv {
 public:
  CleanEnv() {
    for (const auto& flag : relay::flag_specs()) {
      std::string name(flag.env);
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(name.c_str());
    }
  }
  ~CleanEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  CleanEnv(const CleanEnv&) = delete;
  CleanEnv& operator=(const CleanEnv&) = delete;

  void set(const std::string& name, const std::string& value) { setenv(name.c_str(), value.c_str(), 1); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

}  // namespace testkit
