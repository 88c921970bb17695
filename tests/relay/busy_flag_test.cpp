// The relay's half of the wake-up handshake (relay/busy_flag.hpp) against a real PostgreSQL with the real
// triggers: what writers do while the flag is up, and whom lowering it waits for.
#include "relay/busy_flag.hpp"

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "loop/event_loop.hpp"
#include "pg/listener.hpp"
#include "pg/session.hpp"
#include "relay/migrator.hpp"
#include "relay/outbox_queries.hpp"
#include "tests/pg/pg_test_support.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/socket_proxy.hpp"
#include "tests/support/wait.hpp"

using namespace std::chrono_literals;
using pgtest::run_until;
using relay::BusyFlag;

namespace {

// The advisory key of sql/triggers/notify.sql, and what its triggers' WHEN clauses ask: true when no relay
// holds the flag.
constexpr const char* kFlagKey = "-2025047403911557836";
const std::string kFlagDown = std::string("SELECT pg_try_advisory_lock_shared(") + kFlagKey +
                              ") AND pg_advisory_unlock_shared(" + kFlagKey + ")";

// The relay's own planner settings, under which its statements must work.
std::vector<std::string> work_session_setup() {
  std::vector<std::string> setup;
  for (const auto& setting : relay::queries::work_session_settings())
    setup.push_back(setting.set_command());
  return setup;
}

struct FixtureOptions {
  // The name of a database to copy from this one once migrated, before any session connects.
  const char* twin = nullptr;
  // The claim session goes through a proxy, whose client side a test can break while the server's side
  // lives on.
  bool through_proxy = false;
};

struct FlagFixture {
  testkit::PgCluster cluster;
  pg::ConnInfo info = pg::ConnInfo::parse(cluster.url());
  std::unique_ptr<testkit::SocketProxy> proxy;
  loop::EventLoop ev;
  int notifications = 0;
  int writers_ended = 0;
  int lowered = 0;
  pg::Listener listener{
      ev.get(), info, pgtest::fast_options("listen"), "outbox",
      pg::Listener::Events{.on_listening = nullptr,
                           .on_lost = nullptr,
                           .on_notification = [this](pg::Notification&&) { ++notifications; }}};
  pg::Connection session;
  BusyFlag flag{
      ev.get(), session,
      BusyFlag::Events{.on_writers_ended = [this] { ++writers_ended; }, .on_lowered = [this] { ++lowered; }}};

  explicit FlagFixture(FixtureOptions options = {})
      : proxy(options.through_proxy
                  ? std::make_unique<testkit::SocketProxy>(cluster.socket_dir() + "/.s.PGSQL." +
                                                           std::to_string(cluster.port()))
                  : nullptr),
        session(ev.get(),
                proxy ? pg::ConnInfo::parse("host=127.0.0.1 port=" + std::to_string(proxy->port()) +
                                            " dbname=postgres user=postgres")
                      : info,
                pgtest::fast_options("claim", work_session_setup()),
                pg::ConnectionEvents{.on_ready = [this] { flag.session_ready(); },
                                     .on_lost = [this](std::string_view) { flag.reset(); },
                                     .on_notification = nullptr}) {
    relay::migrate(info, "outbox", "busy-flag-test");
    if (options.twin != nullptr)
      cluster.exec(std::string("CREATE DATABASE ") + options.twin + " TEMPLATE postgres", "template1");
    listener.start();
    session.start();
    // Idle once the session has also named itself (queued when it became ready).
    REQUIRE(run_until(ev.get(), [&] { return listener.listening() && session.idle(); }));
  }

  std::string scalar(const std::string& sql) const { return cluster.query_value(sql); }

  void raise_and_wait_up() {
    flag.raise();
    REQUIRE(run_until(ev.get(), [&] { return flag.state() == BusyFlag::State::up; }));
  }

  // One committed single-row transaction, and whether its NOTIFY reached the listener. The loop turns for
  // up to `within`: a notification that is not sent can only be shown absent by waiting a while.
  bool insert_notifies(std::chrono::milliseconds within = 500ms) {
    const int before = notifications;
    cluster.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('t', '{}')");
    return run_until(
        ev.get(), [&] { return notifications > before; }, within);
  }
};

pg::Session open_writer(const pg::ConnInfo& info, const char* isolation) {
  pg::Session writer(info, "open-writer");
  REQUIRE(writer.exec(std::string("BEGIN ISOLATION LEVEL ") + isolation).ok());
  REQUIRE(writer.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('open', '{}')").ok());
  return writer;
}

}  // namespace

TEST_CASE(
    "writers notify while the flag is down, skip their NOTIFY while it is up, and notify once lowered") {
  FlagFixture f;
  CHECK(f.scalar(kFlagDown) == "t");
  CHECK(f.insert_notifies(5s));

  f.raise_and_wait_up();
  CHECK(f.scalar(kFlagDown) == "f");
  CHECK_FALSE(f.insert_notifies());
  // Rows put back to pending take the same test, after their status one.
  f.cluster.exec("UPDATE outbox.messages SET status = 'failed', next_attempt_at = now()");
  const int before = f.notifications;
  f.cluster.exec("UPDATE outbox.messages SET status = 'pending'");
  CHECK_FALSE(run_until(
      f.ev.get(), [&] { return f.notifications > before; }, 500ms));

  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  CHECK(f.flag.state() == BusyFlag::State::down);
  CHECK(f.scalar(kFlagDown) == "t");
  CHECK(f.insert_notifies(5s));
}

TEST_CASE("lowering waits for each writer that was open when the flag went down, and for no later one") {
  FlagFixture f;
  f.raise_and_wait_up();
  // Two writers inserted while the flag was up (so they skipped their NOTIFY) and are still open; one
  // runs under REPEATABLE READ, whose snapshot is older than the release: the handshake does not care.
  pg::Session first = open_writer(f.info, "READ COMMITTED");
  pg::Session second = open_writer(f.info, "REPEATABLE READ");
  f.flag.lower();
  // Released, and waiting: the first look lists both (and says that writers may have ended before it).
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 2; }));
  CHECK(f.scalar(kFlagDown) == "t");
  CHECK(f.writers_ended == 1);
  CHECK_FALSE(run_until(
      f.ev.get(), [&] { return f.writers_ended > 1 || f.lowered > 0; }, 300ms));
  CHECK(f.flag.state() == BusyFlag::State::lowering);

  // A writer that comes now is not held up, notifies, and is not waited for even while it stays open.
  pg::Session late(f.info, "late-writer");
  REQUIRE(late.exec("BEGIN").ok());
  REQUIRE(late.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('late', '{}')").ok());

  REQUIRE(first.exec("COMMIT").ok());
  REQUIRE(run_until(f.ev.get(), [&] { return f.writers_ended == 2; }));
  CHECK(f.flag.writers_left() == 1);
  CHECK(f.lowered == 0);
  CHECK(f.flag.state() == BusyFlag::State::lowering);

  REQUIRE(second.exec("COMMIT").ok());
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  CHECK(f.flag.state() == BusyFlag::State::down);
  CHECK_FALSE(f.flag.owes_wait());
  // Both rows are visible to whoever claims next.
  CHECK(f.scalar("SELECT count(*) FROM outbox.messages WHERE topic = 'open'") == "2");

  const int before = f.notifications;
  REQUIRE(late.exec("COMMIT").ok());
  CHECK(run_until(
      f.ev.get(), [&] { return f.notifications > before; }, 5s));
}

TEST_CASE("rows of writers that ended before the first look are claimable at once, not after the slowest") {
  FlagFixture f;
  f.raise_and_wait_up();
  // A long application transaction that wrote to the outbox while the flag was up, and stays open.
  pg::Session slow = open_writer(f.info, "READ COMMITTED");
  // A writer that skipped its NOTIFY and committed before the relay let go: it will not be on the list.
  CHECK_FALSE(f.insert_notifies(200ms));
  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 1; }));
  // The relay is told to look now, with the slow writer still open.
  CHECK(f.writers_ended == 1);
  CHECK(f.lowered == 0);
  REQUIRE(slow.exec("COMMIT").ok());
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
}

TEST_CASE("writers of another database with the same table are not waited for") {
  // A database copied from the relay's: its outbox.messages has the same OID.
  FlagFixture f({.twin = "twin"});
  REQUIRE(f.scalar("SELECT 'outbox.messages'::regclass::oid") ==
          f.cluster.query_value("SELECT 'outbox.messages'::regclass::oid", "twin"));
  pg::Session other(pg::ConnInfo::parse(f.cluster.url("twin")), "twin-writer");
  REQUIRE(other.exec("BEGIN").ok());
  REQUIRE(other.exec("INSERT INTO outbox.messages (topic, payload) VALUES ('twin', '{}')").ok());
  f.raise_and_wait_up();
  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  REQUIRE(other.exec("COMMIT").ok());
}

TEST_CASE("a writer that prepares its transaction during the wait is waited for until COMMIT PREPARED") {
  FlagFixture f;
  f.raise_and_wait_up();
  pg::Session writer = open_writer(f.info, "READ COMMITTED");
  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 1; }));
  // Its locks move to the prepared transaction; its transaction id and that id's lock stay.
  REQUIRE(writer.exec("PREPARE TRANSACTION 'outbox-writer'").ok());
  CHECK_FALSE(run_until(
      f.ev.get(), [&] { return f.lowered > 0; }, 500ms));
  f.cluster.exec("COMMIT PREPARED 'outbox-writer'");
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  CHECK(f.scalar("SELECT count(*) FROM outbox.messages WHERE topic = 'open'") == "1");
}

TEST_CASE("raising again abandons the wait: the next lowering waits for the same writer") {
  FlagFixture f;
  f.raise_and_wait_up();
  pg::Session writer = open_writer(f.info, "READ COMMITTED");
  f.flag.lower();
  // The wait is under way (listed, rechecking) when it is abandoned.
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 1; }));
  REQUIRE(f.flag.state() == BusyFlag::State::lowering);
  const int ended_at_first_look = f.writers_ended;
  f.flag.raise();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.state() == BusyFlag::State::up; }));
  // The abandoned wait reports nothing more, though its writer is still open.
  CHECK_FALSE(run_until(
      f.ev.get(), [&] { return f.lowered > 0 || f.writers_ended > ended_at_first_look; }, 300ms));

  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 1; }));
  CHECK_FALSE(run_until(
      f.ev.get(), [&] { return f.lowered > 0; }, 300ms));
  REQUIRE(writer.exec("COMMIT").ok());
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  CHECK_FALSE(f.flag.owes_wait());
}

TEST_CASE("a take that fails after an abandoned wait keeps the debt") {
  FlagFixture f;
  f.raise_and_wait_up();
  pg::Session writer = open_writer(f.info, "READ COMMITTED");
  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 1; }));
  // Another relay takes B meanwhile; this one's new take fails.
  pg::Session other(f.info, "other-relay");
  REQUIRE(other.exec(std::string("SELECT pg_advisory_lock(") + kFlagKey + ")").ok());
  f.flag.raise();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.state() == BusyFlag::State::down; }));
  CHECK(f.flag.owes_wait());
  // Lowering (as a stopping relay does) still waits for the writer.
  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 1; }));
  CHECK_FALSE(run_until(
      f.ev.get(), [&] { return f.lowered > 0; }, 300ms));
  REQUIRE(writer.exec("COMMIT").ok());
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
}

TEST_CASE("lowering lets go of the flag however many times the session took it") {
  FlagFixture f;
  f.raise_and_wait_up();
  // As after a release whose answer was lost and a take after it: B held twice on the session.
  bool taken_again = false;
  f.session.execute(std::string("SELECT pg_advisory_lock(") + kFlagKey + ")", {},
                    [&](pg::Result&& r) { taken_again = r.ok(); });
  REQUIRE(run_until(f.ev.get(), [&] { return taken_again; }));
  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  CHECK(f.scalar(kFlagDown) == "t");
  CHECK(f.insert_notifies(5s));
}

TEST_CASE("lowering while the take is still out waits for its answer, then releases") {
  FlagFixture f;
  f.flag.raise();
  f.flag.lower();
  CHECK(f.flag.state() == BusyFlag::State::raising);
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  CHECK(f.flag.state() == BusyFlag::State::down);
  CHECK(f.scalar(kFlagDown) == "t");
}

TEST_CASE("a flag held by another relay: raising stays down until that one lets go") {
  FlagFixture f;
  pg::Session other(f.info, "other-relay");
  REQUIRE(other.exec(std::string("SELECT pg_advisory_lock(") + kFlagKey + ")").ok());
  f.flag.raise();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.state() == BusyFlag::State::down; }));
  CHECK(f.scalar(kFlagDown) == "f");
  CHECK_FALSE(f.flag.owes_wait());

  REQUIRE(other.exec(std::string("SELECT pg_advisory_unlock(") + kFlagKey + ")").ok());
  f.raise_and_wait_up();
}

TEST_CASE("the flag goes with its session: writers notify again once the relay's connection is gone") {
  FlagFixture f;
  f.raise_and_wait_up();
  CHECK(f.scalar(kFlagDown) == "f");
  f.flag.reset();
  CHECK(f.flag.state() == BusyFlag::State::down);
  CHECK(f.flag.owes_wait());
  f.session.close();
  // The server ends the session when it reads the end of the connection.
  REQUIRE(testkit::wait_until([&] { return f.scalar(kFlagDown) == "t"; }, 10s));
  CHECK(f.insert_notifies(5s));
}

TEST_CASE("the previous claim session is ended only if it is that session and holds the flag") {
  testkit::PgCluster cluster;
  const auto info = pg::ConnInfo::parse(cluster.url());
  relay::migrate(info, "outbox", "busy-flag-test");
  // As if the relay's side of its old claim session broke first: the server still runs it, holding B.
  pg::Session old_session(info, "outbox-relay:claim");
  auto named = old_session.exec(std::string("SELECT pg_advisory_lock(") + kFlagKey +
                                "), pg_backend_pid(), backend_start FROM pg_stat_activity "
                                "WHERE pid = pg_backend_pid()");
  REQUIRE(named.ok());
  const std::string pid(named.value(0, 1));
  const std::string started(named.value(0, 2));
  pg::Session bystander(info, "bystander");
  const std::string bystander_pid = std::to_string(PQbackendPID(bystander.get()));
  pg::Session relay_session(info, "relay");
  const std::string sql(relay::queries::end_orphaned_flag.sql);

  // Another session, or a later one that got the same pid (another start time), is left alone.
  CHECK(relay_session.exec(sql, {bystander_pid, started}).rows() == 0);
  CHECK(relay_session.exec(sql, {pid, "2000-01-01 00:00:00+00"}).rows() == 0);
  CHECK(bystander.exec("SELECT 1").ok());
  CHECK(cluster.query_value(kFlagDown) == "f");

  auto ended = relay_session.exec(sql, {pid, started});
  REQUIRE(ended.ok());
  REQUIRE(ended.rows() == 1);
  CHECK(ended.value(0, 0) == "t");
  CHECK(cluster.query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "0");
  CHECK(cluster.query_value(kFlagDown) == "t");

  // Nor does a session ever end itself, should it be named.
  REQUIRE(relay_session.exec(std::string("SELECT pg_advisory_lock(") + kFlagKey + ")").ok());
  auto self = relay_session.exec(std::string(relay::queries::session_identity.sql));
  REQUIRE(self.ok());
  CHECK(relay_session.exec(sql, {std::string(self.value(0, 0)), std::string(self.value(0, 1))}).rows() == 0);
  CHECK(relay_session.exec("SELECT 1").ok());
}

namespace {

// The server pid of the session that holds B exclusively, or "" when none does.
std::string flag_holder(const FlagFixture& f) {
  return f.scalar(
      "SELECT coalesce((SELECT pid::text FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND "
      "mode = 'ExclusiveLock' AND granted AND classid = '3823474205'::oid AND objid = '2223394100'::oid), "
      "'')");
}

// Breaks the claim session on the relay's side only, and waits until it is connected and named again.
void break_client_side(FlagFixture& f) {
  const auto connects = f.session.connects();
  f.proxy->cut_client_sides();
  REQUIRE(run_until(f.ev.get(), [&] { return f.session.connects() > connects && f.session.idle(); }));
}

}  // namespace

TEST_CASE("a claim session broken on the relay's side holding the flag is ended by the next lowering") {
  FlagFixture f({.through_proxy = true});
  f.raise_and_wait_up();
  const std::string old_pid = flag_holder(f);
  REQUIRE_FALSE(old_pid.empty());
  // A writer that skipped its NOTIFY because of that flag, still open.
  pg::Session writer = open_writer(f.info, "READ COMMITTED");
  break_client_side(f);
  CHECK(f.flag.state() == BusyFlag::State::down);
  CHECK(f.flag.owes_wait());
  // The server still runs the old session, and writers still skip their NOTIFY because of it.
  CHECK(flag_holder(f) == old_pid);

  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.flag.writers_left() == 1; }));
  CHECK(f.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + old_pid) == "0");
  CHECK(f.scalar(kFlagDown) == "t");
  REQUIRE(writer.exec("COMMIT").ok());
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  CHECK(f.insert_notifies(5s));
}

TEST_CASE("a take whose answer was lost counts as held: the next lowering ends the old session") {
  FlagFixture f({.through_proxy = true});
  // Once up and down, so that the take is prepared on the session: a held answer to its PREPARE would keep
  // the take itself from being sent.
  f.raise_and_wait_up();
  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 1; }));
  // The take reaches the server, which takes B; its answer never comes back.
  f.proxy->hold_replies();
  f.flag.raise();
  REQUIRE(run_until(f.ev.get(), [&] { return !flag_holder(f).empty(); }));
  const std::string old_pid = flag_holder(f);
  CHECK(f.flag.state() == BusyFlag::State::raising);
  break_client_side(f);
  CHECK(f.flag.state() == BusyFlag::State::down);
  CHECK(f.flag.owes_wait());
  CHECK(flag_holder(f) == old_pid);

  f.flag.lower();
  REQUIRE(run_until(f.ev.get(), [&] { return f.lowered == 2; }));
  CHECK(f.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + old_pid) == "0");
  CHECK(flag_holder(f).empty());
  CHECK(f.insert_notifies(5s));
}
