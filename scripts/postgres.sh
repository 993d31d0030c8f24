#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on loopback, owned by the postgres user: there is
# no service manager on CI machines, so the project starts and stops it itself.
#
#   scripts/postgres.sh start   # installs Debian's package if missing, initdb, pg_ctl -w start;
#                               # prints the connection URL on stdout
#   scripts/postgres.sh stop    # stops the cluster and removes its directory
#   scripts/postgres.sh url     # prints the connection URL
#
# Port and directory can be moved with FIELDBOOK_PG_PORT and FIELDBOOK_PG_DIR.
set -euo pipefail

PORT="${FIELDBOOK_PG_PORT:-54329}"
DIR="${FIELDBOOK_PG_DIR:-/tmp/fieldbook-pg}"
DB=fieldbook_test
URL="postgres://postgres@127.0.0.1:${PORT}/${DB}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root runuser -u postgres -- "$@"; }

bin_dir() {
  local v
  v="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
  [ -n "$v" ] && echo "/usr/lib/postgresql/$v/bin"
}

install_if_missing() {
  if [ -z "$(bin_dir)" ]; then
    echo "installing PostgreSQL (Debian package)" >&2
    as_root apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql >&2
  fi
}

start() {
  install_if_missing
  local bin
  bin="$(bin_dir)"
  if as_postgres "$bin/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
    echo "$URL"
    return
  fi
  as_root rm -rf "$DIR"
  as_root mkdir -p "$DIR"
  as_root chown postgres: "$DIR"
  # trust on loopback only: a test cluster that lives for one CI run, listening nowhere else.
  as_postgres "$bin/initdb" -D "$DIR" -U postgres --auth=trust --encoding=UTF8 >/dev/null
  as_postgres "$bin/pg_ctl" -D "$DIR" -w -t 60 -l "$DIR/server.log" \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=on" \
    start >/dev/null
  as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
  echo "$URL"
}

stop() {
  local bin
  bin="$(bin_dir)"
  if [ -n "$bin" ] && [ -d "$DIR" ]; then
    as_postgres "$bin/pg_ctl" -D "$DIR" -w -m fast stop >/dev/null 2>&1 || true
  fi
  as_root rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
