#!/bin/bash
# bench/supervision.sh: process supervision of conduitd next to nginx
# (nginx-light) and gunicorn (Debian's, sync workers), 2 workers each: a
# worker killed, a worker hung, reload x3, scaling up and down, a stop with
# a request in flight, the master killed. Prints a Markdown table (the
# scenarios and their measures are described in bench/supervision.py).
#
# Environment: CONDUITD (default ./conduitd, else script/build bench), RUNS
# (3), SERVERS ("nginx gunicorn conduitd"). Needs wrk, nginx, gunicorn
# (script/bootstrap installs them). Loopback only; about 2 minutes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
for tool in wrk nginx gunicorn python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "supervision: $tool not found (run script/bootstrap)" >&2; exit 2; }
done
if [ -z "${CONDUITD:-}" ]; then
    if [ -x ./conduitd ]; then
        CONDUITD=$PWD/conduitd
    else
        CONDUITD="$("$root/script/build" bench | tail -n 1)/conduitd"
    fi
fi
export CONDUITD
exec python3 "$root/bench/supervision.py"
