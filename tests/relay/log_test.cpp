#include "relay/log.hpp"

#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>

namespace rlog = relay::log;
using relay::LogFormat;

namespace {

// ---- A test-only JSON reader, written independently of the code under test: a flat object whose values
// are strings, numbers, booleans or null. It rejects anything that is not valid JSON (RFC 8259), including
// raw control characters and invalid UTF-8 inside strings.
struct JsonValue {
  char kind;         // 's' string, 'n' number, 'b' boolean, 'z' null
  std::string text;  // decoded string, number text, "true"/"false", "null"
};
using JsonObject = std::map<std::string, JsonValue>;

class JsonReader {
 public:
  explicit JsonReader(std::string_view in) : in_(in) {}

  std::optional<JsonObject> object() {
    JsonObject result;
    if (!eat('{')) return std::nullopt;
    if (eat('}')) return end(result);
    do {
      auto key = string();
      if (!key || !eat(':')) return std::nullopt;
      auto value = scalar();
      if (!value || result.count(*key)) return std::nullopt;  // duplicate keys are a bug in our lines
      result[*key] = *value;
    } while (eat(','));
    if (!eat('}')) return std::nullopt;
    return end(result);
  }

 private:
  std::optional<JsonObject> end(JsonObject& o) {
    return pos_ == in_.size() ? std::optional(o) : std::nullopt;
  }
  bool eat(char c) {
    if (pos_ < in_.size() && in_[pos_] == c) return ++pos_, true;
    return false;
  }
  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  std::optional<JsonValue> scalar() {
    if (pos_ >= in_.size()) return std::nullopt;
    if (in_[pos_] == '"') {
      auto s = string();
      return s ? std::optional(JsonValue{'s', *s}) : std::nullopt;
    }
    if (literal("true")) return JsonValue{'b', "true"};
    if (literal("false")) return JsonValue{'b', "false"};
    if (literal("null")) return JsonValue{'z', "null"};
    return number();
  }
  std::optional<JsonValue> number() {
    std::size_t start = pos_;
    while (pos_ < in_.size() && std::string_view("+-.eE0123456789").find(in_[pos_]) != std::string_view::npos)
      ++pos_;
    std::string text(in_.substr(start, pos_ - start));
    if (!is_json_number(text)) return std::nullopt;
    return JsonValue{'n', text};
  }
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  static bool is_json_number(std::string_view s) {
    std::size_t i = 0;
    auto digits = [&] {
      std::size_t start = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
        ++i;
      return i > start;
    };
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0') {
      ++i;
    } else if (i >= s.size() || s[i] == '0' || !digits()) {
      return false;
    }
    if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return i == s.size();
  }
  static void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  std::optional<std::uint32_t> hex4() {
    if (pos_ + 4 > in_.size()) return std::nullopt;
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = in_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return std::nullopt;
    }
    return v;
  }
  // Decodes one raw UTF-8 character: the code point, or nullopt for a malformed sequence.
  std::optional<std::uint32_t> raw_utf8() {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in_[pos_ + k]); };
    unsigned char b = byte(0);
    int n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || pos_ + static_cast<std::size_t>(n) > in_.size()) return std::nullopt;
    std::uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < n; ++k) {
      if ((byte(static_cast<std::size_t>(k)) & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (byte(static_cast<std::size_t>(k)) & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    pos_ += static_cast<std::size_t>(n);
    return cp;
  }
  std::optional<std::string> string() {
    if (!eat('"')) return std::nullopt;
    std::string out;
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == '"') return ++pos_, out;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        auto cp = raw_utf8();
        if (!cp) return std::nullopt;
        put_utf8(out, *cp);
        continue;
      }
      if (++pos_ >= in_.size()) return std::nullopt;
      char e = in_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          auto cp = hex4();
          if (!cp || (*cp >= 0xD800 && *cp <= 0xDFFF)) return std::nullopt;  // we never write surrogates
          put_utf8(out, *cp);
          break;
        }
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

std::optional<JsonObject> parse_json_line(std::string_view line) {
  return JsonReader(line).object();
}

// ---- Rendering helpers.

const std::string kRunId = "20261123T184914Z-3fa9c1";

// 2026-11-23T18:49:14.123Z
std::chrono::system_clock::time_point fixed_time() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 23} + hours{18} + minutes{49} + seconds{14} + milliseconds{123};
}

rlog::Settings settings(LogFormat format) {
  rlog::Settings s;
  s.format = format;
  s.run_id = kRunId;
  return s;
}

// Renders one message through the formatter at a fixed time.
std::string render(LogFormat format, spdlog::level::level_enum level, std::string_view payload) {
  auto formatter = rlog::make_formatter(settings(format));
  spdlog::details::log_msg msg(fixed_time(), spdlog::source_loc{}, "outbox-relay", level,
                               spdlog::string_view_t(payload.data(), payload.size()));
  spdlog::memory_buf_t buffer;
  formatter->format(msg, buffer);
  return fmt::to_string(buffer);
}

// A logger that writes into a string with our formatter, as install() sets it up for stderr.
struct CapturedLogger {
  explicit CapturedLogger(LogFormat format, spdlog::level::level_enum level = spdlog::level::trace)
      : logger("test", std::make_shared<spdlog::sinks::ostream_sink_st>(stream)) {
    logger.set_formatter(rlog::make_formatter(settings(format)));
    logger.set_level(level);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in(stream.str());
    for (std::string line; std::getline(in, line);)
      result.push_back(line);
    return result;
  }
  std::ostringstream stream;
  spdlog::logger logger;
};

}  // namespace

TEST_CASE("an event renders as the documented human line", "[log]") {
  CapturedLogger captured(LogFormat::human);
  rlog::event(captured.logger, spdlog::level::info, "start batch", {{"limit", 100}});
  auto lines = captured.lines();
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info start batch \{run_id=)" +
                                      kRunId + R"(, limit=100\})"));
}

TEST_CASE("events render exactly in both formats", "[log]") {
  auto packed = [](std::string_view name, std::initializer_list<rlog::Field> fields) {
    // Capture what event() hands to spdlog, then render it at a fixed time.
    std::ostringstream raw;
    spdlog::logger logger("raw", std::make_shared<spdlog::sinks::ostream_sink_st>(raw));
    logger.set_pattern("%v");
    rlog::event(logger, spdlog::level::info, name, fields);
    std::string text = raw.str();
    return text.substr(0, text.size() - 1);  // the pattern's newline
  };
  std::string start = packed("start batch", {{"limit", 100}});
  CHECK(render(LogFormat::human, spdlog::level::info, start) ==
        "2026-11-23T18:49:14.123Z info start batch {run_id=20261123T184914Z-3fa9c1, limit=100}\n");
  CHECK(render(LogFormat::json, spdlog::level::info, start) ==
        R"({"ts":"2026-11-23T18:49:14.123Z","level":"info","service":"outbox-relay",)"
        R"("run_id":"20261123T184914Z-3fa9c1","event":"start batch","limit":100})"
        "\n");

  std::string failed = packed("send failed", {{"message_id", std::int64_t{42}},
                                              {"attempt", 3},
                                              {"status", 503},
                                              {"error", "Service Unavailable"},
                                              {"retry", true},
                                              {"delay_s", 1.5}});
  CHECK(
      render(LogFormat::human, spdlog::level::warn, failed) ==
      "2026-11-23T18:49:14.123Z warn send failed {run_id=20261123T184914Z-3fa9c1, message_id=42, attempt=3, "
      "status=503, error=\"Service Unavailable\", retry=true, delay_s=1.5}\n");
  CHECK(
      render(LogFormat::json, spdlog::level::warn, failed) ==
      R"({"ts":"2026-11-23T18:49:14.123Z","level":"warn","service":"outbox-relay",)"
      R"("run_id":"20261123T184914Z-3fa9c1","event":"send failed","message_id":42,"attempt":3,"status":503,)"
      R"("error":"Service Unavailable","retry":true,"delay_s":1.5})"
      "\n");
}

TEST_CASE("plain spdlog lines carry the run_id too", "[log]") {
  CHECK(render(LogFormat::human, spdlog::level::debug, "pg: connected to /tmp/pg") ==
        "2026-11-23T18:49:14.123Z debug pg: connected to /tmp/pg {run_id=20261123T184914Z-3fa9c1}\n");
  CHECK(render(LogFormat::json, spdlog::level::err, "pg: connection lost") ==
        R"({"ts":"2026-11-23T18:49:14.123Z","level":"error","service":"outbox-relay",)"
        R"("run_id":"20261123T184914Z-3fa9c1","event":"log","msg":"pg: connection lost"})"
        "\n");
  // A multi-line message (libpq's end in a newline) stays one line.
  CHECK(render(LogFormat::human, spdlog::level::err, "could not connect\nis the server running?\n") ==
        "2026-11-23T18:49:14.123Z error could not connect\\nis the server running?\\n "
        "{run_id=20261123T184914Z-3fa9c1}\n");
}

TEST_CASE("JSON lines hold typed fields", "[log]") {
  CapturedLogger captured(LogFormat::json);
  rlog::event(captured.logger, spdlog::level::info, "summary",
              {{"processed", 10},
               {"sent", 8},
               {"failed", 1},
               {"dead", 1},
               {"mode", "run"},
               {"ratio", 0.8},
               {"dry_run", false},
               {"min", std::numeric_limits<std::int64_t>::min()},
               {"huge", 1e300},
               {"not_a_number", std::nan("")},
               {"infinite", -HUGE_VAL}});
  auto lines = captured.lines();
  REQUIRE(lines.size() == 1);
  auto object = parse_json_line(lines[0]);
  REQUIRE(object);
  auto& o = *object;
  CHECK(o["event"].text == "summary");
  CHECK(o["run_id"].text == kRunId);
  CHECK(o["service"].text == "outbox-relay");
  CHECK(o["level"].text == "info");
  CHECK((o["processed"].kind == 'n' && o["processed"].text == "10"));
  CHECK((o["mode"].kind == 's' && o["mode"].text == "run"));
  CHECK((o["ratio"].kind == 'n' && std::stod(o["ratio"].text) == 0.8));
  CHECK((o["dry_run"].kind == 'b' && o["dry_run"].text == "false"));
  CHECK(o["min"].text == "-9223372036854775808");
  CHECK((o["huge"].kind == 'n' && std::stod(o["huge"].text) == 1e300));
  CHECK(o["not_a_number"].kind == 's');  // JSON has no NaN or infinity
  CHECK(o["infinite"].kind == 's');
}

TEST_CASE("strings are escaped so that every JSON line is valid", "[log]") {
  struct Case {
    std::string raw;
    std::string decoded;  // what a JSON reader must get back
  };
  const Case cases[] = {
      {"quote \" and backslash \\", "quote \" and backslash \\"},
      {"line\nbreak\r\ttab\b\f", "line\nbreak\r\ttab\b\f"},
      {std::string("nul \0 bell \x07 del \x7f", 19), std::string("nul \0 bell \x07 del \x7f", 19)},
      {"h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e",
       "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e"},  // é € 𝄞 kept
      {"bad \xff byte", "bad \xef\xbf\xbd byte"},      // → U+FFFD
      {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
      {"surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
      {"too big \xf4\x90\x80\x80", "too big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"", ""},
  };
  for (const Case& c : cases) {
    INFO(c.raw);
    CapturedLogger captured(LogFormat::json);
    rlog::event(captured.logger, spdlog::level::warn, c.raw, {{c.raw, c.raw}, {"payload", c.raw}});
    captured.logger.info(c.raw);  // a plain line with the same bytes
    auto lines = captured.lines();
    REQUIRE(lines.size() == 2);
    auto event = parse_json_line(lines[0]);
    REQUIRE(event);
    CHECK((*event)["event"].text == c.decoded);
    CHECK((*event)["payload"].text == c.decoded);
    CHECK((*event)[c.decoded].text == c.decoded);
    auto plain = parse_json_line(lines[1]);
    REQUIRE(plain);
    CHECK((*plain)["msg"].text == c.decoded);
  }
}

TEST_CASE("human values are quoted when they need it", "[log]") {
  CapturedLogger captured(LogFormat::human);
  rlog::event(captured.logger, spdlog::level::warn, "send failed",
              {{"topic", "email.send"}, {"error", "connect \"refused\"\n"}, {"empty", ""}, {"bad", "\xff"}});
  auto lines = captured.lines();
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0],
             Catch::EndsWith(R"(topic=email.send, error="connect \"refused\"\n", empty="", bad=\xff})"));
}

TEST_CASE("any bytes at all give one valid JSON line", "[log]") {
  std::mt19937 random(12345);  // fixed seed: the same inputs every run
  std::uniform_int_distribution<int> byte(0, 255), length(0, 40);
  CapturedLogger captured(LogFormat::json);
  for (int i = 0; i < 500; ++i) {
    std::string bytes(static_cast<std::size_t>(length(random)), '\0');
    for (char& b : bytes)
      b = static_cast<char>(byte(random));
    if (i % 3 == 0) bytes.insert(0, 1, '\x1e');  // looks like a packed event but is not
    captured.logger.info(bytes);
    rlog::event(captured.logger, spdlog::level::info, bytes, {{"value", bytes}, {"n", i}});
  }
  auto lines = captured.lines();
  REQUIRE(lines.size() == 1000);
  for (const auto& line : lines) {
    INFO(line);
    auto object = parse_json_line(line);
    REQUIRE(object);
    CHECK((*object)["run_id"].text == kRunId);
  }
}

TEST_CASE("events below the level are not written", "[log]") {
  CapturedLogger captured(LogFormat::json, spdlog::level::info);
  rlog::event(captured.logger, spdlog::level::debug, "noise", {{"n", 1}});
  captured.logger.debug("more noise");
  rlog::event(captured.logger, spdlog::level::warn, "send failed", {{"message_id", 1}});
  auto lines = captured.lines();
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Contains(R"("event":"send failed")"));
}

TEST_CASE("install() makes the default logger use the chosen rendering", "[log]") {
  auto previous = spdlog::default_logger();
  rlog::Settings s = settings(LogFormat::json);
  s.level = spdlog::level::warn;
  rlog::install(s);
  auto installed = spdlog::default_logger();
  CHECK(installed->name() == "outbox-relay");
  CHECK(installed->level() == spdlog::level::warn);
  spdlog::set_default_logger(previous);
}

TEST_CASE("run ids are a UTC timestamp and random hex", "[log]") {
  std::string a = rlog::new_run_id();
  std::string b = rlog::new_run_id();
  CHECK_THAT(a, Catch::Matches(R"(\d{8}T\d{6}Z-[0-9a-f]{6})"));
  CHECK(a != b);  // 24 random bits: equal once in 16 million runs
}

TEST_CASE("log levels parse by name, in any case", "[log]") {
  CHECK(rlog::parse_level("trace") == spdlog::level::trace);
  CHECK(rlog::parse_level("debug") == spdlog::level::debug);
  CHECK(rlog::parse_level("INFO") == spdlog::level::info);
  CHECK(rlog::parse_level("Warn") == spdlog::level::warn);
  CHECK(rlog::parse_level("error") == spdlog::level::err);
  CHECK(rlog::parse_level("critical") == spdlog::level::critical);
  CHECK(rlog::parse_level("off") == spdlog::level::off);
  CHECK_FALSE(rlog::parse_level("warning2"));
  CHECK_FALSE(rlog::parse_level(""));
  CHECK_FALSE(rlog::parse_level("err"));
}
