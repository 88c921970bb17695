#include "relay/retention.hpp"

#include "relay/log.hpp"

namespace relay {
namespace {

std::optional<std::chrono::milliseconds> age(std::chrono::milliseconds retain) {
  if (retain.count() == 0) return std::nullopt;  // zero: keep those rows
  return retain;
}

pg::ConnectionOptions connection_options(const Config& config) {
  pg::ConnectionOptions o;
  o.name = "retention";
  o.application_name = config.service_name + ":retention";
  o.connect_timeout = config.connect_timeout;
  // A batch is small; one that takes this long is stuck behind a lock, and the next pass tries again.
  o.session_setup.emplace_back("SET statement_timeout = '30s'");
  return o;
}

}  // namespace

Retention::Retention(uv_loop_t* loop, const pg::ConnInfo& info, const Config& config,
                     std::chrono::milliseconds interval)
    : ages_{.sent = age(config.retain_sent), .dead = age(config.retain_dead)},
      interval_(interval),
      conn_(loop, info, connection_options(config),
            pg::ConnectionEvents{
                .on_ready = [this] { on_ready(); }, .on_lost = nullptr, .on_notification = nullptr}),
      timer_(loop, [this] { begin_pass(); }) {
  // The pass timer alone never keeps a loop running: the daemon's own work does.
  timer_.unref();
}

void Retention::start() {
  if (!enabled() || phase_ != Phase::stopped) return;
  phase_ = Phase::waiting;
  log::event(spdlog::level::info, "retention started",
             {{"retain_sent_ms", ages_.sent ? ages_.sent->count() : 0},
              {"retain_dead_ms", ages_.dead ? ages_.dead->count() : 0},
              {"interval_ms", interval_.count()}});
  conn_.start();
}

void Retention::stop() {
  phase_ = Phase::stopped;
  timer_.stop();
  conn_.close();
}

void Retention::on_ready() {
  // After the first connect and after every reconnect: a pass that a lost connection cut short resumes now
  // rather than a whole interval later.
  if (phase_ == Phase::waiting) begin_pass();
}

void Retention::begin_pass() {
  if (phase_ != Phase::waiting) return;
  timer_.stop();
  phase_ = Phase::deleting;
  pass_ = {};
  delete_batch();
}

void Retention::delete_batch() {
  conn_.execute(purge_sql::delete_batch(), purge_sql::batch_params(ages_),
                [this](pg::Result&& result) { on_batch(std::move(result)); });
}

void Retention::on_batch(pg::Result&& result) {
  if (phase_ != Phase::deleting) return;
  if (!result.ok()) {
    log::event(spdlog::level::warn, "retention failed",
               {{"error", result.error()}, {"retry_in_ms", interval_.count()}});
    return end_pass();
  }
  const auto sent = static_cast<std::uint64_t>(result.int64(0, 0));
  const auto dead = static_cast<std::uint64_t>(result.int64(0, 1));
  pass_.sent += sent;
  pass_.dead += dead;
  totals_.sent += sent;
  totals_.dead += dead;
  // A full batch of either kind means more may be waiting: go on at once, one short transaction at a time.
  const auto full = static_cast<std::uint64_t>(purge_sql::kBatchRows);
  if (sent == full || dead == full) return delete_batch();
  end_pass();
}

void Retention::end_pass() {
  ++totals_.passes;
  if (pass_.sent + pass_.dead > 0) {
    log::event(spdlog::level::info, "retention deleted", {{"sent", pass_.sent}, {"dead", pass_.dead}});
  }
  phase_ = Phase::waiting;
  timer_.start(interval_);
}

}  // namespace relay
