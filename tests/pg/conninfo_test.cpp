#include "pg/conninfo.hpp"

#include <string>

#include <catch2/catch.hpp>

namespace {

std::string parse_error(const std::string& text) {
  try {
    (void)pg::ConnInfo::parse(text);
  } catch (const pg::ConnInfoError& e) {
    return e.what();
  }
  FAIL("expected ConnInfoError for: " << text);
  return {};
}

}  // namespace

TEST_CASE("ConnInfo describes a URL without its password") {
  const auto info = pg::ConnInfo::parse("postgresql://relay:s3cr%40t@db.example:6543/app?sslmode=require");
  CHECK(info.describe() == "host=db.example port=6543 dbname=app user=relay");
  CHECK(info.describe().find("s3cr") == std::string::npos);
  CHECK(info.text() == "postgresql://relay:s3cr%40t@db.example:6543/app?sslmode=require");
}

TEST_CASE("ConnInfo describes key=value form and libpq defaults") {
  CHECK(pg::ConnInfo::parse("host=/tmp/pg port=5432 dbname=app user=relay password=x").describe() ==
        "host=/tmp/pg port=5432 dbname=app user=relay");
  CHECK(pg::ConnInfo::parse("hostaddr=127.0.0.1 dbname=app").describe() == "hostaddr=127.0.0.1 dbname=app");
  CHECK(pg::ConnInfo::parse("").describe() == "(libpq defaults)");
}

TEST_CASE("ConnInfo redacts the password in every form it can take") {
  const auto url = pg::ConnInfo::parse("postgresql://relay:s3cr%40t@db.example/app");
  CHECK(url.redact("auth failed for s3cr@t and s3cr%40t") == "auth failed for *** and ***");
  CHECK(url.redact("bad url postgresql://relay:s3cr%40t@db.example/app!") == "bad url ***!");
  CHECK(url.redact("nothing secret here") == "nothing secret here");

  const auto query = pg::ConnInfo::parse("postgresql://relay:first@h/app?password=second%20pw");
  const auto redacted = query.redact("first second pw second%20pw");
  CHECK(redacted.find("first") == std::string::npos);
  CHECK(redacted.find("second") == std::string::npos);

  const auto keyword = pg::ConnInfo::parse(R"(host=h password='it\'s a pw' user=u)");
  CHECK(keyword.describe() == "host=h user=u");
  CHECK(keyword.redact("x it's a pw y") == "x *** y");
}

TEST_CASE("ConnInfo parse errors never echo the password") {
  // Each of these makes libpq quote part or all of the input in its error message.
  const std::string ipv6 = parse_error("postgresql://relay:hunter2@[::1/app");
  CHECK(ipv6.find("hunter2") == std::string::npos);
  CHECK(ipv6.find("invalid connection string") != std::string::npos);
  CHECK(ipv6.find("IPv6") != std::string::npos);

  const std::string percent = parse_error("postgresql://relay:hun%zzter2@h/app");
  CHECK(percent.find("hun") == std::string::npos);
  CHECK(percent.find("percent-encoded") != std::string::npos);

  const std::string query = parse_error("postgresql://relay:pw1@h/app?password=pw2&bogus=1");
  CHECK(query.find("pw1") == std::string::npos);
  CHECK(query.find("pw2") == std::string::npos);
  CHECK(query.find("bogus") != std::string::npos);

  const std::string unquoted_space = parse_error("host=h password=open sesame");
  CHECK(unquoted_space.find("open") == std::string::npos);
  CHECK(unquoted_space.find("sesame") == std::string::npos);

  const std::string unterminated = parse_error("host=h password='open sesame");
  CHECK(unterminated.find("sesame") == std::string::npos);
}

TEST_CASE("ConnInfo rejects input that is not a connection string") {
  CHECK_THROWS_AS(pg::ConnInfo::parse("just-a-word"), pg::ConnInfoError);
  CHECK_THROWS_AS(pg::ConnInfo::parse("postgresql://h/db?nosuchoption=1"), pg::ConnInfoError);
  CHECK_THROWS_AS(pg::ConnInfo::parse(std::string("host=a\0b", 8)), pg::ConnInfoError);
}

TEST_CASE("ConnInfo rejects a port that is not a number from 1 to 65535, without the password") {
  CHECK(parse_error("host=localhost port= =oops password=hunter2") ==
        "invalid connection string: port \"=oops\" is not a number from 1 to 65535");
  CHECK(parse_error("postgresql://u:hunter2@db:70000/app").find("port \"70000\"") != std::string::npos);
  CHECK(parse_error("host=a,b port=5432,x").find("port \"x\"") != std::string::npos);
  CHECK(parse_error("postgresql://u:hunter2@db:70000/app").find("hunter2") == std::string::npos);
  CHECK_NOTHROW(pg::ConnInfo::parse("host=a,b port=5432,5433"));
  CHECK_NOTHROW(pg::ConnInfo::parse("host=a,b port=,5433"));
}

TEST_CASE("ConnInfo hides the password of a URL with a mistyped scheme, which libpq echoes whole") {
  for (const std::string text : {"mysql://relay:hunter2@db/app", "postgresq://relay:hunter2@db/app"}) {
    INFO(text);
    const auto error = parse_error(text);
    CHECK(error.find("hunter2") == std::string::npos);
    CHECK(error.rfind("invalid connection string", 0) == 0);
  }
}
