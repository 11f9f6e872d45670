# shellcheck shell=bash disable=SC2154 # sourced: $root, $work, $pid belong to the script
# bench/lib.sh: shell helpers that bench/overload.sh and bench/tail.sh share
# (sourced, not run; needs $root set to the repository).
#
#   bench_conduitd NAME     prints the conduitd to measure: $CONDUITD, else
#                           script/build bench's; exits 2 with "NAME: ..." if
#                           it is not an executable
#   bench_work NAME         sets $work to a new temporary directory and $pid
#                           to "", with an EXIT trap that TERMs and waits for
#                           $pid when set and removes $work
#   bench_free_port         prints a free loopback TCP port

bench_conduitd() {
    local c="${CONDUITD:-}"
    [ -n "$c" ] || c="$("$root/script/build" bench | tail -n 1)/conduitd"
    [ -x "$c" ] || { echo "$1: conduitd not found: $c" >&2; exit 2; }
    echo "$c"
}

# shellcheck disable=SC2317 # called by the EXIT trap
bench_cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}

bench_work() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-$1.XXXXXX")
    pid=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
