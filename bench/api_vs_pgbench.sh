#!/usr/bin/env bash
# bench/api_vs_pgbench.sh: the Conduit API's read throughput next to the
# ceiling of one indexed read on the same PostgreSQL (pgbench -S), in one run.
#
# Seeds a fresh database (conduit_bench: 50 users, 500 articles, 5,000
# comments, tags, favorites, follows) through the API (bench/seed.py), then
# measures with wrk, one after the other for BENCH_DURATION seconds each:
#   GET /api/articles/:slug   cache on  (CONDUIT_CACHE_TTL=60, server A)
#   GET /api/articles/:slug   cache off (CONDUIT_CACHE_TTL=0,  server B)
#   GET /api/articles?limit=20, GET /api/articles/feed (token), GET /api/tags,
#   GET /api/profiles/:username                               (server A)
# and `pgbench -S -c 8 -j 2 -T BENCH_DURATION` on a separate database
# (conduit_pgbench, `pgbench -i -s 10`), and once more with -M prepared (the
# protocol conduitd uses, a higher line). Prints a table of req/s and p99 and
# the ratios to pgbench -S's tps, writes the data file (docs/bench-api.dat) and,
# with gnuplot, the chart docs/bench-api.png (bench/plot.gp).
#
# Relies on: wrk, pgbench, psql, gnuplot (script/bootstrap), python3;
# PostgreSQL from DATABASE_URL (else `script/services start`); a private Redis
# started here through script/services so no other cache is shared; a
# conduitd built without sanitizers (CONDUITD, else script/build bench).
# Loopback only; bounded: about 2 minutes with the default duration.
#
# Environment: BENCH_DURATION (10), BENCH_CONNECTIONS (32), BENCH_WORKERS
# (CPU count), BENCH_OUT (data file, docs/bench-api.dat), BENCH_PNG
# (docs/bench-api.png), BENCH_SKIP_HASH_STALL=1 to skip bench/hash_stall.py.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
duration="${BENCH_DURATION:-10}"
conns="${BENCH_CONNECTIONS:-32}"
workers="${BENCH_WORKERS:-$(nproc 2>/dev/null || echo 2)}"
out="${BENCH_OUT:-$root/docs/bench-api.dat}"
png="${BENCH_PNG:-$root/docs/bench-api.png}"

for tool in wrk pgbench psql python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
if [ -z "${DATABASE_URL:-}" ]; then
    eval "$("$root/script/services" start)"
fi
conduitd="${CONDUITD:-}"
if [ -z "$conduitd" ]; then
    conduitd="$("$root/script/build" bench | tail -n 1)/conduitd"
fi
[ -x "$conduitd" ] || { echo "bench: conduitd not found: $conduitd" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-bench.XXXXXX")
chmod 755 "$work"
pids=()
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis_env=(env "CONDUIT_RUN_DIR=$work/run" "CONDUIT_REDIS_PORT=$redis_port")

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    "${redis_env[@]}" "$root/script/services" stop-redis >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- databases: the API's and pgbench's, side by side on one server ---------
base_url="${DATABASE_URL%/*}"
psql_admin=(psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1)
for db in conduit_bench conduit_pgbench; do
    "${psql_admin[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
done
bench_db="$base_url/conduit_bench"
pgbench_db="$base_url/conduit_pgbench"
echo "bench: pgbench -i -s 10"
pgbench -i -s 10 -q "$pgbench_db" >"$work/pgbench-init.log" 2>&1 ||
    { cat "$work/pgbench-init.log" >&2; exit 1; }

"${redis_env[@]}" "$root/script/services" start-redis >/dev/null
redis_url="redis://127.0.0.1:$redis_port/0"

export CONDUIT_MIGRATIONS_DIR="${CONDUIT_MIGRATIONS_DIR:-$root/migrations}"
DATABASE_URL="$bench_db" "$conduitd" migrate >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server NAME CACHE_TTL: start a conduitd, set $port_NAME.
start_server() {
    local name=$1 ttl=$2 port admin
    port=$(free_port)
    admin=$(free_port)
    DATABASE_URL="$bench_db" REDIS_URL="$redis_url" CONDUIT_CACHE_TTL="$ttl" \
        JWT_SECRET="bench-secret-0123456789abcdef0123456789" CONDUIT_ACCESS_LOG=off \
        CONDUIT_RATE_LIMIT_AUTH=1000000 CONDUIT_LOG_LEVEL=warn \
        "$conduitd" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --workers "$workers" </dev/null >"$work/conduitd-$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
            printf -v "port_$name" '%s' "$port"
            printf -v "admin_$name" '%s' "$admin"
            return 0
        fi
        sleep 0.1
    done
    cat "$work/conduitd-$name.log" >&2
    echo "bench: conduitd ($name) did not start" >&2
    exit 1
}
start_server on 60
start_server off 0
# shellcheck disable=SC2154 # set by start_server through printf -v
url_on="http://127.0.0.1:$port_on" url_off="http://127.0.0.1:$port_off"

echo "bench: seeding through the API"
python3 "$root/bench/seed.py" "$url_on" "$work/seed.json"
# Writes keep their cache keys out of the cache for a few seconds (tombstones,
# worker/cache.h): let them expire so the cache-on run measures a warm cache.
sleep 10

# Path files for wrk.
python3 - "$work" <<'EOF'
import json, sys, urllib.parse
work = sys.argv[1]
seed = json.load(open(work + "/seed.json"))
def write(name, paths):
    with open("%s/%s.paths" % (work, name), "w") as f:
        f.write("\n".join(paths) + "\n")
write("slug", ["/api/articles/" + urllib.parse.quote(s, safe="") for s in seed["slugs"]])
write("list", ["/api/articles?limit=20"])
write("feed", ["/api/articles/feed?limit=20"])
write("tags", ["/api/tags"])
write("profile", ["/api/profiles/" + urllib.parse.quote(u, safe="") for u in seed["usernames"]])
open(work + "/token", "w").write(seed["feed_token"])
EOF
token=$(cat "$work/token")

# run_wrk LABEL URL PATHS [TOKEN]: a short warm-up, then the measured run.
: >"$work/results"
run_wrk() {
    local label=$1 url=$2 paths=$3 tok=${4:-} line
    wrk -t1 -c"$conns" -d2s -s "$root/bench/wrk_api.lua" "$url" -- "$work/$paths.paths" "$tok" \
        >/dev/null 2>&1 || true
    line=$(wrk -t1 -c"$conns" -d"${duration}s" -s "$root/bench/wrk_api.lua" "$url" \
        -- "$work/$paths.paths" "$tok" | grep '^RESULT') ||
        { echo "bench: wrk failed for $label" >&2; exit 1; }
    echo "$label $line" >>"$work/results"
    echo "bench: $label: $line"
}
run_wrk slug_cache_on "$url_on" slug
run_wrk slug_cache_off "$url_off" slug
run_wrk list_limit20 "$url_on" list
run_wrk feed "$url_on" feed "$token"
run_wrk tags "$url_on" tags
run_wrk profile "$url_on" profile

# What the cache did on each server (cache off must show no lookups).
# shellcheck disable=SC2154 # set by start_server through printf -v
for name in on off; do
    admin_var="admin_$name"
    hits=$(curl -fsS "http://127.0.0.1:${!admin_var}/metrics" |
        awk '/^conduitd_cache_requests_total/ { printf "%s ", $0 }')
    echo "bench: cache $name: ${hits:-no cache metrics}"
done

echo "bench: pgbench -S -c 8 -j 2 -T $duration"
mkdir -p "$work/pglog"
(cd "$work/pglog" && pgbench -S -n -c 8 -j 2 -T "$duration" -l --log-prefix=tx "$pgbench_db") \
    >"$work/pgbench.txt" 2>&1 || { cat "$work/pgbench.txt" >&2; exit 1; }
# The same with prepared statements (as conduitd uses them): a second, higher line.
echo "bench: pgbench -S -M prepared -c 8 -j 2 -T $duration"
mkdir -p "$work/pglog-prepared"
(cd "$work/pglog-prepared" && pgbench -S -M prepared -n -c 8 -j 2 -T "$duration" -l \
    --log-prefix=tx "$pgbench_db") >"$work/pgbench-prepared.txt" 2>&1 ||
    { cat "$work/pgbench-prepared.txt" >&2; exit 1; }

# ---- the table, the ratios, the data file ----------------------------------
mkdir -p "$(dirname "$out")"
python3 - "$work" "$out" "$duration" "$conns" "$workers" <<'EOF'
import glob, re, sys, time
work, out, duration, conns, workers = sys.argv[1:6]
rows = []
for line in open(work + "/results"):
    label, _, rest = line.strip().partition(" RESULT ")
    kv = dict(x.split("=") for x in rest.split())
    rows.append((label, float(kv["rps"]), float(kv["p99_ms"]), int(kv["non2xx"]),
                 int(kv["socket_errors"])))
def pgbench(name, logdir):
    """tps (without connection time) and p99 latency (ms) from the per-transaction logs."""
    txt = open("%s/%s.txt" % (work, name)).read()
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", txt).group(1))
    lat = []
    for path in glob.glob("%s/%s/tx*" % (work, logdir)):
        for l in open(path):
            parts = l.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]))
    lat.sort()
    return tps, (lat[int(len(lat) * 0.99) - 1] / 1000.0 if lat else float("nan"))

tps, p99 = pgbench("pgbench", "pglog")
rows.append(("pgbench_S", tps, p99, 0, 0))
tps_prep, p99_prep = pgbench("pgbench-prepared", "pglog-prepared")
rows.append(("pgbench_S_prepared", tps_prep, p99_prep, 0, 0))
by = {r[0]: r for r in rows}
print()
print("%-20s %12s %10s %9s  %s" % ("endpoint", "req/s", "p99 ms", "x pgbench", "errors"))
for label, rps, p, non2xx, sock in rows:
    print("%-20s %12.0f %10.2f %9.2f  %s" % (label, rps, p, rps / tps,
          "" if not (non2xx or sock) else "%d non-2xx, %d socket" % (non2xx, sock)))
off = by["slug_cache_off"][1] / tps
on = by["slug_cache_on"][1] / tps
print()
print("ratio slug cache off / pgbench -S tps: %.2f (target >= 0.5: %s)" % (off, "met" if off >= 0.5 else "NOT met"))
print("ratio slug cache on  / pgbench -S tps: %.2f (target > cache off: %s)" % (on, "met" if on > off else "NOT met"))
print("(against pgbench -S -M prepared: cache off %.2f, cache on %.2f)"
      % (by["slug_cache_off"][1] / tps_prep, by["slug_cache_on"][1] / tps_prep))
with open(out, "w") as f:
    f.write("# conduitd API vs pgbench -S, %s; wrk -t1 -c%s -d%ss, %s workers, pgbench -c 8 -j 2\n"
            % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), conns, duration, workers))
    f.write("# label req_per_s p99_ms ratio_to_pgbench non2xx socket_errors\n")
    for label, rps, p, non2xx, sock in rows:
        f.write("%s %.1f %.3f %.3f %d %d\n" % (label, rps, p, rps / tps, non2xx, sock))
print("bench: data in " + out)
if any(r[3] or r[4] for r in rows):
    print("bench: some requests failed (see the errors column)")
    sys.exit(1)
EOF

if command -v gnuplot >/dev/null; then
    gnuplot -e "datafile='$out'; outfile='$png'" "$root/bench/plot.gp"
    echo "bench: chart in $png"
fi

if [ "${BENCH_SKIP_HASH_STALL:-0}" != 1 ]; then
    echo "bench: password hashing vs GET /api/tags (bench/hash_stall.py)"
    DATABASE_URL="$bench_db" REDIS_URL="$redis_url" CONDUITD="$conduitd" \
        python3 "$root/bench/hash_stall.py"
fi
