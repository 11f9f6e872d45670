# bench/plot.gp: chart of bench/api_vs_pgbench.sh's data file: throughput
# (req/s, left) and p99 latency (ms, right) per API endpoint, next to the
# pgbench -S baselines (tps; simple and prepared protocol) measured in the same
# run. Ratios in the labels are to pgbench -S.
#
#   gnuplot -e "datafile='docs/bench-api.dat'; outfile='docs/bench-api.png'" bench/plot.gp
#
# Data columns: label req_per_s p99_ms ratio_to_pgbench non2xx socket_errors.

if (!exists("datafile")) datafile = 'docs/bench-api.dat'
if (!exists("outfile")) outfile = 'docs/bench-api.png'

set terminal pngcairo size 1200,560 font "sans,10" noenhanced
set output outfile
set datafile commentschars "#"
set style fill solid 0.8 border -1
set boxwidth 0.65
set grid ytics
set xtics rotate by -30 left nomirror
set key off
set yrange [0:*]
set offsets 0.3, 0.3, graph 0.15, 0
is_base(s) = (s eq "pgbench_S" || s eq "pgbench_S_prepared") ? 2 : 1
label(s) = (s eq "pgbench_S") ? "pgbench -S (tps)" : \
    (s eq "pgbench_S_prepared") ? "pgbench -S -M prepared" : \
    (s eq "slug_cache_on") ? "article by slug, cache on" : \
    (s eq "slug_cache_off") ? "article by slug, cache off" : \
    (s eq "list_limit20") ? "list ?limit=20" : \
    (s eq "feed") ? "feed (token)" : \
    (s eq "tags") ? "tags" : \
    (s eq "profile") ? "profile" : s

set multiplot layout 1,2 title "conduitd: Conduit API reads vs pgbench -S on the same PostgreSQL (one run)"
set title "Throughput (req/s; pgbench: transactions/s)"
set ylabel "per second"
plot datafile using 0:2:(is_base(strcol(1))):xtic(label(strcol(1))) with boxes lc variable, \
     '' using 0:2:(sprintf("%.0f\n(%.2fx)", $2, $4)) with labels offset 0,1.2 font ",8"
set title "p99 latency (ms)"
set ylabel "milliseconds"
plot datafile using 0:3:(is_base(strcol(1))):xtic(label(strcol(1))) with boxes lc variable, \
     '' using 0:3:(sprintf("%.2f", $3)) with labels offset 0,0.7 font ",8"
unset multiplot
