#include "relay/status_report.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "relay/log_text.hpp"

namespace relay::status {
namespace {

// Longer errors are cut in the tables (never in JSON): one row per line keeps the table readable.
constexpr std::size_t kErrorColumnBytes = 100;

// One line per row, columns padded to their widest cell; numbers right-aligned. Cells are escaped so that
// no value (a topic, an error text) can break a line or forge a column.
class Table {
 public:
  Table(std::vector<std::string> headers, std::vector<bool> numeric) : numeric_(std::move(numeric)) {
    add(std::move(headers));
  }

  void add(std::vector<std::string> cells) {
    for (std::string& cell : cells) {
      std::string safe;
      log::text::append_human(safe, cell, false);
      cell = std::move(safe);
    }
    rows_.push_back(std::move(cells));
  }

  void render(std::string& out) const {
    std::vector<std::size_t> widths(numeric_.size(), 0);
    for (const auto& row : rows_) {
      for (std::size_t i = 0; i < row.size(); ++i)
        widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        const bool last = i + 1 == row.size();
        if (i > 0) line += "  ";
        if (numeric_[i]) {
          line += fmt::format("{:>{}}", row[i], widths[i]);
        } else {
          line += last ? row[i] : fmt::format("{:<{}}", row[i], widths[i]);
        }
      }
      out += line + "\n";
    }
  }

 private:
  std::vector<bool> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

std::string cut(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return std::string(text);
  std::size_t end = limit;
  // Never in the middle of a UTF-8 sequence.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return std::string(text.substr(0, end)) + "...";
}

// "850ms", "12s", "3m 05s", "2h 07m", "3d 04h": precise enough to see how far behind the relay is.
std::string age_text(std::int64_t ms) {
  const std::int64_t s = ms / 1000;
  if (s < 1) return fmt::format("{}ms", ms);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h {:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d {:02}h", s / 86400, s % 86400 / 3600);
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

void append_counts_json(std::string& out, const Counts& counts) {
  out += "{";
  for (std::size_t i = 0; i < kStatuses.size(); ++i)
    out += fmt::format("\"{}\":{},", kStatuses[i], counts.by_status[i]);
  out += fmt::format("\"total\":{}}}", counts.total());
}

void append_member(std::string& out, std::string_view key, std::string_view text) {
  log::text::append_json_string(out, key);
  out += ':';
  log::text::append_json_string(out, text);
}

void append_dead_json(std::string& out, const DeadRow& row) {
  out += fmt::format("{{\"id\":{},", row.id);
  append_member(out, "topic", row.topic);
  out += fmt::format(",\"attempts\":{},\"last_status\":{},", row.attempts,
                     row.last_status ? std::to_string(*row.last_status) : "null");
  append_member(out, "last_error", row.last_error);
  out += ',';
  append_member(out, "dead_since", row.dead_since);
  out += '}';
}

void render_status_table(const Report& report, std::string& out) {
  Table table({"STATUS", "ROWS"}, {false, true});
  for (std::size_t i = 0; i < kStatuses.size(); ++i)
    table.add({kStatuses[i], std::to_string(report.counts.by_status[i])});
  table.add({"total", std::to_string(report.counts.total())});
  table.render(out);
}

void render_topic_table(const Report& report, std::string& out) {
  if (report.topics.empty()) return;
  std::vector<std::string> headers{"TOPIC"};
  for (const char* status : kStatuses)
    headers.push_back(upper(status));
  headers.push_back("TOTAL");
  std::vector<bool> numeric(headers.size(), true);
  numeric[0] = false;
  Table table(std::move(headers), std::move(numeric));
  for (const TopicCounts& topic : report.topics) {
    std::vector<std::string> cells{topic.topic};
    for (std::int64_t n : topic.counts.by_status)
      cells.push_back(std::to_string(n));
    cells.push_back(std::to_string(topic.counts.total()));
    table.add(std::move(cells));
  }
  out += "\n";
  table.render(out);
}

void render_due_and_in_flight(const Report& report, std::string& out) {
  out += fmt::format("\nDue now: {}", report.due);
  if (report.oldest_due_ms)
    out += fmt::format("; the oldest has been due for {}", age_text(*report.oldest_due_ms));
  const std::int64_t in_flight = report.counts.by_status[*status_index("processing")];
  out += fmt::format("\nIn flight: {}, {} with an expired lease\n", in_flight, report.expired_leases());
  if (report.owners.empty()) return;
  Table table({"LEASE OWNER", "ROWS", "EXPIRED"}, {false, true, true});
  for (const LeaseOwner& owner : report.owners)
    table.add({owner.owner, std::to_string(owner.rows), std::to_string(owner.expired)});
  table.render(out);
}

void render_dead_table(const Report& report, std::string& out) {
  const std::int64_t dead = report.counts.by_status[*status_index("dead")];
  out += fmt::format("\nDead: {}", dead);
  if (report.dead.empty()) {
    out += "\n";
    return;
  }
  out += fmt::format("; the newest {}:\n", report.dead.size());
  Table table({"ID", "TOPIC", "ATTEMPTS", "HTTP", "DEAD SINCE", "LAST ERROR"},
              {true, false, true, true, false, false});
  for (const DeadRow& row : report.dead) {
    table.add({std::to_string(row.id), row.topic, std::to_string(row.attempts),
               row.last_status ? std::to_string(*row.last_status) : "-", row.dead_since,
               cut(row.last_error, kErrorColumnBytes)});
  }
  table.render(out);
}

}  // namespace

std::int64_t Counts::total() const {
  return std::accumulate(by_status.begin(), by_status.end(), std::int64_t{0});
}

std::int64_t Report::expired_leases() const {
  std::int64_t n = 0;
  for (const LeaseOwner& owner : owners)
    n += owner.expired;
  return n;
}

std::optional<std::size_t> status_index(std::string_view status) {
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (status == kStatuses[i]) return i;
  }
  return std::nullopt;
}

std::string render_json(const Report& report) {
  std::string out = fmt::format("{{\"schema_version\":{},\"by_status\":", report.schema_version);
  append_counts_json(out, report.counts);
  out += ",\"by_topic\":[";
  for (std::size_t i = 0; i < report.topics.size(); ++i) {
    out += i == 0 ? "{" : ",{";
    append_member(out, "topic", report.topics[i].topic);
    out += ",\"counts\":";
    append_counts_json(out, report.topics[i].counts);
    out += "}";
  }
  out += fmt::format("],\"due\":{{\"rows\":{},\"oldest_due_ms\":{}}}", report.due,
                     report.oldest_due_ms ? std::to_string(*report.oldest_due_ms) : "null");
  out += fmt::format(",\"in_flight\":{{\"rows\":{},\"expired_leases\":{},\"owners\":[",
                     report.counts.by_status[*status_index("processing")], report.expired_leases());
  for (std::size_t i = 0; i < report.owners.size(); ++i) {
    out += i == 0 ? "{" : ",{";
    append_member(out, "lease_owner", report.owners[i].owner);
    out += fmt::format(",\"rows\":{},\"expired\":{}}}", report.owners[i].rows, report.owners[i].expired);
  }
  out += "]},\"dead\":{\"rows\":" + std::to_string(report.counts.by_status[*status_index("dead")]) +
         ",\"newest\":[";
  for (std::size_t i = 0; i < report.dead.size(); ++i) {
    if (i > 0) out += ',';
    append_dead_json(out, report.dead[i]);
  }
  return out + "]}}\n";
}

std::string render_text(const Report& report) {
  std::string out = fmt::format("Schema version {}\n\n", report.schema_version);
  render_status_table(report, out);
  render_topic_table(report, out);
  render_due_and_in_flight(report, out);
  render_dead_table(report, out);
  return out;
}

}  // namespace relay::status
