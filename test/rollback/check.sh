#!/usr/bin/env bash
# test/rollback/check.sh: every check of the rollback triggers (issue 6), one count at the end:
#   rules        promtool check rules; promtool test rules per test file; the tests catch
#                deliberately broken copies of the rules (thresholds, guards, for:, filters)
#   k8s copies   PrometheusRule and dashboard ConfigMap current and identical in content
#   guard        its YAML reader, its rules parsing, --e2e-failed, a failing undo, usage errors
#   budget       test/rollback/budget.py: the 15-minute recovery budget from the files
#   dashboard    JSON sanity; test/rollback/dashboard_metrics.py against a live conduitd
#   drill        test/rollback/drill.py: real Prometheus, two conduitd, the guard, both ways
#   lint         shellcheck, yamllint
# Last line: "rollback-checks: N passed, M failed[, K skipped]".
# Env: CONDUITD (built binary), CONDUIT_SRCDIR; DATABASE_URL for the drill's database run.
# Needs: promtool and prometheus (Debian: prometheus), kubectl (kustomize), python3 with PyYAML
# (Debian: python3-yaml), shellcheck, yamllint.
set -uo pipefail

src="${CONDUIT_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
here="$src/test/rollback"
cd "$src" || exit 1

passed=0
failed=0
skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() {
    passed=$((passed + 1))
    echo "ok   $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL $*"
}
skip() {
    skipped=$((skipped + 1))
    echo "SKIP $*"
}
# check NAME COMMAND...: one check, passing when COMMAND exits 0 (its output shown on failure).
check() {
    local name="$1"
    shift
    if "$@" >"$tmp/out" 2>&1; then
        pass "$name"
    else
        fail "$name"
        sed 's/^/    /' "$tmp/out" | tail -n 40
    fi
}
# sub NAME COMMAND...: a script of its own that prints "N passed, M failed"; add its counts.
sub() {
    local name="$1" rc line p f
    shift
    echo "--- $name"
    "$@" 2>&1 | tee "$tmp/sub.out"
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 77 ]; then
        skip "$name: $(grep -m1 '^SKIP' "$tmp/sub.out" || echo skipped)"
        return
    fi
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$tmp/sub.out" | tail -n 1)
    if [ -z "$line" ]; then
        fail "$name: exited $rc without a count"
        return
    fi
    p=$(echo "$line" | sed -E 's/.*[^0-9]([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        fail "$name: exited $rc"
    fi
    if echo "$line" | grep -qE '[0-9]+ skipped'; then
        skipped=$((skipped + $(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/')))
    fi
}

# A Python 3 with PyYAML (the pyenv python may lack it where Debian's has it).
py=""
for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import yaml' 2>/dev/null; then
        py="$cand"
        break
    fi
done

rules=monitoring/rules/conduitd.rules.yml

echo "--- rules"
if ! command -v promtool >/dev/null 2>&1; then
    fail "promtool not installed (Debian package prometheus)"
else
    check "promtool check rules $rules" promtool check rules "$rules"
    for t in monitoring/tests/*.test.yml; do
        check "promtool test rules $t" promtool test rules "$t"
    done

    # The unit tests must catch a broken rule: each mutation below, applied to a copy of the
    # rules, has to make `promtool test rules` fail.
    mutate() {
        local name="$1" from="$2" to="$3"
        rm -rf "$tmp/m" && mkdir -p "$tmp/m/rules" "$tmp/m/tests"
        cp monitoring/tests/*.test.yml "$tmp/m/tests/"
        FROM="$from" TO="$to" "${py:-python3}" -c '
import os, sys
text = open(sys.argv[1]).read()
if os.environ["FROM"] not in text:
    sys.exit("mutation target not found: " + os.environ["FROM"])
open(sys.argv[2], "w").write(text.replace(os.environ["FROM"], os.environ["TO"], 1))
' "$rules" "$tmp/m/rules/conduitd.rules.yml" || {
            fail "tests catch: $name (mutation target missing)"
            return
        }
        if promtool test rules "$tmp"/m/tests/*.test.yml >"$tmp/out" 2>&1; then
            fail "tests catch: $name (promtool test rules still passes)"
        else
            pass "tests catch: $name"
        fi
    }
    mutate "error-ratio threshold raised" "http_5xx_ratio:rate5m > 0.05" "http_5xx_ratio:rate5m > 0.5"
    mutate "error-ratio minimum-traffic guard dropped" \
        "and on (namespace, version) conduitd_version:http_requests:rate5m >= 0.5
        for: 2m
        labels:
          severity: critical
          trigger: error_ratio" \
        "for: 2m
        labels:
          severity: critical
          trigger: error_ratio"
    mutate "error-ratio for: dropped" "rate5m >= 0.5
        for: 2m
        labels:
          severity: critical
          trigger: error_ratio" "rate5m >= 0.5
        for: 0s
        labels:
          severity: critical
          trigger: error_ratio"
    mutate "readiness guard dropped" "and on (namespace, version) conduitd_version:readiness_checks:rate5m >= 0.05" ""
    mutate "readiness for: dropped" "readiness_checks:rate5m >= 0.05
        for: 2m" "readiness_checks:rate5m >= 0.05
        for: 0s"
    mutate "recycling counted as a crash" 'reason!="recycle"' 'reason!="none"'
    mutate "crash-loop gauge ignored" "or conduitd_version:crash_loop:max > 0" ""
    mutate "latency threshold raised" "p99_rate5m > 1" "p99_rate5m > 5"
    mutate "version split lost" "sum by (namespace, version) (
            rate(http_requests_total{code=~\"5..\"}[5m])" "sum by (namespace, version) (
            rate(http_requests_total{code=~\"5..\", instance=\"none\"}[5m])"
    mutate "namespace summed away" "sum by (namespace, version) (
            rate(http_requests_total{code=~\"5..\"}[5m])" "sum by (version) (
            rate(http_requests_total{code=~\"5..\"}[5m])"
    mutate "targets that are down counted as present" 'absent(up{job=~"(.+/)?conduitd"} == 1)' \
        'absent(up{job=~"(.+/)?conduitd"})'
    mutate "pods nobody scrapes not noticed" 'unless on (namespace) max by (namespace) (up{job=~"(.+/)?conduitd"} == 1)' \
        'unless on (namespace) max by (namespace) (up{job=~"(.+/)?conduitd"})'
    mutate "operator job names (NAMESPACE/conduitd) not matched" \
        'count by (namespace, job) (up{job=~"(.+/)?conduitd"} == 0)' 'count by (namespace, job) (up{job="conduitd"} == 0)'
fi

echo "--- k8s copies"
check "monitoring/sync-k8s --check (PrometheusRule and dashboard copy current)" monitoring/sync-k8s --check
if [ -z "$py" ]; then
    fail "python3 with PyYAML not found (Debian: python3-yaml)"
elif ! command -v kubectl >/dev/null 2>&1; then
    fail "kubectl not installed (kustomize)"
else
    check "kustomize: PrometheusRule spec.groups == $rules groups; dashboard ConfigMap == JSON" \
        "$py" - <<'EOF'
import json, subprocess, sys, yaml
out = subprocess.run(["kubectl", "kustomize", "k8s/base/monitoring"], check=True,
                     capture_output=True, text=True).stdout
docs = [d for d in yaml.safe_load_all(out) if d]
rule = [d for d in docs if d["kind"] == "PrometheusRule"]
cms = [d for d in docs if d["kind"] == "ConfigMap"]
src = yaml.safe_load(open("monitoring/rules/conduitd.rules.yml"))
assert len(rule) == 1 and rule[0]["spec"]["groups"] == src["groups"], "PrometheusRule differs"
assert len(cms) == 1, "expected one ConfigMap"
cm = cms[0]
assert cm["metadata"]["labels"].get("grafana_dashboard") == "1", "grafana_dashboard label missing"
assert cm["metadata"]["name"] == "conduitd-dashboard", cm["metadata"]["name"]
with open("monitoring/dashboards/conduitd.json") as f:
    assert json.loads(cm["data"]["conduitd.json"]) == json.load(f), "dashboard ConfigMap differs"
# Included by the base, so the overlays ship it.
for env in ("staging", "production"):
    out = subprocess.run(["kubectl", "kustomize", "k8s/overlays/" + env], check=True,
                         capture_output=True, text=True).stdout
    kinds = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out) if d}
    assert ("PrometheusRule", "conduitd") in kinds, env + ": no PrometheusRule"
    assert ("ConfigMap", "conduitd-dashboard") in kinds, env + ": no dashboard ConfigMap"
EOF
fi

runbook_anchors() {
    local anchor missing=0 seen=0
    while read -r anchor; do
        seen=$((seen + 1))
        if ! grep -qiE "^## $anchor\$" docs/runbook.md; then
            echo "docs/runbook.md has no section for #$anchor"
            missing=1
        fi
    done < <(sed -n 's/^ *runbook: docs\/runbook.md#\([a-z0-9-]*\)$/\1/p' "$rules")
    [ "$missing" = 0 ] && [ "$seen" -ge 5 ]
}
check "every alert's runbook link has its section in docs/runbook.md" runbook_anchors

echo "--- guard"
guard=script/rollout-guard
if [ -n "$py" ]; then
    check "guard's built-in YAML reader == PyYAML on the rules file" "$py" - <<'EOF'
import importlib.machinery, yaml
g = importlib.machinery.SourceFileLoader("g", "script/rollout-guard").load_module()
text = open("monitoring/rules/conduitd.rules.yml").read()
assert g.mini_yaml_load(text) == yaml.safe_load(text)
EOF
fi
guard_rules() {
    out=$("$guard" --check-rules) || return 1
    echo "$out"
    [ "$(echo "$out" | grep -c '^Conduitd')" = 4 ] &&
        echo "$out" | grep -q '^ConduitdHighErrorRatio: conduitd_version:http_5xx_ratio:rate5m > 0.05 and conduitd_version:http_requests:rate5m >= 0.5 for 2m$' &&
        echo "$out" | grep -q '^rate window: 5m$'
}
check "guard reads 4 triggers, thresholds, for: and the rate window from the rules" guard_rules
check "guard reads the rules without PyYAML (python3 -S: no site packages)" \
    sh -c "python3 -S $guard --check-rules | grep -c '^Conduitd' | grep -qx 4"
guard_exprs_valid() {
    # Every expression the guard sends to Prometheus (inlined, window rewritten, matchers added)
    # is valid PromQL: promtool checks them as recording rules.
    python3 - "$tmp/expanded.yml" <<'EOF2' || return 1
import importlib.machinery, json, sys
g = importlib.machinery.SourceFileLoader("g", "script/rollout-guard").load_module()
rules = g.Rules("monitoring/rules/conduitd.rules.yml")
with open(sys.argv[1], "w") as f:
    f.write("groups:\n  - name: expanded\n    rules:\n")
    for i, record in enumerate(sorted(rules.records)):
        for window, match in ((None, None), (10, 'namespace="conduitd-production"')):
            expr = rules.expanded(record, window, match)
            if match:
                assert expr.count('namespace="conduitd-production"') >= 2, expr
            f.write("      - record: expanded:%d:%s\n        expr: %s\n"
                    % (i, "w" if window else "n", json.dumps(expr)))
EOF2
    promtool check rules "$tmp/expanded.yml"
}
check "guard's inlined expressions (window rewritten, --match added) are valid PromQL" guard_exprs_valid
triggers_doc() {
    "$guard" --check-rules >"$tmp/triggers.txt" || return 1
    sed -n '/<!-- triggers:begin -->/,/<!-- triggers:end -->/p' docs/rollback.md |
        sed '1,2d;$d' | sed '$d' >"$tmp/doc-triggers.txt"
    diff -u "$tmp/doc-triggers.txt" "$tmp/triggers.txt"
}
check "docs/rollback.md lists the triggers the guard reads (rollout-guard --check-rules)" triggers_doc
# rollouts LOG: the stand-in's `rollout ...` commands, one a line, without the time stamp.
rollouts() { cut -d' ' -f2- "$1" | grep '^rollout ' || true; }
guard_e2e() {
    local log="$tmp/e2e.log" out rc=0
    rm -rf "$log" "$log.d"
    out=$(KUBECTL="$here/kubectl-standin" STANDIN_LOG="$log" "$guard" --e2e-failed "bruno: 3 of 154 failed" \
        --deployment conduitd --namespace conduitd-staging --to-revision 4) || rc=$?
    echo "$out"
    cat "$log"
    [ "$rc" = 1 ] &&
        [ "$(rollouts "$log" | head -n 1)" = "rollout undo deployment/conduitd -n conduitd-staging --to-revision=4" ] &&
        rollouts "$log" | sed -n 2p | grep -q '^rollout status deployment/conduitd -n conduitd-staging --timeout=600s$' &&
        echo "$out" | tail -n 1 | grep -q 'ROLLED BACK: .*staging E2E failed: bruno: 3 of 154 failed'
}
check "guard --e2e-failed --to-revision 4: undo to 4, rollout status, exit 1, one-line reason" guard_e2e
guard_last_good() {
    # Two bad deploys in a row: revisions 7 and 8 are unverified, 5 was the last promoted. The
    # undo must go to 5 (plain `rollout undo` would go to 7), then renew the record: the undo
    # renumbered 5's ReplicaSet to 9.
    local log="$tmp/lastgood.log" out rc=0
    rm -rf "$log" "$log.d"
    out=$(KUBECTL="$here/kubectl-standin" STANDIN_LOG="$log" STANDIN_REVISION=8 STANDIN_LAST_GOOD=5 \
        "$guard" --undo "by hand" --namespace conduitd-production) || rc=$?
    echo "$out"
    cat "$log"
    [ "$rc" = 1 ] &&
        [ "$(rollouts "$log" | head -n 1)" = "rollout undo deployment/conduitd -n conduitd-production --to-revision=5" ] &&
        grep -q ' annotate deployment/conduitd -n conduitd-production --overwrite conduitd.io/last-good-template-hash=hash-5 conduitd.io/last-good-revision=9$' "$log" &&
        [ "$(cat "$log.d/good-rev")" = 9 ]
}
check "guard --undo: to the last good revision (5 after bad 7 and 8), record renewed (now 9)" guard_last_good
guard_no_record() {
    local log="$tmp/norecord.log" out rc=0
    rm -rf "$log" "$log.d"
    out=$(KUBECTL="$here/kubectl-standin" STANDIN_LOG="$log" STANDIN_LAST_GOOD="" \
        "$guard" --undo "by hand" --namespace ns 2>&1) || rc=$?
    echo "$out"
    [ "$rc" = 4 ] && [ -z "$(rollouts "$log")" ] && echo "$out" | grep -q 'no last good revision recorded'
}
check "guard: no last good revision recorded: no undo at all (exit 4), never a guess" guard_no_record
guard_undo_fails() {
    local rc=0
    KUBECTL="$here/kubectl-standin" STANDIN_LOG="$tmp/fail.log" STANDIN_EXIT=1 \
        "$guard" --e2e-failed "x" --namespace ns >"$tmp/g.out" 2>&1 || rc=$?
    cat "$tmp/g.out"
    [ "$rc" = 4 ] && grep -q 'UNDO FAILED' "$tmp/g.out"
}
check "guard: a failing kubectl exits 4 and says so" guard_undo_fails
guard_usage() {
    local rc=0
    "$guard" --prometheus http://127.0.0.1:9 >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || return 1
    rc=0
    "$guard" --version v2 --prometheus http://127.0.0.1:9 --metrics-url http://127.0.0.1:9/metrics \
        >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || return 1
    rc=0
    printf 'groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up == 0\n' >"$tmp/r.yml"
    "$guard" --rules "$tmp/r.yml" --check-rules >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ]
}
check "guard: usage errors and rules without triggers exit 2" guard_usage
guard_unreachable() {
    # No data for the whole window is a failure: roll back to the last good revision.
    local log="$tmp/unreach.log" rc=0
    rm -rf "$log" "$log.d"
    KUBECTL="$here/kubectl-standin" STANDIN_LOG="$log" "$guard" --version v2 \
        --prometheus http://127.0.0.1:9 --window 2s --interval 1s >"$tmp/g.out" 2>&1 || rc=$?
    cat "$tmp/g.out"
    [ "$rc" = 1 ] && grep -q 'ROLLED BACK: .*unverified: no successful evaluation' "$tmp/g.out" &&
        [ "$(rollouts "$log" | head -n 1)" = "rollout undo deployment/conduitd -n default --to-revision=5" ]
}
check "guard: Prometheus unreachable for the whole window rolls back to the last good revision" guard_unreachable
guard_unreachable_inconclusive() {
    local log="$tmp/unreach2.log" rc=0
    rm -rf "$log" "$log.d"
    KUBECTL="$here/kubectl-standin" STANDIN_LOG="$log" "$guard" --version v2 --no-data inconclusive \
        --prometheus http://127.0.0.1:9 --window 2s --interval 1s >"$tmp/g.out" 2>&1 || rc=$?
    cat "$tmp/g.out"
    [ "$rc" = 3 ] && [ ! -e "$log" ] && grep -q 'INCONCLUSIVE' "$tmp/g.out"
}
check "guard --no-data inconclusive: no data is exit 3, no kubectl at all" guard_unreachable_inconclusive

echo "--- budget"
if [ -n "$py" ]; then
    sub budget "$py" "$here/budget.py"
    budget_doc() {
        "$py" "$here/budget.py" --markdown >"$tmp/table.md" || return 1
        "$py" - "$tmp/table.md" <<'EOF'
import sys
table = open(sys.argv[1]).read().strip()
doc = open("docs/rollback.md").read()
start, end = "<!-- budget:begin -->", "<!-- budget:end -->"
assert start in doc and end in doc, "docs/rollback.md has no budget markers"
current = doc.split(start, 1)[1].split(end, 1)[0].strip()
if current != table:
    print("docs/rollback.md's budget table is stale; the files now give:\n" + table)
    sys.exit(1)
EOF
    }
    check "docs/rollback.md shows the budget the files give (test/rollback/budget.py --markdown)" budget_doc
    budget_breaks() {
        # A copy of the tree whose error-ratio `for:` is 10m must exceed the budget.
        local copy="$tmp/budget-copy"
        rm -rf "$copy" && mkdir -p "$copy/monitoring/rules" "$copy/script"
        cp -r k8s .github "$copy/"
        cp script/rollout-guard "$copy/script/"
        sed '0,/^        for: 2m$/s//        for: 10m/' "$rules" >"$copy/monitoring/rules/conduitd.rules.yml"
        grep -q '^        for: 10m$' "$copy/monitoring/rules/conduitd.rules.yml" || return 1
        if CONDUIT_SRCDIR="$copy" "$py" "$here/budget.py"; then
            echo "budget.py passed with for: 10m"
            return 1
        fi
    }
    check "budget.py fails when a change breaks the budget (for: 10m in a copy)" budget_breaks
    budget_shared_group() {
        # A copy whose rollback waits in the deploy jobs' group: the manual path must exceed.
        local copy="$tmp/budget-group"
        rm -rf "$copy" && mkdir -p "$copy/script"
        cp -r k8s .github monitoring "$copy/"
        cp script/rollout-guard "$copy/script/"
        sed -i 's/^  group: rollback-/  group: deploy-/' "$copy/.github/workflows/rollback.yml"
        grep -q '^  group: deploy-' "$copy/.github/workflows/rollback.yml" || return 1
        if CONDUIT_SRCDIR="$copy" "$py" "$here/budget.py"; then
            echo "budget.py passed with the rollback in the deploy group"
            return 1
        fi
    }
    check "budget.py fails when the rollback waits in the deploy jobs' concurrency group (a copy)" budget_shared_group
fi

echo "--- dashboard"
check "dashboard JSON: unique panel ids, a Prometheus datasource and a query per panel" python3 - <<'EOF'
import json
d = json.load(open("monitoring/dashboards/conduitd.json"))
ids, panels = set(), []
def walk(ps):
    for p in ps:
        panels.append(p)
        walk(p.get("panels", []))
walk(d["panels"])
for p in panels:
    assert p["id"] not in ids, "duplicate id %s" % p["id"]
    ids.add(p["id"])
    if p["type"] == "row":
        continue
    assert p["datasource"]["uid"] == "${datasource}", p["title"]
    assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
assert d["uid"] == "conduitd"
titles = " ".join(p["title"] for p in panels).lower()
for want in ("request rate", "5xx ratio", "p50 / p99", "readiness", "workers by state",
             "restarts by reason", "listen queue", "dependency"):
    assert want in titles, "no panel for " + want
EOF
if [ -z "${CONDUITD:-}" ] || [ ! -x "${CONDUITD:-}" ]; then
    skip "dashboard metrics and drill: CONDUITD not set to a built conduitd"
else
    sub dashboard-metrics "${py:-python3}" "$here/dashboard_metrics.py"
    echo "--- drill"
    sub drill "${py:-python3}" "$here/drill.py"
fi

echo "--- lint"
check "shellcheck test/rollback/*.sh kubectl-standin" shellcheck "$here/check.sh" "$here/kubectl-standin"
yamllint_files() {
    yamllint -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable}}' \
        monitoring/rules k8s/base/monitoring &&
        # promtool's series notation makes long lines: no length limit for the tests.
        yamllint -d '{extends: default, rules: {line-length: disable, document-start: disable}}' \
            monitoring/tests
}
check "yamllint monitoring/ and k8s/base/monitoring/" yamllint_files

echo "rollback-checks: $passed passed, $failed failed$([ "$skipped" = 0 ] || echo ", $skipped skipped")"
[ "$failed" = 0 ]
