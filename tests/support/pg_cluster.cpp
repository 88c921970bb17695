#include "tests/support/pg_cluster.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tests/support/process.hpp"

#ifndef OUTBOX_TEST_PG_TEMPLATE
#error "OUTBOX_TEST_PG_TEMPLATE must name the build tree's initdb template directory"
#endif

namespace testkit {

namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

std::string bindir() {
  return env_or("PG_BINDIR", "/usr/lib/postgresql/15/bin");
}

std::string template_dir() {
  return env_or("OUTBOX_TEST_PG_TEMPLATE", OUTBOX_TEST_PG_TEMPLATE);
}

// PostgreSQL refuses to run as root, and the machines and CI run as root.
bool as_root() {
  return geteuid() == 0;
}

std::string runuser_path() {
  for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"})
    if (access(p, X_OK) == 0) return p;
  throw std::runtime_error("PgCluster: running as root, but runuser is not installed");
}

// A server program, run as the postgres user when we are root.
std::vector<std::string> server_command(const std::string& program, std::vector<std::string> args) {
  std::vector<std::string> argv;
  if (as_root()) argv = {runuser_path(), "-u", "postgres", "--"};
  argv.push_back(bindir() + "/" + program);
  argv.insert(argv.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  return argv;
}

std::string describe(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

RunResult run_checked(const std::vector<std::string>& argv, const std::string& extra_context = {}) {
  auto r = run(argv, {}, seconds(120));
  if (r.exit_code != 0) {
    throw std::runtime_error("PgCluster: `" + describe(argv) + "` exited with " +
                             std::to_string(r.exit_code) + "\n" + r.out + r.err + extra_context);
  }
  return r;
}

void give_to_postgres(const std::string& path) {
  if (!as_root()) return;
  const passwd* pw = getpwnam("postgres");
  if (pw == nullptr) throw std::runtime_error("PgCluster: running as root, but there is no postgres user");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw std::runtime_error("PgCluster: chown " + path + ": " + std::strerror(errno));
}

std::string make_temp_dir(std::string pattern) {
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("PgCluster: mkdtemp " + pattern + ": " + std::strerror(errno));
  return pattern;
}

// An exclusive flock held for the object's life; parallel test processes queue on it.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw std::runtime_error("PgCluster: open " + path + ": " + std::strerror(errno));
    while (flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd_);
      throw std::runtime_error("PgCluster: flock " + path + ": " + std::strerror(err));
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

// initdb is the slow part (seconds); every cluster of a build tree copies the one it made (milliseconds).
void ensure_template(const std::string& path) {
  if (fs::exists(path + "/PG_VERSION")) return;
  fs::create_directories(fs::path(path).parent_path());
  FileLock lock(path + ".lock");
  if (fs::exists(path + "/PG_VERSION")) return;  // another process built it while we waited
  fs::remove_all(path);
  // initdb runs in /tmp, which the postgres user can always reach (a build tree under /root is not).
  const std::string work = make_temp_dir("/tmp/outbox-initdb-XXXXXX");
  give_to_postgres(work);
  try {
    run_checked(server_command("initdb", {"-D", work + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                          "--no-locale", "--no-sync", "--no-instructions"}));
    // Copied next to the final path, then renamed: other processes see no template or a whole one.
    const std::string staging = path + ".tmp-" + std::to_string(getpid());
    fs::remove_all(staging);
    run_checked({"/bin/cp", "-a", work + "/data", staging});
    fs::rename(staging, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(work, ignored);
    throw;
  }
  fs::remove_all(work);
}

// Where clusters live. Creating the ~1,000 files of a data directory costs over a second on some disks and
// milliseconds on tmpfs, so /dev/shm is used when it is large enough for several clusters side by side (a
// container's default 64 MB /dev/shm is not).
std::string cluster_parent_dir() {
  struct statvfs fs_info {};
  constexpr unsigned long long kEnough = 1ULL << 30;
  if (statvfs("/dev/shm", &fs_info) == 0 &&
      static_cast<unsigned long long>(fs_info.f_bavail) * fs_info.f_frsize >= kEnough &&
      access("/dev/shm", W_OK) == 0)
    return "/dev/shm";
  return "/tmp";
}

std::string tail_of_file(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);)
    all.push_back(line);
  std::string out;
  for (auto i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += all[i] + "\n";
  return out;
}

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// One blocking statement on a fresh connection; throws with the server's message unless it succeeded.
ResultPtr run_sql(const std::string& url, std::string_view sql) {
  std::unique_ptr<PGconn, ConnDeleter> conn(PQconnectdb(url.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
    throw std::runtime_error("PgCluster: cannot connect: " +
                             std::string(conn ? PQerrorMessage(conn.get()) : ""));
  const std::string text(sql);
  ResultPtr r(PQexec(conn.get(), text.c_str()));
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw std::runtime_error("PgCluster: `" + text + "` failed: " + PQerrorMessage(conn.get()));
  return r;
}

}  // namespace

PgCluster::PgCluster() : PgCluster(Options{}) {}

PgCluster::PgCluster(Options options) : options_(options) {
  const std::string tpl = template_dir();
  ensure_template(tpl);
  dir_ = make_temp_dir((options_.durable ? std::string("/tmp") : cluster_parent_dir()) + "/outbox-pg-XXXXXX");
  try {
    // The server creates its socket and log here, so the directory must be the postgres user's.
    give_to_postgres(dir_);
    data_dir_ = dir_ + "/data";
    run_checked({"/bin/cp", "-a", tpl, data_dir_});
    start();
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    throw;
  }
}

PgCluster::~PgCluster() {
  try {
    if (running())
      run(server_command("pg_ctl", {"-D", data_dir_, "-m", "immediate", "-w", "stop"}), {}, seconds(60));
  } catch (...) {
    // A destructor must not throw; the directory is removed regardless.
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string PgCluster::url(std::string_view dbname) const {
  return "postgresql:///" + std::string(dbname) + "?host=" + dir_ + "&port=" + std::to_string(port_) +
         "&user=postgres";
}

void PgCluster::start() {
  const std::string log = dir_ + "/server.log";
  std::string options = "-c listen_addresses='' -k " + dir_ + " -p " + std::to_string(port_);
  if (!options_.durable)
    options +=
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        " -c shared_buffers=32MB -c max_prepared_transactions=10";
  try {
    run_checked(
        server_command("pg_ctl", {"-D", data_dir_, "-l", log, "-o", options, "-w", "-t", "60", "start"}));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + "\n--- server log (tail) ---\n" + tail_of_file(log, 40));
  }
}

void PgCluster::stop() {
  const std::string log = dir_ + "/server.log";
  try {
    run_checked(server_command("pg_ctl", {"-D", data_dir_, "-m", "fast", "-w", "-t", "60", "stop"}));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + "\n--- server log (tail) ---\n" + tail_of_file(log, 40));
  }
}

void PgCluster::restart() {
  stop();
  start();
}

bool PgCluster::running() const {
  const pid_t pid = postmaster_pid();
  return pid > 0 && ::kill(pid, 0) == 0;
}

pid_t PgCluster::postmaster_pid() const {
  std::ifstream in(data_dir_ + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid)) return 0;
  return static_cast<pid_t>(pid);
}

void PgCluster::exec(std::string_view sql, std::string_view dbname) const {
  run_sql(url(dbname), sql);
}

std::string PgCluster::query_value(std::string_view sql, std::string_view dbname) const {
  const auto r = run_sql(url(dbname), sql);
  if (PQntuples(r.get()) < 1 || PQnfields(r.get()) < 1)
    throw std::runtime_error("PgCluster: `" + std::string(sql) + "` returned no row");
  return PQgetvalue(r.get(), 0, 0);
}

std::vector<std::vector<std::string>> PgCluster::query(std::string_view sql, std::string_view dbname) const {
  const auto r = run_sql(url(dbname), sql);
  std::vector<std::vector<std::string>> rows(static_cast<std::size_t>(PQntuples(r.get())));
  for (int row = 0; row < PQntuples(r.get()); ++row) {
    for (int col = 0; col < PQnfields(r.get()); ++col)
      rows[static_cast<std::size_t>(row)].emplace_back(PQgetvalue(r.get(), row, col));
  }
  return rows;
}

}  // namespace testkit
