#!/bin/bash
# bench/healthz_vs_nginx.sh: GET /healthz on conduitd's API port against
# nginx's `return 200`, side by side in one run.
#
# Starts both servers itself on free loopback ports (nginx with its own
# configuration from bench/nginx-healthz.conf.in in a temporary directory;
# conduitd with --access-log off), the same number of workers each, then
# runs `wrk -t1 -c64` (keep-alive) against them alternately, ROUNDS times
# each, alternating which goes first, prints every run and the median
# ratio conduitd/nginx, and stops both servers. It also reads the CPU time
# the server's processes used during each run (/proc/PID/stat of the
# master and its workers) and prints it per request, user and system:
# that figure moves far less than requests/s when other work shares the
# machine. Builds nothing: it takes
# the conduitd binary from $CONDUITD (default ./conduitd).
#
# Environment: CONDUITD, WORKERS (default: online CPUs), ROUNDS (5),
# DURATION (5s), CONNECTIONS (64), THREADS (1), WARMUP (3s), CONDUITD_ARGS
# (extra conduitd flags, split on spaces, e.g. "--accepts-per-wake 1").
# Needs nginx (Debian nginx-light), wrk and curl. Loopback only; bounded
# to about 2 * ROUNDS * DURATION plus a few seconds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
conduitd=${CONDUITD:-./conduitd}
workers=${WORKERS:-$(getconf _NPROCESSORS_ONLN)}
rounds=${ROUNDS:-5}
duration=${DURATION:-5s}
connections=${CONNECTIONS:-64}
threads=${THREADS:-1}
warmup=${WARMUP:-3s}
read -r -a extra_args <<<"${CONDUITD_ARGS:-}"
template="$here/nginx-healthz.conf.in"

die() {
    echo "healthz_vs_nginx: $*" >&2
    exit 2
}

[ -x "$conduitd" ] || die "no conduitd binary at '$conduitd' (build it, or set CONDUITD)"
[ -r "$template" ] || die "missing $template"
for tool in nginx wrk curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install nginx-light wrk curl python3)"
done
case "$rounds" in '' | *[!0-9]* | 0) die "ROUNDS must be a positive integer" ;; esac
case "$workers" in '' | *[!0-9]* | 0) die "WORKERS must be a positive integer" ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/healthz-bench.XXXXXX")
nginx_pid=""
conduit_pid=""

# Stop a server by the pid we started: TERM, then KILL after 5 s.
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$conduit_pid"
    stop_pid "$nginx_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Three free loopback ports (bound and released; nothing else should race us here).
read -r nginx_port api_port admin_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')

# Temporary paths for the proxy-like modules this nginx has (nginx-light may lack some).
temp_paths=""
nginx_build=$(nginx -V 2>&1)
for m in proxy fastcgi uwsgi scgi; do
    case "$nginx_build" in
        *"--without-http_${m}_module"*) ;;
        *) temp_paths="$temp_paths    ${m}_temp_path $tmp/$m;"$'\n' ;;
    esac
done
python3 - "$template" "$tmp/nginx.conf" "$workers" "$nginx_port" "$tmp" "$temp_paths" <<'EOF'
import sys
src, dst, workers, port, tmp, temp_paths = sys.argv[1:]
text = open(src).read()
for key, val in (("@WORKERS@", workers), ("@PORT@", port), ("@TMP@", tmp),
                 ("@TEMP_PATHS@", temp_paths.rstrip("\n"))):
    text = text.replace(key, val)
open(dst, "w").write(text)
EOF

# Wait until url answers 200, or fail if pid died or 10 s passed.
wait_ready() {
    local url=$1 pid=$2 name=$3 log=$4
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2 || true
            die "$name exited during start-up"
        fi
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    cat "$log" >&2 || true
    die "$name did not answer $url within 10 s"
}

nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
JWT_SECRET=bench-secret-0123456789abcdef0123456789 "$conduitd" --listen "127.0.0.1:$api_port" --admin-listen "127.0.0.1:$admin_port" \
    --workers "$workers" --access-log off --log-level warn "${extra_args[@]}" >"$tmp/conduitd.out" 2>&1 &
conduit_pid=$!

nginx_url="http://127.0.0.1:$nginx_port/healthz"
conduit_url="http://127.0.0.1:$api_port/healthz"
wait_ready "$nginx_url" "$nginx_pid" nginx "$tmp/error.log"
wait_ready "$conduit_url" "$conduit_pid" conduitd "$tmp/conduitd.out"

body_nginx=$(curl -s "$nginx_url")
body_conduit=$(curl -s "$conduit_url")
[ "$body_nginx" = "$body_conduit" ] || die "bodies differ: nginx '$body_nginx', conduitd '$body_conduit'"

# CPU clock ticks used so far by pid and its children: "user system".
cpu_ticks() {
    local p u=0 s=0 f
    for p in "$1" $(pgrep -P "$1"); do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        read -r -a a <<<"$f"
        u=$((u + a[11]))
        s=$((s + a[12]))
    done
    echo "$u $s"
}

# One wrk run against the server whose master is pid; prints
# "requests/s user-us/request system-us/request" (fails on socket errors or
# non-2xx answers).
run_wrk() {
    local url=$1 dur=$2 pid=$3 out u0 s0 u1 s1
    read -r u0 s0 < <(cpu_ticks "$pid")
    out=$(wrk -t"$threads" -c"$connections" -d"$dur" "$url")
    read -r u1 s1 < <(cpu_ticks "$pid")
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
        echo "$out" >&2
        die "errors during the run against $url"
    fi
    awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" '
        /requests in/ { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        END { printf "%s %.2f %.2f\n", rps, u / hz * 1e6 / n, s / hz * 1e6 / n }' <<<"$out"
}

echo "# GET /healthz, wrk -t$threads -c$connections -d$duration, keep-alive, $workers workers each${CONDUITD_ARGS:+, conduitd $CONDUITD_ARGS}"
echo "# $(nginx -v 2>&1 | sed 's/^nginx version: //'), $("$conduitd" --version 2>/dev/null | head -1)"
echo "# $(uname -srm), $(getconf _NPROCESSORS_ONLN) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other load on the machine skews both servers)"
run_wrk "$nginx_url" "$warmup" "$nginx_pid" >/dev/null
run_wrk "$conduit_url" "$warmup" "$conduit_pid" >/dev/null

ratios=()
nginx_all=()
conduit_all=()
nginx_cpu=()
conduit_cpu=()
printf '%-6s %-9s %12s %14s %14s\n' round server 'req/s' 'user us/req' 'sys us/req'
for r in $(seq "$rounds"); do
    # Alternate which server goes first, so drift does not favour either.
    if [ $((r % 2)) -eq 1 ]; then order="nginx conduitd"; else order="conduitd nginx"; fi
    for s in $order; do
        if [ "$s" = nginx ]; then
            out=$(run_wrk "$nginx_url" "$duration" "$nginx_pid")
            read -r n nu ns <<<"$out"
            printf '%-6s %-9s %12s %14s %14s\n' "$r" "$s" "$n" "$nu" "$ns"
        else
            out=$(run_wrk "$conduit_url" "$duration" "$conduit_pid")
            read -r c cu cs <<<"$out"
            printf '%-6s %-9s %12s %14s %14s\n' "$r" "$s" "$c" "$cu" "$cs"
        fi
    done
    nginx_all+=("$n")
    conduit_all+=("$c")
    nginx_cpu+=("$(awk -v u="$nu" -v s="$ns" 'BEGIN { printf "%.2f", u + s }')")
    conduit_cpu+=("$(awk -v u="$cu" -v s="$cs" 'BEGIN { printf "%.2f", u + s }')")
    ratios+=("$(awk -v c="$c" -v n="$n" 'BEGIN { printf "%.3f", c / n }')")
done

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "per-round ratio conduitd/nginx: ${ratios[*]}"
echo "median req/s: nginx $(median "${nginx_all[@]}"), conduitd $(median "${conduit_all[@]}")"
echo "median CPU us/request (user+sys, all processes): nginx $(median "${nginx_cpu[@]}"), conduitd $(median "${conduit_cpu[@]}")"
echo "median ratio conduitd/nginx: $(median "${ratios[@]}")"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
