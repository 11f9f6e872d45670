#!/usr/bin/env bash
# bench/tail.sh: where the cache-off read's tail comes from (issue 11): the
# p99 / p50 of `GET /api/articles/:slug` with the cache off, next to the same
# spread of PostgreSQL alone (pgbench -S -M prepared) at the same connection
# count, in one run, for several database pool sizes.
#
#   bench/tail.sh            # BENCH_CONNECTIONS (32), pools "2 4 8"
#
# Seeds conduit_tail with bench/scale.sh --seed-only (10,000 articles through
# SQL), then for each pool size P starts conduitd (2 workers, cache off,
# --db-pool P) and runs `wrk -t1 -cC` for BENCH_DURATION seconds on article
# reads cycling over every slug, reading conduitd's own histograms from
# /metrics before and after: the wait for a pool connection and the query's
# round trip. Between the servers, `pgbench -S -M prepared -cC -j1` logs
# every transaction, so its p50 and p99 are exact. Prints one row per run:
# req/s, wrk's p50 and p99 and their ratio, and the server-side p99 bounds.
#
# Relies on: wrk, pgbench, psql, python3 (script/bootstrap); PostgreSQL and
# Redis of script/services; a conduitd built without sanitizers (CONDUITD,
# else script/build bench). Loopback only; bounded: about a minute plus the
# seeding.
#
# Environment: BENCH_DURATION (8), BENCH_CONNECTIONS (32), BENCH_POOLS ("2 4 8").
set -euo pipefail
{
root=$(cd "$(dirname "$0")/.." && pwd)
duration="${BENCH_DURATION:-8}"
conns="${BENCH_CONNECTIONS:-32}"
pools="${BENCH_POOLS:-2 4 8}"

for tool in wrk pgbench psql python3 curl; do
    command -v "$tool" >/dev/null || { echo "tail: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
eval "$("$root/script/services" start)"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
conduitd=$(bench_conduitd tail)
bench_work tail

base_url="postgresql://postgres@127.0.0.1:${CONDUIT_PG_PORT:-54329}"
CONDUITD="$conduitd" "$root/bench/scale.sh" --seed-only conduit_tail --articles 10000 >"$work/seed.log" 2>&1 ||
    { cat "$work/seed.log" >&2; exit 1; }
psql "$base_url/conduit_tail" -X -At -c "SELECT '/api/articles/' || slug FROM articles ORDER BY random()" \
    >"$work/slug.paths"
psql "$base_url/postgres" -X -q -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS conduit_tail_pgbench WITH (FORCE)" \
    -c "CREATE DATABASE conduit_tail_pgbench" >/dev/null
pgbench -i -s 10 -q "$base_url/conduit_tail_pgbench" >"$work/pgbench-init.log" 2>&1 ||
    { cat "$work/pgbench-init.log" >&2; exit 1; }

pgbench_row() {
    local dir="$work/pgbench-$1"
    mkdir -p "$dir"
    (cd "$dir" && pgbench -n -S -M prepared -c "$conns" -j 1 -T "$duration" -l --log-prefix=tx \
        "$base_url/conduit_tail_pgbench" >out.txt 2>&1) || { tail -n 5 "$dir/out.txt" >&2; exit 1; }
    cat "$dir"/tx* | awk '{ print $3 }' | sort -n | awk -v label="pgbench -S ($1)" '
        { a[NR] = $1 } END {
            p50 = a[int(NR * 0.50)] / 1000; p99 = a[int(NR * 0.99)] / 1000
            printf "%-22s %9s %8.2f %8.2f %7.1f %10s %10s\n", label, "-", p50, p99, p99 / p50, "-", "-" }'
    sed -n 's/^tps = \([0-9.]*\) (without.*/  (pgbench tps \1)/p' "$dir/out.txt"
}

# field NAME LINE: the value of NAME=value in a RESULT line.
field() {
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

conduitd_row() {
    local pool=$1 port admin line rps p50 p99
    port=$(bench_free_port)
    admin=$(bench_free_port)
    env -u REDIS_URL DATABASE_URL="$base_url/conduit_tail" CONDUIT_CACHE_TTL=0 \
        JWT_SECRET="bench-secret-0123456789abcdef0123456789" CONDUIT_ACCESS_LOG=off \
        CONDUIT_LOG_LEVEL=warn \
        "$conduitd" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --workers 2 --db-pool "$pool" </dev/null >"$work/conduitd-$pool.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    wrk -t1 -c"$conns" -d2s -s "$root/bench/wrk_api.lua" "http://127.0.0.1:$port" -- \
        "$work/slug.paths" >/dev/null 2>&1 || true
    curl -fsS "http://127.0.0.1:$admin/metrics" >"$work/before.prom"
    line=$(wrk -t1 -c"$conns" -d"${duration}s" --timeout 10s -s "$root/bench/wrk_api.lua" \
        "http://127.0.0.1:$port" -- "$work/slug.paths" | grep '^RESULT')
    curl -fsS "http://127.0.0.1:$admin/metrics" >"$work/after.prom"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    rps=$(field rps "$line")
    p50=$(field p50_ms "$line")
    p99=$(field p99_ms "$line")
    printf "%-22s %9.0f %8.2f %8.2f %7.1f %10s %10s\n" "conduitd --db-pool $pool" "$rps" "$p50" "$p99" \
        "$(python3 -c "print($p99 / $p50)")" \
        "$(python3 "$root/bench/prom_delta.py" "$work/before.prom" "$work/after.prom" conduitd_db_queue_wait_seconds 0.99)" \
        "$(python3 "$root/bench/prom_delta.py" "$work/before.prom" "$work/after.prom" conduitd_db_query_duration_seconds 0.99)"
    grep -q ' non2xx=0 socket_errors=0' <<<"$line" || echo "  errors: $line"
}

echo "tail: GET /api/articles/:slug, cache off, 2 workers, wrk -t1 -c$conns, ${duration}s each; $(uptime)"
printf "%-22s %9s %8s %8s %7s %10s %10s\n" run "req/s" "p50 ms" "p99 ms" p99/p50 "wait p99<=" "query p99<="
pgbench_row first
for p in $pools; do
    conduitd_row "$p"
done
pgbench_row last
echo "tail: wait and query p99 are bucket upper bounds (ms) from conduitd's histograms; $(uptime)"
exit 0
}
