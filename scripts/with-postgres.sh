#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster, started here and removed afterwards.
#   scripts/with-postgres.sh CMD [ARGS...]
# The command sees PASSPORT_TEST_DATABASE_URL (a superuser URL to the cluster's postgres
# database). As root, the cluster runs as the "postgres" user, since PostgreSQL refuses root.
set -euo pipefail

bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with-postgres: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 2
fi

datadir=$(mktemp -d /tmp/passport-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$datadir"
  run=(runuser -u postgres --)
fi

cleanup() {
  "${run[@]}" "$bindir/pg_ctl" -D "$datadir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$datadir"
}
trap cleanup EXIT

"${run[@]}" "$bindir/initdb" -D "$datadir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
# Throwaway cluster tuned for tests: durability off, no disk syncs.
"${run[@]}" "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w start -o \
  "-p $port -k $datadir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null

export PASSPORT_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
echo "with-postgres: cluster on port $port (PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'))" >&2
"$@"
