// The wake-up handshake (sql/triggers/notify.sql): writers skip NOTIFY while a relay holds the busy flag,
// and no row may ever wait for the safety sweep because of it. Every relay here sweeps only once a minute,
// so a lost wake-up shows up as a timeout. relay/busy_flag.hpp's own tests (tests/relay) check the
// handshake step by step; these run the real binary.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "pg/session.hpp"
#include "tests/integration/relay_fixture.hpp"

using namespace testkit;

namespace {

// What the triggers' WHEN clauses ask (sql/triggers/notify.sql): true when no relay holds the busy flag.
constexpr const char* kFlagDown =
    "SELECT pg_try_advisory_lock_shared(-2025047403911557836) AND "
    "pg_advisory_unlock_shared(-2025047403911557836)";

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

// A steady stream of single-row transactions, fast enough to keep a relay polling (busy mode is for 400
// transactions/s and more), until stopped or for at most 20 s.
class Stream {
 public:
  explicit Stream(const std::string& url)
      : thread_([this, url] {
          pg::Session session(pg::ConnInfo::parse(url), "stream");
          const auto until = std::chrono::steady_clock::now() + 20s;
          while (!stop_ && std::chrono::steady_clock::now() < until) {
            if (session.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('stream', '{}')").ok())
              ++rows_;
          }
        }) {}
  ~Stream() { stop(); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return rows_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> rows_{0};
  std::thread thread_;
};

// A transaction that inserted a row while a relay held the busy flag (so it skipped its NOTIFY) and stays
// open until commit(). The flag may go down between a look and the insert: then it tries again.
class OpenWriter {
 public:
  explicit OpenWriter(const std::string& url) : session_(pg::ConnInfo::parse(url), "open-writer") {
    // A session hears its own notifications: commit() tells whether the trigger did skip its NOTIFY.
    REQUIRE(session_.exec("LISTEN outbox").ok());
    // The flag was up just before the insert and just after it, so also when its trigger looked.
    const auto flag_up = [&] { return std::string(session_.exec(kFlagDown).value(0, 0)) == "f"; };
    for (int attempt = 0; attempt < 50; ++attempt) {
      REQUIRE(session_.exec("BEGIN").ok());
      const bool up_before = flag_up();
      auto inserted = session_.exec(
          "INSERT INTO outbox.messages (topic, payload) VALUES ('open', '{}') RETURNING id::text");
      REQUIRE(inserted.ok());
      if (up_before && flag_up()) {
        id_ = std::string(inserted.value(0, 0));
        return;
      }
      REQUIRE(session_.exec("ROLLBACK").ok());
    }
    FAIL("the busy flag was never up while inserting");
  }
  // Whether its trigger skipped the NOTIFY. The flag was up just before and just after the insert, but the
  // relay could have let it go and taken it again in between; then the test that uses it shows nothing.
  bool commit() {
    REQUIRE(session_.exec("COMMIT").ok());
    REQUIRE(PQconsumeInput(session_.get()) == 1);
    bool notified = false;
    while (PGnotify* n = PQnotifies(session_.get())) {
      notified = notified || n->be_pid == pid();
      PQfreemem(n);
    }
    return !notified;
  }
  const std::string& id() const { return id_; }
  int pid() const { return PQbackendPID(session_.get()); }

 private:
  pg::Session session_;
  std::string id_;
};

// Another relay, as far as notifications go: a session listening on the channel that counts what it hears.
class OtherRelay {
 public:
  explicit OtherRelay(const std::string& url) : session_(pg::ConnInfo::parse(url), "other-relay") {
    REQUIRE(session_.exec("LISTEN outbox").ok());
  }
  // Notifications that arrived since the last call, from any session but `except_pid`'s.
  int heard(int except_pid = 0) {
    REQUIRE(PQconsumeInput(session_.get()) == 1);
    int count = 0;
    while (PGnotify* n = PQnotifies(session_.get())) {
      if (n->be_pid != except_pid) ++count;
      PQfreemem(n);
    }
    return count;
  }

 private:
  pg::Session session_;
};

// Whether the relay logged a wait for open writers (not merely its start-up look, which finds none).
bool waited_for_writers(const std::string& log) {
  static const std::regex wait("waiting for [0-9]+ open writers");
  return std::regex_search(log, wait);
}

}  // namespace

TEST_CASE("writers in random bursts while the relay flips between busy and idle: every row, none late") {
  RelayFixture f;
  auto relay = f.start_relay({"--log-level", "debug"});
  REQUIRE_WITH_LOG(relay->wait_for_err("relay started", 20s), *relay);

  constexpr int kWriters = 8;
  const auto info = pg::ConnInfo::parse(f.pg.url());
  std::mutex mutex;
  // Each row's id: when its COMMIT returned, and whether it was a stray one.
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, bool>> committed;
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      try {
        pg::Session session(info, "writer");
        std::mt19937 rng(static_cast<unsigned>(w) * 7919U + 17U);
        std::uniform_int_distribution<int> burst(1, 15);
        std::uniform_int_distribution<int> restart_jitter_ms(0, 15);
        std::uniform_int_distribution<int> stray_at_ms(60, 350);
        const auto insert = [&](bool stray) {
          auto r = session.exec(
              "INSERT INTO outbox.messages (topic, payload) VALUES ('burst', '{}') RETURNING id");
          const auto at = std::chrono::steady_clock::now();
          if (!r.ok()) throw std::runtime_error(r.error());
          std::lock_guard lock(mutex);
          committed.emplace(std::string(r.value(0, 0)), std::make_pair(at, stray));
        };
        // Periods of 800 ms: all writers burst at its start (a few ms apart), which makes the relay busy;
        // then it catches up, runs dry and goes idle, while each writer inserts one stray row at a random
        // moment between 60 and 350 ms, racing with that switch. A stray row whose wake-up was lost would
        // wait for the next burst's polling (450 ms later at least) if not for the 60 s sweep.
        constexpr auto kPeriod = 800ms;
        const auto start = std::chrono::steady_clock::now();
        for (auto period = start; period < start + 4s; period += kPeriod) {
          std::this_thread::sleep_until(period + std::chrono::milliseconds(restart_jitter_ms(rng)));
          for (int n = burst(rng); n > 0; --n)
            insert(false);
          std::this_thread::sleep_until(period + std::chrono::milliseconds(stray_at_ms(rng)));
          insert(true);
        }
      } catch (...) {
        failed = true;
      }
    });
  }
  for (auto& t : writers)
    t.join();
  REQUIRE_FALSE(failed);
  const auto total = static_cast<std::int64_t>(committed.size());
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", total, 30s), *relay);
  CHECK(f.sink.request_count() == static_cast<std::size_t>(total));
  std::chrono::milliseconds slowest_stray{0};
  for (const auto& r : f.sink.requests()) {
    const auto row = committed.find(r.header("webhook-id"));
    REQUIRE(row != committed.end());
    if (row->second.second)
      slowest_stray =
          std::max(slowest_stray,
                   std::chrono::duration_cast<std::chrono::milliseconds>(r.arrived - row->second.first));
  }
  // Each stray row arrived before the next burst could have found it.
  CHECK(slowest_stray < 400ms);

  // The test only proves something if the relay did flip.
  const std::string log = relay->err();
  INFO(occurrences(log, "wake-up flag raising -> up")
       << " raised, " << occurrences(log, "open writers") << " waits for open writers");
  CHECK(occurrences(log, "wake-up flag raising -> up") >= 2);
  CHECK(occurrences(log, "wake-up flag lowering -> down") >= 2);
}

TEST_CASE("a busy relay finds rows inserted without a NOTIFY by itself, promptly") {
  RelayFixture f;
  auto relay = f.start_relay({"--log-level", "debug"});
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  Stream stream(f.pg.url());
  // The relay raised the flag: from now on writers skip their NOTIFY.
  const bool busy = wait_until([&] { return f.scalar(kFlagDown) == "f"; }, 10s);
  const auto inserted = std::chrono::steady_clock::now();
  const auto marker =
      f.scalar("INSERT INTO outbox.messages (topic, payload) VALUES ('marker', '{}') RETURNING id::text");
  const bool marker_sent = f.wait_count("id = " + marker + " AND status = 'sent'", 1, 10s);
  const auto found_after = std::chrono::steady_clock::now() - inserted;
  const int streamed = stream.stop();
  REQUIRE_WITH_LOG(busy, *relay);
  REQUIRE_WITH_LOG(marker_sent, *relay);
  // Found by the busy relay's own polling, long before the sweep (1 min).
  CHECK(found_after < 1s);
  INFO("streamed " << streamed << " rows");
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", streamed + 1, 30s), *relay);
  // The stream is over: the relay goes back to notifications.
  REQUIRE_WITH_LOG(wait_until([&] { return f.scalar(kFlagDown) == "t"; }, 10s), *relay);
}

TEST_CASE("a writer open across the switch to idle: nobody waits for it, and its row goes as it commits") {
  // The open writer may, rarely, have notified after all (see OpenWriter::commit): that run shows
  // nothing, and is made again.
  bool shown = false;
  for (int run = 0; run < 3 && !shown; ++run) {
    RelayFixture f;
    auto relay = f.start_relay({"--log-level", "debug"});
    REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
    Stream stream(f.pg.url());
    REQUIRE_WITH_LOG(wait_until([&] { return f.scalar(kFlagDown) == "f"; }, 10s), *relay);
    // Inserted while the flag is up, so without a NOTIFY, and still open when the relay goes idle.
    OpenWriter open(f.pg.url());
    const int streamed = stream.stop();
    REQUIRE_WITH_LOG(wait_until([&] { return f.scalar(kFlagDown) == "t"; }, 10s), *relay);
    REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", streamed, 30s), *relay);

    // Another writer goes straight through while the relay waits for the open one, and notifies.
    pg::Session writer(pg::ConnInfo::parse(f.pg.url()), "writer");
    REQUIRE(writer.exec("SET statement_timeout = '3s'").ok());
    const auto started = std::chrono::steady_clock::now();
    auto inserted = writer.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('next', '{}')");
    INFO(inserted.error());
    REQUIRE(inserted.ok());
    CHECK(std::chrono::steady_clock::now() - started < 1s);
    REQUIRE_WITH_LOG(f.wait_count("topic = 'next' AND status = 'sent'", 1, 10s), *relay);

    // The open writer's row is found once it commits: the relay was waiting for exactly that.
    const auto committed = std::chrono::steady_clock::now();
    const bool skipped_notify = open.commit();
    REQUIRE_WITH_LOG(f.wait_count("id = " + open.id() + " AND status = 'sent'", 1, 10s), *relay);
    CHECK(std::chrono::steady_clock::now() - committed < 2s);
    CHECK(waited_for_writers(relay->err()));
    shown = skipped_notify;
  }
  CHECK(shown);
}

TEST_CASE("a relay killed while busy: its flag goes with its session, and writers notify again") {
  RelayFixture f;
  auto relay = f.start_relay();
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  Stream stream(f.pg.url());
  REQUIRE_WITH_LOG(wait_until([&] { return f.scalar(kFlagDown) == "f"; }, 10s), *relay);
  relay->signal(SIGKILL);
  REQUIRE(relay->wait(10s).has_value());
  CHECK(wait_until([&] { return f.scalar(kFlagDown) == "t"; }, 10s));
  stream.stop();

  // The rows the dead relay had claimed wait for their lease; a new row goes at once.
  auto next = f.start_relay();
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *next);
  const auto marker =
      f.scalar("INSERT INTO outbox.messages (topic, payload) VALUES ('marker', '{}') RETURNING id::text");
  REQUIRE_WITH_LOG(f.wait_count("id = " + marker + " AND status = 'sent'", 1, 5s), *next);
}

TEST_CASE(
    "a relay stopping while busy waits for the writers that skipped their NOTIFY, then wakes the others") {
  // The open writer may, rarely, have notified after all (see OpenWriter::commit): that run shows
  // nothing, and is made again.
  bool shown = false;
  for (int run = 0; run < 3 && !shown; ++run) {
    RelayFixture f;
    auto relay = f.start_relay({"--log-level", "debug"});
    REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
    OtherRelay other(f.pg.url());
    // Notifications from any session but the open writer's (whose own would prove nothing).
    int open_writer_pid = 0;
    const auto notified = [&] { return other.heard(open_writer_pid) > 0; };

    Stream stream(f.pg.url());
    REQUIRE_WITH_LOG(wait_until([&] { return f.scalar(kFlagDown) == "f"; }, 10s), *relay);
    OpenWriter open(f.pg.url());
    open_writer_pid = open.pid();
    // Stopped while still busy: the stream keeps it so until the signal.
    relay->signal(SIGTERM);
    REQUIRE_WITH_LOG(relay->wait_for_err("stopping", 10s), *relay);
    stream.stop();
    REQUIRE_WITH_LOG(wait_until([&] { return f.scalar(kFlagDown) == "t"; }, 10s), *relay);
    // The stream's last writers notified by themselves; let those notifications pass.
    REQUIRE(wait_until([&] { return !notified() && !wait_until(notified, 200ms); }, 5s));

    // The relay is still there, waiting for the open writer; its commit sends no NOTIFY of its own.
    CHECK_FALSE(relay->wait(0ms).has_value());
    const bool skipped_notify = open.commit();
    REQUIRE_WITH_LOG(wait_until(notified, 5s), *relay);
    REQUIRE_WITH_LOG(relay->wait(10s) == 0, *relay);
    CHECK(waited_for_writers(relay->err()));
    CHECK(relay->err().find("writers still open at exit") == std::string::npos);
    shown = skipped_notify;
  }
  CHECK(shown);
}

TEST_CASE(
    "a busy relay whose requests leave no room to claim lets the flag go, so that writers notify others") {
  RelayFixture f;
  // Each request hangs: once its four slots (and the rows claimed ahead) are taken, the relay cannot claim.
  f.sink.set_handler([](const RecordedRequest&) { return Reply::hang(); });
  // Requests time out long after the test, and the lease lets four more rows be claimed ahead.
  auto relay = f.start_relay(
      {"--log-level", "debug", "--concurrency", "4", "--http-timeout", "30s", "--lease", "120s"});
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  OtherRelay other(f.pg.url());
  Stream stream(f.pg.url());
  REQUIRE_WITH_LOG(relay->wait_for_err("wake-up flag raising -> up", 10s), *relay);
  // Writers notify again while the stream goes on: another relay on the table hears of the rows.
  REQUIRE_WITH_LOG(wait_until([&] { return f.scalar(kFlagDown) == "t"; }, 10s), *relay);
  REQUIRE_WITH_LOG(f.wait_count("status = 'processing'", 8, 10s), *relay);
  const auto raised = occurrences(relay->err(), "wake-up flag raising -> up");
  other.heard();
  int heard = 0;
  CHECK(wait_until([&] { return (heard += other.heard()) >= 20; }, 10s));
  // It stays so while the relay cannot claim, though notifications keep coming while requests are out.
  CHECK(f.scalar(kFlagDown) == "t");
  CHECK(occurrences(relay->err(), "wake-up flag raising -> up") == raised);
  stream.stop();
}

TEST_CASE("a relay whose requests all hang does not take the flag, though it could claim rows ahead") {
  RelayFixture f;
  f.sink.set_handler([](const RecordedRequest&) { return Reply::hang(); });
  auto relay = f.start_relay(
      {"--log-level", "debug", "--concurrency", "4", "--http-timeout", "30s", "--lease", "120s"});
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  // Four slots taken and no row waiting: the lease would allow four more, but a claim waits for a free slot.
  f.insert_messages(4);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(4, 10s), *relay);
  OtherRelay other(f.pg.url());
  Stream stream(f.pg.url());
  // Every insert notifies (other relays hear of the rows), and the relay never turns busy over them.
  int heard = 0;
  CHECK(wait_until([&] { return (heard += other.heard()) >= 50; }, 10s));
  CHECK(f.scalar(kFlagDown) == "t");
  CHECK(occurrences(relay->err(), "wake-up flag raising") == 0);
  stream.stop();
}
