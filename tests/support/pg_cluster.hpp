#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace testkit {

// A throwaway PostgreSQL 15 cluster for one test: its own data directory and unix socket in a fresh temp
// directory (so no port can collide), no TCP listener. The data directory is copied from an initdb template
// that is built once per build tree (under a file lock, so parallel tests share it). As root, every server
// process runs as the `postgres` user (runuser), since PostgreSQL refuses to run as root.
// PG_BINDIR overrides the server binaries' directory (default /usr/lib/postgresql/15/bin).
class PgCluster {
 public:
  struct Options {
    // Tests want speed: no fsync, on tmpfs when it is big enough. Benchmarks want PostgreSQL as shipped:
    // durable=true keeps the default settings (fsync, synchronous_commit) and a data directory on disk.
    bool durable = false;
  };

  // Creates and starts the cluster; throws std::runtime_error with the server log tail on failure.
  PgCluster();
  explicit PgCluster(Options options);
  // Stops the server (immediate) and removes the directory.
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // postgresql:///DB?host=SOCKET_DIR&port=PORT&user=postgres
  std::string url(std::string_view dbname = "postgres") const;
  const std::string& socket_dir() const { return dir_; }
  int port() const { return port_; }

  void start();
  void stop();  // fast shutdown; waits until stopped
  void restart();
  bool running() const;
  pid_t postmaster_pid() const;

  // Blocking helpers on a fresh connection each; throw std::runtime_error (with the server message) on error.
  void exec(std::string_view sql, std::string_view dbname = "postgres") const;
  // First column of the first row ("" for NULL); throws if no row.
  std::string query_value(std::string_view sql, std::string_view dbname = "postgres") const;
  std::vector<std::vector<std::string>> query(std::string_view sql,
                                              std::string_view dbname = "postgres") const;

 private:
  Options options_;
  std::string dir_;
  std::string data_dir_;
  int port_ = 5432;
};

}  // namespace testkit
