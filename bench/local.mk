# bench/local.mk: files of bench/, included by the top Makefile.am.
# GET /healthz against nginx (run by hand, not by make check; see docs/benchmarks.md).
EXTRA_DIST += bench/healthz_vs_nginx.sh bench/nginx-healthz.conf.in
