# Shared by the scripts in scripts/: package checks and a throwaway PostgreSQL cluster.
# shellcheck shell=bash

# Everything needed to build outbox-relay and run its tests, as Debian 12 packages.
BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config clang-format
  libpq-dev libuv1-dev libcurl4-openssl-dev libspdlog-dev libcli11-dev libsystemd-dev libtomlplusplus-dev libhttp-parser-dev catch2
  postgresql-15 ca-certificates
)
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

# Installs the packages that are not installed yet (as root), and nothing when all are there.
ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: these packages are missing and installing them needs root: ${missing[*]}" >&2
    return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Runs a PostgreSQL server binary; as root, as the postgres user (PostgreSQL refuses to run as root).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts a throwaway cluster in a fresh temp dir, listening only on a unix socket in that dir.
# Sets PG_DIR and DATABASE_URL. stop_throwaway_postgres removes it.
start_throwaway_postgres() {
  PG_DIR=$(mktemp -d /tmp/outbox-pg-XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
  as_postgres "$PG_BINDIR/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  as_postgres "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -s \
    -o "-c listen_addresses='' -k $PG_DIR -p 5432" start
  DATABASE_URL="postgresql:///postgres?host=$PG_DIR&port=5432&user=postgres"
  export DATABASE_URL PG_DIR
}

stop_throwaway_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  as_postgres "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -s stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=
}
