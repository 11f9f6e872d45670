#!/usr/bin/env bash
# k8s/deploy.sh: deploy conduitd to a Kubernetes environment from the
# kustomize overlays in k8s/overlays/, the way the GitHub Actions workflows
# do it (and an SRE by hand, with the same steps).
#
#   k8s/deploy.sh render ENV IMAGE   print the manifests for ENV with IMAGE
#   k8s/deploy.sh apply  ENV IMAGE   migrate, roll out, wait; on a failed
#                                    rollout, undo to the last good revision
#   k8s/deploy.sh undo   ENV [REV]   kubectl rollout undo to the last good
#                                    revision (or to REV), and wait
#   k8s/deploy.sh status ENV         rollout status, history and pods
#
# ENV is a directory name under k8s/overlays/ (staging, production). IMAGE is
# REPOSITORY:TAG, optionally followed by @sha256:DIGEST; the TAG (the commit
# SHA in CI) also becomes CONDUIT_RELEASE, the version label of
# conduitd_build_info. `latest` and untagged images are refused.
#
# The order of `apply` (docs/deploy.md):
#   1. render the overlay with IMAGE (a generated kustomization on top of it);
#   2. delete the previous migration Job (a Job's template is immutable);
#   3. apply everything except the API objects: the new ConfigMap, the
#      NetworkPolicy, ... and the migration Job;
#   4. wait for the Job: `conduitd migrate` with the NEW image; migrations are
#      expand/contract, so the running (old) pods keep working;
#   5. apply everything (the Deployment now rolls, maxUnavailable 0);
#   6. kubectl rollout status; on failure undo to the last good revision (the
#      one script/rollout-guard recorded when it last promoted: annotations
#      conduitd.io/last-good-* on the Deployment), wait for it, and exit 1.
#
# Every undo is script/rollout-guard --undo: it finds the last good
# ReplicaSet by its recorded pod-template-hash and runs `kubectl rollout undo
# --to-revision=N`; without a record it refuses (never "the previous one").
#
# Needs: kubectl (with kustomize: 1.20's v2.0.3 or later; the pipeline pins 1.32),
# python3 (script/rollout-guard, for undo) and a kube context that can
# reach the namespace. KUBECTL names another kubectl (tests use a stand-in).
# Timeouts: MIGRATE_TIMEOUT (default 360 s), ROLLOUT_TIMEOUT (default 600 s;
# the Deployment's progressDeadlineSeconds fails a stuck rollout sooner).
# Writes namespace=NS, previous_revision=N, version=TAG and, once rolled out,
# revision=N to $GITHUB_OUTPUT when set.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kubectl="${KUBECTL:-kubectl}"
guard="$here/../script/rollout-guard"
migrate_timeout="${MIGRATE_TIMEOUT:-360}"
rollout_timeout="${ROLLOUT_TIMEOUT:-600}"
deployment=deployment/conduitd
job=job/conduitd-migrate

cleanup_paths=()
cleanup() { [ ${#cleanup_paths[@]} -eq 0 ] || rm -rf "${cleanup_paths[@]}"; }
trap cleanup EXIT

log() { echo "deploy.sh: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '/^#   k8s\/deploy.sh render/,/^#   k8s\/deploy.sh status/p' "$0" | sed 's/^# \{0,1\}/usage: /' >&2
    exit 2
}

# Print the overlay directory of environment $1.
overlay_of() {
    local env="$1"
    [[ "$env" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "bad environment name '$env'"
    [ -f "$here/overlays/$env/kustomization.yaml" ] ||
        die "unknown environment '$env' (no k8s/overlays/$env/kustomization.yaml)"
    echo "$here/overlays/$env"
}

# Print the namespace the overlay of environment $1 deploys to.
namespace_of() {
    local ns
    ns=$(sed -n 's/^namespace:[[:space:]]*\([a-z0-9-]*\).*$/\1/p' "$(overlay_of "$1")/kustomization.yaml" | head -n 1)
    [ -n "$ns" ] || die "k8s/overlays/$1/kustomization.yaml sets no namespace"
    echo "$ns"
}

# Split IMAGE ($1) into the globals image_repo, image_tag, image_digest.
parse_image() {
    local ref="$1" name
    image_digest=""
    if [[ "$ref" == *@* ]]; then
        image_digest="${ref#*@}"
        name="${ref%%@*}"
        [[ "$image_digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "bad digest in '$ref'"
    else
        name="$ref"
    fi
    # The tag follows the last colon, unless that colon is part of a registry
    # host:port (then a slash follows it).
    [[ "$name" =~ ^([a-z0-9][a-z0-9._/:-]*):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$ ]] ||
        die "image '$ref' has no tag (give REPOSITORY:TAG)"
    image_repo="${BASH_REMATCH[1]}"
    image_tag="${BASH_REMATCH[2]}"
    [ "$image_tag" != latest ] || die "refusing the 'latest' tag: deploy an immutable tag (the commit SHA)"
}

# Print the manifests of environment $1 with image $2.
cmd_render() {
    [ $# -eq 2 ] || usage
    local overlay tmp rel current
    overlay=$(overlay_of "$1")
    parse_image "$2"
    # The image repository the overlay renders, to be replaced.
    current=$("$kubectl" kustomize "$overlay" | sed -n 's/^[[:space:]]*image:[[:space:]]*"\{0,1\}\([^"@]*\).*$/\1/p' |
        sed 's/:[^:/]*$//' | sort -u)
    if [ -z "$current" ] || [ "$(echo "$current" | wc -l)" -ne 1 ]; then
        die "expected one image repository in k8s/overlays/$1, found: ${current:-none}"
    fi
    tmp=$(mktemp -d)
    cleanup_paths+=("$tmp")
    rel=$(realpath --relative-to="$tmp" "$overlay")
    # `bases:` (a directory): kustomize v2.0.3 (kubectl 1.20) takes none under
    # `resources:`; v5 reads it too (a deprecation warning on stderr).
    # `namespace:` again: kustomize v2.0.3 leaves a ConfigMap merged here
    # without one (v5 keeps the overlay's).
    {
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "namespace: $(namespace_of "$1")"
        echo "bases:"
        echo "  - $rel"
        echo "images:"
        echo "  - name: $current"
        echo "    newName: $image_repo"
        echo "    newTag: \"$image_tag\""
        [ -z "$image_digest" ] || echo "    digest: $image_digest"
        echo "configMapGenerator:"
        echo "  - name: conduitd-config"
        echo "    behavior: merge"
        echo "    literals:"
        echo "      - CONDUIT_RELEASE=$image_tag"
    } >"$tmp/kustomization.yaml"
    "$kubectl" kustomize "$tmp"
}

# Print the revision number of the Deployment in namespace $1 ("" if none).
revision_of() {
    "$kubectl" -n "$1" get "$deployment" --ignore-not-found \
        -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}'
}

# Wait for the migration Job in namespace $1 to complete; fail if it fails.
wait_for_migration() {
    local ns="$1" deadline conditions
    deadline=$((SECONDS + migrate_timeout))
    while [ "$SECONDS" -lt "$deadline" ]; do
        conditions=$("$kubectl" -n "$ns" get "$job" \
            -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
        case " $conditions " in
        *" Complete "*)
            log "migration complete"
            return 0
            ;;
        *" Failed "*)
            "$kubectl" -n "$ns" logs "$job" --tail=50 >&2 || true
            die "migration Job failed; the Deployment was not changed"
            ;;
        esac
        sleep 5
    done
    "$kubectl" -n "$ns" logs "$job" --tail=50 >&2 || true
    die "migration Job did not finish within ${migrate_timeout}s; the Deployment was not changed"
}

# Deploy image $2 to environment $1.
cmd_apply() {
    [ $# -eq 2 ] || usage
    local env="$1" image="$2" ns rendered prev now
    ns=$(namespace_of "$env")
    rendered=$(mktemp)
    cleanup_paths+=("$rendered")
    cmd_render "$env" "$image" >"$rendered"
    # kustomize v2.0.3 writes REPOSITORY@DIGEST for a digest (the tag dropped),
    # v5 REPOSITORY:TAG@DIGEST: either pins the same image.
    awk -v img="$image" -v alt="$image_repo@$image_digest" \
        '$1 == "image:" && ($2 == img || (alt !~ /@$/ && $2 == alt)) { found = 1 } END { exit !found }' "$rendered" ||
        die "rendered manifests do not use $image"
    log "deploying $image to $env (namespace $ns)"

    prev=$(revision_of "$ns")
    log "current revision: ${prev:-none (first deploy)}"
    if [ -n "${GITHUB_OUTPUT:-}" ]; then
        {
            echo "namespace=$ns"
            echo "previous_revision=$prev"
            echo "version=$image_tag"
        } >>"$GITHUB_OUTPUT"
    fi

    log "step 1/3: migration"
    "$kubectl" -n "$ns" delete "$job" --ignore-not-found --wait=true
    "$kubectl" apply -f "$rendered" -l 'app.kubernetes.io/component notin (api)'
    wait_for_migration "$ns"

    log "step 2/3: rollout"
    "$kubectl" apply -f "$rendered"

    log "step 3/3: waiting for the rollout"
    if "$kubectl" -n "$ns" rollout status "$deployment" --timeout="${rollout_timeout}s"; then
        now=$(revision_of "$ns")
        log "deployed $image to $env (revision $now; not verified yet: the rollout guard judges it)"
        [ -z "${GITHUB_OUTPUT:-}" ] || echo "revision=$now" >>"$GITHUB_OUTPUT"
        return 0
    fi
    now=$(revision_of "$ns")
    if [ -z "$prev" ] || [ "$now" = "$prev" ]; then
        die "rollout of $image failed (no earlier revision to return to)"
    fi
    log "rollout of $image failed: undoing to the last good revision"
    cmd_undo "$env" || die "rollout of $image failed, and so did the undo: act by hand (docs/runbook.md)"
    die "rollout of $image failed and was rolled back to the last good revision"
}

# Roll environment $1 back to revision $2 (default: the last good one).
cmd_undo() {
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
    local ns rc=0 args
    ns=$(namespace_of "$1")
    args=(--undo "k8s/deploy.sh undo $*" --namespace "$ns" --deployment "${deployment#deployment/}"
        --undo-timeout "${rollout_timeout}s")
    if [ -n "${2:-}" ]; then
        [[ "$2" =~ ^[0-9]+$ ]] || die "revision must be a number, not '$2'"
        log "rolling $1 back to revision $2 (explicit)"
        args+=(--to-revision "$2")
    else
        log "rolling $1 back to the last good revision"
    fi
    # The guard's exit status 1 is "rolled back"; anything else is a failure.
    KUBECTL="$kubectl" "$guard" "${args[@]}" || rc=$?
    [ "$rc" = 1 ] || return 1
    log "$1 now runs revision $(revision_of "$ns")"
}

# Show the state of environment $1.
cmd_status() {
    [ $# -eq 1 ] || usage
    local ns
    ns=$(namespace_of "$1")
    "$kubectl" -n "$ns" rollout status "$deployment" --timeout=10s || true
    "$kubectl" -n "$ns" rollout history "$deployment"
    "$kubectl" -n "$ns" get pods -l app.kubernetes.io/name=conduitd -o wide
}

[ $# -ge 1 ] || usage
command="$1"
shift
case "$command" in
render) cmd_render "$@" ;;
apply) cmd_apply "$@" ;;
undo) cmd_undo "$@" ;;
status) cmd_status "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
