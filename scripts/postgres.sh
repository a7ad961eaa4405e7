#!/usr/bin/env bash
# Start (or reuse) a private PostgreSQL cluster for this checkout's tests on 127.0.0.1 and print
# the lines to eval. Directory and port are derived from the checkout's path, so two checkouts
# (two CI runs, a developer and CI) never share or stop each other's database.
#   eval "$(bash scripts/postgres.sh start)"   → exports ENFORCER_TEST_PG (and ENFORCER_PG_STARTED=1
#                                                when this call started the server)
#   bash scripts/postgres.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
key=$(pwd -P | cksum | cut -d' ' -f1)
DIR=${ENFORCER_PG_DIR:-/tmp/enforcer-pg-$key}
PORT=${ENFORCER_PG_PORT:-$((20000 + key % 20000))}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$BIN" ] || { echo "postgres: not installed" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-start}" in
  start)
    if [ ! -f "$DIR/PG_VERSION" ]; then
      mkdir -p "$DIR"; [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
      as_pg "$BIN/initdb" -D "$DIR" -A trust -U postgres >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$DIR" -w -l "$DIR/log" \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off" start >/dev/null
      echo "export ENFORCER_PG_STARTED=1"
    fi
    as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='enforcer_test'" \
      | grep -q 1 || as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres enforcer_test
    echo "export ENFORCER_TEST_PG=postgresql+psycopg://postgres@127.0.0.1:$PORT/enforcer_test"
    ;;
  stop)
    as_pg "$BIN/pg_ctl" -D "$DIR" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
