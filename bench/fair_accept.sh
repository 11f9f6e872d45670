#!/bin/bash
# bench/fair_accept.sh: how evenly conduitd's workers share new connections
# (issue 3, behaviour 7: fair accepting), read from the admin /status under
# a wrk run.
#
# For each --accepts-per-wake value in APW_LIST (default "8 1024": the
# default bound, and one large enough to act like accept-until-EAGAIN for
# these bursts) and each client mode:
#   keepalive  wrk -cCONNECTIONS opens its connections in one burst and
#              keeps them: the split of that burst is the split of the work;
#   close      wrk sends "Connection: close": a new connection per request,
#              so every request is an accept;
# it starts conduitd (--access-log off, WORKERS workers), runs wrk for
# DURATION, and prints per worker the connections it accepted and the
# requests it served during the run, with its share, and the busiest
# worker's share of the accepted connections (1/WORKERS is perfectly even).
# Each combination runs ROUNDS times; a summary gives the medians.
#
# Environment: CONDUITD (default ./conduitd), WORKERS (online CPUs),
# APW_LIST ("8 1024"), ROUNDS (3), DURATION (5s), CONNECTIONS (64),
# THREADS (2). Needs wrk, curl and python3. Loopback only; bounded to about
# 2 * ROUNDS * |APW_LIST| * DURATION plus a few seconds.
set -euo pipefail

conduitd=${CONDUITD:-./conduitd}
workers=${WORKERS:-$(getconf _NPROCESSORS_ONLN)}
apw_list=${APW_LIST:-8 1024}
rounds=${ROUNDS:-3}
duration=${DURATION:-5s}
connections=${CONNECTIONS:-64}
threads=${THREADS:-2}

die() {
    echo "fair_accept: $*" >&2
    exit 2
}

[ -x "$conduitd" ] || die "no conduitd binary at '$conduitd' (build it, or set CONDUITD)"
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install wrk curl python3)"
done
case "$workers" in '' | *[!0-9]* | 0) die "WORKERS must be a positive integer" ;; esac
case "$rounds" in '' | *[!0-9]* | 0) die "ROUNDS must be a positive integer" ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fair-accept.XXXXXX")
pid=""

# Stop the conduitd we started: TERM, then KILL after 5 s.
stop_server() {
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

cleanup() {
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Print the per-worker table from two /status documents (before, after)
# and append "busiest-connection-share busiest-request-share" to $3.
table() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
before = {w["pid"]: w for w in json.load(open(sys.argv[1]))["workers"] if w.get("pid")}
after = [w for w in json.load(open(sys.argv[2]))["workers"] if w.get("pid")]
rows = []
for w in after:
    b = before.get(w["pid"], {})
    rows.append((w["slot"], w["connections_accepted"] - b.get("connections_accepted", 0),
                 w["requests"] - b.get("requests", 0)))
acc = sum(r[1] for r in rows) or 1
req = sum(r[2] for r in rows) or 1
for slot, a, r in rows:
    print("    worker %-3d accepted %8d (%5.1f%%)   requests %9d (%5.1f%%)"
          % (slot, a, 100.0 * a / acc, r, 100.0 * r / req))
top = max(r[1] for r in rows) / acc
rtop = max(r[2] for r in rows) / req
print("    busiest worker: %.1f%% of the connections, %.1f%% of the requests"
      % (100 * top, 100 * rtop))
with open(sys.argv[3], "a") as f:
    f.write("%.2f %.2f\n" % (100 * top, 100 * rtop))
EOF
}

# The median of the numbers in column $2 of file $1.
median() {
    sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'
}

echo "conduitd: $("$conduitd" --version)"
echo "workers: $workers   wrk: -t$threads -c$connections -d$duration   cores: $(getconf _NPROCESSORS_ONLN)   rounds: $rounds"
for round in $(seq "$rounds"); do
    for apw in $apw_list; do
        for mode in keepalive close; do
            port=$(free_port)
            admin=$(free_port)
            JWT_SECRET=bench-secret-0123456789abcdef0123456789 "$conduitd" --listen "127.0.0.1:$port" \
                --admin-listen "127.0.0.1:$admin" --workers "$workers" --access-log off \
                --accepts-per-wake "$apw" >"$tmp/conduitd.log" 2>&1 &
            pid=$!
            for _ in $(seq 100); do
                curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
                kill -0 "$pid" 2>/dev/null || die "conduitd exited: $(tail -5 "$tmp/conduitd.log")"
                sleep 0.05
            done
            curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null || die "conduitd not ready"
            curl -fsS "http://127.0.0.1:$admin/status" >"$tmp/before.json"
            extra=()
            [ "$mode" = close ] && extra=(-H "Connection: close")
            rps=$(wrk -t"$threads" -c"$connections" -d"$duration" "${extra[@]}" \
                "http://127.0.0.1:$port/healthz" | awk '/Requests\/sec/ {print $2}')
            curl -fsS "http://127.0.0.1:$admin/status" >"$tmp/after.json"
            echo "round $round, accepts-per-wake $apw, $mode: $rps requests/s"
            table "$tmp/before.json" "$tmp/after.json" "$tmp/shares-$apw-$mode"
            echo "$rps" >>"$tmp/rps-$apw-$mode"
            stop_server
        done
    done
done
echo
echo "summary: medians over $rounds rounds; the busiest worker's share (even: $((100 / workers))%)"
printf '%-18s %-10s %12s %13s %13s\n' accepts-per-wake mode requests/s connections requests
for apw in $apw_list; do
    for mode in keepalive close; do
        printf '%-18s %-10s %12s %12s%% %12s%%\n' "$apw" "$mode" \
            "$(median "$tmp/rps-$apw-$mode" 1)" "$(median "$tmp/shares-$apw-$mode" 1)" \
            "$(median "$tmp/shares-$apw-$mode" 2)"
    done
done
