#include "tests/support/socket_proxy.hpp"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "pg/conninfo.hpp"
#include "pg/session.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/wait.hpp"

namespace {

using namespace std::chrono_literals;

std::string socket_path(const testkit::PgCluster& cluster) {
  return cluster.socket_dir() + "/.s.PGSQL." + std::to_string(cluster.port());
}

// The server sees the proxied connection arrive on its unix socket, so the cluster's local trust applies.
pg::ConnInfo via_proxy(const testkit::SocketProxy& proxy) {
  return pg::ConnInfo::parse("host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                             " dbname=postgres user=postgres");
}

}  // namespace

TEST_CASE("SocketProxy forwards queries and large results whole") {
  testkit::PgCluster cluster;
  testkit::SocketProxy proxy(socket_path(cluster));
  pg::Session session(via_proxy(proxy), "proxy-test", 5);
  CHECK(session.exec("SELECT 1").value(0, 0) == "1");
  const auto big = session.exec("SELECT repeat('x', 5000000)");
  REQUIRE(big.ok());
  const auto value = big.value(0, 0);
  CHECK(value.size() == 5000000);
  CHECK(value.find_first_not_of('x') == std::string_view::npos);
  CHECK(proxy.accepted() == 1);
}

TEST_CASE("SocketProxy cut_client_sides breaks the client while the server session keeps its locks") {
  testkit::PgCluster cluster;
  testkit::SocketProxy proxy(socket_path(cluster));
  pg::Session cut(via_proxy(proxy), "proxy-test", 5);
  const std::string pid(cut.exec("SELECT pg_backend_pid()").value(0, 0));
  REQUIRE(cut.exec("SELECT pg_advisory_lock(42)").ok());

  proxy.cut_client_sides();
  CHECK_THROWS_AS(cut.exec("SELECT 1"), pg::ConnectionError);

  pg::Session direct(pg::ConnInfo::parse(cluster.url()), "proxy-test");
  const auto holders =
      direct.exec("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND granted");
  REQUIRE(holders.rows() == 1);
  CHECK(holders.value(0, 0) == pid);
  CHECK(direct.exec("SELECT pg_try_advisory_lock(42)").value(0, 0) == "f");

  proxy.release_server_sides();
  CHECK(testkit::wait_until(
      [&] {
        return direct.exec("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 42")
                   .value(0, 0) == "0";
      },
      15s));
}

TEST_CASE("SocketProxy forwards new connections normally after a cut") {
  testkit::PgCluster cluster;
  testkit::SocketProxy proxy(socket_path(cluster));
  pg::Session first(via_proxy(proxy), "proxy-test", 5);
  REQUIRE(first.exec("SELECT 1").ok());
  proxy.cut_client_sides();

  pg::Session second(via_proxy(proxy), "proxy-test", 5);
  CHECK(second.exec("SELECT 2").value(0, 0) == "2");
  CHECK(proxy.accepted() == 2);
  CHECK_THROWS_AS(first.exec("SELECT 1"), pg::ConnectionError);
}
