// The spdlog formatter behind both log renderings (see relay/log.hpp for what a line looks like).
#include <chrono>
#include <ctime>

#include <spdlog/formatter.h>

#include "relay/log.hpp"
#include "relay/log_record.hpp"
#include "relay/log_text.hpp"

namespace relay::log {
namespace {

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// 2026-11-23T18:49:14.123Z
std::string utc_timestamp(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto millis = floor<milliseconds>(time);
  auto seconds = floor<std::chrono::seconds>(millis);
  std::time_t t = system_clock::to_time_t(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (millis - seconds).count());
}

void append_json_member(std::string& out, std::string_view key, std::string_view string_value) {
  out += ',';
  text::append_json_string(out, key);
  out += ':';
  text::append_json_string(out, string_value);
}

void append_json_field(std::string& out, const record::DecodedField& field) {
  if (field.type == record::Type::string) return append_json_member(out, field.key, field.text);
  out += ',';
  text::append_json_string(out, field.key);
  out += ':';
  out.append(field.text);  // a number or true/false, checked by decode()
}

void append_human_field(std::string& out, std::string_view key, std::string_view value, bool is_string) {
  out += ", ";
  text::append_human(out, key, false);
  out += '=';
  text::append_human(out, value, is_string && text::needs_quotes(value));
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(Settings settings) : settings_(std::move(settings)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::optional<record::Decoded> event = record::decode(payload);
    std::string line =
        settings_.format == LogFormat::json ? json(msg, event, payload) : human(msg, event, payload);
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(settings_);
  }

 private:
  std::string json(const spdlog::details::log_msg& msg, const std::optional<record::Decoded>& event,
                   std::string_view payload) const {
    std::string out = "{\"ts\":\"" + utc_timestamp(msg.time) + "\"";
    append_json_member(out, "level", level_name(msg.level));
    append_json_member(out, "service", settings_.service_name);
    append_json_member(out, "run_id", settings_.run_id);
    if (event) {
      append_json_member(out, "event", event->name);
      for (const auto& field : event->fields)
        append_json_field(out, field);
    } else {
      append_json_member(out, "event", "log");
      append_json_member(out, "msg", payload);
    }
    return out + '}';
  }

  std::string human(const spdlog::details::log_msg& msg, const std::optional<record::Decoded>& event,
                    std::string_view payload) const {
    std::string out = utc_timestamp(msg.time);
    out += ' ';
    out.append(level_name(msg.level));
    out += ' ';
    text::append_human(out, event ? event->name : payload, false);
    out += " {run_id=";
    text::append_human(out, settings_.run_id, text::needs_quotes(settings_.run_id));
    if (event) {
      for (const auto& f : event->fields)
        append_human_field(out, f.key, f.text, f.type == record::Type::string);
    }
    return out + '}';
  }

  Settings settings_;
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_formatter(const Settings& settings) {
  return std::make_unique<LineFormatter>(settings);
}

}  // namespace relay::log
