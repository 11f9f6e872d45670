#!/usr/bin/env bash
# bench/scale.sh: the Conduit API at any table size, next to the database's
# own floors, in one run (issue 9).
#
#   bench/scale.sh [--articles N]... [--duration S] [--seed-only DB] [--migrations-upto V]
#
# For each size N (default: 10,000 and 1,000,000; --articles repeats):
#  1. a fresh database, `conduitd migrate`, then bench/scale_seed.sql straight
#     through SQL: N articles, N/10 users, 2,000 tags (3 per article), ~3N
#     favorites, 5N follows, 2N comments (the shape is documented there), then
#     VACUUM ANALYZE. PostgreSQL runs at nice 10 while it seeds.
#  2. two users through the API (bench/scale_users.py): a reader following the
#     200 most prolific authors, a writer.
#  3. the floors: one request per endpoint on a conduitd whose sessions log
#     every statement; bench/scale_floor.py turns what each request ran into a
#     pgbench script with the same SQL and parameters.
#  4. wrk -t1 -cC for D seconds (after a 1 s warm-up) per read endpoint, on a
#     conduitd with the cache off and on one with the cache on (2 workers
#     each); pgbench -M prepared -cC of each endpoint's script; pgbench -S -M
#     prepared -cC (before and after the endpoints; the mean is the yardstick);
#     then the writes (POST /api/articles, favorite, follow) at -cC.
#     CPU time of conduitd's processes and of PostgreSQL's, per request, from
#     /proc around each run; each endpoint alone (median of 5 curl requests).
# EXPLAIN (ANALYZE, BUFFERS) of every endpoint's statements goes to
# docs/bench-scale-explain.txt. Then bench/scale_report.py prints the table and which targets hold, writes
# the data file (docs/bench-scale.dat) and, with gnuplot, the chart of cost
# per page against table size (bench/scale_plot.gp -> docs/bench-scale.png).
#
# --seed-only DB: seed database DB at the (single) size and stop (used by
# bench/online_migrate.sh). --migrations-upto V: apply only migrations whose
# version sorts <= V (e.g. 0002: the schema before issue 9).
#
# Relies on: wrk, pgbench, psql, curl, python3, gnuplot (script/bootstrap);
# PostgreSQL and Redis of script/services (CONDUIT_PG_PORT, CONDUIT_REDIS_PORT:
# the superuser `postgres` over TCP, trust auth, as script/services sets up;
# this script reads that server's log and renices its processes, so it must be
# the worktree's own); a conduitd built without sanitizers (CONDUITD, else
# script/build bench). Loopback only; bounded: about 5 minutes per size plus
# the seeding (1M articles: about 1-3 minutes here).
#
# Environment: BENCH_DURATION (4), BENCH_CONNECTIONS (16), BENCH_WORKERS (2),
# BENCH_OUT (docs/bench-scale.dat), BENCH_PNG (docs/bench-scale.png),
# BENCH_LABEL (a name for the run in the data file, e.g. the revision).
set -euo pipefail
# The body is one compound command, parsed whole before it runs: editing this
# file during a run cannot change what the run does.
{
root=$(cd "$(dirname "$0")/.." && pwd)
duration="${BENCH_DURATION:-4}"
conns="${BENCH_CONNECTIONS:-16}"
workers="${BENCH_WORKERS:-2}"
out="${BENCH_OUT:-$root/docs/bench-scale.dat}"
png="${BENCH_PNG:-$root/docs/bench-scale.png}"
label="${BENCH_LABEL:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
sizes=()
seed_only=""
upto=""
while [ $# -gt 0 ]; do
    case "$1" in
    --articles) sizes+=("$2"); shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --seed-only) seed_only="$2"; shift 2 ;;
    --migrations-upto) upto="$2"; shift 2 ;;
    *) echo "usage: bench/scale.sh [--articles N]... [--duration S] [--seed-only DB] [--migrations-upto V]" >&2
       exit 2 ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 1000000)
for n in "${sizes[@]}"; do
    if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1000 ]; then
        echo "bench: --articles must be >= 1000" >&2
        exit 2
    fi
done

for tool in wrk pgbench psql curl python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
eval "$("$root/script/services" start)"
pg_port="${CONDUIT_PG_PORT:-54329}"
run_dir="${CONDUIT_RUN_DIR:-$root/.run}"
pg_log="$run_dir/postgres.log"
postmaster=$(head -n 1 "$run_dir/pgdata/postmaster.pid")
redis_url="${REDIS_URL:?script/services sets REDIS_URL}"
admin_url="postgresql://postgres@127.0.0.1:$pg_port"
psql_admin=(env PGOPTIONS="-c client_min_messages=warning" psql "$admin_url/postgres" -X -q -v ON_ERROR_STOP=1)
conduitd="${CONDUITD:-}"
if [ -z "$conduitd" ]; then
    conduitd="$("$root/script/build" bench | tail -n 1)/conduitd"
fi
[ -x "$conduitd" ] || { echo "bench: conduitd not found: $conduitd" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-scale.XXXXXX")
chmod 755 "$work"
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    renice_pg 0
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# renice_pg PRIO: PostgreSQL's postmaster and every child (new backends
# inherit the postmaster's), so seeding yields the CPU to the other helpers.
renice_pg() {
    local p
    for p in "$postmaster" $(ps -o pid= --ppid "$postmaster" 2>/dev/null); do
        renice -n "$1" -p "$p" >/dev/null 2>&1 || true
    done
}

# Migrations up to $upto (all when empty), in a directory of their own.
migrations="$work/migrations"
mkdir -p "$migrations"
for f in "$root"/migrations/*.sql; do
    v=$(basename "$f")
    if [ -z "$upto" ] || [[ ! "${v%%_*}" > "$upto" ]]; then
        cp "$f" "$migrations/"
    fi
done

# seed DB N: a fresh database DB with N articles.
seed() {
    local db=$1 n=$2 users start
    users=$((n / 10))
    start=$(date +%s)
    "${psql_admin[@]}" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
        -c "CREATE DATABASE $db OWNER conduit" >/dev/null
    CONDUIT_MIGRATIONS_DIR="$migrations" DATABASE_URL="${DATABASE_URL%/*}/$db" \
        "$conduitd" migrate >"$work/migrate-$db.log" 2>&1 ||
        { cat "$work/migrate-$db.log" >&2; exit 1; }
    renice_pg 10
    nice -n 10 psql "$admin_url/$db" -X -q -v ON_ERROR_STOP=1 -v articles="$n" -v users="$users" \
        -v tags=2000 -v follows_per_user=50 -v favorites_per_user=30 -v comments_per_article=2 \
        -f "$root/bench/scale_seed.sql" >"$work/seed-$db.log" 2>&1 ||
        { cat "$work/seed-$db.log" >&2; exit 1; }
    nice -n 10 psql "$admin_url/$db" -X -q -v ON_ERROR_STOP=1 -c "VACUUM ANALYZE" >/dev/null
    renice_pg 0
    seed_seconds=$(($(date +%s) - start))
    echo "bench: seeded $db with $n articles in ${seed_seconds}s"
    psql "$admin_url/$db" -X -tAc "SELECT 'bench: rows: ' || string_agg(relname || '=' || n_live_tup, ' ' ORDER BY relname) FROM pg_stat_user_tables WHERE n_live_tup > 0"
}

if [ -n "$seed_only" ]; then
    [ ${#sizes[@]} -eq 1 ] || { echo "bench: --seed-only takes one --articles" >&2; exit 2; }
    seed "$seed_only" "${sizes[0]}"
    exit 0
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server NAME CACHE_TTL DB WORKERS: start a conduitd; sets url_NAME, pid_NAME.
start_server() {
    local name=$1 ttl=$2 db=$3 nworkers=$4 port admin
    port=$(free_port)
    admin=$(free_port)
    DATABASE_URL="${DATABASE_URL%/*}/$db" REDIS_URL="$redis_url" CONDUIT_CACHE_TTL="$ttl" \
        JWT_SECRET="scale-bench-secret-0123456789abcdef012345" CONDUIT_ACCESS_LOG=off \
        CONDUIT_RATE_LIMIT_AUTH=1000000 CONDUIT_LOG_LEVEL=warn \
        "$conduitd" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --workers "$nworkers" </dev/null >"$work/conduitd-$name.log" 2>&1 &
    pids+=($!)
    printf -v "pid_$name" '%s' "$!"
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; then
            printf -v "url_$name" '%s' "http://127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    cat "$work/conduitd-$name.log" >&2
    echo "bench: conduitd ($name) did not start" >&2
    exit 1
}

# stop_server PID: TERM and wait.
stop_server() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# cpu_ticks PID: clock ticks (user + system) of PID, of its live children and
# of the children it has reaped (cutime + cstime: pgbench's backends exit
# before the second reading).
cpu_ticks() {
    local p total t
    total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat")
    for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

pgbench_db="$admin_url/conduit_scale_pgbench"
"${psql_admin[@]}" -c "DROP DATABASE IF EXISTS conduit_scale_pgbench WITH (FORCE)" \
    -c "CREATE DATABASE conduit_scale_pgbench" >/dev/null
pgbench -i -s 10 -q "$pgbench_db" >"$work/pgbench-init.log" 2>&1 ||
    { cat "$work/pgbench-init.log" >&2; exit 1; }

results="$work/results"
: >"$results"

# record N LABEL MODE RESULT_LINE CD_TICKS PG_TICKS: one line of results.
record() {
    echo "size=$1 label=$2 mode=$3 ${4#RESULT } cd_ticks=$5 pg_ticks=$6 ${7:-}" >>"$results"
}

# run_wrk N LABEL MODE URL PID SCRIPT ARGS...: warm-up, then the measured run.
run_wrk() {
    local n=$1 lab=$2 mode=$3 url=$4 pid=$5 script=$6 line cd0 pg0 cd1 pg1
    shift 6
    wrk -t1 -c"$conns" -d1s -s "$script" "$url" -- "$@" >/dev/null 2>&1 || true
    cd0=$(cpu_ticks "$pid") pg0=$(cpu_ticks "$postmaster")
    line=$(wrk -t1 -c"$conns" -d"${duration}s" --timeout 10s -s "$script" "$url" -- "$@" |
        grep '^RESULT') || { echo "bench: wrk failed for $lab" >&2; exit 1; }
    cd1=$(cpu_ticks "$pid") pg1=$(cpu_ticks "$postmaster")
    record "$n" "$lab" "$mode" "$line" $((cd1 - cd0)) $((pg1 - pg0)) "${alone:-}"
    echo "bench: $n $lab $mode: ${line#RESULT }"
}

# run_pgbench N LABEL MODE ARGS...: pgbench -M prepared -cC, its tps and p99.
run_pgbench() {
    local n=$1 lab=$2 mode=$3 dir pg0 pg1 tps p99 reqs
    shift 3
    dir="$work/pgbench-$n-$lab-$mode"
    mkdir -p "$dir"
    pg0=$(cpu_ticks "$postmaster")
    if ! (cd "$dir" && PGOPTIONS="-c plan_cache_mode=force_generic_plan" pgbench -n -M prepared -c "$conns" -j 2 -T "$duration" -l \
        --log-prefix=tx "$@") >"$dir/out.txt" 2>&1; then
        echo "bench: pgbench failed for $lab (see below); no floor" >&2
        tail -n 5 "$dir/out.txt" >&2
        return 0
    fi
    pg1=$(cpu_ticks "$postmaster")
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$dir/out.txt")
    reqs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$dir/out.txt")
    p99=$(cat "$dir"/tx* | awk '{ print $3 }' | sort -n |
        awk '{ a[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", a[i] / 1000 }')
    echo "size=$n label=$lab mode=$mode requests=$reqs duration_us=$((duration * 1000000)) rps=$tps p50_ms=0 p99_ms=$p99 max_ms=0 non2xx=0 socket_errors=0 cd_ticks=0 pg_ticks=$((pg1 - pg0))" >>"$results"
    echo "bench: $n $lab $mode: tps=$tps p99_ms=$p99"
}

# alone_ms URL [TOKEN]: median time of 5 requests one at a time, in ms.
alone_ms() {
    local hdr=()
    [ -n "${2:-}" ] && hdr=(-H "Authorization: Token $2")
    for _ in 1 2 3 4 5; do
        curl -sS -o /dev/null -w '%{time_total}\n' "${hdr[@]}" "$1"
    done | sort -n | sed -n 3p | awk '{ printf "%.1f", $1 * 1000 }'
}

for n in "${sizes[@]}"; do
    db="conduit_scale_$n"
    seed "$db" "$n"
    half=$((n / 2))
    off10k=$((n - 20 < 10000 ? n - 20 : 10000))
    # label path token: the read endpoints.
    cat >"$work/endpoints" <<EOF
global /api/articles?limit=20 -
global_token /api/articles?limit=20 reader
offset_10k /api/articles?limit=20&offset=$off10k -
offset_half /api/articles?limit=20&offset=$half -
tag /api/articles?tag=tag1&limit=20 -
author /api/articles?author=user1&limit=20 -
favorited /api/articles?favorited=user2&limit=20 -
feed /api/articles/feed?limit=20 reader
tags /api/tags -
article /api/articles/article-SLUG -
comments /api/articles/article-SLUG/comments -
profile /api/profiles/userUSER -
EOF
    # Paths: single ones, and for article/comments/profile 1,000 spread ids.
    python3 - "$work" "$n" <<'EOF'
import sys
work, n = sys.argv[1], int(sys.argv[2])
ids = [(i * 7919) % n + 1 for i in range(1000)]
users = [(i * 7919) % (n // 10) + 1 for i in range(1000)]
for line in open(work + "/endpoints"):
    label, path, _ = line.split()
    if "SLUG" in path:
        paths = [path.replace("SLUG", str(i)) for i in ids]
    elif "USER" in path:
        paths = [path.replace("USER", str(u)) for u in users]
    else:
        paths = [path]
    with open("%s/%s.paths" % (work, label), "w") as f:
        f.write("\n".join(paths) + "\n")
EOF

    # ---- users, then the floors (statements logged by one capture server) ---
    "${psql_admin[@]}" -c "ALTER DATABASE $db SET log_min_duration_statement = 0" >/dev/null
    CONDUIT_STATEMENT_TIMEOUT_MS=60000 start_server capture 0 "$db" 1
    # shellcheck disable=SC2154 # set by start_server through printf -v
    python3 "$root/bench/scale_users.py" "$url_capture" "$work/users.json"
    reader=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reader_token"])' "$work/users.json")
    writer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["writer_token"])' "$work/users.json")
    while read -r lab path tok; do
        t=""
        [ "$tok" = reader ] && t="$reader"
        first=$(head -n 1 "$work/$lab.paths")
        hdr=()
        [ -n "$t" ] && hdr=(-H "Authorization: Token $t")
        sleep 0.2
        start=$(stat -c %s "$pg_log")
        curl -fsS -o /dev/null "${hdr[@]}" "$url_capture$first" ||
            echo "bench: $lab failed on the capture server (its floor is what ran): $first" >&2
        sleep 0.3
        end=$(stat -c %s "$pg_log")
        stmts=$(python3 "$root/bench/scale_floor.py" "$pg_log" "$start" "$end" \
            "$work/floor-$lab.sql" "$work/floor-$lab.defines")
        echo "$lab $stmts" >>"$work/stmts-$n"
    done <"$work/endpoints"
    # shellcheck disable=SC2154
    stop_server "$pid_capture"
    "${psql_admin[@]}" -c "ALTER DATABASE $db RESET log_min_duration_statement" >/dev/null

    # ---- the endpoints: cache off, cache on ---------------------------------
    redis-cli -u "$redis_url" flushdb >/dev/null
    start_server off 0 "$db" "$workers"
    start_server on 60 "$db" "$workers"
    run_pgbench "$n" pgbench_S before -S "$pgbench_db"
    # shellcheck disable=SC2154
    for mode in off on; do
        url_var="url_$mode" pid_var="pid_$mode"
        while read -r lab path tok; do
            t=""
            [ "$tok" = reader ] && t="$reader"
            alone="alone_ms=$(alone_ms "${!url_var}$(head -n 1 "$work/$lab.paths")" "$t")"
            run_wrk "$n" "$lab" "cache_$mode" "${!url_var}" "${!pid_var}" "$root/bench/wrk_api.lua" \
                "$work/$lab.paths" "$t"
        done <"$work/endpoints"
    done
    alone=""
    while read -r lab path tok; do
        defines=()
        while IFS= read -r d; do defines+=(-D "$d"); done <"$work/floor-$lab.defines"
        if [ -s "$work/floor-$lab.sql" ]; then
            run_pgbench "$n" "$lab" floor -f "$work/floor-$lab.sql" "${defines[@]}" "${DATABASE_URL%/*}/$db"
        fi
    done <"$work/endpoints"
    run_pgbench "$n" pgbench_S after -S "$pgbench_db"
    # Where the time goes: each endpoint's statements under EXPLAIN (ANALYZE, BUFFERS).
    while read -r lab path tok; do
        [ -s "$work/floor-$lab.sql" ] || continue
        echo "=== $n articles, $lab: $path"
        python3 "$root/bench/scale_floor.py" --explain "$work/floor-$lab.sql" "$work/floor-$lab.defines" |
            psql "${DATABASE_URL%/*}/$db" -X -q 2>&1
    done <"$work/endpoints" >>"$work/explain"
    # shellcheck disable=SC2154 # url_on, pid_on: set by start_server through printf -v
    for w in article favorite follow; do
        targets=$n
        [ "$w" = follow ] && targets=$((n / 10))
        run_wrk "$n" "write_$w" cache_on "$url_on" "$pid_on" "$root/bench/wrk_scale_write.lua" \
            "$w" "$writer" "$targets" 1
    done
    # shellcheck disable=SC2154
    stop_server "$pid_off"
    stop_server "$pid_on"
    sed "s/^/size=$n stmts /" "$work/stmts-$n" >>"$work/stmts"
    echo "size=$n seed_seconds=$seed_seconds" >>"$work/seeds"
done

mkdir -p "$(dirname "$out")"
python3 "$root/bench/scale_report.py" "$results" "$work/stmts" "$work/seeds" "$out" \
    "label=$label" "duration=$duration" "connections=$conns" "workers=$workers" \
    "ticks=$(getconf CLK_TCK)"
cp "$results" "${out%.dat}.raw"
cp "$work/explain" "${out%.dat}-explain.txt"
echo "bench: plans in ${out%.dat}-explain.txt"
if command -v gnuplot >/dev/null; then
    gnuplot -e "datafile='${out%.dat}-cost.dat'; outfile='$png'; runtitle='conduitd $label: cost per page against table size (cache off, one run)'" "$root/bench/scale_plot.gp"
    echo "bench: chart in $png"
fi
exit 0
}
