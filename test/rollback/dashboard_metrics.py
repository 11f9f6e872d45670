#!/usr/bin/env python3
"""dashboard_metrics.py: every metric the dashboard and the rules query exists in a live /metrics.

Extracts the metric names from every query of monitoring/dashboards/conduitd.json (panel targets
and template variables) and from the expressions of monitoring/rules/conduitd.rules.yml (names
of recording rules excluded), starts the real conduitd, drives some traffic (API requests, the
admin /readyz) so that series which appear only once used exist, and checks each name against
its /metrics. A histogram's base name is accepted through its _bucket, _sum and _count series
(the queries name the _bucket). One check per name; prints "dashboard-metrics: N passed, M failed".

With DATABASE_URL set (script/services start) the server runs against PostgreSQL and each name
must have at least one sample. Without it, a name the server declares (# TYPE) but has no sample
for under that configuration (conduitd_dependency_up with no dependency configured) passes with
a note.

Names that other exporters provide are listed in NOT_CONDUITD and reported as such, not checked
here: Prometheus's own `up` (test/rollback/drill.py checks it on a real Prometheus) and
kube-state-metrics' series (only in a cluster).
"""

import importlib.machinery
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402

SRC = harness.srcdir()
guard = importlib.machinery.SourceFileLoader(
    "rollout_guard", os.path.join(SRC, "script", "rollout-guard")).load_module()


def dashboard_names(path):
    """{metric name: [where it is used]} over the dashboard's queries."""
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    names = {}

    def add(name, where):
        names.setdefault(name, []).append(where)

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                for n in guard.promql_metric_names(t["expr"]):
                    add(n, "panel %r" % p.get("title"))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*", q)
        if m:
            for n in guard.promql_metric_names(m.group(1)):
                add(n, "variable $%s" % var["name"])
        else:
            for n in guard.promql_metric_names(q):
                add(n, "variable $%s" % var["name"])
    return names


def rules_names(path):
    """{metric name: [where]} over the rules' expressions, recorded series excluded."""
    data = guard.load_yaml(path)
    records = {r["record"] for g in data["groups"] for r in g["rules"] if "record" in r}
    names = {}
    for g in data["groups"]:
        for r in g["rules"]:
            for n in guard.promql_metric_names(r["expr"]):
                if n not in records:
                    names.setdefault(n, []).append("rule %s" % r.get("record", r.get("alert")))
    return names


def exported(text):
    """(names with samples, names declared by # TYPE with their type)."""
    samples, types = set(), {}
    for line in text.splitlines():
        m = re.match(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)", line)
        if m:
            types[m.group(1)] = m.group(2)
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return samples, types


def declared(name, types):
    """Is name declared, directly or as a histogram/summary's derived series?"""
    if name in types:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return True
    return False


# Series the rules use that conduitd does not export, and who does.
NOT_CONDUITD = {
    "up": "Prometheus, one per target",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
}


def main():
    harness.binary()
    with_db = bool(os.environ.get("DATABASE_URL"))
    names = dashboard_names(os.path.join(SRC, "monitoring", "dashboards", "conduitd.json"))
    for n, where in rules_names(os.path.join(SRC, "monitoring", "rules",
                                             "conduitd.rules.yml")).items():
        names.setdefault(n, []).extend(where)
    server = harness.Server(workers=2, with_services=with_db, env={"CONDUIT_RELEASE": "dash"})
    passed = failed = 0
    with server:
        server.wait_ready()
        for path in ("/healthz", "/api/tags", "/api/articles?limit=1", "/nope"):
            for _ in range(3):
                server.get(path)
        server.get("/readyz", admin=True)
        samples, types = exported(server.metrics_text())
    for name in sorted(names):
        where = ", ".join(sorted(set(names[name])))
        if name in NOT_CONDUITD:
            print("note %s: from %s, not conduitd; used by %s" % (name, NOT_CONDUITD[name], where))
            continue
        if name in samples:
            passed += 1
            print("ok   %s" % name)
        elif not with_db and declared(name, types):
            passed += 1
            print("ok   %s (declared, no series without DATABASE_URL)" % name)
        else:
            failed += 1
            print("FAIL %s: not in conduitd's /metrics%s; used by %s" % (
                name, " (declared, but no series)" if declared(name, types) else "", where))
    print("dashboard-metrics: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
