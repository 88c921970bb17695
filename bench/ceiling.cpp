#include <chrono>
#include <fstream>
#include <regex>
#include <stdexcept>

#include <unistd.h>

#include "bench/scenarios.hpp"
#include "relay/outbox_queries.hpp"

namespace bench {

namespace {

// pgbench names its parameters :name; the relay's statements use $n. Same statements, renamed markers.
std::string with_pgbench_variables(std::string_view sql, const std::vector<std::string>& names) {
  std::string out(sql);
  for (std::size_t n = names.size(); n >= 1; --n) {
    const std::string marker = "$" + std::to_string(n);
    for (auto at = out.find(marker); at != std::string::npos; at = out.find(marker, at))
      out.replace(at, marker.size(), ":" + names[n - 1]);
  }
  return out;
}

// pgbench wants each statement on one line.
std::string one_line(std::string sql) {
  for (char& c : sql)
    if (c == '\n') c = ' ';
  return sql;
}

// One transaction of the script: claim a batch as the relay does, then record it as sent as the relay does.
// \gset carries the claimed ids (and arrays shaped like the relay's outcome arrays) from one to the other.
std::string script() {
  const std::string claim = with_pgbench_variables(relay::queries::claim.sql, {"owner", "lease", "batch"});
  const std::string complete =
      with_pgbench_variables(relay::queries::complete.sql,
                             {"ids", "atts", "sts", "refunds", "codes", "errs", "delays", "owner", "maxatt"});
  return one_line("WITH claimed AS (" + claim +
                  ") SELECT coalesce(array_agg(id), '{}')::text AS ids,"
                  " coalesce(array_agg(attempts), '{}')::text AS atts,"
                  " array_fill('sent'::text, ARRAY[count(*)::int])::text AS sts,"
                  " array_fill(0, ARRAY[count(*)::int])::text AS refunds,"
                  " array_fill(200, ARRAY[count(*)::int])::text AS codes,"
                  " array_fill(NULL::text, ARRAY[count(*)::int])::text AS errs,"
                  " array_fill(0, ARRAY[count(*)::int])::text AS delays FROM claimed") +
         "\n\\gset\n" + one_line(complete) + ";\n";
}

std::string relay_session_options() {
  std::string options;
  for (const auto& [name, value] : relay::queries::work_session_settings())
    options.append(options.empty() ? "" : " ").append("-c ").append(name).append("=").append(value);
  return options;
}

}  // namespace

double database_ceiling(const Env& env, int rows, int clients) {
  constexpr int kBatch = 100;
  const std::string path = "/tmp/outbox-bench-ceiling-" + std::to_string(getpid()) + ".sql";
  std::ofstream(path) << script();
  env.preload(rows);
  env.exec("VACUUM ANALYZE outbox.messages");
  const int per_client = rows / (clients * kBatch);
  const auto started = std::chrono::steady_clock::now();
  env.pgbench({"-M", "prepared", "-c", std::to_string(clients), "-j", std::to_string(clients), "-t",
               std::to_string(per_client), "-D", "owner=pgbench", "-D", "lease=60000", "-D",
               "batch=" + std::to_string(kBatch), "-D", "maxatt=6", "-f", path},
              // The relay's own session settings, so that the ceiling is its ceiling.
              {{"PGOPTIONS", relay_session_options()}});
  const auto elapsed = std::chrono::steady_clock::now() - started;
  std::remove(path.c_str());
  const double sent = std::stod(env.value("SELECT count(*) FROM outbox.messages WHERE status = 'sent'"));
  if (sent < clients * per_client * kBatch * 0.99)
    throw std::runtime_error("the ceiling run did not complete");
  return sent / std::chrono::duration<double>(elapsed).count();
}

}  // namespace bench
