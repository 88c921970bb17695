#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <spdlog/spdlog.h>

#include "relay/config.hpp"

// Structured log events. Every line of a process carries its run_id. Two renderings of the same event:
//   human: 2026-11-23T18:49:14.123Z info start batch {run_id=20261123T184914Z-3fa9c1, limit=100}
//   json:  {"ts":"2026-11-23T18:49:14.123Z","level":"info","service":"outbox-relay",
//           "run_id":"20261123T184914Z-3fa9c1","event":"start batch","limit":100}
// Plain spdlog lines (as pg/ and http/ write them) get the same prefix and run_id; in JSON they become
// {"...","event":"log","msg":"..."}.
namespace relay::log {

class Value {
 public:
  template <std::integral T>
  requires(!std::same_as<T, bool>) Value(T v) : v_(static_cast<std::int64_t>(v)) {}
  template <std::floating_point T>
  Value(T v) : v_(static_cast<double>(v)) {}
  Value(bool v) : v_(v) {}
  Value(const char* v) : v_(std::string_view(v)) {}
  Value(std::string_view v) : v_(v) {}
  Value(const std::string& v) : v_(std::string_view(v)) {}

  const std::variant<std::int64_t, double, bool, std::string_view>& get() const { return v_; }

 private:
  std::variant<std::int64_t, double, bool, std::string_view> v_;
};

struct Field {
  std::string_view key;
  Value value;
};

// Logs one named event (see the events list in the man page) with its fields, on the default logger. The
// formatter adds ts, level, service and run_id: fields must not use those keys, nor "event" and "msg".
void event(spdlog::level::level_enum level, std::string_view name, std::initializer_list<Field> fields);
// The same on a given logger (tests; a logger whose formatter is not make_formatter's shows the packing).
void event(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view name,
           std::initializer_list<Field> fields);

struct Settings {
  LogFormat format = LogFormat::human;
  spdlog::level::level_enum level = spdlog::level::info;
  std::string run_id;
  std::string service_name = "outbox-relay";
};

// Process-wide: installs the default logger (stderr) with the chosen rendering. Called once, from main.
void install(const Settings& settings);

// The formatter that install() gives its sink: renders events and plain lines in `settings.format`, with
// the run_id and service of `settings`.
std::unique_ptr<spdlog::formatter> make_formatter(const Settings& settings);

// A fresh run id: UTC timestamp plus random hex, e.g. "20261123T184914Z-3fa9c1".
std::string new_run_id();

// "trace", "debug", "info", "warn", "error", "critical", "off", in any case; nullopt for anything else.
std::optional<spdlog::level::level_enum> parse_level(std::string_view name);

}  // namespace relay::log
