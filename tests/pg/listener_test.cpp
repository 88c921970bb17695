#include "pg/listener.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "loop/event_loop.hpp"
#include "tests/pg/pg_test_support.hpp"
#include "tests/support/pg_cluster.hpp"

using pgtest::fast_options;
using pgtest::run_until;

namespace {

// A channel that needs quoting: mixed case, a space and a double quote.
const std::string kChannel = "Wake Up \"now\"";
const std::string kChannelLiteral = "'Wake Up \"now\"'";

struct ListenerCounts {
  int listening = 0;
  int lost = 0;
  bool listening_during_lost = true;
  std::vector<pg::Notification> notes;
  const pg::Listener* listener = nullptr;

  pg::Listener::Events events() {
    return pg::Listener::Events{
        .on_listening = [this] { ++listening; },
        .on_lost =
            [this](std::string_view) {
              ++lost;
              listening_during_lost = listener->listening();
            },
        .on_notification = [this](pg::Notification&& n) { notes.push_back(std::move(n)); },
    };
  }
};

}  // namespace

TEST_CASE("Listener delivers notifications on its channel only") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    ListenerCounts counts;
    pg::Listener listener(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("listen"), kChannel,
                          counts.events());
    counts.listener = &listener;
    CHECK_FALSE(listener.listening());
    listener.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.listening == 1; }));
    CHECK(listener.listening());

    cluster.exec("SELECT pg_notify('wake up \"now\"', 'other channel')");
    cluster.exec("SELECT pg_notify(" + kChannelLiteral + ", 'p1')");
    cluster.exec("SELECT pg_notify(" + kChannelLiteral + ", '')");
    REQUIRE(run_until(ev.get(), [&] { return counts.notes.size() == 2; }));
    CHECK(counts.notes[0].channel == kChannel);
    CHECK(counts.notes[0].payload == "p1");
    CHECK(counts.notes[0].backend_pid > 0);
    CHECK(counts.notes[1].payload.empty());
    CHECK(counts.lost == 0);
    CHECK(counts.listening == 1);
    listener.close();
    CHECK_FALSE(listener.listening());
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Listener listens again after the server restarts") {
  testkit::PgCluster cluster;
  loop::EventLoop ev;
  {
    ListenerCounts counts;
    pg::Listener listener(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("relisten"), kChannel,
                          counts.events());
    counts.listener = &listener;
    listener.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.listening == 1; }));

    cluster.restart();
    REQUIRE(run_until(ev.get(), [&] { return counts.listening == 2; }));
    CHECK(counts.lost == 1);
    CHECK_FALSE(counts.listening_during_lost);
    CHECK(listener.listening());

    cluster.exec("NOTIFY \"Wake Up \"\"now\"\"\", 'after restart'");
    REQUIRE(run_until(ev.get(), [&] { return counts.notes.size() == 1; }));
    CHECK(counts.notes[0].payload == "after restart");
    CHECK(counts.notes[0].channel == kChannel);
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Listener is not listening while the server is down") {
  testkit::PgCluster cluster;
  cluster.stop();
  loop::EventLoop ev;
  {
    ListenerCounts counts;
    pg::Listener listener(ev.get(), pg::ConnInfo::parse(cluster.url()), fast_options("down"), "outbox",
                          counts.events());
    counts.listener = &listener;
    listener.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.lost >= 2; }));
    CHECK_FALSE(listener.listening());
    CHECK(counts.listening == 0);
    cluster.start();
    REQUIRE(run_until(ev.get(), [&] { return counts.listening == 1; }));
    cluster.exec("NOTIFY outbox");
    REQUIRE(run_until(ev.get(), [&] { return counts.notes.size() == 1; }));
    CHECK(counts.notes[0].channel == "outbox");
  }
  CHECK(ev.close() == 0);
}

TEST_CASE("Listener rejects an empty channel name") {
  loop::EventLoop ev;
  CHECK_THROWS_AS(pg::Listener(ev.get(), pg::ConnInfo::parse(""), fast_options("bad"), "", {}),
                  std::invalid_argument);
  CHECK(ev.close() == 0);
}
