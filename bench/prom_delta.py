"""prom_delta.py: what changed in conduitd's /metrics between two scrapes
(bench/overload.sh, bench/tail.sh).

As a module: load(path) reads a scrape into {series: value};
quantiles(before, after, family, qs) gives, for each q, the upper bound of
the bucket holding that quantile of the histogram's observations between
the two (inf past the last bound; 0 for each when nothing was observed),
and how many there were.

As a command: prom_delta.py BEFORE AFTER FAMILY Q... prints each
quantile's bound in milliseconds, one per line ("-" when nothing was
observed)."""

import re
import sys


def load(path):
    out = {}
    for line in open(path):
        m = re.match(r"^(\S+?(?:\{.*\})?)\s+(\S+)$", line.strip())
        if m and not line.startswith("#"):
            out[m.group(1)] = float(m.group(2))
    return out


def quantiles(before, after, family, qs):
    buckets = []
    for k, v in after.items():
        m = re.match(r'^%s_bucket\{le="([^"]+)"\}$' % family, k)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            buckets.append((le, v - before.get(k, 0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    if not total:
        return total, [0 for _ in qs]
    return total, [next((le for le, n in buckets if n >= q * total), float("inf")) for q in qs]


if __name__ == "__main__":
    n, bounds = quantiles(load(sys.argv[1]), load(sys.argv[2]), sys.argv[3],
                          [float(q) for q in sys.argv[4:]])
    for b in bounds:
        print("%g" % (b * 1000) if n else "-")
