// The real binary under a systemd-like supervisor: NOTIFY_SOCKET and WATCHDOG_USEC in its environment, as
// systemd sets them for a unit of Type=notify with WatchdogSec=.
#include <algorithm>
#include <stdexcept>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/relay_fixture.hpp"
#include "tests/support/notify_socket.hpp"

using namespace testkit;

namespace {

// The supervisor's end: a unix datagram socket bound in a fresh temp dir; keeps every datagram it reads.

}  // namespace

TEST_CASE("under NOTIFY_SOCKET the relay sends READY=1, watchdog pings and STOPPING=1, and still delivers") {
  RelayFixture f;
  NotifySocket systemd;
  auto relay = f.start_relay(
      {}, {{"NOTIFY_SOCKET", systemd.path()}, {"WATCHDOG_USEC", "300000"}, {"WATCHDOG_PID", "\x01"}});
  REQUIRE_WITH_LOG(wait_until([&] { return systemd.count("READY=1") == 1; }, 20s), *relay);

  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 10s), *relay);
  // Pings every 150 ms, from the running loop.
  REQUIRE_WITH_LOG(wait_until([&] { return systemd.count("WATCHDOG=1") >= 3; }, 10s), *relay);
  CHECK(systemd.count("STOPPING=1") == 0);

  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  CHECK(systemd.count("STOPPING=1") == 1);
  CHECK(systemd.count("READY=1") == 1);
}

TEST_CASE("a NOTIFY_SOCKET that cannot be written is logged once and does not stop the relay") {
  RelayFixture f;
  auto relay = f.start_relay({}, {{"NOTIFY_SOCKET", "/nonexistent/notify"}, {"WATCHDOG_USEC", "\x01"}});
  f.insert_messages(1);
  REQUIRE_WITH_LOG(f.sink.wait_for_requests(1, 20s), *relay);
  relay->signal(SIGTERM);
  REQUIRE_WITH_LOG(relay->wait(20s) == 0, *relay);
  const std::string err = relay->err();
  const std::string needle = "systemd notification failed";
  CHECK(err.find(needle) != std::string::npos);
  CHECK(err.find(needle) == err.rfind(needle));
}
