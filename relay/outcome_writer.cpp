#include "relay/outcome_writer.hpp"

#include <algorithm>
#include <iterator>

#include <spdlog/spdlog.h>

#include "relay/outbox_queries.hpp"

namespace relay {

namespace {

// After a failed statement (not a broken connection, which reconnects by itself), wait this long before
// trying the same batch again, so that a persistent error does not spin.
constexpr std::chrono::milliseconds kRetryPause{1'000};

std::string_view status_text(Outcome::Status s) {
  switch (s) {
    case Outcome::Status::sent:
      return "sent";
    case Outcome::Status::failed:
      return "failed";
    case Outcome::Status::dead:
      return "dead";
    case Outcome::Status::pending:
      return "pending";
  }
  return "pending";
}

}  // namespace

OutcomeWriter::OutcomeWriter(uv_loop_t* loop, pg::ConnInfo info, pg::ConnectionOptions options,
                             std::string lease_owner)
    : conn_(loop, std::move(info), std::move(options),
            pg::ConnectionEvents{
                .on_ready = [this] { flush(); }, .on_lost = nullptr, .on_notification = nullptr}),
      retry_timer_(loop, [this] { flush(); }),
      lease_owner_(std::move(lease_owner)) {}

void OutcomeWriter::start() {
  conn_.start();
}

void OutcomeWriter::close() {
  retry_timer_.stop();
  conn_.close();
}

void OutcomeWriter::record(Outcome&& outcome) {
  buffered_.push_back(std::move(outcome));
  flush();
}

void OutcomeWriter::flush() {
  if (!writing_.empty() || buffered_.empty() || !conn_.idle() || retry_timer_.armed()) return;
  writing_.swap(buffered_);
  conn_.execute(std::string(queries::complete), batch_params(),
                [this](pg::Result&& r) { on_written(std::move(r)); });
}

pg::Params OutcomeWriter::batch_params() {
  for (auto* a : {&ids_, &statuses_, &refunds_, &http_statuses_, &errors_, &delays_})
    a->clear();
  for (const Outcome& o : writing_) {
    ids_.add(o.id);
    statuses_.add(status_text(o.status));
    refunds_.add(o.refund ? 1 : 0);
    if (o.http_status > 0) {
      http_statuses_.add(o.http_status);
    } else {
      http_statuses_.add_null();
    }
    if (o.error.empty()) {
      errors_.add_null();
    } else {
      errors_.add(o.error);
    }
    delays_.add(o.retry_delay.count());
  }
  return {ids_.str(),    statuses_.str(), refunds_.str(), http_statuses_.str(),
          errors_.str(), delays_.str(),   lease_owner_};
}

void OutcomeWriter::on_written(pg::Result&& result) {
  if (!result.ok()) {
    if (result.connection_failed()) {
      spdlog::warn("{} outcomes wait for the database to come back: {}", writing_.size(), result.error());
    } else {
      spdlog::error("recording {} outcomes failed, retrying in {} ms: {}", writing_.size(),
                    kRetryPause.count(), result.error());
      retry_timer_.start(kRetryPause);
    }
    requeue_batch();
    return;
  }
  const auto recorded = static_cast<std::uint64_t>(result.affected());
  written_ += recorded;
  if (recorded < writing_.size()) {
    const auto lost = writing_.size() - recorded;
    lease_lost_ += lost;
    spdlog::warn("{} outcomes not recorded: their lease had expired and the rows were taken over", lost);
  }
  const bool unblocked =
      std::any_of(writing_.begin(), writing_.end(), [](const Outcome& o) { return o.unblocks_successor; });
  writing_.clear();
  flush();
  if (unblocked && on_unblocked_) on_unblocked_();
  if (idle() && on_idle_) on_idle_();
}

void OutcomeWriter::requeue_batch() {
  // The failed batch is older than anything buffered since: keep it in front.
  writing_.insert(writing_.end(), std::make_move_iterator(buffered_.begin()),
                  std::make_move_iterator(buffered_.end()));
  buffered_.clear();
  buffered_.swap(writing_);
}

}  // namespace relay
