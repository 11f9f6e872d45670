#!/usr/bin/env bash
# bench/online_migrate.sh: `conduitd migrate` of the new migrations against a
# large database at the old schema while read/write load runs (issue 9, 4).
#
#   CONDUITD=NEW CONDUITD_OLD=OLD bench/online_migrate.sh [--articles N] [--old-upto V] [--reuse DB]
#
#  1. bench/scale.sh --seed-only: database conduit_online with N articles
#     (default 1,000,000) at the schema of migrations <= V (default 0002:
#     what main had before issue 9), VACUUM ANALYZE. --reuse DB: take DB as it is
#     instead (seeded at the old schema, e.g. by bench/scale.sh --migrations-upto
#     0002; it gets migrated).
#  2. The OLD conduitd serves it (2 workers, cache off: every read reaches
#     PostgreSQL), as the running release does during a rollout.
#  3. Baseline: wrk -t1 -c16 of bench/wrk_scale_write.lua's "online" mix
#     (half writes: new articles with tags, favorites, follows, comments; half
#     reads: article, comments, profile, small ?author= pages) for
#     BASELINE seconds (10).
#  4. The same load again, and after 3 s the NEW conduitd's `migrate` with
#     every migration of the tree; the load stops 3 s after it ends. Reports
#     failed requests (non-2xx, socket errors, timeouts at 10 s) and the
#     slowest request, against the target: none failed, none over 1 s; and
#     the server's own count of that window from /metrics (answers by status
#     class, answers slower than 1 s).
#  5. Checks the result: every migration recorded, the kept counts equal to
#     count(*) of their filter (all, tag1, author user1, favorited user2, when
#     the schema keeps them), no NULL in the backfilled columns.
#  6. The NEW conduitd serves the migrated database under the same load for
#     BASELINE seconds (the rollout's second half).
#
# Relies on what bench/scale.sh relies on. Loopback only; bounded: the
# seeding (1M: 1-3 minutes), 2 x BASELINE seconds plus the migration.
# Environment: BASELINE (10), BENCH_CONNECTIONS (16), BENCH_WORKERS (2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
n=1000000
old_upto=0002
reuse=""
baseline="${BASELINE:-10}"
conns="${BENCH_CONNECTIONS:-16}"
workers="${BENCH_WORKERS:-2}"
while [ $# -gt 0 ]; do
    case "$1" in
    --articles) n="$2"; shift 2 ;;
    --old-upto) old_upto="$2"; shift 2 ;;
    --reuse) reuse="$2"; shift 2 ;;
    *) echo "usage: CONDUITD=NEW CONDUITD_OLD=OLD bench/online_migrate.sh [--articles N] [--old-upto V]" >&2
       exit 2 ;;
    esac
done
new="${CONDUITD:?CONDUITD: the conduitd whose migrations are applied}"
old="${CONDUITD_OLD:?CONDUITD_OLD: the conduitd of the old schema, serving during the migration}"
db="${reuse:-conduit_online}"

eval "$("$root/script/services" start)"
db_url="${DATABASE_URL%/*}/$db"
work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-online.XXXXXX")
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
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$reuse" ]; then
    CONDUITD="$new" "$root/bench/scale.sh" --seed-only "$db" --articles "$n" --migrations-upto "$old_upto"
else
    # The seeded articles (article-<id>, users N/10), not those later runs wrote.
    n=$(psql "$db_url" -X -tAc "SELECT count(*) FROM articles WHERE slug ~ '^article-[0-9]+$'")
    echo "bench: reusing $db ($n articles)"
fi
psql "$db_url" -X -tAc "SELECT 'bench: schema before: ' || string_agg(version, ' ' ORDER BY version) FROM schema_migrations"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server BINARY NAME: a conduitd on the database; sets url, pid.
start_server() {
    local port admin
    port=$(free_port)
    admin=$(free_port)
    DATABASE_URL="$db_url" REDIS_URL="$REDIS_URL" CONDUIT_CACHE_TTL=0 \
        JWT_SECRET="scale-bench-secret-0123456789abcdef012345" CONDUIT_ACCESS_LOG=off \
        CONDUIT_RATE_LIMIT_AUTH=1000000 CONDUIT_LOG_LEVEL=warn \
        "$1" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --workers "$workers" </dev/null >"$work/conduitd-$2.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; then
            url="http://127.0.0.1:$port"
            admin_url="http://127.0.0.1:$admin"
            return 0
        fi
        sleep 0.1
    done
    cat "$work/conduitd-$2.log" >&2
    echo "bench: conduitd ($2) did not start" >&2
    exit 1
}

# load SECONDS OUT: the online mix (runs in the foreground).
load() {
    wrk -t1 -c"$conns" -d"$1s" --timeout 10s -s "$root/bench/wrk_scale_write.lua" "$url" \
        -- online "$token" "$n" 1 >"$2" 2>&1
}

start_server "$old" old
python3 "$root/bench/scale_users.py" "$url" "$work/users.json" --follow 10
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["writer_token"])' "$work/users.json")

echo "bench: baseline, old conduitd, no migration: ${baseline}s"
load "$baseline" "$work/baseline.txt"
grep '^RESULT' "$work/baseline.txt" | sed 's/^/bench: baseline: /'

echo "bench: the same load while \`conduitd migrate\` runs"
wrk -t1 -c"$conns" -d3600s --timeout 10s -s "$root/bench/wrk_scale_write.lua" "$url" \
    -- online "$token" "$n" 1 >"$work/during.txt" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
curl -fsS "$admin_url/metrics" >"$work/metrics-before.txt"
sleep 3
mig_start=$(date +%s.%N)
mig_status=0
DATABASE_URL="$db_url" CONDUIT_MIGRATIONS_DIR="$root/migrations" "$new" migrate \
    >"$work/migrate.log" 2>&1 || mig_status=$?
mig_end=$(date +%s.%N)
sleep 3
curl -fsS "$admin_url/metrics" >"$work/metrics-after.txt"
kill -INT "$wrk_pid"
wait "$wrk_pid" || true
# The server's own view of the migration window (metrics after minus before):
# answers by status class, and answers slower than 1 s (duration histogram).
python3 - "$work/metrics-before.txt" "$work/metrics-after.txt" <<'PYEOF' | sed 's/^/bench: server: /'
import re, sys
def read(path):
    codes, slow, total = {}, 0.0, 0.0
    for line in open(path):
        m = re.match(r'http_requests_total\{.*code="(\d)\d\d"\} (\S+)', line)
        if m:
            codes[m.group(1)] = codes.get(m.group(1), 0) + float(m.group(2))
        m = re.match(r'http_request_duration_seconds_bucket\{.*le="(1|\+Inf)"\} (\S+)', line)
        if m:
            if m.group(1) == "1":
                slow -= float(m.group(2))
            else:
                slow += float(m.group(2))
                total += float(m.group(2))
    return codes, slow, total
b, a = read(sys.argv[1]), read(sys.argv[2])
print("answers during the migration by status: " + ", ".join(
    "%sxx %d" % (k, a[0].get(k, 0) - b[0].get(k, 0)) for k in sorted(set(a[0]) | set(b[0]))))
print("answers slower than 1 s: %d of %d" % (a[1] - b[1], a[2] - b[2]))
PYEOF
sed 's/^/bench: migrate: /' "$work/migrate.log" | cut -c1-220
[ "$mig_status" = 0 ] || { echo "bench: conduitd migrate failed ($mig_status)" >&2; exit 1; }
grep -q '^RESULT' "$work/during.txt" || { cat "$work/during.txt" >&2; exit 1; }
grep '^RESULT' "$work/during.txt" | sed 's/^/bench: during: /'

echo "bench: checks"
psql "$db_url" -X -tA -v ON_ERROR_STOP=1 <<'EOF' | sed 's/^/bench: check: /'
SELECT 'migrations: ' || string_agg(version, ' ' ORDER BY version) FROM schema_migrations;
SELECT CASE WHEN to_regproc('article_count') IS NULL THEN 'no kept counts in this schema'
       ELSE 'kept counts: ' || (SELECT string_agg(f || ' kept=' || kept || ' count=' || actual
            || CASE WHEN kept = actual THEN ' ok' ELSE ' WRONG' END, ', ') FROM (
    SELECT 'all' f, article_count(0::smallint, 0) kept, (SELECT count(*) FROM articles) actual
    UNION ALL SELECT 'tag1', article_count(1::smallint, 1),
                     (SELECT count(*) FROM article_tags WHERE tag_id = 1)
    UNION ALL SELECT 'author user1', article_count(2::smallint, 1),
                     (SELECT count(*) FROM articles WHERE author_id = 1)
    UNION ALL SELECT 'favorited user2', article_count(3::smallint, 2),
                     (SELECT count(*) FROM favorites WHERE user_id = 2)) c) END;
EOF
for col in article_tags.created_at favorites.article_created_at; do
    if psql "$db_url" -X -tAc "SELECT 1 FROM information_schema.columns WHERE table_name = '${col%.*}' AND column_name = '${col#*.}'" | grep -q 1; then
        echo "bench: check: rows with $col NULL: $(psql "$db_url" -X -tAc "SELECT count(*) FROM ${col%.*} WHERE ${col#*.} IS NULL")"
    fi
done
kill -TERM "$pid"
wait "$pid" || true

start_server "$new" new
echo "bench: the new conduitd on the migrated database: ${baseline}s"
load "$baseline" "$work/after.txt"
grep '^RESULT' "$work/after.txt" | sed 's/^/bench: after: /'

python3 - "$work" "$mig_start" "$mig_end" <<'EOF'
import sys
work, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
def res(name):
    for line in open("%s/%s.txt" % (work, name)):
        if line.startswith("RESULT"):
            return {k: float(v) for k, v in (x.split("=") for x in line.split()[1:])}
print()
print("%-36s %9s %8s %8s %9s %7s" % ("phase", "requests", "req/s", "p99 ms", "max ms", "failed"))
rows = [("baseline (old conduitd)", "baseline"), ("during migrate (old conduitd)", "during"),
        ("after (new conduitd, new schema)", "after")]
for title, name in rows:
    r = res(name)
    print("%-36s %9d %8.0f %8.1f %9.1f %7d" % (title, r["requests"], r["rps"], r["p99_ms"],
          r["max_ms"], r["non2xx"] + r["socket_errors"]))
d = res("during")
failed = d["non2xx"] + d["socket_errors"]
print()
print("conduitd migrate took %.1f s under load" % (t1 - t0))
print("target during the migration: 0 failed (%s: %d), none over 1 s (%s: slowest %.0f ms)"
      % ("met" if failed == 0 else "MISS", failed, "met" if d["max_ms"] <= 1000 else "MISS",
         d["max_ms"]))
EOF
