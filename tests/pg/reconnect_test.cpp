#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop/event_loop.hpp"
#include "pg/connection.hpp"
#include "pg/session.hpp"
#include "tests/pg/pg_test_support.hpp"
#include "tests/support/pg_cluster.hpp"

using pgtest::fast_options;
using pgtest::run_until;
using namespace std::chrono_literals;

namespace {

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

std::string backend_pid(loop::EventLoop& ev, pg::Connection& conn) {
  std::optional<pg::Result> result;
  conn.execute("SELECT pg_backend_pid()", {}, [&](pg::Result&& r) { result = std::move(r); });
  REQUIRE(run_until(ev.get(), [&] { return result.has_value(); }));
  REQUIRE(result->ok());
  return std::string(result->value(0, 0));
}

// A unix socket that accepts connections (into its backlog) and never says a word: a hung server.
class SilentServer {
 public:
  SilentServer() {
    char dir[] = "/tmp/outbox-hang-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir_ + "/.s.PGSQL.5432";
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
  }
  ~SilentServer() {
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  std::string url() const { return "postgresql:///postgres?host=" + dir_ + "&port=5432&user=postgres"; }

 private:
  std::string dir_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("Connection gives up on a silent server at its own connect deadline") {
  SilentServer server;
  loop::EventLoop ev;
  {
    Counts counts;
    auto options = fast_options("silent");
    options.connect_timeout = 100ms;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(server.url()), options, counts.events());
    conn.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.lost >= 2; }));
    CHECK(counts.ready == 0);
    CHECK(counts.last_lost_reason == "connection attempt timed out after 100 ms");
    conn.close();
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection reconnects after the server restarts") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("restart"),
                        counts.events());
    conn.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.ready == 1; }));
    const auto first_pid = backend_pid(ev, conn);

    cluster.restart();
    // The idle connection watches its socket, so it notices the server left without being asked anything.
    REQUIRE(run_until(ev.get(), [&] { return counts.ready == 2; }));
    CHECK(counts.lost == 1);
    CHECK_FALSE(counts.last_lost_reason.empty());
    CHECK(conn.connects() == 2);
    CHECK(backend_pid(ev, conn) != first_pid);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection fails a statement in flight exactly once when the server goes down") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("inflight"),
                        counts.events());
    conn.start();
    int done = 0;
    std::optional<pg::Result> result;
    conn.execute("SELECT pg_sleep(60)", {}, [&](pg::Result&& r) {
      ++done;
      result = std::move(r);
    });
    REQUIRE(run_until(ev.get(), [&] { return conn.state() == pg::State::busy; }));

    cluster.stop();
    REQUIRE(run_until(ev.get(), [&] { return done == 1 && counts.lost >= 1; }));
    CHECK(result->connection_failed());
    CHECK_FALSE(result->ok());
    CHECK(result->error() == counts.last_lost_reason);

    // It keeps retrying against the stopped server without calling back again.
    REQUIRE(run_until(ev.get(), [&] { return counts.lost >= 3; }));
    CHECK(done == 1);
    CHECK(counts.ready == 1);

    cluster.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.ready == 2; }));
    std::optional<pg::Result> after;
    conn.execute("SELECT 7", {}, [&](pg::Result&& r) { after = std::move(r); });
    REQUIRE(run_until(ev.get(), [&] { return after.has_value(); }));
    CHECK(after->int64(0, 0) == 7);
    CHECK(done == 1);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection to a stopped server keeps retrying and connects once it starts") {
  testkit::PgCluster cluster;
  cluster.stop();
  REQUIRE_FALSE(cluster.running());
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("stopped"),
                        counts.events());
    int failed = 0;
    conn.execute("SELECT 1", {}, [&](pg::Result&& r) {
      CHECK(r.connection_failed());
      ++failed;
    });
    conn.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.lost >= 4; }));
    CHECK(failed == 1);  // failed with the first attempt, not again
    CHECK(counts.ready == 0);
    CHECK(conn.connects() == 0);
    CHECK(counts.last_lost_reason.find("cannot connect") != std::string::npos);

    cluster.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.ready == 1; }));
    const int lost_before = counts.lost;
    std::optional<pg::Result> result;
    conn.execute("SELECT 1", {}, [&](pg::Result&& r) { result = std::move(r); });
    REQUIRE(run_until(ev.get(), [&] { return result.has_value(); }));
    CHECK(result->ok());
    CHECK(counts.lost == lost_before);
    CHECK(failed == 1);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection retries when a session setup statement fails") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), pg::ConnInfo::parse(cluster.url()),
                        fast_options("setup", {"SET no_such_setting = 1"}), counts.events());
    conn.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.lost >= 2; }));
    CHECK(counts.ready == 0);
    CHECK(counts.last_lost_reason.find("session setup statement 1 failed") != std::string::npos);
    conn.close();
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Connection errors and logs never show the password") {
  testkit::PgCluster cluster;
  // The error for an unreachable server names its socket path; using that path's last part as the
  // password proves that the message is redacted on its way out.
  const std::string password = std::filesystem::path(cluster.socket_dir()).filename().string();
  const auto info = pg::ConnInfo::parse(cluster.url() + "&password=" + password);
  cluster.stop();

  pgtest::LogCapture logs;
  loop::EventLoop ev;
  {
    Counts counts;
    pg::Connection conn(ev.get(), info, fast_options("secret"), counts.events());
    std::optional<pg::Result> result;
    conn.execute("SELECT 1", {}, [&](pg::Result&& r) { result = std::move(r); });
    conn.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.lost >= 2 && result.has_value(); }));
    CHECK(counts.last_lost_reason.find(password) == std::string::npos);
    CHECK(counts.last_lost_reason.find("***") != std::string::npos);
    CHECK(result->error().find(password) == std::string::npos);
    conn.close();
  }
  CHECK(ev.close() == 0);

  try {
    pg::Session session(info, "pg-tests", 2);
    FAIL("connected to a stopped server");
  } catch (const pg::ConnectionError& e) {
    CHECK(std::string(e.what()).find(password) == std::string::npos);
    CHECK(std::string(e.what()).find("***") != std::string::npos);
  }
  const auto text = logs.text();
  CHECK(text.find("cannot connect") != std::string::npos);
  CHECK(text.find(" -> connecting") != std::string::npos);
  CHECK(text.find(password) == std::string::npos);
}
