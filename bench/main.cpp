// outbox-bench: the benchmark suite of issue 3. One command; prints a table and writes JSON.
//   outbox-bench [--quick] [--repetitions N] [--json FILE] [--only NAME]... [--relay-arg FLAG]...
//                [--relay-bin PATH] [--samples FILE] [--backlog N]
// NAME: throughput, latency, writers, footprint. See bench/README.md.
#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>

#include <curl/curl.h>

#include "bench/scenarios.hpp"

namespace {

void usage() {
  std::cerr << "usage: outbox-bench [--quick] [--repetitions N] [--json FILE] [--only "
               "throughput|latency|writers|footprint]... [--relay-arg FLAG]... [--relay-bin PATH]\n"
               "                    [--samples FILE] [--backlog N]\n";
}

bool wanted(const bench::Options& o, const std::string& name) {
  return o.only.empty() || std::find(o.only.begin(), o.only.end(), name) != o.only.end();
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options options;
  std::string command_line;
  for (int i = 0; i < argc; ++i)
    command_line += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      options.quick = true;
      options.repetitions = 1;
    } else if (arg == "--repetitions" && has_value) {
      options.repetitions = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--json" && has_value) {
      options.json_path = argv[++i];
    } else if (arg == "--only" && has_value) {
      options.only.emplace_back(argv[++i]);
    } else if (arg == "--relay-arg" && has_value) {
      options.relay_args.emplace_back(argv[++i]);
    } else if (arg == "--relay-bin" && has_value) {
      options.relay_bin = argv[++i];
    } else if (arg == "--samples" && has_value) {
      options.samples_path = argv[++i];
    } else if (arg == "--backlog" && has_value) {
      options.backlog = std::max(1, std::atoi(argv[++i]));
    } else {
      usage();
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  bench::Report report;
  try {
    if (wanted(options, "throughput")) bench::measure_throughput(options, report);
    if (wanted(options, "latency")) bench::measure_latency(options, report);
    if (wanted(options, "writers")) bench::measure_writer_overhead(options, report);
    if (wanted(options, "footprint")) bench::measure_footprint(options, report);
  } catch (const std::exception& e) {
    std::cerr << "outbox-bench: " << e.what() << "\n";
    report.print(std::cout);
    curl_global_cleanup();
    return 1;
  }
  report.print(std::cout);
  report.write_json(options.json_path, command_line);
  std::cout << "\nJSON: " << options.json_path << "\n";
  curl_global_cleanup();
  return 0;
}
