# bench/scale_plot.gp: chart of bench/scale.sh's cost file: the cost of one
# page of each read endpoint (cache off) against the number of articles,
# log-log. Left: CPU time per request, conduitd and PostgreSQL together
# (from /proc around each run); right: the box's time per request
# (1e6 / req/s at -c16: both cores, wrk included). A flat line is a page
# whose cost does not depend on the table.
#
#   gnuplot -e "datafile='docs/bench-scale-cost.dat'; outfile='docs/bench-scale.png'" bench/scale_plot.gp
#
# Data: one block per endpoint (its name on the first line), rows:
# size cpu_us_per_request box_us_per_request req_per_s.

if (!exists("datafile")) datafile = 'docs/bench-scale-cost.dat'
if (!exists("outfile")) outfile = 'docs/bench-scale.png'
if (!exists("runtitle")) runtitle = 'conduitd: cost per page against table size (cache off, one run)'

stats datafile using 1 nooutput
blocks = STATS_blocks
colors = "#9400d3 #009e73 #56b4e9 #e69f00 #c8b400 #0072b2 #e51e10 #000000 #909090 #ff69b4 #8b4513 #00ced1"

set terminal pngcairo size 1300,560 font "sans,10" noenhanced
set output outfile
set datafile commentschars "#"
set logscale xy
set grid xtics ytics mxtics mytics
set xlabel "articles"
set format x "%.0s%c"
set key outside right top
set multiplot layout 1,2 title runtitle
set title "CPU per request (conduitd + PostgreSQL), microseconds"
plot for [i=0:blocks-1] datafile index i using 1:2 with linespoints lw 2 pt (i % 6 + 5) lc rgb word(colors, i % 12 + 1) title columnheader(1)
set title "time per request of the whole box (1e6 / req/s at -c16), microseconds"
plot for [i=0:blocks-1] datafile index i using 1:3 with linespoints lw 2 pt (i % 6 + 5) lc rgb word(colors, i % 12 + 1) title columnheader(1)
unset multiplot
