#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests: initdb into a temp dir, a free loopback port,
# trust auth for the `oss` user. Prints `export` lines for the caller to eval; stop it with
# `scripts/postgres.sh stop DIR`. Installs PostgreSQL from Debian's packages when missing.
# With OSS_PG_TLS_DIR=DIR (holding server.crt and server.key), the server has ssl=on and
# accepts TCP connections over TLS only (hostssl; plain-text ones are rejected).
set -euo pipefail

bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

as_owner() { # run as the data directory's owner (initdb refuses to run as root)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  dir=$2
  as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi

if [ -z "$(bin_dir)" ]; then
  echo "PostgreSQL is not installed; installing it from Debian's packages" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
pg=$(bin_dir)
[ -n "$pg" ] || { echo "error: PostgreSQL is needed for the tests (apt-get install postgresql)" >&2; exit 1; }

dir=$(mktemp -d /tmp/oss-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner "$pg/initdb" -D "$dir/data" -U oss -A trust --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
if [ -n "${OSS_PG_TLS_DIR:-}" ]; then
  install -m 600 "$OSS_PG_TLS_DIR/server.crt" "$OSS_PG_TLS_DIR/server.key" "$dir/data/"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/data/server.crt" "$dir/data/server.key"
  printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n' >"$dir/data/pg_hba.conf"
  options="$options -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
fi
as_owner "$pg/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "$options" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
echo "export OSS_TEST_PG_URL=postgres://oss@127.0.0.1:$port/postgres"
echo "export OSS_TEST_PG_DIR=$dir"
