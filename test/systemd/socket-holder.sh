#!/bin/bash
# socket-holder.sh COMMAND [ARGS...]: plays systemd's part in a restart of a
# socket-activated service, for test_socket_activation.py.
# systemd-socket-activate opens the listening socket and execs this script
# with it (fd 3, LISTEN_FDS=1, LISTEN_FDNAMES=api); it cannot restart a
# service itself, so this script keeps fd 3 open and runs COMMAND again each
# time it exits, handing the same socket on with LISTEN_PID set to the new
# process's pid, as systemd does for `systemctl restart` of a service with a
# .socket unit. Each start's pid is appended to $HOLDER_PIDS (when set).
# TERM or INT: stop the running COMMAND with TERM, wait, exit 0.
set -u
stopping=0
child=0
# shellcheck disable=SC2317 # called by the trap
on_stop() {
    stopping=1
    [ "$child" = 0 ] || kill -TERM "$child" 2>/dev/null
}
trap on_stop TERM INT
[ "${LISTEN_FDS:-}" = 1 ] || { echo "socket-holder: expected LISTEN_FDS=1" >&2; exit 2; }
while [ "$stopping" = 0 ]; do
    (
        LISTEN_PID=$BASHPID
        export LISTEN_PID
        exec "$@"
    ) &
    child=$!
    [ -z "${HOLDER_PIDS:-}" ] || echo "$child" >>"$HOLDER_PIDS"
    # wait returns early when a trapped signal arrives: wait again.
    while kill -0 "$child" 2>/dev/null; do
        wait "$child"
    done
    child=0
done
exit 0
