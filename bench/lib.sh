# shellcheck shell=bash disable=SC2154 # sourced: $root, $work, $pid belong to the script
# bench/lib.sh: shell helpers that bench/overload.sh, bench/tail.sh, bench/write_cost.sh,
# bench/write_floor.sh and bench/tag_version_cost.sh share
# (sourced, not run; needs $root set to the repository).
#
#   bench_conduitd NAME     prints the conduitd to measure: $CONDUITD, else
#                           script/build bench's; exits 2 with "NAME: ..." if
#                           it is not an executable
#   bench_work NAME         sets $work to a new temporary directory, $pid to
#                           "" and $pids to (), with an EXIT trap that TERMs
#                           and waits for $pid and every pid in $pids, and
#                           removes $work
#   bench_free_port         prints a free loopback TCP port
#   bench_function_body FUNCTION MIGRATION
#                           prints that function's definition as the
#                           migration file wrote it, as CREATE OR REPLACE
#                           (to put an earlier body back for a round)

bench_conduitd() {
    local c="${CONDUITD:-}"
    [ -n "$c" ] || c="$("$root/script/build" bench | tail -n 1)/conduitd"
    [ -x "$c" ] || { echo "$1: conduitd not found: $c" >&2; exit 2; }
    echo "$c"
}

# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
    local p
    for p in $pid "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $pid "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}

bench_work() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-$1.XXXXXX")
    pid=""
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

bench_function_body() {
    sed -n "/^CREATE \(OR REPLACE \)\?FUNCTION $1()/,/^\\\$\\\$;/p" "$root/migrations/$2" |
        sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
}
