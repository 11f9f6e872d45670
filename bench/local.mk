# bench/local.mk: files of bench/, included by the top Makefile.am.
# GET /healthz against nginx (run by hand, not by make check; see docs/benchmarks.md).
EXTRA_DIST += bench/healthz_vs_nginx.sh bench/nginx-healthz.conf.in
# The Conduit API against pgbench -S, the password-hashing stall, fair accepting.
EXTRA_DIST += bench/api_vs_pgbench.sh bench/seed.py bench/wrk_api.lua bench/plot.gp \
	bench/hash_stall.py bench/fair_accept.sh bench/overload.sh bench/wrk_overload.lua \
	bench/supervision.sh bench/supervision.py
