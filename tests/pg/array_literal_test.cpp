#include "pg/array_literal.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "pg/session.hpp"
#include "tests/support/pg_cluster.hpp"

namespace {

using Texts = std::vector<std::optional<std::string>>;

// What the server reads back from the literal, element by element, in order.
Texts round_trip(pg::Session& session, const pg::ArrayLiteral& literal) {
  const auto r =
      session.exec("SELECT x FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n) ORDER BY n", {literal.str()});
  REQUIRE(r.ok());
  Texts out;
  for (int row = 0; row < r.rows(); ++row)
    out.push_back(r.is_null(row, 0) ? std::nullopt : std::optional<std::string>(r.value(row, 0)));
  return out;
}

}  // namespace

TEST_CASE("ArrayLiteral writes quoted text, bare numbers and NULL") {
  pg::ArrayLiteral a;
  CHECK(a.str() == "{}");
  a.add(std::int64_t{-7});
  a.add("a\"b\\c");
  a.add_null();
  a.add("");
  CHECK(a.size() == 4);
  CHECK(a.str() == R"({-7,"a\"b\\c",NULL,""})");
  a.clear();
  CHECK(a.size() == 0);
  CHECK(a.str() == "{}");
  a.add("x");
  CHECK(a.str() == R"({"x"})");
}

TEST_CASE("ArrayLiteral text round-trips through the server") {
  testkit::PgCluster cluster;
  pg::Session session(pg::ConnInfo::parse(cluster.url()), "pg-tests");
  const Texts values = {
      "plain", "with \"quotes\"", "back\\slash",  "trailing\\",  "comma,here", "{braces}", "", std::nullopt,
      "NULL",  " padded ",        "ユニコード ✓", "line\nbreak", "'single'",   "\\\"\\\""};
  pg::ArrayLiteral literal;
  for (const auto& v : values) {
    if (v) {
      literal.add(*v);
    } else {
      literal.add_null();
    }
  }
  CHECK(round_trip(session, literal) == values);

  // clear() reuses the instance for the next batch.
  literal.clear();
  literal.add("again");
  CHECK(round_trip(session, literal) == Texts{"again"});
  literal.clear();
  CHECK(round_trip(session, literal).empty());
}

TEST_CASE("ArrayLiteral bigint round-trips through the server") {
  testkit::PgCluster cluster;
  pg::Session session(pg::ConnInfo::parse(cluster.url()), "pg-tests");
  const std::vector<std::int64_t> values = {0, -1, 42, std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::int64_t>::max()};
  pg::ArrayLiteral literal;
  for (const auto v : values)
    literal.add(v);
  literal.add_null();
  const auto r = session.exec("SELECT x FROM unnest($1::bigint[]) WITH ORDINALITY AS t(x, n) ORDER BY n",
                              {literal.str()});
  REQUIRE(r.ok());
  REQUIRE(r.rows() == 6);
  for (int i = 0; i < 5; ++i)
    CHECK(r.int64(i, 0) == values[static_cast<std::size_t>(i)]);
  CHECK(r.is_null(5, 0));
  CHECK(session.exec("SELECT cardinality($1::bigint[])", {literal.str()}).int64(0, 0) == 6);
}
