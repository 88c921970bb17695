#include "relay/outcome_writer.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

#include <spdlog/spdlog.h>

#include "relay/outbox_queries.hpp"

namespace relay {

namespace {

// After a refused statement (not a broken connection, which reconnects by itself), wait this long before
// trying again, so that a persistent error does not spin.
constexpr std::chrono::milliseconds kRetryPause{1'000};
// Refusals of a lone outcome before it is given up.
constexpr int kMaxLoneRefusals = 3;
constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();
// While sends are in flight, a batch shorter than kGatherRows waits up to kGatherWait for more outcomes:
// the database's cost per UPDATE statement is several times its cost per row, and the wait only delays
// when the table shows the outcome, never a delivery.
constexpr std::size_t kGatherRows = 64;
constexpr std::chrono::milliseconds kGatherWait{5};

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
                             std::string lease_owner, int default_max_attempts, Events events)
    : conn_(loop, std::move(info), std::move(options),
            pg::ConnectionEvents{.on_ready = [this] { flush(); },
                                 .on_lost =
                                     [this](std::string_view reason) {
                                       if (events_.on_lost) events_.on_lost(reason);
                                     },
                                 .on_notification = nullptr}),
      retry_timer_(loop, [this] { flush(); }),
      gather_timer_(loop, [this] { flush(); }),
      lease_owner_(std::move(lease_owner)),
      default_max_attempts_(std::to_string(default_max_attempts)),
      events_(std::move(events)),
      batch_limit_(kUnlimited) {}

void OutcomeWriter::start() {
  conn_.start();
}

void OutcomeWriter::close() {
  retry_timer_.stop();
  gather_timer_.stop();
  conn_.close();
}

void OutcomeWriter::record(Outcome&& outcome, bool more_coming) {
  urgent_ = urgent_ || outcome.unblocks_successor;
  more_coming_ = more_coming;
  buffered_.push_back(std::move(outcome));
  flush_or_gather();
}

void OutcomeWriter::flush_or_gather() {
  if (!writing_.empty() || buffered_.empty()) return;
  if (urgent_ || !more_coming_ || buffered_.size() >= kGatherRows) {
    flush();
  } else if (!gather_timer_.armed()) {
    gather_timer_.start(kGatherWait);
  }
}

void OutcomeWriter::flush() {
  if (!writing_.empty() || buffered_.empty() || !conn_.idle() || retry_timer_.armed()) return;
  gather_timer_.stop();
  urgent_ = false;
  const std::size_t limit = std::min(batch_limit_, kMaxBatch);
  if (buffered_.size() <= limit) {
    writing_.swap(buffered_);
  } else {
    const auto take = static_cast<std::ptrdiff_t>(limit);
    writing_.assign(std::make_move_iterator(buffered_.begin()),
                    std::make_move_iterator(buffered_.begin() + take));
    buffered_.erase(buffered_.begin(), buffered_.begin() + take);
    urgent_ = std::any_of(buffered_.begin(), buffered_.end(),
                          [](const Outcome& o) { return o.unblocks_successor; });
  }
  conn_.execute(queries::complete, batch_params(), [this](pg::Result&& r) { on_written(std::move(r)); });
}

pg::Params OutcomeWriter::batch_params() {
  for (auto* a : {&ids_, &attempts_, &statuses_, &refunds_, &http_statuses_, &errors_, &delays_})
    a->clear();
  for (const Outcome& o : writing_) {
    ids_.add(o.id);
    attempts_.add(o.attempt);
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
  return {ids_.str(),    attempts_.str(), statuses_.str(), refunds_.str(),       http_statuses_.str(),
          errors_.str(), delays_.str(),   lease_owner_,    default_max_attempts_};
}

void OutcomeWriter::on_written(pg::Result&& result) {
  if (!result.ok()) {
    if (result.connection_failed()) {
      spdlog::warn("{} outcomes wait for the database to come back: {}", writing_.size(), result.error());
      requeue_batch();
    } else {
      on_refused(result);
    }
    return;
  }
  lone_refusals_ = 0;
  if (batch_limit_ != kUnlimited)
    batch_limit_ = batch_limit_ > kUnlimited / 2 ? kUnlimited : batch_limit_ * 2;

  const auto recorded = static_cast<std::uint64_t>(result.int64(0, 0));
  written_ += recorded;
  if (recorded < writing_.size()) {
    const auto lost = writing_.size() - recorded;
    lease_lost_ += lost;
    spdlog::warn(
        "{} outcomes not recorded: the rows were no longer held by this relay in that attempt (lease "
        "expired and taken over)",
        lost);
  }
  Recorded report;
  report.unblocked_successor =
      std::any_of(writing_.begin(), writing_.end(), [](const Outcome& o) { return o.unblocks_successor; });
  if (!result.is_null(0, 1)) report.next_retry_in = std::chrono::milliseconds(result.int64(0, 1));
  writing_.clear();
  flush_or_gather();
  if (events_.on_recorded) events_.on_recorded(report);
  if (idle() && events_.on_idle) events_.on_idle();
}

void OutcomeWriter::on_refused(const pg::Result& result) {
  if (writing_.size() == 1 && ++lone_refusals_ >= kMaxLoneRefusals) {
    const Outcome& o = writing_.front();
    spdlog::error(
        "giving up recording the outcome of message {} after {} refusals; the row keeps its lease "
        "until it expires, then it is retried: {}",
        o.id, lone_refusals_, result.error());
    lone_refusals_ = 0;
    writing_.clear();
    flush();
    if (idle() && events_.on_idle) events_.on_idle();
    return;
  }
  spdlog::error("recording {} outcomes failed, retrying in {} ms{}: {}", writing_.size(), kRetryPause.count(),
                writing_.size() > 1 ? " in smaller batches" : "", result.error());
  batch_limit_ = std::max<std::size_t>(1, writing_.size() / 2);
  retry_timer_.start(kRetryPause);
  requeue_batch();
}

void OutcomeWriter::requeue_batch() {
  // The failed batch is older than anything buffered since: keep it in front.
  writing_.insert(writing_.end(), std::make_move_iterator(buffered_.begin()),
                  std::make_move_iterator(buffered_.end()));
  buffered_.clear();
  buffered_.swap(writing_);
}

}  // namespace relay
