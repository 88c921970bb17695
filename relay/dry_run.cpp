#include "relay/dry_run.hpp"

#include <algorithm>

#include "http/url.hpp"
#include "relay/cli.hpp"
#include "relay/command_session.hpp"
#include "relay/log.hpp"

namespace relay {
namespace {

// The rows the next claim would take (queries::claim, without its locks and its UPDATE): due pending rows,
// plus failed rows whose retry time has come (the sweep makes them pending first), minus those held back by
// an earlier message of their ordering key; highest priority first, then by id.
constexpr const char* kDueBatchSql = R"sql(
SELECT c.id, c.topic, coalesce(c.target_url, ''), c.payload::text
  FROM outbox.messages AS c
 WHERE c.status IN ('pending', 'failed')
   AND c.next_attempt_at <= now()
   AND (c.ordering_key IS NULL OR NOT EXISTS (
         SELECT 1 FROM outbox.messages AS h
          WHERE h.ordering_key = c.ordering_key
            AND (h.status = 'processing'
                 OR (h.id < c.id AND h.status IN ('pending', 'failed')))))
 ORDER BY c.priority DESC, c.id
 LIMIT $1
)sql";

}  // namespace

int DryRun::batch_limit() const {
  return config_.limit > 0 ? std::min(config_.limit, config_.batch_size) : config_.batch_size;
}

std::string DryRun::destination(std::string_view target_url) const {
  if (!target_url.empty()) return http::redact_url(target_url);
  if (!config_.target.empty()) return http::redact_url(config_.target);
  return "none (no target_url and no --target: the row would go dead)";
}

int DryRun::run() {
  const char* command = config_.command == Command::drain ? "drain" : "run";
  return run_with_session(config_, {.command = command, .read_only = true}, [&](pg::Session& session) {
    const int limit = batch_limit();
    log::event(spdlog::level::info, "start batch", {{"limit", limit}, {"mode", "dry-run"}});
    const auto rows = require_ok(session.exec(kDueBatchSql, {std::to_string(limit)}), "reading the due rows");
    for (int row = 0; row < rows.rows(); ++row) {
      log::event(spdlog::level::info, "dry-run payload",
                 {{"message_id", rows.int64(row, 0)},
                  {"topic", rows.value(row, 1)},
                  {"destination", destination(rows.value(row, 2))},
                  {"payload", rows.value(row, 3)}});
    }
    log::event(spdlog::level::info, "summary",
               {{"processed", rows.rows()}, {"sent", 0}, {"failed", 0}, {"dead", 0}, {"mode", "dry-run"}});
    return exit_code::ok;
  });
}

}  // namespace relay
