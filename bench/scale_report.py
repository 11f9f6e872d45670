#!/usr/bin/env python3
"""scale_report.py: the table and the targets of bench/scale.sh.

    bench/scale_report.py RESULTS STMTS SEEDS OUT.dat key=value... [baseline=OLD.dat]

RESULTS has one line per run (wrk or pgbench) as key=value pairs: size,
label, mode (cache_off, cache_on, floor, before/after for pgbench -S), rps,
p99_ms, max_ms, non2xx, socket_errors, requests, cd_ticks and pg_ticks (CPU
clock ticks of conduitd's processes and of PostgreSQL's over the run), and
alone_ms (median of single requests). STMTS: "size=N stmts LABEL COUNT"
(statements one request ran). Prints, per size, a table with req/s, p99,
the ratios against pgbench -S -M prepared (mean of the runs before and after
the endpoints) and against the endpoint's floor (pgbench running the
endpoint's own statements), CPU microseconds per request; then the targets
of issue 9 at the largest size and the growth from the smallest. Writes
OUT.dat (one row per size, endpoint and mode) and OUT-cost.dat (cost per page
against table size, one block per endpoint, for bench/scale_plot.gp). With
baseline=OLD.dat, adds the ratio of each req/s to the baseline's (e.g. main).
"""

import sys
import time

LISTS = ["global", "offset_10k", "tag", "author", "favorited", "feed"]
READS = ["global", "global_token", "offset_10k", "offset_half", "tag", "author", "favorited",
         "feed", "tags", "article", "comments", "profile"]
WRITES = ["write_article", "write_favorite", "write_follow"]


def parse(path):
    rows = []
    for line in open(path):
        kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
        if kv:
            rows.append(kv)
    return rows


def main():
    results, stmts_path, seeds_path, out = sys.argv[1:5]
    opts = dict(a.split("=", 1) for a in sys.argv[5:])
    ticks = float(opts.get("ticks", 100))
    rows = parse(results)
    stmts = {}
    for line in open(stmts_path):
        p = line.split()
        stmts[(int(p[0].split("=")[1]), p[2])] = int(p[3])
    seeds = {int(r["size"]): int(r["seed_seconds"]) for r in parse(seeds_path)}
    baseline = {}
    if "baseline" in opts:
        for line in open(opts["baseline"]):
            if line.startswith("#") or not line.strip():
                continue
            p = line.split()
            baseline[(int(p[0]), p[1], p[2])] = float(p[3])

    by = {}
    for r in rows:
        n = int(r["size"])
        rps = float(r["rps"])
        req = max(1, int(r["requests"]))
        by[(n, r["label"], r["mode"])] = {
            "rps": rps, "p99": float(r["p99_ms"]), "max": float(r.get("max_ms", 0)),
            "err": int(r["non2xx"]) + int(r["socket_errors"]),
            "alone": float(r["alone_ms"]) if "alone_ms" in r else None,
            "cd_us": int(r["cd_ticks"]) / ticks * 1e6 / req,
            "pg_us": int(r["pg_ticks"]) / ticks * 1e6 / req,
        }
    sizes = sorted({k[0] for k in by})
    yard = {}
    for n in sizes:
        s = [by[(n, "pgbench_S", m)]["rps"] for m in ("before", "after") if (n, "pgbench_S", m) in by]
        yard[n] = sum(s) / len(s) if s else float("nan")

    def get(n, lab, mode):
        return by.get((n, lab, mode))

    for n in sizes:
        ys = ", ".join("%s %.0f" % (m, by[(n, "pgbench_S", m)]["rps"])
                       for m in ("before", "after") if (n, "pgbench_S", m) in by)
        print()
        print("== %s articles (seeded in %ss); pgbench -S -M prepared -c%s: %.0f tps (%s) =="
              % (format(n, ","), seeds.get(n, "?"), opts.get("connections", "?"), yard[n], ys))
        print("%-13s %8s %7s %6s %6s %7s %8s %7s %6s %7s %7s %7s %5s %8s%s"
              % ("endpoint", "off r/s", "p99 ms", "xpgS", "xfloor", "alone", "on r/s", "p99 ms",
                 "xpgS", "cd us", "pg us", "pgfl us", "stmts", "floor", "  x base" if baseline else ""))
        for lab in READS + WRITES:
            off = get(n, lab, "cache_off")
            on = get(n, lab, "cache_on")
            fl = get(n, lab, "floor")
            main_row = off or on
            if main_row is None:
                continue
            def fmt(x, f):
                return f % x if x is not None and x is not False else "-"
            base = ""
            if baseline:
                b = baseline.get((n, lab, "cache_off" if off else "cache_on"))
                base = "  %6.2f" % (main_row["rps"] / b) if b else "       -"
            print("%-13s %8s %7s %6s %6s %7s %8s %7s %6s %7.0f %7.0f %7s %5s %8s%s" % (
                lab,
                fmt(off and off["rps"], "%.0f"), fmt(off and off["p99"], "%.1f"),
                fmt(off and off["rps"] / yard[n], "%.3f"),
                fmt(off and fl and fl["rps"] > 0 and off["rps"] / fl["rps"], "%.2f"),
                fmt(main_row["alone"], "%.1f"),
                fmt(on and on["rps"], "%.0f"), fmt(on and on["p99"], "%.1f"),
                fmt(on and on["rps"] / yard[n], "%.3f"),
                main_row["cd_us"], main_row["pg_us"], fmt(fl and fl["pg_us"], "%.0f"),
                stmts.get((n, lab), "-"), fmt(fl and fl["rps"], "%.0f"), base))
        errs = [(lab, m, r["err"]) for (s, lab, m), r in by.items() if s == n and r["err"]]
        if errs:
            print("errors: " + ", ".join("%s %s: %d" % e for e in errs))

    # ---- targets --------------------------------------------------------
    big, small = sizes[-1], sizes[0]
    checks = []
    for lab in LISTS:
        r = get(big, lab, "cache_off")
        if r:
            ok = r["rps"] / yard[big] >= 0.1 and r["p99"] <= 25
            checks.append((ok, "cache off %-11s >= 0.1x pgbench -S and p99 <= 25 ms: %.3fx, p99 %.1f ms"
                           % (lab, r["rps"] / yard[big], r["p99"])))
    if small != big:
        for lab in READS:
            a, b = get(small, lab, "cache_off"), get(big, lab, "cache_off")
            if a and b:
                g = a["rps"] / b["rps"] if b["rps"] > 0 else float("inf")
                checks.append((g <= 1.5, "cost %s -> %s of %-12s grows <= 1.5x: %.2fx"
                               " (CPU us per request %.0f -> %.0f)"
                               % (format(small, ","), format(big, ","), lab, g,
                                  a["cd_us"] + a["pg_us"], b["cd_us"] + b["pg_us"])))
    r = get(big, "offset_half", "cache_off")
    if r:
        checks.append((r["alone"] <= 150, "offset %s answered in <= 150 ms: %.1f ms alone (p99 under load %.1f ms)"
                       % (format(big // 2, ","), r["alone"], r["p99"])))
    r = get(big, "tags", "cache_off")
    if r:
        checks.append((r["rps"] / yard[big] >= 0.25, "cache off GET /api/tags >= 0.25x: %.3fx"
                       % (r["rps"] / yard[big])))
    r = get(big, "global", "cache_on")
    if r:
        checks.append((r["rps"] / yard[big] >= 0.8, "cache on anonymous first page >= 0.8x: %.3fx"
                       % (r["rps"] / yard[big])))
    print()
    print("targets at %s articles (one run; ratios against the same run's pgbench -S):"
          % format(big, ","))
    for ok, text in checks:
        print("  %-4s %s" % ("met" if ok else "MISS", text))
    print("  %d of %d met" % (sum(1 for c in checks if c[0]), len(checks)))

    # ---- data files -----------------------------------------------------
    with open(out, "w") as f:
        f.write("# bench/scale.sh, %s, %s; wrk -t1 -c%s -d%ss, %s workers; pgbench -S -M prepared -c%s\n"
                % (opts.get("label", "?"), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   opts.get("connections"), opts.get("duration"), opts.get("workers"),
                   opts.get("connections")))
        for n in sizes:
            f.write("# size %d: pgbench_S %.1f tps; seeded in %ss\n" % (n, yard[n], seeds.get(n, -1)))
        f.write("# size label mode req_per_s p99_ms max_ms alone_ms cd_us pg_us x_pgbench_S "
                "x_floor errors stmts\n")
        for (n, lab, mode), r in sorted(by.items()):
            fl = get(n, lab, "floor")
            f.write("%d %s %s %.1f %.3f %.3f %s %.1f %.1f %.4f %s %d %s\n" % (
                n, lab, mode, r["rps"], r["p99"], r["max"],
                "%.1f" % r["alone"] if r["alone"] is not None else "-",
                r["cd_us"], r["pg_us"], r["rps"] / yard[n],
                "%.3f" % (r["rps"] / fl["rps"]) if fl and fl["rps"] > 0 and mode != "floor" else "-",
                r["err"], stmts.get((n, lab), "-")))
    cost = out[:-4] + "-cost.dat" if out.endswith(".dat") else out + "-cost"
    with open(cost, "w") as f:
        f.write("# cost per page against table size, cache off: size cpu_us_per_request "
                "(conduitd + PostgreSQL) box_us_per_request (1e6 / req/s) req_per_s\n")
        first = True
        for lab in READS:
            pts = [(n, get(n, lab, "cache_off")) for n in sizes if get(n, lab, "cache_off")]
            if not pts:
                continue
            f.write(("" if first else "\n\n") + "%s\n" % lab)
            first = False
            for n, r in pts:
                if r["rps"] > 0:
                    f.write("%d %.1f %.1f %.1f\n" % (n, r["cd_us"] + r["pg_us"], 1e6 / r["rps"],
                                                      r["rps"]))
    print("bench: data in %s and %s" % (out, cost))


if __name__ == "__main__":
    main()
