#include <csignal>
#include <exception>
#include <iostream>

#include <curl/curl.h>

#include "relay/check_command.hpp"
#include "relay/cli.hpp"
#include "relay/daemon.hpp"
#include "relay/dry_run.hpp"
#include "relay/log.hpp"
#include "relay/purge_command.hpp"
#include "relay/replay_command.hpp"
#include "relay/status_command.hpp"

namespace {

// libcurl's process-wide state, set up before and torn down after everything that uses it.
class CurlGlobal {
 public:
  CurlGlobal() : ok_(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) {}
  ~CurlGlobal() {
    if (ok_) curl_global_cleanup();
  }
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

int run_command(const relay::Config& config) {
  switch (config.command) {
    // A dry run reads one batch and exits, in place of the daemon or the drain: it must not claim.
    case relay::Command::run:
      return config.dry_run ? relay::DryRun(config).run() : relay::run_daemon(config);
    case relay::Command::drain:
      return config.dry_run ? relay::DryRun(config).run() : relay::run_drain(config);
    case relay::Command::migrate:
      return relay::run_migrate(config);
    case relay::Command::status:
      return relay::run_status(config, std::cout);
    case relay::Command::replay:
      return relay::run_replay(config, std::cout);
    case relay::Command::purge:
      return relay::run_purge(config, std::cout);
    case relay::Command::check:
      return relay::run_check(config, std::cout);
  }
  return relay::exit_code::usage;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer closing a socket mid-write must surface as an error on that socket, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  const relay::CliOutcome cli = relay::parse_command_line(argc, argv, std::cout, std::cerr);
  if (!cli.config) return cli.exit_code;
  const relay::Config& config = *cli.config;

  relay::log::install({.format = config.log_format,
                       .level = relay::log::parse_level(config.log_level).value_or(spdlog::level::info),
                       .run_id = relay::log::new_run_id(),
                       .service_name = config.service_name});
  CurlGlobal curl;
  if (!curl.ok()) {
    relay::log::event(spdlog::level::critical, "fatal", {{"error", "libcurl could not be initialised"}});
    return relay::exit_code::failure;
  }
  try {
    return run_command(config);
  } catch (const std::exception& e) {
    // Anything reaching here is a defect, not an operating condition: say so, loudly, and fail.
    relay::log::event(spdlog::level::critical, "fatal", {{"error", e.what()}});
    return relay::exit_code::failure;
  }
}
