#!/usr/bin/env bash
# test/conformance.sh: run the upstream RealWorld conformance suite (the Bruno
# collection in ../shared/realworld/bruno, 154 requests) against a freshly
# started conduitd, and pass only if every request passes.
#
# Relies on: the pinned Bruno CLI (tools/package.json + tools/package-lock.json,
# installed with `npm ci --prefix tools` into tools/node_modules), a built
# conduitd (CONDUITD, else _build/default/conduitd), PostgreSQL and Redis
# (DATABASE_URL, REDIS_URL: `script/services start`), python3 (free ports, the
# report), and loopback only. Run by script/test, not by `make check`.
#
# Prints "conformance: N passed, M failed" and exits 0 only for 154 of 154.
# When ../shared/realworld is absent it says so loudly and exits 77 (skipped:
# script/test counts and names the stage as skipped, never as ok).
# REALWORLD_BRUNO names another copy of the collection (GitHub's CI checks
# out the upstream repository for it).
set -euo pipefail

srcdir="${CONDUIT_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
srcdir=$(cd "$srcdir" && pwd)
collection="${REALWORLD_BRUNO:-$srcdir/../shared/realworld/bruno}"
expected=154
folders=(auth profiles articles comments favorites feed pagination tags
    errors-auth errors-profiles errors-articles errors-comments errors-authorization)
folder_timeout=180

if [ ! -d "$collection" ]; then
    echo "SKIP: ../shared/realworld not present ($collection): the upstream conformance suite DID NOT RUN"
    echo "skip-reason: no ../shared/realworld"
    exit 77
fi

die() {
    echo "conformance: $*" >&2
    exit 2
}

[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set (run: eval \"\$(script/services start)\")"
[ -n "${REDIS_URL:-}" ] || die "REDIS_URL is not set (run: eval \"\$(script/services start)\")"
conduitd="${CONDUITD:-}"
if [ -z "$conduitd" ]; then
    for c in "${CONDUIT_BUILDDIR:-}/conduitd" "$srcdir/_build/default/conduitd" "$srcdir/conduitd"; do
        [ -x "$c" ] && { conduitd="$c"; break; }
    done
fi
if [ -z "$conduitd" ] || [ ! -x "$conduitd" ]; then
    die "conduitd binary not found (set CONDUITD)"
fi
command -v node >/dev/null || die "node not found (script/bootstrap installs it)"
# The Bruno CLI uses globalThis.crypto (WebCrypto), global from Node 19 on;
# Debian 12's Node 18 has it behind a flag (found by script/test-fresh).
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 19 ]; then
    export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--experimental-global-webcrypto"
fi
command -v python3 >/dev/null || die "python3 not found"

# ---- the pinned Bruno CLI ---------------------------------------------------
tools="$srcdir/tools"
bru="$tools/node_modules/.bin/bru"
pinned=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devDependencies"]["@usebruno/cli"])' \
    "$tools/package.json")
if [ ! -x "$bru" ] || [ "$("$bru" --version 2>/dev/null)" != "$pinned" ]; then
    echo "conformance: installing @usebruno/cli $pinned into tools/node_modules"
    if [ -f "$tools/package-lock.json" ]; then
        timeout 600 npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >/dev/null
    else
        timeout 600 npm install --prefix "$tools" --no-audit --no-fund --loglevel=error >/dev/null
    fi
fi
[ "$("$bru" --version)" = "$pinned" ] || die "bru is not version $pinned"

# ---- a private copy of the collection and a fresh server --------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-conformance.XXXXXX")
server_pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -R "$collection" "$work/bruno"
chmod -R u+w "$work/bruno"

read -r port admin_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

export CONDUIT_MIGRATIONS_DIR="${CONDUIT_MIGRATIONS_DIR:-$srcdir/migrations}"
timeout 120 "$conduitd" migrate >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; die "conduitd migrate failed"; }

# The suite registers and logs in some 40 users within seconds from 127.0.0.1:
# the per-address auth limit is raised so that it tests the API, not the limiter
# (test/api/ratelimit.py tests the limiter).
JWT_SECRET="${JWT_SECRET:-conformance-secret-$(date +%s)-$$-0123456789abcdef}" \
    CONDUIT_RATE_LIMIT_AUTH=100000 CONDUIT_ACCESS_LOG=off \
    "$conduitd" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" --workers 2 \
    </dev/null >"$work/conduitd.log" 2>&1 &
server_pid=$!

up=""
for _ in $(seq 1 150); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$work/conduitd.log" >&2
        die "conduitd exited during start"
    fi
    if python3 -c '
import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=1).read()' \
        "$port" 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
[ -n "$up" ] || { tail -50 "$work/conduitd.log" >&2; die "conduitd did not answer /healthz"; }

# ---- run every folder in the README's order ---------------------------------
cd "$work/bruno"
for folder in "${folders[@]}"; do
    echo "conformance: $folder"
    timeout "$folder_timeout" "$bru" run "$folder" --env local \
        --env-var "host=http://127.0.0.1:$port" --sandbox safe \
        --reporter-json "$work/report-$folder.json" >"$work/bru-$folder.txt" 2>&1 || true
done

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "conformance: conduitd died during the suite" >&2
    tail -50 "$work/conduitd.log" >&2
fi

# ---- count: a request passes when it ran and every check on it passed -------
set +e
python3 - "$work" "$expected" "${folders[@]}" <<'EOF'
import json, os, sys

work, expected, folders = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
passed = failed = 0
for folder in folders:
    path = os.path.join(work, "report-%s.json" % folder)
    if not os.path.exists(path):
        print("  %s: no report (bru did not finish); see its output:" % folder)
        with open(os.path.join(work, "bru-%s.txt" % folder), errors="replace") as f:
            print("    " + "\n    ".join(f.read().splitlines()[-15:]))
        # Count the folder's requests as failed.
        n = sum(1 for f in os.listdir(os.path.join(work, "bruno", folder)) if f.endswith(".bru"))
        failed += n
        continue
    with open(path) as f:
        report = json.load(f)
    for iteration in report if isinstance(report, list) else [report]:
        for r in iteration.get("results", []):
            checks = []
            for key in ("assertionResults", "testResults", "preRequestTestResults",
                        "postResponseTestResults"):
                checks += r.get(key) or []
            bad = [c for c in checks if c.get("status") != "pass"]
            if r.get("status") in ("error", "fail", "skipped") or bad or r.get("error"):
                failed += 1
                status = (r.get("response") or {}).get("status")
                why = r.get("error") or "; ".join(
                    "%s: %s" % (c.get("description") or c.get("lhsExpr") or "check",
                                c.get("error") or c.get("status")) for c in bad)
                print("  FAIL %s (HTTP %s): %s" % (r.get("path") or r.get("test", {}).get(
                    "filename"), status, why))
            else:
                passed += 1
print("conformance: %d passed, %d failed" % (passed, failed))
if passed + failed != expected:
    print("conformance: counted %d requests, expected %d" % (passed + failed, expected))
sys.exit(0 if passed == expected and failed == 0 else 1)
EOF
status=$?
set -e
if [ "$status" -ne 0 ] && grep -q '"level":"error"' "$work/conduitd.log" 2>/dev/null; then
    echo "conformance: conduitd errors:" >&2
    grep '"level":"error"' "$work/conduitd.log" | tail -20 >&2
fi
exit "$status"
