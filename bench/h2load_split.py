#!/usr/bin/env python3
"""h2load_split.py: latency split by status class from h2load's per-request
log (bench/overload.sh).

wrk cannot tell a 2xx answer's latency from a refusal's; h2load's
--log-file writes one row per answered request (start time in us since the
epoch, HTTP status, us until the end of the response). This reads that file
and prints one line of key=value pairs: for 2xx and for 503, how many, how
many per second, and the exact p50 and p99 in
milliseconds (nearest rank); "other" counts every other status. Rates are
per second of SECONDS, h2load's measured duration (-D): its log holds the
requests of that phase, some of which end after it.

    h2load_split.py LOGFILE SECONDS [PREFIX]"""

import sys


def nearest_rank(sorted_values, q):
    """The q-quantile (0 < q <= 1) by nearest rank; 0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(-(-q * len(sorted_values) // 1)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def split(path):
    by_class = {"2xx": [], "503": []}
    other = 0
    first, last = None, None
    with open(path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) < 3:
                continue
            start_us, status, took_us = int(cols[0]), int(cols[1]), int(cols[2])
            end_us = start_us + took_us
            first = start_us if first is None else min(first, start_us)
            last = end_us if last is None else max(last, end_us)
            if 200 <= status < 300:
                by_class["2xx"].append(took_us / 1000.0)
            elif status == 503:
                by_class["503"].append(took_us / 1000.0)
            else:
                other += 1
    span_s = (last - first) / 1e6 if first is not None and last > first else 0.0
    return by_class, other, span_s


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: h2load_split.py LOGFILE SECONDS [PREFIX]")
    seconds = float(sys.argv[2])
    prefix = sys.argv[3] if len(sys.argv) == 4 else "h2load"
    by_class, other, span_s = split(sys.argv[1])
    out = ["%s_span_s=%.2f" % (prefix, span_s), "%s_other=%d" % (prefix, other)]
    for name, values in by_class.items():
        values.sort()
        rate = len(values) / seconds if seconds > 0 else 0.0
        out += ["%s_%s=%d" % (prefix, name, len(values)),
                "%s_%s_rps=%.1f" % (prefix, name, rate),
                "%s_%s_p50_ms=%.2f" % (prefix, name, nearest_rank(values, 0.50)),
                "%s_%s_p99_ms=%.2f" % (prefix, name, nearest_rank(values, 0.99))]
    print(" ".join(out))


if __name__ == "__main__":
    main()
