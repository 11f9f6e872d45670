#!/usr/bin/env bash
# bench/overload.sh: the DB-bound read past capacity (issue 11, points 3
# and 4), in one run.
#
# Seeds a fresh database (conduit_overload) through the API (bench/seed.py),
# starts conduitd with the cache off (every GET /api/articles/:slug is one
# PostgreSQL query), then for each connection count in OVERLOAD_CONNS
# (default "16 32 4096") runs a 2 s warm-up and `wrk -t2 -cN -dDURATION`
# with bench/wrk_overload.lua. Per run it prints goodput (2xx/s), refusals
# per second (503 with and without Retry-After), other answers, socket
# errors and timeouts, p50 and p99 of all answers and of the 2xx alone, the
# largest worker resident set seen (VmRSS sampled every 0.5 s), and from
# /metrics deltas the p50/p99 of the time queries waited for a database
# connection (conduitd_db_queue_wait_seconds) and of the queries themselves,
# and the shed counters by reason. Last, the ratio of the goodput at the
# largest count to the throughput at the first.
#
# Then the same load again from h2load (2 s warm-up, DURATION measured),
# whose per-request log gives the exact p50/p99 of the 2xx answers and of
# the 503s apart (bench/h2load_split.py): wrk's one histogram mixes them.
#
# Relies on: wrk, h2load (nghttp2-client; OVERLOAD_H2LOAD=0 skips it),
# psql, curl, python3; PostgreSQL from DATABASE_URL (else
# `script/services start`); a conduitd built without sanitizers (CONDUITD,
# else script/build bench). Raises the open-file limit to the hard limit
# (at least 16384). Loopback only; bounded: about
# 2 * (2 + DURATION) * |OVERLOAD_CONNS| seconds plus seeding.
#
# Environment: OVERLOAD_CONNS ("16 32 4096"), OVERLOAD_DURATION (10),
# OVERLOAD_WORKERS (2), OVERLOAD_ARGS (extra conduitd flags; docs/benchmarks.md
# compares the defaults with "--shed-repeat-ms 0" and "--max-in-flight 64").
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
conns_list="${OVERLOAD_CONNS:-16 32 4096}"
duration="${OVERLOAD_DURATION:-10}"
workers="${OVERLOAD_WORKERS:-2}"
read -r -a extra_args <<<"${OVERLOAD_ARGS:-}"

use_h2load="${OVERLOAD_H2LOAD:-1}"
[ "$use_h2load" = 0 ] || command -v h2load >/dev/null ||
    { echo "overload: h2load not found (run script/bootstrap, or OVERLOAD_H2LOAD=0)" >&2; exit 2; }
for tool in wrk psql curl python3; do
    command -v "$tool" >/dev/null || { echo "overload: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
# 4,096 connections need about 8,200 descriptors (wrk's and the workers').
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 16384 ] ||
    { echo "overload: the open-file limit must allow 16384 (hard limit $(ulimit -Hn))" >&2; exit 2; }
if [ -z "${DATABASE_URL:-}" ]; then
    eval "$("$root/script/services" start)"
fi
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
conduitd=$(bench_conduitd overload)
bench_work overload

base_url="${DATABASE_URL%/*}"
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS conduit_overload WITH (FORCE)" \
    -c "CREATE DATABASE conduit_overload" >/dev/null
db="$base_url/conduit_overload"
export CONDUIT_MIGRATIONS_DIR="${CONDUIT_MIGRATIONS_DIR:-$root/migrations}"
DATABASE_URL="$db" "$conduitd" migrate >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; exit 1; }

port=$(bench_free_port)
admin=$(bench_free_port)
env -u REDIS_URL DATABASE_URL="$db" CONDUIT_CACHE_TTL=0 \
    JWT_SECRET="bench-secret-0123456789abcdef0123456789" CONDUIT_ACCESS_LOG=off \
    CONDUIT_LOG_LEVEL=warn \
    "$conduitd" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    --workers "$workers" "${extra_args[@]}" </dev/null >"$work/conduitd.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
url="http://127.0.0.1:$port"

echo "overload: seeding through the API"
python3 "$root/bench/seed.py" "$url" "$work/seed.json" >/dev/null
python3 - "$work" <<'EOF'
import json, sys, urllib.parse
work = sys.argv[1]
seed = json.load(open(work + "/seed.json"))
with open(work + "/slug.paths", "w") as f:
    f.write("\n".join("/api/articles/" + urllib.parse.quote(s, safe="") for s in seed["slugs"]) + "\n")
EOF
sed "s|^|$url|" "$work/slug.paths" >"$work/slug.urls"

# Largest VmRSS (kB) of the workers, sampled until the file $1.stop exists.
sample_rss() {
    local out=$1 max=0 p kb
    while [ ! -e "$out.stop" ]; do
        for p in $(curl -fsS "http://127.0.0.1:$admin/status" |
            python3 -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"] if w.get("pid")))'); do
            kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
            [ "${kb:-0}" -gt "$max" ] && max=$kb
        done
        echo "$max" >"$out"
        sleep 0.5
    done
}

: >"$work/results"
for c in $conns_list; do
    threads=2
    [ "$c" -lt 2 ] && threads=1
    wrk -t"$threads" -c"$c" -d2s -s "$root/bench/wrk_overload.lua" "$url" -- "$work/slug.paths" \
        >/dev/null 2>&1 || true
    curl -fsS "http://127.0.0.1:$admin/metrics" >"$work/before.prom"
    rm -f "$work/rss.stop"
    sample_rss "$work/rss" &
    sampler=$!
    line=$(wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 5s -s "$root/bench/wrk_overload.lua" \
        "$url" -- "$work/slug.paths" | grep '^RESULT') ||
        { echo "overload: wrk failed at -c$c" >&2; exit 1; }
    touch "$work/rss.stop"
    wait "$sampler" || true
    curl -fsS "http://127.0.0.1:$admin/metrics" >"$work/after.prom"
    echo "c=$c rss_kb=$(cat "$work/rss") $line" >>"$work/results"
    python3 - "$root/bench" "$work" "$c" >>"$work/results" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from prom_delta import load, quantiles  # noqa: E402
work, c = sys.argv[2], sys.argv[3]
b, a = load(work + "/before.prom"), load(work + "/after.prom")
wn, (w50, w99) = quantiles(b, a, "conduitd_db_queue_wait_seconds", (0.5, 0.99))
qn, (q50, q99) = quantiles(b, a, "conduitd_db_query_duration_seconds", (0.5, 0.99))
shed = {r: a.get('conduitd_requests_shed_total{reason="%s"}' % r, 0)
        - b.get('conduitd_requests_shed_total{reason="%s"}' % r, 0)
        for r in ("in_flight", "connections", "db_queue")}
print("c=%s SERVER queries=%d wait_p50_le_ms=%g wait_p99_le_ms=%g query_p50_le_ms=%g "
      "query_p99_le_ms=%g shed_in_flight=%d shed_connections=%d shed_db_queue=%d"
      % (c, qn, w50 * 1e3, w99 * 1e3, q50 * 1e3, q99 * 1e3, shed["in_flight"],
         shed["connections"], shed["db_queue"]))
EOF
    if [ "$use_h2load" = 1 ]; then
        # The same load from h2load, whose per-request log splits latency
        # by status (wrk's histogram mixes 2xx answers and refusals).
        rm -f "$work/h2load.log" # h2load appends
        h2load --h1 -t"$threads" -c"$c" --warm-up-time=2 -D "$duration" -i "$work/slug.urls" \
            --log-file="$work/h2load.log" >"$work/h2load.out" 2>&1 ||
            { tail -n 5 "$work/h2load.out" >&2; echo "overload: h2load failed at -c$c" >&2; exit 1; }
        echo "c=$c H2LOAD $(python3 "$root/bench/h2load_split.py" "$work/h2load.log" "$duration" h2)" >>"$work/results"
    fi
    echo "overload: $(grep "^c=$c " "$work/results" | tr '\n' ' ')"
done

echo
echo "conduitd flags: --workers $workers ${extra_args[*]:-(admission defaults)}"
python3 - "$work/results" <<'EOF'
import sys
runs, server, h2 = [], {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    kv = dict(x.split("=", 1) for x in f if "=" in x)
    if "SERVER" in f:
        server[kv["c"]] = kv
    elif "H2LOAD" in f:
        h2[kv["c"]] = kv
    else:
        runs.append(kv)
print()
print("| connections | 2xx/s | 503/s | other | socket errors | timeouts | p50 ms | p99 ms (all) "
      "| p99 ms (2xx) | worker RSS max MB | queue wait p50/p99 ms (<=) | query p50/p99 ms (<=) "
      "| shed in_flight/connections/db_queue |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in runs:
    s = server.get(r["c"], {})
    print("| %s | %.0f | %.0f | %s | %s | %s | %.2f | %.2f | %.2f | %.1f | %s / %s | %s / %s | %s / %s / %s |"
          % (r["c"], float(r["ok_rps"]), float(r["shed_rps"]), r["other"], r["socket_errors"],
             r["timeouts"], float(r["p50_ms"]), float(r["p99_all_ms"]), float(r["p99_2xx_ms"]),
             int(r["rss_kb"]) / 1024, s.get("wait_p50_le_ms"), s.get("wait_p99_le_ms"),
             s.get("query_p50_le_ms"), s.get("query_p99_le_ms"), s.get("shed_in_flight"),
             s.get("shed_connections"), s.get("shed_db_queue")))
    if int(r["shed_bare"]) != 0:
        print("  (!) %s refusals without Retry-After" % r["shed_bare"])
if h2:
    print()
    print("The same load from h2load (per-request log: latency split by status, exact):")
    print()
    print("| connections | 2xx/s | 2xx p50 ms | 2xx p99 ms | 503/s | 503 p50 ms | 503 p99 ms | other |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for c, kv in h2.items():
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            c, kv["h2_2xx_rps"], kv["h2_2xx_p50_ms"], kv["h2_2xx_p99_ms"], kv["h2_503_rps"],
            kv["h2_503_p50_ms"], kv["h2_503_p99_ms"], kv["h2_other"]))
if len(runs) >= 2:
    first, last = runs[0], runs[-1]
    print()
    print("goodput at -c%s / throughput at -c%s: %.2f" % (
        last["c"], first["c"], float(last["ok_rps"]) / float(first["ok_rps"])))
    if first["c"] in h2 and last["c"] in h2 and float(h2[first["c"]]["h2_2xx_rps"]) > 0:
        print("h2load: goodput at -c%s / throughput at -c%s: %.2f" % (
            last["c"], first["c"],
            float(h2[last["c"]]["h2_2xx_rps"]) / float(h2[first["c"]]["h2_2xx_rps"])))
EOF
