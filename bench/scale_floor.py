#!/usr/bin/env python3
"""scale_floor.py: turn the statements one API request ran into a pgbench script.

    bench/scale_floor.py PG_LOG START END OUT_SCRIPT OUT_DEFINES
    bench/scale_floor.py --explain SCRIPT DEFINES   (EXPLAIN statements on stdout)

bench/scale.sh serves one request with log_min_duration_statement = 0 set on
the database, and passes the byte range of the PostgreSQL log it wrote. The
"execute NAME: SQL" lines there are exactly what conduitd ran (its prepared
statements from api/api_sql.c, whatever the branch), and the DETAIL lines
after them their parameters. This writes a pgbench script with the same SQL,
each $n replaced by a pgbench variable (so `pgbench -M prepared` prepares
the same text with parameters, as conduitd does), and a file of NAME=VALUE
lines for pgbench -D. A NULL parameter becomes the literal NULL; integer
values are cast to int8 (the bench's text parameters are never all digits). Prints the
number of statements; 0 when the request ran none (e.g. a cache hit).
"""

import re
import sys

LINE = re.compile(r"^\S+ \S+ \S+ \[\d+\] (LOG|DETAIL):  (.*)$")
EXECUTE = re.compile(r"duration: [\d.]+ ms  execute [^:]+: (.*)$")
PARAM = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')")


def explain(script, defines):
    """EXPLAIN (ANALYZE, BUFFERS) of each statement of a floor script, run as
    conduitd runs it: prepared, with a generic plan (db.c sets
    plan_cache_mode = force_generic_plan), the same parameter values."""
    values = {}
    for line in open(defines):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            values[k] = v
    print("SET plan_cache_mode = force_generic_plan;")
    for i, sql in enumerate(open(script), 1):
        args = []
        def param(m):
            args.append("'" + values[m.group(1)].replace("'", "''") + "'")
            return "$%d" % len(args)
        sql = re.sub(r":(s\d+p\d+)", param, sql.strip().rstrip(";"))
        print("PREPARE floor%d AS %s;" % (i, sql))
        print("EXPLAIN (ANALYZE, BUFFERS) EXECUTE floor%d%s;"
              % (i, "(" + ", ".join(args) + ")" if args else ""))
        print("DEALLOCATE floor%d;" % i)


def main():
    if sys.argv[1] == "--explain":
        explain(sys.argv[2], sys.argv[3])
        return
    log, start, end, out_script, out_defines = sys.argv[1:6]
    with open(log, "rb") as f:
        f.seek(int(start))
        text = f.read(int(end) - int(start)).decode("utf-8", "replace")
    stmts = []  # [sql, {n: value or None}]
    for raw in text.splitlines():
        m = LINE.match(raw)
        if not m:
            continue
        kind, msg = m.groups()
        if kind == "LOG":
            e = EXECUTE.match(msg)
            if e:
                stmts.append([e.group(1), {}])
        elif kind == "DETAIL" and msg.startswith("parameters: ") and stmts and not stmts[-1][1]:
            for p in PARAM.finditer(msg):
                stmts[-1][1][int(p.group(1))] = (None if p.group(2) == "NULL"
                                                  else p.group(3).replace("''", "'"))
    defines = []
    lines = []
    for i, (sql, params) in enumerate(stmts, 1):
        def var(m, i=i, params=params):
            n = int(m.group(1))
            value = params.get(n)
            if value is None:
                return "NULL"
            name = "s%dp%d" % (i, n)
            defines.append("%s=%s" % (name, value))
            # Integers (limit, offset, ids) get an explicit type, as conduitd
            # declares its parameters: "LIMIT $2 + $3" needs one.
            return ":" + name + ("::int8" if re.fullmatch(r"-?\d+", value) else "")
        lines.append(re.sub(r"\$(\d+)", var, sql).rstrip().rstrip(";") + ";")
    with open(out_script, "w") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))
    with open(out_defines, "w") as f:
        f.write("\n".join(sorted(set(defines))) + ("\n" if defines else ""))
    print(len(stmts))


if __name__ == "__main__":
    main()
