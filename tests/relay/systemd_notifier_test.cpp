#include "relay/systemd_notifier.hpp"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop/event_loop.hpp"
#include "loop/poll.hpp"
#include "loop/timer.hpp"
#include "tests/support/notify_socket.hpp"

using namespace std::chrono_literals;
using relay::SystemdNotifier;

using testkit::NotifySocket;

namespace {

// Sets (or, with nullopt, removes) one environment variable for the scope, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    apply(value);
  }
  ~ScopedEnv() { apply(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void apply(const std::optional<std::string>& value) {
    if (value)
      setenv(name_.c_str(), value->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("without NOTIFY_SOCKET the notifier does nothing and arms no watchdog") {
  ScopedEnv no_socket("NOTIFY_SOCKET", std::nullopt);
  ScopedEnv watchdog("WATCHDOG_USEC", "100000");
  ScopedEnv any_pid("WATCHDOG_PID", std::nullopt);
  loop::EventLoop loop;
  SystemdNotifier notifier(loop.get());
  CHECK_FALSE(notifier.enabled());
  CHECK(notifier.watchdog_interval() == 0us);
  notifier.ready();
  notifier.status("idle");
  notifier.stopping();
  loop.run();  // returns at once: the notifier keeps nothing alive
}

TEST_CASE("READY=1, STATUS= and STOPPING=1 reach NOTIFY_SOCKET, one datagram each") {
  NotifySocket systemd;
  ScopedEnv socket("NOTIFY_SOCKET", systemd.path());
  ScopedEnv no_watchdog("WATCHDOG_USEC", std::nullopt);
  loop::EventLoop loop;
  SystemdNotifier notifier(loop.get());
  CHECK(notifier.enabled());
  CHECK(notifier.watchdog_interval() == 0us);
  CHECK(systemd.receive().empty());  // no watchdog asked for: no ping

  notifier.ready();
  notifier.status("catching up: 12 rows");
  notifier.stopping();
  const auto got = systemd.receive();
  REQUIRE(got.size() == 3);
  CHECK(got[0].find("READY=1\n") == 0);
  CHECK(got[1] == "STATUS=catching up: 12 rows");
  CHECK(got[2].find("STOPPING=1\n") == 0);
}

TEST_CASE("WATCHDOG=1 is sent every half of WATCHDOG_USEC, from the loop only") {
  NotifySocket systemd;
  ScopedEnv socket("NOTIFY_SOCKET", systemd.path());
  ScopedEnv watchdog("WATCHDOG_USEC", "200000");
  ScopedEnv our_pid("WATCHDOG_PID", std::to_string(getpid()));
  loop::EventLoop loop;
  SystemdNotifier notifier(loop.get());
  REQUIRE(notifier.watchdog_interval() == 200ms);
  // One ping at once, so systemd's clock starts from a fresh ping.
  CHECK(systemd.receive() == std::vector<std::string>{"WATCHDOG=1"});

  // A loop that does not run (a hung daemon) sends nothing more, however long it waits.
  std::this_thread::sleep_for(250ms);
  CHECK(systemd.receive().empty());

  notifier.ready();
  std::vector<std::chrono::steady_clock::time_point> pings;
  bool ready_seen = false;
  loop::Poll reader(loop.get(), [&](int, int) {
    for (const auto& m : systemd.receive()) {
      if (m == "WATCHDOG=1") pings.push_back(std::chrono::steady_clock::now());
      if (m.find("READY=1") == 0) ready_seen = true;
    }
    if (pings.size() >= 4) loop.stop();
  });
  REQUIRE(reader.watch(systemd.fd(), UV_READABLE) == 0);
  bool timed_out = false;
  loop::Timer deadline(loop.get(), [&] {
    timed_out = true;
    loop.stop();
  });
  deadline.start(10s);
  loop.run();
  reader.stop();

  REQUIRE_FALSE(timed_out);
  CHECK(ready_seen);
  // The first ping of the run was overdue and came at once; each later one waits for half the interval.
  const auto spacing = std::chrono::duration_cast<std::chrono::milliseconds>(pings[3] - pings[1]);
  INFO("two intervals took " << spacing.count() << " ms");
  CHECK(spacing >= 190ms);
}

TEST_CASE("a watchdog meant for another process (WATCHDOG_PID) is not ours to ping") {
  NotifySocket systemd;
  ScopedEnv socket("NOTIFY_SOCKET", systemd.path());
  ScopedEnv watchdog("WATCHDOG_USEC", "200000");
  ScopedEnv other_pid("WATCHDOG_PID", std::to_string(getppid()));
  loop::EventLoop loop;
  SystemdNotifier notifier(loop.get());
  CHECK(notifier.enabled());
  CHECK(notifier.watchdog_interval() == 0us);
  CHECK(systemd.receive().empty());
}

TEST_CASE("a NOTIFY_SOCKET nobody listens on is survived") {
  std::string dir = "/tmp/outbox-notify-XXXXXX";
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  ScopedEnv socket("NOTIFY_SOCKET", dir + "/nobody");
  ScopedEnv no_watchdog("WATCHDOG_USEC", std::nullopt);
  loop::EventLoop loop;
  SystemdNotifier notifier(loop.get());
  CHECK_NOTHROW(notifier.ready());
  CHECK_NOTHROW(notifier.stopping());
  rmdir(dir.c_str());
}
