#include "pg/session.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "tests/support/pg_cluster.hpp"

TEST_CASE("Session runs statements and scripts") {
  testkit::PgCluster cluster;
  pg::Session session(pg::ConnInfo::parse(cluster.url()), "pg-tests");
  const auto script =
      session.exec_script("CREATE TABLE t (id int, note text); INSERT INTO t VALUES (1, 'a')");
  CHECK(script.ok());
  const auto insert = session.exec("INSERT INTO t VALUES ($1, $2), ($3, NULL)", {"2", "b", "3"});
  REQUIRE(insert.ok());
  CHECK(insert.affected() == 2);
  const auto rows = session.exec("SELECT id, note FROM t WHERE id >= $1 ORDER BY id", {"2"});
  REQUIRE(rows.ok());
  REQUIRE(rows.rows() == 2);
  CHECK(rows.int64(0, 0) == 2);
  CHECK(rows.value(0, 1) == "b");
  CHECK(rows.is_null(1, 1));
  CHECK(session.exec("SELECT current_setting('application_name')").value(0, 0) == "pg-tests");
  CHECK(cluster.query_value("SELECT count(*) FROM t") == "3");
}

TEST_CASE("Session returns server errors and throws for a lost connection") {
  testkit::PgCluster cluster;
  pg::Session session(pg::ConnInfo::parse(cluster.url()), "pg-tests");
  const auto bad = session.exec("SELECT $1::int", {"not a number"});
  CHECK_FALSE(bad.ok());
  CHECK(bad.sqlstate() == "22P02");
  CHECK_THROWS_AS(bad.int64(0, 0), std::invalid_argument);
  cluster.stop();
  CHECK_THROWS_AS(session.exec("SELECT 1"), pg::ConnectionError);
}
