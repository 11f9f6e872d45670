#!/usr/bin/env python3
"""budget.py: recompute the 15-minute recovery budget from the files, fail if it is exceeded.

Recovery time of a bad deploy, from the moment the new version starts failing to the moment the
last good version serves every request again, on two paths:

  automatic  the rollout guard, inside the deploy job, during its verification window: no page,
             no person, no other job to wait for
  manual     after the window: an alert pages the on-call, who runs the rollback workflow

each for the worst case the rules still catch (a failure just above a threshold, which the rate
window needs its whole length to show) and, on the manual path, for a hard failure (every request
failing: the 5-minute ratio passes 5 % after 5 % of the window).

Automatic path:

  detection = scrape interval                  (the failure reaches Prometheus)
            + rate window                      (rules file: the [5m] of the recording rules)
            + for                              (rules file: the longest `for:` of the triggers)
            + guard interval                   (script/rollout-guard's evaluation period)
  undo      = batches x time to ready          (kubectl rollout undo: old ReplicaSet scales up)
            + terminationGracePeriodSeconds    (the last bad pod drains and exits)
  batches   = ceil(maxReplicas / maxSurge)     (HPA upper bound; maxUnavailable is 0, so
                                                pods are replaced maxSurge at a time)
  time to ready = container start allowance    (assumption, below: the previous image is
                                                normally still on the node)
                + startupProbe initialDelaySeconds + periodSeconds   (first probe after start;
                                                conduitd listens in well under a second)
                + readinessProbe initialDelaySeconds + periodSeconds x successThreshold
                + minReadySeconds

Manual path:
  detection = scrape interval + rate window (hard failure: threshold x window) + for
            + rule evaluation interval    (assumption: kube-prometheus-stack's 30 s)
  paging    = Alertmanager group_wait     (assumption: its default 30 s)
            + acknowledge and decide      (assumption: 5 minutes, a usual paging target)
  start     = reviewer approval           (0 when rollback.yml runs in an ENV-rollback
                                           environment, which has no reviewers; else assumed 10 m)
            + concurrency wait            (0 when rollback.yml's group is its own; else a deploy
                                           and its guard window: job timeout of deploy.yml)
            + runner start                (assumption: 60 s)
            + steps before the undo       (assumption: 20 s: checkout, kubectl download)
  undo      = as above

Values come from monitoring/rules/conduitd.rules.yml, the rendered overlays
(`kubectl kustomize k8s/overlays/ENV`), and script/rollout-guard's defaults (or the interval a
workflow passes it). Two values are not in any file and are assumptions, stated here and in
docs/rollback.md: the scrape interval (Prometheus's default, 60s, unless a ServiceMonitor or
PodMonitor in the manifests sets one) and the container start allowance (15s).

Fails (exit 1) when the automatic path or the manual path of a hard failure exceeds 900 s, the
guard's verification window does not cover rate window + for (else a slow breach is never seen by
the guard), or the guard's undo timeout is shorter than the undo. The manual path of a failure
just above a threshold is computed and shown, not enforced: it exceeds 15 minutes (docs/rollback.md
says so and why).

Usage: budget.py [--markdown]   (--markdown prints the table docs/rollback.md embeds)
Needs PyYAML (Debian: python3-yaml) and kubectl (for kustomize).
"""

import importlib.machinery
import math
import os
import re
import subprocess
import sys

BUDGET_S = 15 * 60
ASSUMED_SCRAPE_INTERVAL_S = 60
ASSUMED_CONTAINER_START_S = 15
# The manual path's assumptions (docs/rollback.md lists them).
ASSUMED_RULE_EVAL_S = 30       # kube-prometheus-stack's evaluationInterval
ASSUMED_GROUP_WAIT_S = 30      # Alertmanager's default group_wait
ASSUMED_ACK_S = 300            # page acknowledged and the decision taken
ASSUMED_APPROVAL_S = 600       # a required reviewer, where the rollback environment has one
ASSUMED_RUNNER_START_S = 60    # workflow dispatched to job running
ASSUMED_STEPS_S = 20           # checkout and the kubectl download before the undo

ROOT = os.environ.get("CONDUIT_SRCDIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

try:
    import yaml
except ImportError:
    print("budget: PyYAML is missing (Debian: apt-get install python3-yaml)")
    sys.exit(1)


def load_guard():
    """script/rollout-guard as a module (its rules reader and defaults)."""
    path = os.path.join(ROOT, "script", "rollout-guard")
    return importlib.machinery.SourceFileLoader("rollout_guard", path).load_module()


def workflow_guard_setting(flag, env_name):
    """A value the workflows pass to rollout-guard (--flag X or ENV: X), else None."""
    wf_dir = os.path.join(ROOT, ".github", "workflows")
    found = []
    if os.path.isdir(wf_dir):
        for name in sorted(os.listdir(wf_dir)):
            with open(os.path.join(wf_dir, name), encoding="utf-8") as f:
                text = f.read()
            if "rollout-guard" not in text:
                continue
            found += re.findall(r"--%s[ =]+[\"']?([0-9a-z]+)" % flag, text)
            found += re.findall(r"\b%s:\s*[\"']?([0-9a-z]+)" % env_name, text)
    return found


def surge_count(max_surge, replicas):
    """maxSurge as a pod count for `replicas` pods (percentages round up, as Kubernetes does)."""
    if isinstance(max_surge, str) and max_surge.endswith("%"):
        return max(1, math.ceil(int(max_surge[:-1]) * replicas / 100))
    return max(1, int(max_surge))


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", overlay], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError("kubectl kustomize %s failed: %s" % (overlay, out.stderr.strip()))
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def probe_time(probe, name):
    """Seconds from container start to this probe's first success (conduitd starts at once)."""
    if not probe:
        return 0, "%s: none" % name
    initial = probe.get("initialDelaySeconds", 0)
    period = probe.get("periodSeconds", 10)
    success = probe.get("successThreshold", 1)
    return initial + period * success, "%s %d+%dx%d" % (name, initial, period, success)


def overlay_budget(env, docs, det, guard):
    """Rows and verdict for one rendered overlay."""
    deploy = next((d for d in docs if d.get("kind") == "Deployment"
                   and d["metadata"]["name"] == "conduitd"), None)
    if deploy is None:
        raise RuntimeError("%s: no Deployment conduitd" % env)
    spec = deploy["spec"]
    pod = spec["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "conduitd")
    hpa = next((d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"), None)
    replicas = hpa["spec"]["maxReplicas"] if hpa else spec.get("replicas", 1)
    strategy = spec.get("strategy", {}).get("rollingUpdate", {})
    surge = surge_count(strategy.get("maxSurge", "25%"), replicas)
    batches = math.ceil(replicas / surge)
    startup_s, startup_txt = probe_time(container.get("startupProbe"), "startup")
    ready_s, ready_txt = probe_time(container.get("readinessProbe"), "readiness")
    min_ready = spec.get("minReadySeconds", 0)
    per_batch = ASSUMED_CONTAINER_START_S + startup_s + ready_s + min_ready
    grace = pod.get("terminationGracePeriodSeconds", 30)
    undo = batches * per_batch + grace
    total = det["total"] + undo
    sp = container.get("startupProbe") or {}
    worst_startup = sp.get("initialDelaySeconds", 0) + sp.get("periodSeconds", 10) * \
        sp.get("failureThreshold", 3)
    pessimistic = det["total"] + batches * (per_batch - startup_s + worst_startup) + grace
    monitors = [d for d in docs if d.get("kind") in ("ServiceMonitor", "PodMonitor")]
    return {
        "env": env, "replicas": replicas, "surge": surge, "batches": batches,
        "per_batch": per_batch, "per_batch_txt": "%ds start + %s + %s + minReady %d" % (
            ASSUMED_CONTAINER_START_S, startup_txt, ready_txt, min_ready),
        "grace": grace, "undo": undo, "total": total, "ok": total <= BUDGET_S,
        "pessimistic": pessimistic, "progress_deadline": spec.get("progressDeadlineSeconds", 600),
        "monitors": monitors, "undo_timeout_ok": undo <= guard["undo_timeout"],
    }


def rollback_workflow_start():
    """Reviewer approval and concurrency wait of .github/workflows/rollback.yml."""
    wf_dir = os.path.join(ROOT, ".github", "workflows")

    def load(name):
        path = os.path.join(wf_dir, name)
        if not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f) or {}
    rollback, deploy = load("rollback.yml"), load("deploy.yml")
    job = next(iter((rollback.get("jobs") or {}).values()), {})
    env = job.get("environment")
    env_name = str(env.get("name") if isinstance(env, dict) else env or "")
    env_name = env_name.replace("${{ inputs.environment }}", "ENV")
    group = str((job.get("concurrency") or rollback.get("concurrency") or {}).get("group", ""))
    group = group.replace("${{ inputs.environment }}", "ENV")
    deploy_job = next(iter((deploy.get("jobs") or {}).values()), {})
    deploy_group = str((deploy_job.get("concurrency") or {}).get("group", ""))
    deploy_group = deploy_group.replace("${{ inputs.environment }}", "ENV")
    out = {"approval": 0, "approval_src": "rollback.yml: environment %s, no reviewers" % env_name,
           "wait": 0, "wait_src": "rollback.yml: own group %s" % group}
    if not env_name.endswith("-rollback"):
        out["approval"] = ASSUMED_APPROVAL_S
        out["approval_src"] = "rollback.yml: deploy environment %s (assumed 10 m)" % env_name
    if not group or group == deploy_group:
        out["wait"] = 60 * int(deploy_job.get("timeout-minutes", 40))
        out["wait_src"] = "rollback.yml shares %s: a deploy's timeout-minutes" % deploy_group
    return out


def mmss(s):
    return "%dm%02ds" % (s // 60, s % 60)


def main():
    markdown = "--markdown" in sys.argv[1:]
    guard_mod = load_guard()
    rules = guard_mod.Rules(os.path.join(ROOT, "monitoring", "rules", "conduitd.rules.yml"))
    for_max = max(t.for_s for t in rules.triggers)
    intervals = workflow_guard_setting("interval", "GUARD_INTERVAL")
    interval_s = max([guard_mod.parse_duration(v) for v in intervals] or
                     [guard_mod.parse_duration(guard_mod.DEFAULTS["interval"])])
    windows = workflow_guard_setting("window", "GUARD_WINDOW")
    window_s = min([guard_mod.parse_duration(v) for v in windows] or
                   [guard_mod.parse_duration(guard_mod.DEFAULTS["window"])])
    guard = {"interval": interval_s, "window": window_s,
             "undo_timeout": guard_mod.parse_duration(guard_mod.DEFAULTS["undo_timeout"])}

    overlays_dir = os.path.join(ROOT, "k8s", "overlays")
    envs = sorted(e for e in os.listdir(overlays_dir)
                  if os.path.isfile(os.path.join(overlays_dir, e, "kustomization.yaml")))
    results = []
    for env in envs:
        docs = render(os.path.join(overlays_dir, env))
        scrape = ASSUMED_SCRAPE_INTERVAL_S
        scrape_src = "assumed (Prometheus default)"
        for mon in (d for d in docs if d.get("kind") in ("ServiceMonitor", "PodMonitor")):
            for ep in mon["spec"].get("endpoints", []) + mon["spec"].get("podMetricsEndpoints", []):
                if "interval" in ep:
                    scrape = guard_mod.parse_duration(ep["interval"])
                    scrape_src = "%s %s" % (mon["kind"], mon["metadata"]["name"])
        det = {"scrape": scrape, "scrape_src": scrape_src, "window": rules.window_s,
               "for": for_max, "guard": interval_s}
        det["total"] = det["scrape"] + det["window"] + det["for"] + det["guard"]
        res = overlay_budget(env, docs, det, guard)
        res["det"] = det
        results.append(res)

    manual = rollback_workflow_start()
    err = next(t for t in rules.triggers if t.labels.get("trigger") == "error_ratio")
    ratio = next(term.threshold for term in err.terms() if "ratio" in term.record)
    for r in results:
        d = r["det"]
        alerting = ASSUMED_RULE_EVAL_S + ASSUMED_GROUP_WAIT_S + ASSUMED_ACK_S
        start = manual["approval"] + manual["wait"] + ASSUMED_RUNNER_START_S + ASSUMED_STEPS_S
        r["manual_edge"] = d["scrape"] + d["window"] + d["for"] + alerting + start + r["undo"]
        r["hard_fill"] = math.ceil(ratio * d["window"])
        r["manual_hard"] = d["scrape"] + r["hard_fill"] + err.for_s + alerting + start + r["undo"]
        r["alerting"], r["start"] = alerting, start

    failed = 0
    if markdown:
        print("| step | where the value comes from | " + " | ".join(r["env"] for r in results) + " |")
        print("| --- | --- | " + " | ".join("---:" for _ in results) + " |")
        d = results[0]["det"]
        rows = [
            ("*automatic: the rollout guard*", "", lambda r: ""),
            ("scrape interval", d["scrape_src"], lambda r: r["det"]["scrape"]),
            ("rate window", "rules: `[%s]`" % rules.window_text, lambda r: r["det"]["window"]),
            ("longest `for:`", "rules: rollback triggers", lambda r: r["det"]["for"]),
            ("guard interval", "script/rollout-guard", lambda r: r["det"]["guard"]),
            ("**detection**", "sum of the above", lambda r: r["det"]["total"]),
            ("pods replaced per batch", "maxSurge of HPA maxReplicas",
             lambda r: "%d of %d" % (r["surge"], r["replicas"])),
            ("batches", "ceil(maxReplicas / maxSurge)", lambda r: r["batches"]),
            ("time to ready per batch", results[0]["per_batch_txt"], lambda r: r["per_batch"]),
            ("last bad pod drains", "terminationGracePeriodSeconds", lambda r: r["grace"]),
            ("**undo**", "batches x time to ready + drain", lambda r: r["undo"]),
            ("**automatic total**", "detection + undo (budget 900 s)",
             lambda r: "**%d s (%s)**" % (r["total"], mmss(r["total"]))),
            ("if every pod used its whole startup allowance", "startupProbe failureThreshold",
             lambda r: "%d s (%s)" % (r["pessimistic"], mmss(r["pessimistic"]))),
            ("*manual: alert, on-call, rollback workflow*", "", lambda r: ""),
            ("rule evaluation + group_wait + acknowledge", "assumed: 30 + 30 + 300",
             lambda r: r["alerting"]),
            ("reviewer approval", manual["approval_src"], lambda r: manual["approval"]),
            ("concurrency wait", manual["wait_src"], lambda r: manual["wait"]),
            ("runner start + steps before the undo", "assumed: 60 + 20",
             lambda r: ASSUMED_RUNNER_START_S + ASSUMED_STEPS_S),
            ("**manual total, hard failure**", "scrape + %d s of errors (5%% of [%s]) + for + the "
             "above + undo (budget 900 s)" % (results[0]["hard_fill"], rules.window_text),
             lambda r: "**%d s (%s)**" % (r["manual_hard"], mmss(r["manual_hard"]))),
            ("manual total, just above a threshold", "scrape + rate window + for + the above + undo"
             " (not within 900 s)", lambda r: "%d s (%s)" % (r["manual_edge"], mmss(r["manual_edge"]))),
        ]
        for name, src, fn in rows:
            print("| %s | %s | %s |" % (name, src, " | ".join(str(fn(r)) for r in results)))
        return 0 if all(r["ok"] and r["manual_hard"] <= BUDGET_S for r in results) else 1

    print("budget: rules: rate window %s, longest for %s; guard: every %s, window %s"
          % (rules.window_text, mmss(for_max), mmss(interval_s), mmss(window_s)))
    checks = 0
    for r in results:
        d = r["det"]
        print("budget: %s: detection %ds = scrape %ds (%s) + rate window %ds + for %ds + guard "
              "%ds" % (r["env"], d["total"], d["scrape"], d["scrape_src"], d["window"], d["for"],
                       d["guard"]))
        print("budget: %s: undo %ds = %d batches (maxReplicas %d, maxSurge %d) x %ds (%s) + "
              "drain %ds" % (r["env"], r["undo"], r["batches"], r["replicas"], r["surge"],
                             r["per_batch"], r["per_batch_txt"], r["grace"]))
        print("budget: %s: total %ds (%s) vs budget %ds: %s; if every pod used its whole "
              "startup allowance: %ds (%s); a stalled undo is reported after "
              "progressDeadlineSeconds %ds" % (
                  r["env"], r["total"], mmss(r["total"]), BUDGET_S,
                  "ok" if r["ok"] else "EXCEEDED", r["pessimistic"], mmss(r["pessimistic"]),
                  r["progress_deadline"]))
        print("budget: %s: manual path: hard failure %ds (%s): %s; just above a threshold %ds (%s)"
              " (not enforced) = detection %ds + rule evaluation, group_wait and acknowledge %ds "
              "+ approval %ds + concurrency wait %ds + runner and steps %ds + undo %ds" % (
                  r["env"], r["manual_hard"], mmss(r["manual_hard"]),
                  "ok" if r["manual_hard"] <= BUDGET_S else "EXCEEDED", r["manual_edge"],
                  mmss(r["manual_edge"]), d["scrape"] + d["window"] + d["for"], r["alerting"],
                  manual["approval"], manual["wait"], ASSUMED_RUNNER_START_S + ASSUMED_STEPS_S,
                  r["undo"]))
        checks += 1
        if not r["ok"]:
            failed += 1
        checks += 1
        if r["manual_hard"] > BUDGET_S:
            failed += 1
        checks += 1
        if not r["undo_timeout_ok"]:
            print("budget: %s: the guard's undo timeout %ds is shorter than the undo estimate"
                  % (r["env"], guard["undo_timeout"]))
            failed += 1
    checks += 1
    if window_s < rules.window_s + for_max:
        print("budget: the guard's window %ds is shorter than rate window + for = %ds: a breach "
              "just above a threshold would never be seen" % (window_s, rules.window_s + for_max))
        failed += 1
    print("budget: %d passed, %d failed" % (checks - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
