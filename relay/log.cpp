#include "relay/log.hpp"

#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <random>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "relay/log_record.hpp"

namespace relay::log {

void event(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view name,
           std::initializer_list<Field> fields) {
  if (!logger.should_log(level)) return;  // no packing for a line nobody reads
  std::string packed = record::encode(name, fields);
  logger.log(level, spdlog::string_view_t(packed.data(), packed.size()));
}

void event(spdlog::level::level_enum level, std::string_view name, std::initializer_list<Field> fields) {
  event(*spdlog::default_logger_raw(), level, name, fields);
}

void install(const Settings& settings) {
  // Plain stderr sink (not the colour one): colours come from spdlog's pattern formatter, which ours
  // replaces.
  auto logger =
      std::make_shared<spdlog::logger>("outbox-relay", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(make_formatter(settings));
  logger->set_level(settings.level);
  spdlog::set_default_logger(std::move(logger));
}

std::string new_run_id() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 32> stamp{};
  std::size_t length = std::strftime(stamp.data(), stamp.size(), "%Y%m%dT%H%M%SZ", &tm);
  // Two relays started in the same second still get different ids.
  std::random_device random;
  unsigned suffix = std::uniform_int_distribution<unsigned>(0, 0xFFFFFF)(random);
  return fmt::format("{}-{:06x}", std::string_view(stamp.data(), length), suffix);
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view name) {
  struct Named {
    std::string_view name;
    spdlog::level::level_enum level;
  };
  static constexpr Named kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  };
  // Case-insensitive: container environments often say LOG_LEVEL=INFO.
  auto same = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
    }
    return true;
  };
  for (const Named& level : kLevels) {
    if (same(name, level.name)) return level.level;
  }
  return std::nullopt;
}

}  // namespace relay::log
