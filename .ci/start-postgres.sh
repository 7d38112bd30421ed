#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1:${PGPORT:-5433} (data in $1, default /tmp/cairn-pg)
# and prints the URL to use as CAIRN_TEST_DATABASE_URL. Installs the Debian package if needed.
set -euo pipefail
DATA="${1:-/tmp/cairn-pg}"
PORT="${PGPORT:-5433}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
# A server already answering on the port (a developer's, or an earlier run) is used as it is.
if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  echo "$URL"; exit 0
fi
if [ ! -f "$DATA/PG_VERSION" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"; chown postgres:postgres "$DATA"
  runuser -u postgres -- "$BIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
fi
if ! runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -l "$DATA/log" -w start \
    -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
fi
"$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 10
echo "$URL"
