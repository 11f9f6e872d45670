#!/usr/bin/env bash
# bench/write_floor.sh: where a write's time goes against the schema before
# issue 9, at the statement level, in one run. pgbench of the API's own
# article insert and favorite statements (bench/pgbench_*.sql) on:
#   old     a database at migrations <= 0002 (the release before issue 9);
#   schema  a database at every migration with the kept counts switched
#           off (the row triggers article_counts_row disabled, and 0002's
#           favorites_count_trigger body, which only keeps favoritesCount):
#           what the page-order columns and indexes (0005-0007) and the
#           list tables' autovacuum settings (0008) cost by themselves;
#   new     the same database as migrated, counts kept.
# Rounds rotate the order of the three. Prints each run, then per write the
# medians and the ratios schema/old and new/old (issue 9's write budget:
# new/old at least 0.9).
#
#   bench/write_floor.sh [--articles N] [--reuse]
#
# Seeds conduit_wf_old and conduit_wf_new with bench/scale.sh --seed-only
# (N articles, default 1,000,000: about a minute each here); --reuse takes
# the two as an earlier run left them (its rows stay in both, alike). The
# kept counts stay exact through the "schema" rounds of the article insert:
# those rounds' rows are deleted again with the triggers still off, and the
# favorites they add are deleted with 0002's body in place. The migrated
# trigger state is back at the end, whatever happens.
#
# Environment: ROUNDS (3), SECONDS_PER_ROUND (8), CLIENTS (16).
# Relies on: pgbench, psql, python3; PostgreSQL of script/services.
# Loopback only; bounded: 3 * 2 * ROUNDS * SECONDS_PER_ROUND seconds plus
# the seeding.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
articles=1000000
reuse=0
while [ $# -gt 0 ]; do
    case "$1" in
    --articles) articles="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    *) echo "usage: bench/write_floor.sh [--articles N] [--reuse]" >&2; exit 2 ;;
    esac
done
rounds="${ROUNDS:-3}"
secs="${SECONDS_PER_ROUND:-8}"
clients="${CLIENTS:-16}"
for tool in pgbench psql python3; do
    command -v "$tool" >/dev/null || { echo "write_floor: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
[ -n "${DATABASE_URL:-}" ] || eval "$("$root/script/services" start)"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
base="${DATABASE_URL%/*}"
if [ "$reuse" = 0 ]; then
    "$root/bench/scale.sh" --articles "$articles" --migrations-upto 0002 --seed-only conduit_wf_old
    "$root/bench/scale.sh" --articles "$articles" --seed-only conduit_wf_new
fi
old_db="$base/conduit_wf_old"
new_db="$base/conduit_wf_new"
work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-wfloor.XXXXXX")

# Counts on (the migrated state) and off, on the new database.
bench_function_body favorites_count_trigger 0002_article_counters.sql >"$work/fav-off.sql"
bench_function_body favorites_count_trigger 0010_article_counts_fold_less.sql >"$work/fav-on.sql"
if [ ! -s "$work/fav-off.sql" ] || [ ! -s "$work/fav-on.sql" ]; then
    echo "write_floor: favorites_count_trigger not found in migrations/" >&2
    exit 1
fi
counts() { # on|off
    local verb=ENABLE
    [ "$1" = off ] && verb=DISABLE
    psql "$new_db" -X -q -v ON_ERROR_STOP=1 -f "$work/fav-$1.sql" \
        -c "ALTER TABLE articles $verb TRIGGER article_counts_row" \
        -c "ALTER TABLE article_tags $verb TRIGGER article_counts_row" >/dev/null
}
# shellcheck disable=SC2317 # the EXIT trap
finish() {
    counts on 2>/dev/null || echo "write_floor: could not switch the counts back on in $new_db" >&2
    rm -rf "$work"
}
trap finish EXIT

# The statements; the old schema's without the list-order columns.
cp "$root/bench/pgbench_article_insert.sql" "$work/article-new.sql"
cp "$root/bench/pgbench_favorite.sql" "$work/favorite-new.sql"
sed 's/(article_id, tag_id, created_at)/(article_id, tag_id)/; s/tg\.id, ins\.created_at/tg.id/' \
    "$work/article-new.sql" >"$work/article-old.sql"
sed 's/, article_created_at)/)/; s/SELECT :uid, id, created_at FROM a/SELECT :uid, id FROM a/' \
    "$work/favorite-new.sql" >"$work/favorite-old.sql"
if grep -q 'tag_id, created_at)' "$work/article-old.sql" ||
    grep -q 'article_id, article_created_at)' "$work/favorite-old.sql"; then
    echo "write_floor: could not cut the list-order columns out of the statements" >&2
    exit 1
fi
vars() { # DB: pgbench -D arguments
    psql "$1" -X -tAc "SELECT '-D users=' || (SELECT max(id) FROM users) || ' -D tags=' ||
        (SELECT count(*) FROM tags) || ' -D articles=' || (SELECT max(id) FROM articles)"
}
read -ra old_vars <<<"$(vars "$old_db")"
read -ra new_vars <<<"$(vars "$new_db")"

# run WRITE VARIANT: one round; prints its tps.
run() {
    local db="$new_db" sql="$1-new" mark
    local -a defs=("${new_vars[@]}")
    [ "$2" = old ] && { db="$old_db"; sql="$1-old"; defs=("${old_vars[@]}"); }
    [ "$2" = schema ] && counts off
    mark=$(psql "$db" -X -tAc "SELECT now()")
    pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" "${defs[@]}" -f "$work/$sql.sql" "$db" 2>&1 |
        awk '/^tps = / {printf "%.0f\n", $3}'
    if [ "$2" = schema ]; then
        # Rows written with the counts off go again with them off.
        local table=articles
        [ "$1" = favorite ] && table=favorites
        psql "$db" -X -q -c "DELETE FROM $table WHERE created_at >= '$mark'" >/dev/null
        counts on
    fi
}

echo "write_floor: $rounds rounds, $secs s each, -c$clients"
: >"$work/tps"
order=(old schema new)
for r in $(seq 1 "$rounds"); do
    for w in article favorite; do
        for i in 0 1 2; do
            v=${order[$(((i + r) % 3))]}
            t=$(run "$w" "$v")
            echo "round $r: $w $v: $t tps"
            echo "$w $v $t" >>"$work/tps"
        done
    done
done
python3 - "$work/tps" <<'PY'
import statistics, sys
tps = {}
for line in open(sys.argv[1]):
    w, v, t = line.split()
    tps.setdefault((w, v), []).append(float(t))
print()
print("| write (-c16, pgbench) | old tps | schema tps (no counts) | new tps | schema / old | new / old |")
print("| --- | --- | --- | --- | ---: | ---: |")
for w in ("article", "favorite"):
    med = {v: statistics.median(tps[(w, v)]) for v in ("old", "schema", "new")}
    runs = {v: ", ".join("%.0f" % t for t in tps[(w, v)]) for v in med}
    print("| %s | %s | %s | %s | %.3f | %.3f |" % (w, runs["old"], runs["schema"], runs["new"],
          med["schema"] / med["old"], med["new"] / med["old"]))
PY
