#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <signal.h>

#include "tests/support/http_server.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"
#include "tests/support/wait.hpp"

// Fails the test with the relay's log attached when a condition does not come true in time.
#define REQUIRE_WITH_LOG(condition, relay)                                             \
  do {                                                                                 \
    if (!(condition)) FAIL(#condition << "\n--- relay stderr ---\n" << (relay).err()); \
  } while (false)

namespace testkit {

using namespace std::chrono_literals;

// A real PostgreSQL cluster with the outbox schema migrated by the real binary, a real HTTP sink on
// 127.0.0.1, and helpers to start relays against them.
class RelayFixture {
 public:
  RelayFixture();

  PgCluster pg;
  HttpServer sink;

  // The arguments every relay in these tests gets: the database, the sink, and a safety sweep so long
  // that a lost wake-up shows up as a test timeout instead of being papered over.
  std::vector<std::string> relay_command(const std::vector<std::string>& extra) const;
  std::unique_ptr<Process> start_relay(const std::vector<std::string>& extra = {}, Process::Env env = {});
  RunResult run_binary(const std::vector<std::string>& args, Process::Env env = {});

  // INSERTs n rows (topic t, payload {"n": i}) in one statement; returns nothing, ids start at 1 on a fresh
  // table.
  void insert_messages(int n, const std::string& extra_columns = "", const std::string& extra_values = "");
  std::int64_t count(const std::string& where) const;
  std::string scalar(const std::string& sql) const;
  // Waits until a relay has started up and gone idle: listening, and its first claim done.
  bool wait_relay_ready(std::chrono::milliseconds timeout) const;
  // Waits until `count(where) == expected`.
  bool wait_count(const std::string& where, std::int64_t expected, std::chrono::milliseconds timeout) const;
};

// The ids carried by the webhook-id header of the requests recorded so far, in arrival order.
std::vector<std::int64_t> delivered_ids(const HttpServer& sink);

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released, without listen()).
int closed_port();

}  // namespace testkit
