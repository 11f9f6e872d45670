#!/usr/bin/env bash
# bench/tag_version_cost.sh: what migration 0011's tag list version costs an
# article insert, in one run: pgbench of the API's insert statement (two
# tags of the 2,000, a random author) against the same database, in rounds
# that alternate the trigger function article_counts_tags_row between its
# 0010 body (per-tag delta only) and its 0011 body (plus the +1 delta of
# the version), and prints each round's tps, the medians and their ratio.
#
#   bench/tag_version_cost.sh [--db URL] [--articles N]
#
# --db URL: a database on the current schema, seeded (bench/scale.sh
# leaves none behind); else a fresh one (conduit_tagver) seeded by
# bench/scale.sh --seed-only with N articles (default 1,000,000: about 1-3
# minutes). The rows the rounds insert stay (their counts stay exact: the
# triggers keep them); the 0011 body is back in place at the end.
#
# Environment: ROUNDS (3 of each), SECONDS_PER_ROUND (10), CLIENTS (16).
# Relies on: pgbench, psql; PostgreSQL of script/services. Loopback only;
# bounded: 2 * ROUNDS * SECONDS_PER_ROUND seconds plus the seeding.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
db=""
articles=1000000
while [ $# -gt 0 ]; do
    case "$1" in
    --db) db="$2"; shift 2 ;;
    --articles) articles="$2"; shift 2 ;;
    *) echo "usage: bench/tag_version_cost.sh [--db URL] [--articles N]" >&2; exit 2 ;;
    esac
done
rounds="${ROUNDS:-3}"
secs="${SECONDS_PER_ROUND:-10}"
clients="${CLIENTS:-16}"
for tool in pgbench psql; do
    command -v "$tool" >/dev/null || { echo "tag_version_cost: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
if [ -z "$db" ]; then
    [ -n "${DATABASE_URL:-}" ] || eval "$("$root/script/services" start)"
    "$root/bench/scale.sh" --articles "$articles" --seed-only conduit_tagver
    db="${DATABASE_URL%/*}/conduit_tagver"
fi
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-tagver.XXXXXX")
trap 'psql "$db" -X -q -f "$work/0011.sql" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The two bodies, cut from the migrations themselves.
bench_function_body article_counts_tags_row 0010_article_counts_fold_less.sql >"$work/0010.sql"
bench_function_body article_counts_tags_row 0011_tag_list_changes.sql >"$work/0011.sql"
if [ ! -s "$work/0010.sql" ] || [ ! -s "$work/0011.sql" ]; then
    echo "tag_version_cost: trigger bodies not found in migrations/" >&2
    exit 1
fi

users=$(psql "$db" -X -tAc "SELECT max(id) FROM users")
tags=$(psql "$db" -X -tAc "SELECT count(*) FROM tags")

run() {
    psql "$db" -X -q -v ON_ERROR_STOP=1 -f "$work/$1.sql" >/dev/null
    pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" -D users="$users" -D tags="$tags" \
        -f "$root/bench/pgbench_article_insert.sql" "$db" 2>&1 |
        awk '/^tps = / {printf "%.0f\n", $3}'
}

echo "tag_version_cost: $rounds rounds of each body, $secs s, -c$clients, on $db"
: >"$work/tps"
for i in $(seq 1 "$rounds"); do
    for v in 0010 0011; do
        t=$(run "$v")
        echo "round $i: $v body: $t tps"
        echo "$v $t" >>"$work/tps"
    done
done
python3 - "$work/tps" <<'EOF'
import statistics, sys
tps = {}
for line in open(sys.argv[1]):
    v, t = line.split()
    tps.setdefault(v, []).append(float(t))
old, new = statistics.median(tps["0010"]), statistics.median(tps["0011"])
print()
print("| trigger body | tps per round | median |")
print("| --- | --- | ---: |")
for v, label in (("0010", "0010 (per-tag delta)"), ("0011", "0011 (+ tag list version)")):
    print("| %s | %s | %.0f |" % (label, ", ".join("%.0f" % t for t in tps[v]), statistics.median(tps[v])))
print()
print("0011 / 0010: %.3f" % (new / old))
EOF
