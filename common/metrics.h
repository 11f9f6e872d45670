/*
 * metrics.h: render the Prometheus text exposition (format 0.0.4) of
 * conduitd's metrics from a scoreboard, for the supervisor's /metrics.
 *
 * The scoreboard gives the per-request counters, histograms and worker
 * gauges (retired + live slots); the supervisor adds what only it knows
 * (readiness, generation, process figures) in struct metrics_extra.
 */
#ifndef CONDUIT_METRICS_H
#define CONDUIT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "scoreboard.h"

/* Figures the supervisor supplies besides the scoreboard. */
struct metrics_extra {
    const char *version;        /* conduitd_build_info{version} */
    const char *revision;       /* conduitd_build_info{revision} */
    uint32_t generation;        /* conduitd_generation */
    int ready;                  /* conduitd_ready: 1 if /readyz would answer 200 */
    uint64_t reloads_ok;        /* conduitd_reloads_total{result="ok"} */
    uint64_t reloads_failed;    /* conduitd_reloads_total{result="failed"} */
    uint64_t upgrades_ok;       /* conduitd_upgrades_total{result="ok"} */
    uint64_t upgrades_failed;   /* conduitd_upgrades_total{result="failed"} */
    int64_t listen_queue_depth; /* conduitd_listen_queue_depth; < 0: not emitted */
    int64_t rss_bytes;          /* process_resident_memory_bytes */
    double cpu_seconds;         /* process_cpu_seconds_total */
    double start_time_seconds;  /* process_start_time_seconds */
};

/* Render every metric. Returns a malloc'ed NUL-terminated buffer that the
 * caller frees, with its length in *len; NULL when out of memory. */
char *metrics_render(const struct scoreboard *sb, const struct metrics_extra *x, size_t *len)
    __attribute__((warn_unused_result));

/* Escape a label value (backslash, double quote, newline) into buf, always
 * NUL-terminated; returns buf. */
char *metrics_escape_label(char *buf, size_t len, const char *value);

#endif
