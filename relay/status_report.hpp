#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// What `outbox-relay status` shows, and its two renderings: tables for people, one JSON object for scripts.
// Pure data and text: the queries that fill it are in status_command.cpp.
namespace relay::status {

// The message statuses in the order of their life, as the schema's enum names them.
inline constexpr std::array<const char*, 5> kStatuses = {"pending", "processing", "sent", "failed", "dead"};

struct Counts {
  std::array<std::int64_t, kStatuses.size()> by_status{};  // indexed like kStatuses
  std::int64_t total() const;
};

struct TopicCounts {
  std::string topic;
  Counts counts;
};

struct LeaseOwner {
  std::string owner;
  std::int64_t rows = 0;
  std::int64_t expired = 0;  // rows whose lease ran out: the sweep will put them back to pending
};

struct DeadRow {
  std::int64_t id = 0;
  std::string topic;
  std::int64_t attempts = 0;
  std::optional<std::int64_t> last_status;  // HTTP status; none for a transport error
  std::string last_error;
  std::string dead_since;  // UTC, ISO 8601
};

struct Report {
  int schema_version = 0;
  Counts counts;
  std::vector<TopicCounts> topics;            // by topic name
  std::int64_t due = 0;                       // pending or failed rows whose next_attempt_at has come
  std::optional<std::int64_t> oldest_due_ms;  // how long the longest-waiting due row has been due
  std::vector<LeaseOwner> owners;             // of the rows in flight, most rows first
  std::vector<DeadRow> dead;                  // the newest dead rows, at most --top

  std::int64_t expired_leases() const;
};

// Finds the index of `status` in kStatuses; nullopt for a name the schema does not have.
std::optional<std::size_t> status_index(std::string_view status);

std::string render_json(const Report& report);
std::string render_text(const Report& report);

}  // namespace relay::status
