#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL server for the test suites.
#
#   eval "$(bash scripts/test-postgres.sh start)"   # exports ONESHOT_TEST_DATABASE_URL
#   go test -race ./...
#   bash scripts/test-postgres.sh stop                # stops it and deletes its files
#   bash scripts/test-postgres.sh restart 3           # down for 3 seconds, then up again (chaos tests)
#
# The server listens on 127.0.0.1 only, on a free port, with trust authentication and
# fsync off: it is for tests, never for data you want to keep. It finds initdb and
# pg_ctl on PATH or under /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root,
# so when run as root the server runs as the `postgres` user (runuser or su).
#
# The server's whereabouts are kept in a state file, ${TMPDIR:-/tmp}/oneshot-test-postgres.env
# by default; set ONESHOT_TEST_POSTGRES_STATE to another path to run several at once.
# `start` while that server is running prints its URL again instead of starting another.
set -euo pipefail

state_file=${ONESHOT_TEST_POSTGRES_STATE:-${TMPDIR:-/tmp}/oneshot-test-postgres.env}
database=oneshot_test

die() {
  echo "test-postgres: $*" >&2
  exit 1
}

find_bindir() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local dir
  # Highest version first.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [[ -x $dir/pg_ctl && -x $dir/initdb ]]; then
      echo "$dir"
      return
    fi
  done
  die "initdb and pg_ctl not found on PATH or under /usr/lib/postgresql/*/bin: install the PostgreSQL server (e.g. apt-get install postgresql)"
}

# as_owner runs a command as the user that owns the server's files.
as_owner() {
  if [[ $(id -u) != 0 ]]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  fi
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

running() {
  [[ -f $state_file ]] || return 1
  # shellcheck disable=SC1090
  source "$state_file"
  as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

# server_options are the settings the server runs with, on port $1.
server_options() {
  echo "-c listen_addresses=127.0.0.1 -p $1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
}

print_url() {
  echo "export ONESHOT_TEST_DATABASE_URL='$URL'"
}

start() {
  if running; then
    print_url
    return
  fi
  rm -f "$state_file"

  local bindir base data port log url
  bindir=$(find_bindir)
  base=$(mktemp -d "${TMPDIR:-/tmp}/oneshot-pg.XXXXXX")
  # The server user must be able to reach its data directory inside base.
  chmod 0755 "$base"
  data=$base/data
  log=$base/server.log
  mkdir -m 0700 "$data"
  touch "$log"
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user to run the server as: create one (useradd -r postgres) or run as a normal user"
    chown postgres "$data" "$log"
  fi

  as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale --no-sync >"$base/initdb.log" 2>&1 ||
    { cat "$base/initdb.log" >&2; rm -rf "$base"; die "initdb failed (log above)"; }

  local attempt started=0
  for attempt in 1 2 3; do
    port=$(free_port)
    if as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "$(server_options "$port")" start >/dev/null 2>&1; then
      started=1
      break
    fi
    # Someone else may have taken the port between choosing and binding: try another.
  done
  if [[ $started != 1 ]]; then
    cat "$log" >&2
    rm -rf "$base"
    die "the server did not start (log above)"
  fi

  url="postgres://postgres@127.0.0.1:$port/$database?sslmode=disable"
  as_owner "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE $database" >/dev/null 2>&1 ||
    { as_owner "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$base"; die "could not create database $database"; }

  cat >"$state_file" <<EOF
BINDIR='$bindir'
BASE_DIR='$base'
PGDATA_DIR='$data'
PORT='$port'
URL='$url'
EOF
  URL=$url
  print_url
}

stop() {
  if [[ ! -f $state_file ]]; then
    echo "test-postgres: no server recorded in $state_file: nothing to stop" >&2
    return 0
  fi
  # shellcheck disable=SC1090
  source "$state_file"
  as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -t 30 stop >/dev/null 2>&1 ||
    as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true
  case $BASE_DIR in
    */oneshot-pg.*) rm -rf "$BASE_DIR" ;;
  esac
  rm -f "$state_file"
}

# restart [SECONDS] stops the server (fast: open connections are cut, as in a failover),
# keeps it down for SECONDS (default 0) and starts it again on the same port with the
# same data, for tests of how clients ride out a database outage.
restart() {
  local down=${1:-0}
  [[ $down =~ ^[0-9]+([.][0-9]+)?$ ]] || die "restart takes the seconds to stay down, e.g. restart 3 (got '$down')"
  running || die "no server is running in $state_file (start one with: $0 start)"
  as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -t 30 stop >/dev/null 2>&1 ||
    die "pg_ctl stop failed (log: $BASE_DIR/server.log)"
  sleep "$down"
  as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$BASE_DIR/server.log" -w -t 60 -o "$(server_options "$PORT")" start >/dev/null 2>&1 ||
    { tail -n 20 "$BASE_DIR/server.log" >&2; die "the server did not start again on port $PORT (log above)"; }
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  restart) restart "${2:-0}" ;;
  url)
    running || die "no server is running (start one with: $0 start)"
    print_url
    ;;
  *)
    echo "usage: $0 start|stop|restart [SECONDS]|url" >&2
    exit 2
    ;;
esac
