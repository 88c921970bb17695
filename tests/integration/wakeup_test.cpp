// The wake-up handshake (sql/triggers/notify.sql): writers skip NOTIFY while a relay says it is busy, and no
// row may ever wait for the safety sweep because of it. Every relay here sweeps only once a minute, so a
// lost wake-up shows up as a timeout.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "pg/session.hpp"
#include "tests/integration/relay_fixture.hpp"

using namespace testkit;

namespace {

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("writers in random bursts while the relay flips between busy and idle: every row, none late") {
  RelayFixture f;
  auto relay = f.start_relay({"--log-level", "debug"});
  REQUIRE_WITH_LOG(relay->wait_for_err("relay started", 20s), *relay);

  constexpr int kWriters = 8;
  const auto info = pg::ConnInfo::parse(f.pg.url());
  std::mutex mutex;
  std::map<std::string, std::chrono::steady_clock::time_point> committed;
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      try {
        pg::Session session(info, "writer");
        std::mt19937 rng(static_cast<unsigned>(w) * 7919U + 17U);
        std::uniform_int_distribution<int> burst(1, 15);
        std::uniform_int_distribution<int> restart_jitter_ms(0, 15);
        std::uniform_int_distribution<int> stray_at_ms(60, 290);
        const auto insert = [&] {
          auto r = session.exec(
              "INSERT INTO outbox.messages (topic, payload) VALUES ('burst', '{}') RETURNING id");
          const auto at = std::chrono::steady_clock::now();
          if (!r.ok()) throw std::runtime_error(r.error());
          std::lock_guard lock(mutex);
          committed.emplace(std::string(r.value(0, 0)), at);
        };
        // Periods of 300 ms: all writers burst at its start (a few ms apart), which makes the relay busy;
        // then it catches up, runs dry and goes idle, while each writer inserts one stray row at a random
        // moment of the quiet part, racing with that switch. Every period flips the relay at least once.
        constexpr auto kPeriod = 300ms;
        const auto start = std::chrono::steady_clock::now();
        for (auto period = start; period < start + 4s; period += kPeriod) {
          std::this_thread::sleep_until(period + std::chrono::milliseconds(restart_jitter_ms(rng)));
          for (int n = burst(rng); n > 0; --n)
            insert();
          std::this_thread::sleep_until(period + std::chrono::milliseconds(stray_at_ms(rng)));
          insert();
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
  for (const auto& r : f.sink.requests())
    REQUIRE(committed.count(r.header("webhook-id")) == 1);

  // A row whose wake-up was lost would wait for the 60 s sweep: all of them arrived within 30 s of the end.
  CHECK(f.sink.request_count() == static_cast<std::size_t>(total));
  // The test only proves something if the relay did flip.
  const std::string log = relay->err();
  CHECK(occurrences(log, "wake-up flag raised") >= 1);
  INFO(occurrences(log, "wake-up flag raised")
       << " raised (or renewed), " << occurrences(log, "wake-up flag kept") << " kept");
  CHECK(occurrences(log, "wake-up flag cleared") >= 4);
}

TEST_CASE("a busy relay finds rows inserted without a NOTIFY by itself, promptly") {
  RelayFixture f;
  auto relay = f.start_relay({"--log-level", "debug"});
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  // A steady stream of single-row transactions, fast enough to keep the relay polling (busy mode is for
  // 400 transactions/s and more), for at most 20 s.
  std::atomic<bool> stop{false};
  std::atomic<int> streamed{0};
  std::thread stream([&] {
    pg::Session session(pg::ConnInfo::parse(f.pg.url()), "stream");
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!stop && std::chrono::steady_clock::now() < until) {
      if (session.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('stream', '{}')").ok())
        ++streamed;
    }
  });
  // The relay raised the flag: from now on writers skip their NOTIFY.
  const bool busy = wait_until(
      [&] { return f.scalar("SELECT busy_until > clock_timestamp() FROM outbox.relay_wakeup") == "t"; }, 10s);
  const auto inserted = std::chrono::steady_clock::now();
  const auto marker =
      f.scalar("INSERT INTO outbox.messages (topic, payload) VALUES ('marker', '{}') RETURNING id::text");
  const bool marker_sent = f.wait_count("id = " + marker + " AND status = 'sent'", 1, 10s);
  const auto found_after = std::chrono::steady_clock::now() - inserted;
  stop = true;
  stream.join();
  REQUIRE_WITH_LOG(busy, *relay);
  REQUIRE_WITH_LOG(marker_sent, *relay);
  // Found by the busy relay's own polling, well before the flag would have expired (2 s) and long before
  // the sweep (1 min).
  CHECK(found_after < 1s);
  INFO("streamed " << streamed.load() << " rows");
  REQUIRE_WITH_LOG(f.wait_count("status = 'sent'", streamed.load() + 1, 30s), *relay);
}

TEST_CASE("a REPEATABLE READ writer notifies even when the flag says busy") {
  RelayFixture f;
  auto relay = f.start_relay();
  REQUIRE_WITH_LOG(f.wait_relay_ready(20s), *relay);
  // As if a relay were draining: READ COMMITTED writers would now skip their NOTIFY.
  f.pg.exec("UPDATE outbox.relay_wakeup SET busy_until = now() + interval '1 hour'");
  const auto info = pg::ConnInfo::parse(f.pg.url());
  pg::Session session(info, "rr-writer");
  REQUIRE(session.exec("BEGIN ISOLATION LEVEL REPEATABLE READ").ok());
  REQUIRE(session.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('rr', '{}')").ok());
  REQUIRE(session.exec("COMMIT").ok());
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 5s), *relay);
}

TEST_CASE("a stale busy flag: a new relay clears it first, and an expired one lets writers notify again") {
  RelayFixture f;
  // As left by a relay killed while busy.
  f.pg.exec("UPDATE outbox.relay_wakeup SET busy_until = now() + interval '1 hour'");
  auto relay = f.start_relay();
  REQUIRE_WITH_LOG(
      wait_until([&] { return f.scalar("SELECT busy_until IS NULL FROM outbox.relay_wakeup") == "t"; }, 20s),
      *relay);
  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 5s), *relay);

  // A flag that nobody renews stops holding writers back when it expires. First the relay must be idle
  // again: the notification may have arrived while it was still claiming, which makes it busy for a
  // moment, and a busy relay renews the flag and then clears it.
  REQUIRE_WITH_LOG(
      wait_until([&] { return f.scalar("SELECT busy_until IS NULL FROM outbox.relay_wakeup") == "t"; }, 20s),
      *relay);
  f.pg.exec("UPDATE outbox.relay_wakeup SET busy_until = clock_timestamp() + interval '300 milliseconds'");
  REQUIRE(wait_until(
      [&] { return f.scalar("SELECT busy_until < clock_timestamp() FROM outbox.relay_wakeup") == "t"; }, 5s));
  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(2, 5s), *relay);
}

TEST_CASE("a writer left open never makes other writers wait for the relay's switch to idle") {
  RelayFixture f;
  const auto info = pg::ConnInfo::parse(f.pg.url());
  // An application transaction that inserted and stays open: it holds the trigger's shared lock.
  pg::Session open_writer(info, "open-writer");
  REQUIRE(open_writer.exec("BEGIN").ok());
  REQUIRE(open_writer.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('open', '{}')").ok());
  // As if a relay had been busy: the relay that starts now must clear the flag, but cannot while a writer
  // that may have read it is open. It stays busy instead of queueing for the lock.
  f.pg.exec("UPDATE outbox.relay_wakeup SET busy_until = now() + interval '1 hour'");
  auto relay = f.start_relay({"--log-level", "debug"});
  REQUIRE_WITH_LOG(relay->wait_for_err("wake-up flag kept", 20s), *relay);

  // Another writer goes straight through: nobody waits in the lock queue ahead of it.
  pg::Session writer(info, "writer");
  REQUIRE(writer.exec("SET statement_timeout = '3s'").ok());
  const auto started = std::chrono::steady_clock::now();
  auto inserted = writer.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('next', '{}')");
  INFO(inserted.error());
  REQUIRE(inserted.ok());
  CHECK(std::chrono::steady_clock::now() - started < 1s);
  // The busy relay finds that row by itself, and the open one once it commits; then it goes idle.
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 10s), *relay);
  REQUIRE(open_writer.exec("COMMIT").ok());
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(2, 10s), *relay);
  REQUIRE_WITH_LOG(
      wait_until([&] { return f.scalar("SELECT busy_until IS NULL FROM outbox.relay_wakeup") == "t"; }, 10s),
      *relay);
}
