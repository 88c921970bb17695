#include "pg/connection.hpp"

#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "loop/event_loop.hpp"
#include "tests/pg/pg_test_support.hpp"
#include "tests/support/pg_cluster.hpp"

using pgtest::fast_options;
using pgtest::run_until;

namespace {

// Counts every event of one connection, so that tests can assert exact numbers.
struct Counts {
  int ready = 0;
  int lost = 0;
  std::string last_lost_reason;

  pg::ConnectionEvents events() {
    return pg::ConnectionEvents{
        .on_ready = [this] { ++ready; },
        .on_lost =
            [this](std::string_view reason) {
              ++lost;
              last_lost_reason = reason;
            },
        .on_notification = nullptr,
    };
  }
};

}  // namespace

TEST_CASE("Connection runs a parameterised query with session setup applied") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()),
                        fast_options("query", {"SET statement_timeout = '1234ms'", "SET TIME ZONE 'UTC'"}),
                        counts.events());
    CHECK(conn.state() == pg::State::disconnected);
    conn.start();
    int done = 0;
    std::optional<pg::Result> result;
    conn.execute(
        "SELECT $1::int + 1, $2::text IS NULL, $3::text, current_setting('statement_timeout'), "
        "current_setting('application_name'), current_setting('TimeZone')",
        {"41", std::nullopt, "héllo, \"world\""}, [&](pg::Result&& r) {
          ++done;
          result = std::move(r);
        });
    REQUIRE(run_until(ev.get(), [&] { return done == 1; }));
    REQUIRE(result->ok());
    CHECK(result->error().empty());
    CHECK(result->rows() == 1);
    CHECK(result->columns() == 6);
    CHECK(result->int64(0, 0) == 42);
    CHECK(result->value(0, 1) == "t");
    CHECK(result->value(0, 2) == "héllo, \"world\"");
    CHECK(result->value(0, 3) == "1234ms");
    CHECK(result->value(0, 4) == "pg-tests");
    CHECK(result->value(0, 5) == "UTC");
    CHECK(counts.ready == 1);
    CHECK(counts.lost == 0);
    CHECK(conn.connects() == 1);
    CHECK(conn.idle());
    CHECK(conn.state() == pg::State::ready);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection reports a server error with its SQLSTATE and stays usable") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("errors"),
                        counts.events());
    conn.start();
    std::vector<pg::Result> results;
    auto collect = [&](pg::Result&& r) { results.push_back(std::move(r)); };
    conn.execute("SELECT 1 / $1::int", {"0"}, collect);
    conn.execute("SELECT * FROM no_such_table", {}, collect);
    conn.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)", {}, collect);  // one statement only
    conn.execute("CREATE TABLE t (id int)", {}, collect);
    conn.execute("INSERT INTO t SELECT generate_series(1, 3)", {}, collect);
    REQUIRE(run_until(ev.get(), [&] { return results.size() == 5; }));
    CHECK_FALSE(results[0].ok());
    CHECK_FALSE(results[0].connection_failed());
    CHECK(results[0].sqlstate() == "22012");
    CHECK(results[0].error() == "division by zero");
    CHECK(results[1].sqlstate() == "42P01");
    CHECK(results[2].sqlstate() == "42601");  // the extended protocol refuses multi-statement strings
    CHECK(results[3].ok());
    CHECK(results[3].sqlstate().empty());
    REQUIRE(results[4].ok());
    CHECK(results[4].affected() == 3);
    CHECK(counts.lost == 0);
    CHECK(conn.connects() == 1);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection runs statements queued before connect in order, never inside execute") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("queue"), counts.events());
    std::vector<int> order;
    bool inside_execute = false;
    bool ran_inside_execute = false;
    for (int i = 0; i < 5; ++i) {
      inside_execute = true;
      conn.execute("SELECT $1::int", {std::to_string(i)}, [&, i](pg::Result&& r) {
        ran_inside_execute = ran_inside_execute || inside_execute;
        REQUIRE(r.ok());
        CHECK(r.int64(0, 0) == i);
        order.push_back(i);
      });
      inside_execute = false;
    }
    CHECK(conn.queued() == 5);
    conn.start();
    conn.start();  // harmless
    REQUIRE(run_until(ev.get(), [&] { return order.size() == 5; }));
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
    CHECK_FALSE(ran_inside_execute);
    CHECK(counts.ready == 1);
    CHECK(conn.idle());

    // A callback that executes again: the chained statement runs after the ones already queued.
    std::vector<std::string> chain;
    conn.execute("SELECT 'first'", {}, [&](pg::Result&& r) {
      chain.emplace_back(r.value(0, 0));
      conn.execute("SELECT 'third'", {}, [&](pg::Result&& r3) { chain.emplace_back(r3.value(0, 0)); });
    });
    conn.execute("SELECT 'second'", {}, [&](pg::Result&& r) { chain.emplace_back(r.value(0, 0)); });
    REQUIRE(run_until(ev.get(), [&] { return chain.size() == 3; }));
    CHECK(chain == std::vector<std::string>{"first", "second", "third"});
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection close() fails queued statements exactly once") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("close"), counts.events());
    conn.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.ready == 1; }));

    int failures = 0;
    int after_close_failures = 0;
    bool inside_execute = false;
    bool ran_inside_execute = false;
    auto expect_failure = [&](pg::Result&& r) {
      CHECK(r.connection_failed());
      CHECK_FALSE(r.error().empty());
      ++failures;
    };
    conn.execute("SELECT pg_sleep(30)", {}, expect_failure);
    REQUIRE(run_until(ev.get(), [&] { return conn.state() == pg::State::busy; }));
    conn.execute("SELECT 2", {}, expect_failure);
    conn.execute("SELECT 3", {}, [&](pg::Result&& r) {
      expect_failure(std::move(r));
      // Executing on a closed connection fails too, later, and never inside this execute().
      inside_execute = true;
      conn.execute("SELECT 4", {}, [&](pg::Result&& r4) {
        ran_inside_execute = ran_inside_execute || inside_execute;
        CHECK(r4.connection_failed());
        ++after_close_failures;
      });
      inside_execute = false;
    });
    conn.close();
    CHECK(conn.state() == pg::State::closed);
    CHECK(failures == 3);
    CHECK(after_close_failures == 0);
    REQUIRE(run_until(ev.get(), [&] { return after_close_failures == 1; }));
    CHECK_FALSE(ran_inside_execute);
    conn.close();  // harmless
    conn.start();  // does nothing once closed
    CHECK(conn.state() == pg::State::closed);
    CHECK(failures == 3);
    CHECK(after_close_failures == 1);
    CHECK(counts.lost == 0);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection close() from inside a result callback") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("reentrant"),
                        counts.events());
    conn.start();
    int ok = 0;
    int failed = 0;
    conn.execute("SELECT 1", {}, [&](pg::Result&& r) {
      CHECK(r.ok());
      ++ok;
      conn.close();
    });
    for (int i = 0; i < 3; ++i) {
      conn.execute("SELECT 2", {}, [&](pg::Result&& r) {
        CHECK(r.connection_failed());
        ++failed;
      });
    }
    REQUIRE(run_until(ev.get(), [&] { return ok == 1 && failed == 3; }));
    CHECK(conn.state() == pg::State::closed);
    CHECK(counts.ready == 1);
    CHECK(counts.lost == 0);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection destroyed with statements pending runs no callback") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  int callbacks = 0;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("destroy"),
                        counts.events());
    conn.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.ready == 1; }));
    conn.execute("SELECT pg_sleep(30)", {}, [&](pg::Result&&) { ++callbacks; });
    conn.execute("SELECT 1", {}, [&](pg::Result&&) { ++callbacks; });
    REQUIRE(run_until(ev.get(), [&] { return conn.state() == pg::State::busy; }));
  }
  CHECK(ev.close() == 0);
  CHECK(callbacks == 0);
}

TEST_CASE("Connection sends and receives more than one socket buffer") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("bulk"), counts.events());
    conn.start();
    // 16 MB of parameter cannot leave in one write: PQflush reports pending output until the socket drains.
    const std::string big(16 * 1024 * 1024, 'x');
    std::optional<pg::Result> sent;
    std::optional<pg::Result> received;
    conn.execute("SELECT length($1), md5($1) = md5(repeat('x', length($1)))", {big},
                 [&](pg::Result&& r) { sent = std::move(r); });
    conn.execute("SELECT g, repeat('y', 100) FROM generate_series(1, 100000) AS g", {},
                 [&](pg::Result&& r) { received = std::move(r); });
    REQUIRE(run_until(ev.get(), [&] { return received.has_value(); }));
    REQUIRE(sent->ok());
    CHECK(sent->int64(0, 0) == static_cast<std::int64_t>(big.size()));
    CHECK(sent->value(0, 1) == "t");
    REQUIRE(received->ok());
    CHECK(received->rows() == 100000);
    CHECK(received->int64(99999, 0) == 100000);
    CHECK(counts.lost == 0);
  }
  CHECK(ev.close() == 0);
}
