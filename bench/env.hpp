#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "bench/sink.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

namespace bench {

struct Options {
  bool quick = false;  // a smoke run: tiny counts, one repetition (CI keeps the program working with it)
  int repetitions = 3;
  int backlog = 0;  // messages the throughput scenario drains; 0: 100,000 (2,000 with quick)
  std::string json_path = "bench-results.json";
  std::vector<std::string> only;        // scenario names to run; empty: all
  std::vector<std::string> relay_args;  // extra flags for every relay the benchmark starts
  // The relay binary to measure: this build's by default; another build's for before/after comparisons.
  std::string relay_bin = OUTBOX_RELAY_BIN;
  // Where the latency scenario writes every message's latency (empty: nowhere), to look at a tail in time.
  std::string samples_path;
};

// What one scenario run stands on: a PostgreSQL 15 cluster with default settings (fsync and synchronous
// commit on, data on disk) and the schema migrated by the real binary, and an HTTP sink on 127.0.0.1 that
// records every request's arrival time and message id (bench::Sink: its own thread, as cheap as it gets).
class Env {
 public:
  explicit Env(const Options& options);

  testkit::PgCluster pg;
  Sink sink;

  std::unique_ptr<testkit::Process> start_relay(const std::vector<std::string>& extra = {}) const;
  void exec(const std::string& sql) const { pg.exec(sql); }
  std::string value(const std::string& sql) const { return pg.query_value(sql); }
  // INSERTs n messages with ~200-byte JSON payloads in one statement (the trigger fires once).
  void preload(int n) const;
  // CPU used so far by the server's processes (postmaster and every child alive now).
  std::chrono::milliseconds database_cpu() const;
  // Runs pgbench with `args` against the cluster; returns its stdout (throws if it fails).
  std::string pgbench(const std::vector<std::string>& args, testkit::Process::Env env = {}) const;

 private:
  const Options& options_;
};

// A ~200-byte JSON document, the payload of every benchmark message.
const std::string& payload();
// Resident set size of a process, in KiB (VmRSS), or -1.
long resident_kib(pid_t pid);
// CPU time a process has used so far (all its threads).
std::chrono::microseconds process_cpu(pid_t pid);
// Waits until `condition` holds or the deadline passes.
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace bench
