#include "tests/integration/relay_fixture.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace testkit {

RelayFixture::RelayFixture() {
  auto migrated = run_binary({"migrate"});
  if (migrated.exit_code != 0) FAIL("migrate failed (" << migrated.exit_code << "): " << migrated.err);
}

std::vector<std::string> RelayFixture::relay_command(const std::vector<std::string>& extra) const {
  std::vector<std::string> cmd{OUTBOX_RELAY_BIN,  "run",      "--database-url",
                               pg.url(),          "--target", sink.url("/hook"),
                               "--poll-interval", "60s"};
  cmd.insert(cmd.end(), extra.begin(), extra.end());
  return cmd;
}

std::unique_ptr<Process> RelayFixture::start_relay(const std::vector<std::string>& extra, Process::Env env) {
  return std::make_unique<Process>(relay_command(extra), std::move(env));
}

RunResult RelayFixture::run_binary(const std::vector<std::string>& args, Process::Env env) {
  std::vector<std::string> cmd{OUTBOX_RELAY_BIN};
  cmd.insert(cmd.end(), args.begin(), args.end());
  env.emplace_back("DATABASE_URL", pg.url());
  return run(std::move(cmd), std::move(env), 60s);
}

void RelayFixture::insert_messages(int n, const std::string& extra_columns, const std::string& extra_values) {
  pg.exec("INSERT INTO outbox.messages (topic, payload" + extra_columns +
          ") SELECT 't', jsonb_build_object('n', g)" + extra_values + " FROM generate_series(1, " +
          std::to_string(n) + ") AS g");
}

std::int64_t RelayFixture::count(const std::string& where) const {
  return std::stoll(pg.query_value("SELECT count(*) FROM outbox.messages WHERE " + where));
}

std::string RelayFixture::scalar(const std::string& sql) const {
  return pg.query_value(sql);
}

bool RelayFixture::wait_count(const std::string& where, std::int64_t expected,
                              std::chrono::milliseconds timeout) const {
  return wait_until([&] { return count(where) == expected; }, timeout, 20ms);
}

bool RelayFixture::wait_relay_ready(std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        return scalar(
                   "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle' AND "
                   "(query LIKE 'LISTEN%' OR (application_name LIKE '%:claim' AND query LIKE "
                   "'%''processing''%'))") == "2";
      },
      timeout, 20ms);
}

std::vector<std::int64_t> delivered_ids(const HttpServer& sink) {
  std::vector<std::int64_t> ids;
  for (const auto& r : sink.requests())
    ids.push_back(std::stoll(r.header("webhook-id")));
  return ids;
}

int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace testkit
