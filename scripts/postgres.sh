#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for the tests and the benchmarks (never for real studies):
#   scripts/postgres.sh start DIR PORT   initdb in DIR where needed, then serve 127.0.0.1:PORT (socket in DIR)
#   scripts/postgres.sh restart DIR      stop (fast) and start again with the same settings
#   scripts/postgres.sh stop DIR
# The superuser is `receptor`, trusted on loopback: postgres://receptor@127.0.0.1:PORT/postgres.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that Debian's package
# creates (scripts/test.sh installs the package).
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL's server is not installed (Debian: apt-get install postgresql)" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

command=${1:?start, restart or stop}
dir=${2:?the folder of the server}
case "$command" in
start)
    port=${3:?the port}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U receptor -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # fsync off: a test server's data may be lost with the machine, never with a process.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    ;;
restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
*)
    echo "unknown command $command: start, restart or stop" >&2
    exit 2
    ;;
esac
