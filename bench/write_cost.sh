#!/usr/bin/env bash
# bench/write_cost.sh: write throughput of the new schema and conduitd
# against the release before issue 9, side by side in one run (issue 9's
# write budget: POST /api/articles, favorite, follow at -c16 may drop by at
# most 10%).
#
#   CONDUITD=NEW CONDUITD_OLD=OLD bench/write_cost.sh [--articles N] [--old-upto V] [--reuse]
#
#  1. Two databases seeded by bench/scale.sh --seed-only with N articles
#     (default 1,000,000): conduit_wc_old at the schema of migrations <= V
#     (default 0002: before issue 9), conduit_wc_new at every migration.
#     --reuse takes the two as an earlier run left them (its writes stay in
#     both, alike).
#  2. OLD serves the first, NEW the second (2 workers each, cache on, the
#     same Redis); a writer user on each (bench/scale_users.py).
#  3. ROUNDS rounds; in each, for article, favorite and follow
#     (bench/wrk_scale_write.lua), a 1 s warm-up and `wrk -t1 -cC -dD` on
#     each server, the order of the two alternating from round to round.
#  4. Prints each run and a table: the median req/s of old and new per
#     write and the ratio new / old (the target: at least 0.9).
#
# Relies on what bench/scale.sh relies on. Loopback only; bounded: the
# seeding (two databases; 1M: 1-3 minutes each) plus
# ROUNDS * 3 * 2 * (1 + D) seconds.
# Environment: ROUNDS (3), BENCH_DURATION (5), BENCH_CONNECTIONS (16),
# BENCH_WORKERS (2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
articles=1000000
old_upto=0002
reuse=0
while [ $# -gt 0 ]; do
    case "$1" in
    --articles) articles="$2"; shift 2 ;;
    --old-upto) old_upto="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    *) echo "usage: CONDUITD=NEW CONDUITD_OLD=OLD bench/write_cost.sh [--articles N] [--old-upto V] [--reuse]" >&2
       exit 2 ;;
    esac
done
rounds="${ROUNDS:-3}"
duration="${BENCH_DURATION:-5}"
conns="${BENCH_CONNECTIONS:-16}"
workers="${BENCH_WORKERS:-2}"
old="${CONDUITD_OLD:?CONDUITD_OLD: the conduitd of the release before issue 9}"
[ -x "$old" ] || { echo "write_cost: not an executable: $old" >&2; exit 2; }
for tool in wrk psql curl python3; do
    command -v "$tool" >/dev/null || { echo "write_cost: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
[ -n "${DATABASE_URL:-}" ] || eval "$("$root/script/services" start)"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
new=$(bench_conduitd write_cost)
bench_work write_cost

base="${DATABASE_URL%/*}"
if [ "$reuse" = 0 ]; then
    "$root/bench/scale.sh" --articles "$articles" --migrations-upto "$old_upto" --seed-only conduit_wc_old
    "$root/bench/scale.sh" --articles "$articles" --seed-only conduit_wc_new
fi

# start NAME BINARY DB: conduitd on DB; sets url_NAME.
start() {
    local port admin i
    port=$(bench_free_port)
    admin=$(bench_free_port)
    DATABASE_URL="$base/$3" REDIS_URL="${REDIS_URL:-}" \
        JWT_SECRET="scale-bench-secret-0123456789abcdef012345" CONDUIT_ACCESS_LOG=off \
        CONDUIT_RATE_LIMIT_AUTH=1000000 CONDUIT_LOG_LEVEL=warn \
        "$2" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --workers "$workers" </dev/null >"$work/conduitd-$1.log" 2>&1 &
    pids+=("$!")
    for i in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; then
            printf -v "url_$1" '%s' "http://127.0.0.1:$port"
            return 0
        fi
        [ "$i" = 100 ] || sleep 0.1
    done
    cat "$work/conduitd-$1.log" >&2
    echo "write_cost: conduitd ($1) did not start" >&2
    exit 1
}
start old "$old" conduit_wc_old
start new "$new" conduit_wc_new
# shellcheck disable=SC2154 # set by start through printf -v
declare -A url=([old]="$url_old" [new]="$url_new") token
for v in old new; do
    python3 "$root/bench/scale_users.py" "${url[$v]}" "$work/users-$v.json" --follow 10
    token[$v]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["writer_token"])' \
        "$work/users-$v.json")
done

: >"$work/results"
for r in $(seq 1 "$rounds"); do
    order=(old new)
    [ $((r % 2)) = 0 ] && order=(new old)
    for mode in article favorite follow; do
        for v in "${order[@]}"; do
            # The same seeds on both servers (each walks its own database
            # alike); favorite walks the articles, follow the users (N/10).
            seed=$((r * 10))
            targets=$articles
            [ "$mode" = follow ] && targets=$((articles / 10))
            wrk -t1 -c"$conns" -d1s -s "$root/bench/wrk_scale_write.lua" "${url[$v]}" \
                -- "$mode" "${token[$v]}" "$targets" "$((seed + 500))" >/dev/null 2>&1 || true
            line=$(wrk -t1 -c"$conns" -d"${duration}s" --timeout 10s -s "$root/bench/wrk_scale_write.lua" \
                "${url[$v]}" -- "$mode" "${token[$v]}" "$targets" "$seed" | grep '^RESULT') ||
                { echo "write_cost: wrk failed ($v $mode)" >&2; exit 1; }
            echo "round=$r server=$v mode=$mode ${line#RESULT }" | tee -a "$work/results"
        done
    done
done

python3 - "$work/results" <<'EOF'
import statistics, sys
rps = {}
bad = 0
for line in open(sys.argv[1]):
    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
    rps.setdefault((kv["mode"], kv["server"]), []).append(float(kv["rps"]))
    bad += int(kv.get("non2xx", 0)) + int(kv.get("socket_errors", 0))
print()
print("| write (-c16) | old req/s (runs) | new req/s (runs) | old median | new median | new / old |")
print("| --- | --- | --- | ---: | ---: | ---: |")
for mode in ("article", "favorite", "follow"):
    o, n = rps[(mode, "old")], rps[(mode, "new")]
    print("| %s | %s | %s | %.0f | %.0f | %.3f |" % (
        mode, ", ".join("%.0f" % x for x in o), ", ".join("%.0f" % x for x in n),
        statistics.median(o), statistics.median(n), statistics.median(n) / statistics.median(o)))
print()
print("failed answers (non-2xx or socket errors) in all runs: %d" % bad)
EOF
