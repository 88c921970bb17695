#pragma once

#include "bench/env.hpp"
#include "bench/report.hpp"

// The benchmark's scenarios (issue 3). Each runs its repetitions on fresh clusters and adds its figures.
namespace bench {

// Drains a preloaded backlog; also the database ceiling (the relay's SQL driven by pgbench, no HTTP).
void measure_throughput(const Options& options, Report& report);
// Commit-to-arrival latency at steady insert rates, and the floor: a client POSTing right after COMMIT.
void measure_latency(const Options& options, Report& report);
// Insert tps of 8 concurrent writers with the wake-up mechanism versus a polling relay, and into a table
// with no trigger and no relay.
void measure_writer_overhead(const Options& options, Report& report);
// Resident memory with 1,000 requests in flight; CPU of an idle relay.
void measure_footprint(const Options& options, Report& report);

// Rows per second that the relay's claim and completion statements move through the database, driven by
// pgbench with `clients` connections and no HTTP at all.
double database_ceiling(const Env& env, int rows, int clients);

}  // namespace bench
