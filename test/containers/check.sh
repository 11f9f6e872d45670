#!/usr/bin/env bash
# test/containers/check.sh: the image and the compose stack on a real Docker
# engine (script/test's `containers` stage; issue 12). Nothing is pulled: no
# container registry is reachable from the project's machines.
#
#   engine      script/docker-engine start: the engine that answers, else
#               Debian's dockerd started here (and stopped again at the end)
#   base        script/base-image: debian:bookworm-slim made with mmdebstrap
#               from the host's Debian mirror and `docker import`ed (cached)
#   build       `docker build` of the Dockerfile with BuildKit
#               (DOCKER_BUILDKIT=1) and with the classic builder
#   contract    for both images: uid 10001, `docker run IMAGE --help`,
#               the migrations in /usr/share/conduitd/migrations, STOPSIGNAL
#               SIGTERM, and `docker stop` with a request in flight: the
#               request answered, exit status 0, gone under 5 s after TERM
#   stand-ins   postgres:15-bookworm and redis:7-bookworm built from
#               test/containers/standin-*/ (Debian's postgresql-15 and
#               redis-server): LOCAL STAND-INS for the official images, used
#               only when those are absent, never over a pulled official one
#   compose     `docker-compose up` of compose.yaml on free loopback ports:
#               register, create and read an article through it; the data
#               kept across `down`/`up`; HUP reload under load with 0 failed
#               requests; after that HUP a crash is still restarted (the
#               restart policy); `docker-compose stop api` graceful
#
# Exit 77 with a "SKIP:" line when no engine can start (inside an
# unprivileged container, e.g. script/test-fresh). Last line:
# "containers: N passed, M failed". Budget: a few minutes with the build
# cache, about 5 without.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
docker=$(command -v /usr/bin/docker || command -v docker || echo docker)
compose_bin=$(command -v docker-compose || true)
work=$(mktemp -d "${TMPDIR:-/tmp}/conduit-containers.XXXXXX")
project="conduitdct$$"
engine_started=no
contract_containers=()

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    echo "PASS: $1"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL: $1"
}
# check NAME CMD...: passes when CMD exits 0; shows CMD's output otherwise.
check() {
    local name="$1" out="$work/out.$RANDOM"
    shift
    if "$@" >"$out" 2>&1; then
        pass "$name"
        [ -z "${CONTAINERS_VERBOSE:-}" ] || sed 's/^/    /' "$out"
        return 0
    fi
    fail "$name"
    sed 's/^/    /' "$out" | tail -n 40
    return 1
}

compose() { "$compose_bin" -p "$project" -f "$root/compose.yaml" "$@"; }

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local c
    for c in "${contract_containers[@]}"; do
        "$docker" rm -f "$c" >/dev/null 2>&1 || true
    done
    if [ -n "$compose_bin" ] && [ "$engine_up" = yes ]; then
        compose down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    [ "$engine_started" = no ] || "$root/script/docker-engine" stop || true
    rm -rf "$work"
}
engine_up=no
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
probe() { python3 "$here/probe.py" "$@"; }

# ---- engine ---------------------------------------------------------------------
if ! engine_out=$("$root/script/docker-engine" start 2>&1); then
    echo "SKIP: containers: no Docker engine can start here (${engine_out##*cannot start: }); the image and compose checks DID NOT RUN"
    echo "skip-reason: no Docker engine can start here"
    exit 77
fi
echo "$engine_out"
engine_up=yes
case "$engine_out" in *"started dockerd"*) engine_started=yes ;; esac
for tool in docker-compose mmdebstrap python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool installed (script/bootstrap installs it)"
done
[ "$failed" = 0 ] || { echo "containers: $passed passed, $failed failed"; exit 1; }

# ---- base image -------------------------------------------------------------------
check "base image debian:bookworm-slim (mmdebstrap --variant=minbase bookworm, docker import)" \
    "$root/script/base-image" debian:bookworm-slim ||
    { echo "containers: $passed passed, $failed failed"; exit 1; }

# ---- build: BuildKit and the classic builder ----------------------------------------
revision=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
images=()
build_with() {
    local mode="$1" tag="$2"
    DOCKER_BUILDKIT="$mode" "$docker" build --build-arg CONDUIT_REVISION="$revision" -t "$tag" "$root"
}
check "docker build with BuildKit (DOCKER_BUILDKIT=1), offline" build_with 1 conduitd:containers-buildkit &&
    images+=(conduitd:containers-buildkit)
# The classic build is the image compose.yaml runs (conduitd:dev).
check "docker build with the classic builder (DOCKER_BUILDKIT=0)" build_with 0 conduitd:dev &&
    images+=(conduitd:dev)

# ---- the image's contract -------------------------------------------------------------
contract_uid() {
    local img="$1" u
    u=$("$docker" run --rm --entrypoint id "$img" -u) || return 1
    echo "id -u in $img: $u"
    [ "$u" = 10001 ] && [ "$("$docker" run --rm --entrypoint id "$img" -g)" = 10001 ]
}
contract_help() {
    local img="$1" out
    out=$("$docker" run --rm "$img" --help) || { echo "docker run $img --help failed"; return 1; }
    echo "$out" | head -n 3
    echo "$out" | grep -q '^Usage: conduitd' &&
        "$docker" run --rm "$img" --version | grep -q "revision $revision"
}
contract_migrations() {
    local img="$1" want have
    want=$(cd "$root/migrations" && printf "%s\n" *.sql | sort)
    have=$("$docker" run --rm --entrypoint ls "$img" /usr/share/conduitd/migrations | sort)
    echo "in the image: $(echo "$have" | tr '\n' ' ')"
    [ -n "$want" ] && [ "$want" = "$have" ]
}
contract_stopsignal() {
    local sig
    sig=$("$docker" image inspect -f '{{.Config.StopSignal}}' "$1")
    echo "StopSignal: $sig"
    [ "$sig" = SIGTERM ]
}
contract_graceful_stop() {
    local img="$1" name="conduitd-contract-$$-$RANDOM" api admin code
    contract_containers+=("$name")
    "$docker" run -d --name "$name" -e JWT_SECRET=containers-stage-secret-0123456789abcdef \
        -e CONDUIT_WORKERS=1 -p 127.0.0.1::8080 -p 127.0.0.1::9090 "$img" >/dev/null || return 1
    api=$("$docker" port "$name" 8080/tcp | head -n 1 | sed 's/.*://')
    admin=$("$docker" port "$name" 9090/tcp | head -n 1 | sed 's/.*://')
    probe wait-ready "$admin" 30 || { "$docker" logs "$name" 2>&1 | tail -n 20; return 1; }
    probe graceful-stop "$api" "$admin" -- "$docker" stop -t 20 "$name" || { "$docker" logs "$name" 2>&1 | tail -n 20; return 1; }
    code=$("$docker" inspect -f '{{.State.ExitCode}}' "$name")
    echo "exit status $code"
    [ "$code" = 0 ]
}
for img in "${images[@]}"; do
    check "$img: runs as uid/gid 10001" contract_uid "$img"
    check "$img: docker run IMAGE --help works (entrypoint conduitd)" contract_help "$img"
    check "$img: migrations in /usr/share/conduitd/migrations" contract_migrations "$img"
    check "$img: STOPSIGNAL SIGTERM" contract_stopsignal "$img"
    check "$img: docker stop with a request in flight: answered, exit 0, under 5 s after TERM" contract_graceful_stop "$img"
done

# ---- stand-ins for the official postgres and redis images ------------------------------
# A stand-in is built (and rebuilt) only where the tag is absent or is our
# own stand-in: an official image pulled on another machine is left alone.
standin() {
    local dir="$1" tag="$2" title
    if "$docker" image inspect "$tag" >/dev/null 2>&1; then
        title=$("$docker" image inspect -f '{{index .Config.Labels "org.opencontainers.image.title"}}' "$tag")
        case "$title" in
        *STAND-IN*) ;;
        *) echo "$tag exists and is not a stand-in: using it as it is"; return 0 ;;
        esac
    fi
    echo "building $tag: LOCAL STAND-IN for the official image (offline machine)"
    "$docker" build -t "$tag" "$here/$dir"
}
check "stand-in postgres:15-bookworm (Debian's postgresql-15; official image contract)" \
    standin standin-postgres postgres:15-bookworm
check "stand-in redis:7-bookworm (Debian's redis-server; official image contract)" \
    standin standin-redis redis:7-bookworm

# ---- compose.yaml ---------------------------------------------------------------------------
CONDUIT_API_PORT=$(free_port)
CONDUIT_ADMIN_PORT=$(free_port)
export CONDUIT_API_PORT CONDUIT_ADMIN_PORT
api_container() { compose ps -q api; }
wait_healthy() {
    local c h
    for _ in $(seq 1 120); do
        c=$(api_container)
        h=$([ -n "$c" ] && "$docker" inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)
        [ "$h" = healthy ] && { echo "api healthy ($c)"; return 0; }
        sleep 1
    done
    echo "api not healthy after 120 s (health: ${h:-none})"
    compose ps
    compose logs --tail=30
    return 1
}
compose_up() {
    compose up -d --no-build && wait_healthy && probe wait-ready "$CONDUIT_ADMIN_PORT" 30
}
compose_persist() {
    compose down && compose_up && probe api-read "$CONDUIT_API_PORT" "$work/state.json"
}
hup_under_load() {
    probe hup-under-load "$CONDUIT_API_PORT" "$CONDUIT_ADMIN_PORT" 2 -- \
        "$compose_bin" -p "$project" -f "$root/compose.yaml" kill -s HUP api
}
# After `docker kill -s HUP` Docker has flagged api as manually stopped;
# `unless-stopped` would now leave a crashed api down. Crash it from outside
# Docker (SIGKILL to its process) and wait for the restart.
restart_after_hup() {
    local c pid before after
    c=$(api_container)
    pid=$("$docker" inspect -f '{{.State.Pid}}' "$c")
    before=$("$docker" inspect -f '{{.RestartCount}}' "$c")
    echo "restart policy: $("$docker" inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$c"); killing pid $pid"
    [ -n "$pid" ] && [ "$pid" != 0 ] || return 1
    kill -KILL "$pid" || return 1
    for _ in $(seq 1 60); do
        after=$("$docker" inspect -f '{{.RestartCount}}' "$c")
        [ "$after" -gt "$before" ] && [ "$("$docker" inspect -f '{{.State.Running}}' "$c")" = true ] && break
        sleep 0.5
    done
    echo "restarts: $before -> $after"
    [ "$after" -gt "$before" ] && wait_healthy && probe wait-ready "$CONDUIT_ADMIN_PORT" 30
}
compose_stop_api() {
    local c code
    c=$(api_container)
    probe graceful-stop "$CONDUIT_API_PORT" "$CONDUIT_ADMIN_PORT" -- \
        "$compose_bin" -p "$project" -f "$root/compose.yaml" stop api || return 1
    code=$("$docker" inspect -f '{{.State.ExitCode}}' "$c")
    echo "api exit status $code"
    [ "$code" = 0 ]
}

if [ ${#images[@]} -eq 2 ]; then
    if check "docker-compose $("$compose_bin" version --short) up: postgres, redis, migrate, api healthy" compose_up; then
        check "compose: register, create and read an article through the API" \
            probe api-write "$CONDUIT_API_PORT" "$work/state.json" &&
            check "compose: data kept across down/up (log in, read the article)" compose_persist
        check "compose: HUP reload under load (docker-compose kill -s HUP api), 0 failed requests" hup_under_load &&
            check "compose: after that HUP a crashed api is restarted (restart: on-failure)" restart_after_hup
        check "compose: docker-compose stop api with a request in flight: answered, exit 0, under 5 s after TERM" compose_stop_api
    fi
else
    fail "compose checks (an image build failed)"
fi

echo "containers: $passed passed, $failed failed"
[ "$failed" = 0 ]
