# bench/local.mk: files of bench/, included by the top Makefile.am.
# GET /healthz against nginx (run by hand, not by make check; see docs/benchmarks.md).
EXTRA_DIST += bench/healthz_vs_nginx.sh bench/nginx-healthz.conf.in
# The Conduit API against pgbench -S, the password-hashing stall, fair accepting.
EXTRA_DIST += bench/api_vs_pgbench.sh bench/seed.py bench/wrk_api.lua bench/plot.gp \
	bench/hash_stall.py bench/fair_accept.sh bench/overload.sh bench/wrk_overload.lua \
	bench/lib.sh bench/prom_delta.py bench/h2load_split.py \
	bench/supervision.sh bench/supervision.py
# The API at any table size (10k to 1M articles) and the online migration under load.
EXTRA_DIST += bench/scale.sh bench/scale_seed.sql bench/scale_users.py bench/scale_floor.py \
	bench/scale_report.py bench/scale_plot.gp bench/wrk_scale_write.lua bench/online_migrate.sh \
	bench/write_cost.sh bench/tag_version_cost.sh bench/write_floor.sh \
	bench/pgbench_article_insert.sql bench/pgbench_favorite.sql
# What saturates first at 10x to 1000x this box (written from bench/scale.sh figures).
EXTRA_DIST += docs/scaling.md
# Where the cache-off read's tail comes from: pool sizes next to pgbench -S's own spread.
EXTRA_DIST += bench/tail.sh
