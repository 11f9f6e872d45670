#!/bin/bash
# standin-entrypoint.sh (redis stand-in): `redis-server ARGS...` runs as the
# redis user, listening on all interfaces with protected mode off (the
# official image's defaults); any other command runs as given.
set -euo pipefail
if [ "${1:-}" = redis-server ]; then
    shift
    exec runuser -u redis -- redis-server --bind '* -::*' --protected-mode no --dir /data "$@"
fi
exec "$@"
