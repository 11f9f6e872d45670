/*
 * metrics.c: Prometheus text exposition 0.0.4 from the scoreboard (see
 * metrics.h and docs/operations.md for the list).
 *
 * Rules the output keeps, because `promtool check metrics` and rate() rely
 * on them: every family has one HELP and one TYPE line before its samples;
 * no series appears twice; histogram buckets are cumulative and end with
 * le="+Inf", equal to _count; label values are escaped. Request series are
 * emitted only once non-zero, so the page stays small; the fixed label sets
 * (worker states, restart reasons) are always emitted so that rate() and
 * alerts see them from zero.
 *
 * Every counter is retired + live (sb_snapshot), so it never decreases.
 * A histogram's _count is computed as the sum of its buckets, so the two
 * agree even while workers write concurrently.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* A growing output buffer; on allocation failure `failed` is set and
 * further appends are ignored. */
struct mbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static const char *const metrics_method_names[HTTP_M__COUNT] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "OTHER",
};

static const char *const metrics_state_names[SB__STATES] = {
    "free", "starting", "ready", "draining", "backoff",
};

static const char *const metrics_reason_names[SB_RESTART__COUNT] = {
    "crash", "signal", "hung", "config", "recycle", "exit",
};

static const char *const metrics_shed_names[SB_SHED__COUNT] = {
    "in_flight",
    "connections",
    "db_queue",
};

static const char *const metrics_dep_names[SB_DEP__COUNT] = {"postgres", "redis"};

/* Append printf-formatted text. */
static void __attribute__((format(printf, 2, 3))) mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* The HELP and TYPE lines of one family. */
static void mbuf_family(struct mbuf *b, const char *name, const char *type, const char *help)
{
    mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_escape_label(char *buf, size_t len, const char *value)
{
    size_t o = 0;

    if (len == 0)
        return buf;
    for (; *value != '\0'; value++) {
        const char *rep = NULL;
        char one[2] = {*value, '\0'};
        if (*value == '\\')
            rep = "\\\\";
        else if (*value == '"')
            rep = "\\\"";
        else if (*value == '\n')
            rep = "\\n";
        else
            rep = one;
        size_t k = strlen(rep);
        if (o + k >= len)
            break;
        memcpy(buf + o, rep, k);
        o += k;
    }
    buf[o] = '\0';
    return buf;
}

/* Render one histogram fully: buckets, +Inf, _sum and _count. Labels are
 * written inside braces (`route="/x"`), or "" for none. */
static void metrics_histogram_full(struct mbuf *b, const char *name, const char *labels,
                                   const uint64_t *buckets, uint64_t count, uint64_t sum_us)
{
    uint64_t cum = 0;
    const char *sep = labels[0] != '\0' ? "," : "";

    for (int i = 0; i < SB_BUCKETS; i++) {
        cum += buckets[i];
        mbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, sb_bucket_bounds[i],
                    (unsigned long long)cum);
    }
    /* count is read separately from the buckets; never let +Inf fall below
     * the finite buckets while a worker is writing. */
    if (count < cum)
        count = cum;
    mbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                (unsigned long long)count);
    if (labels[0] != '\0')
        mbuf_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, sum_us / 1e6, name,
                    labels, (unsigned long long)count);
    else
        mbuf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, sum_us / 1e6, name,
                    (unsigned long long)count);
}

/* True when a slot holds a live worker (its gauges count). */
static int metrics_slot_live(const struct sb_slot *s)
{
    int st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
    return st == SB_STARTING || st == SB_READY || st == SB_DRAINING;
}

/* The per-request families: requests, latency, in flight, connections. */
static void metrics_requests(struct mbuf *b, const struct scoreboard *sb,
                             const struct sb_counters *c)
{
    char route[SB_LABEL_MAX * 2 + 8];
    int nroutes = sb->nroutes < SB_ROUTES ? sb->nroutes : SB_ROUTES;
    int64_t in_flight = 0, conns = 0;

    mbuf_family(b, "http_requests_total", "counter",
                "API requests finished, by method, route template and status code.");
    for (int r = 0; r < nroutes; r++) {
        metrics_escape_label(route, sizeof(route), sb->route_labels[r]);
        for (int m = 0; m < HTTP_M__COUNT; m++)
            for (int k = 0; k < SB_CODES; k++)
                if (c->requests[r][m][k] != 0)
                    mbuf_printf(b,
                                "http_requests_total{method=\"%s\",route=\"%s\",code=\"%d\"} "
                                "%llu\n",
                                metrics_method_names[m], route, sb_code_values[k],
                                (unsigned long long)c->requests[r][m][k]);
    }

    mbuf_family(b, "http_request_duration_seconds", "histogram",
                "API request latency from the first byte read to the last byte written.");
    for (int r = 0; r < nroutes; r++) {
        char labels[sizeof(route) + 16];
        if (c->duration_count[r] == 0)
            continue;
        metrics_escape_label(route, sizeof(route), sb->route_labels[r]);
        snprintf(labels, sizeof(labels), "route=\"%s\"", route);
        metrics_histogram_full(b, "http_request_duration_seconds", labels, c->duration_bucket[r],
                               c->duration_count[r], c->duration_sum_us[r]);
    }

    for (uint32_t s = 0; s < sb->nslots; s++) {
        if (!metrics_slot_live(&sb->slots[s]))
            continue;
        in_flight += __atomic_load_n(&sb->slots[s].in_flight, __ATOMIC_RELAXED);
        conns += __atomic_load_n(&sb->slots[s].connections_open, __ATOMIC_RELAXED);
    }
    mbuf_family(b, "http_requests_in_flight", "gauge",
                "API requests received and waiting for their response, all workers.");
    mbuf_printf(b, "http_requests_in_flight %lld\n", (long long)(in_flight > 0 ? in_flight : 0));
    mbuf_family(b, "http_connections_open", "gauge", "Open API connections, all workers.");
    mbuf_printf(b, "http_connections_open %lld\n", (long long)(conns > 0 ? conns : 0));
    mbuf_family(b, "http_connections_accepted_total", "counter", "API connections accepted.");
    mbuf_printf(b, "http_connections_accepted_total %llu\n",
                (unsigned long long)c->connections_accepted);
    mbuf_family(b, "conduitd_accept_pauses_total", "counter",
                "Times a worker stopped accepting so that the others take the next connections "
                "(its fair share reached, or --max-connections).");
    mbuf_printf(b, "conduitd_accept_pauses_total %llu\n", (unsigned long long)c->accept_pauses);
    mbuf_family(b, "conduitd_refusal_pacing_waits_total", "counter",
                "Times a worker had more held 503 refusals due than it answers in a millisecond "
                "and left the rest for the next one.");
    mbuf_printf(b, "conduitd_refusal_pacing_waits_total %llu\n",
                (unsigned long long)c->refusal_pacing_waits);
}

/* The process-model families: workers, restarts, readiness, generation. */
static void metrics_workers(struct mbuf *b, const struct scoreboard *sb,
                            const struct metrics_extra *x)
{
    int by_state[SB__STATES] = {0};
    char v[256], r[256];

    for (uint32_t s = 0; s < sb->nslots; s++) {
        int st = __atomic_load_n(&sb->slots[s].state, __ATOMIC_RELAXED);
        if (st >= 0 && st < SB__STATES)
            by_state[st]++;
    }
    mbuf_family(b, "conduitd_workers", "gauge", "Worker slots by state.");
    for (int st = SB_STARTING; st < SB__STATES; st++)
        mbuf_printf(b, "conduitd_workers{state=\"%s\"} %d\n", metrics_state_names[st],
                    by_state[st]);
    mbuf_family(b, "conduitd_worker_restarts_total", "counter",
                "Workers replaced after they died, by cause.");
    for (int i = 0; i < SB_RESTART__COUNT; i++)
        mbuf_printf(b, "conduitd_worker_restarts_total{reason=\"%s\"} %llu\n",
                    metrics_reason_names[i], (unsigned long long)sb->restarts[i]);
    mbuf_family(b, "conduitd_readiness_checks_total", "counter",
                "Answers of the admin /readyz endpoint, by result.");
    mbuf_printf(b, "conduitd_readiness_checks_total{result=\"ok\"} %llu\n",
                (unsigned long long)sb->readiness_checks[0]);
    mbuf_printf(b, "conduitd_readiness_checks_total{result=\"fail\"} %llu\n",
                (unsigned long long)sb->readiness_checks[1]);
    mbuf_family(b, "conduitd_ready", "gauge", "1 if /readyz would answer 200.");
    mbuf_printf(b, "conduitd_ready %d\n", x->ready ? 1 : 0);
    mbuf_family(b, "conduitd_crash_loop", "gauge",
                "Worker slots backing off after quick successive deaths.");
    mbuf_printf(b, "conduitd_crash_loop %d\n", by_state[SB_BACKOFF]);
    mbuf_family(b, "conduitd_generation", "gauge", "Current worker generation.");
    mbuf_printf(b, "conduitd_generation %u\n", x->generation);
    mbuf_family(b, "conduitd_reloads_total", "counter",
                "Configuration reloads (HUP), by result; a failed one left the old generation "
                "serving.");
    mbuf_printf(b, "conduitd_reloads_total{result=\"ok\"} %llu\n",
                (unsigned long long)x->reloads_ok);
    mbuf_printf(b, "conduitd_reloads_total{result=\"failed\"} %llu\n",
                (unsigned long long)x->reloads_failed);
    mbuf_family(b, "conduitd_upgrades_total", "counter",
                "Binary upgrades (USR2) started by this process, by result.");
    mbuf_printf(b, "conduitd_upgrades_total{result=\"ok\"} %llu\n",
                (unsigned long long)x->upgrades_ok);
    mbuf_printf(b, "conduitd_upgrades_total{result=\"failed\"} %llu\n",
                (unsigned long long)x->upgrades_failed);
    if (x->listen_queue_depth >= 0) {
        mbuf_family(b, "conduitd_listen_queue_depth", "gauge",
                    "Connections waiting in the API socket's accept queue.");
        mbuf_printf(b, "conduitd_listen_queue_depth %lld\n", (long long)x->listen_queue_depth);
    }
    mbuf_family(b, "conduitd_build_info", "gauge", "Build identity; always 1.");
    mbuf_printf(b, "conduitd_build_info{version=\"%s\",revision=\"%s\"} 1\n",
                metrics_escape_label(v, sizeof(v), x->version ? x->version : ""),
                metrics_escape_label(r, sizeof(r), x->revision ? x->revision : ""));
}

/* The Conduit API's dependency families. */
static void metrics_dependencies(struct mbuf *b, const struct scoreboard *sb,
                                 const struct sb_counters *c)
{
    int64_t busy = 0, idle = 0;

    mbuf_family(b, "conduitd_dependency_up", "gauge",
                "1 when every live worker that uses the dependency reports it up.");
    for (int d = 0; d < SB_DEP__COUNT; d++) {
        int seen = 0, up = 1;
        for (uint32_t s = 0; s < sb->nslots; s++) {
            if (!metrics_slot_live(&sb->slots[s]))
                continue;
            int v = __atomic_load_n(&sb->slots[s].dep_up[d], __ATOMIC_RELAXED);
            if (v < 0)
                continue;
            seen = 1;
            if (v == 0)
                up = 0;
        }
        if (seen)
            mbuf_printf(b, "conduitd_dependency_up{dependency=\"%s\"} %d\n", metrics_dep_names[d],
                        up);
    }
    mbuf_family(b, "conduitd_db_query_duration_seconds", "histogram", "PostgreSQL query latency.");
    metrics_histogram_full(b, "conduitd_db_query_duration_seconds", "", c->db_query_bucket,
                           c->db_query_count, c->db_query_sum_us);
    mbuf_family(b, "conduitd_db_queue_wait_seconds", "histogram",
                "Time queries waited for a PostgreSQL connection (0 when one was free).");
    metrics_histogram_full(b, "conduitd_db_queue_wait_seconds", "", c->db_wait_bucket,
                           c->db_wait_count, c->db_wait_sum_us);
    mbuf_family(b, "conduitd_db_errors_total", "counter",
                "Failed PostgreSQL queries and connection attempts.");
    mbuf_printf(b, "conduitd_db_errors_total %llu\n", (unsigned long long)c->db_errors);
    for (uint32_t s = 0; s < sb->nslots; s++) {
        if (!metrics_slot_live(&sb->slots[s]))
            continue;
        busy += __atomic_load_n(&sb->slots[s].db_pool_busy, __ATOMIC_RELAXED);
        idle += __atomic_load_n(&sb->slots[s].db_pool_idle, __ATOMIC_RELAXED);
    }
    mbuf_family(b, "conduitd_db_pool_connections", "gauge",
                "PostgreSQL pool connections across workers, by state.");
    mbuf_printf(b, "conduitd_db_pool_connections{state=\"busy\"} %lld\n", (long long)busy);
    mbuf_printf(b, "conduitd_db_pool_connections{state=\"idle\"} %lld\n", (long long)idle);
    mbuf_family(b, "conduitd_redis_errors_total", "counter",
                "Failed Redis commands and connection attempts.");
    mbuf_printf(b, "conduitd_redis_errors_total %llu\n", (unsigned long long)c->redis_errors);
    mbuf_family(b, "conduitd_cache_requests_total", "counter", "Redis cache lookups, by result.");
    mbuf_printf(b, "conduitd_cache_requests_total{result=\"hit\"} %llu\n",
                (unsigned long long)c->cache_hits);
    mbuf_printf(b, "conduitd_cache_requests_total{result=\"miss\"} %llu\n",
                (unsigned long long)c->cache_misses);
    mbuf_family(b, "conduitd_cache_distrust_episodes_total", "counter",
                "Times the workers stopped trusting the Redis cache (a failed invalidation, a "
                "lost connection, refused writes).");
    mbuf_printf(b, "conduitd_cache_distrust_episodes_total %llu\n",
                (unsigned long long)c->cache_distrust_episodes);
    mbuf_family(b, "conduitd_cache_trusted", "gauge",
                "1 while the Redis cache is trusted (read and filled), 0 while it is not.");
    mbuf_printf(b, "conduitd_cache_trusted %d\n",
                __atomic_load_n(&sb->cache_trust.trusted, __ATOMIC_ACQUIRE) >
                        __atomic_load_n(&sb->cache_trust.distrusted, __ATOMIC_ACQUIRE)
                    ? 1
                    : 0);
    mbuf_family(b, "conduitd_rate_limited_total", "counter", "Requests answered 429.");
    mbuf_printf(b, "conduitd_rate_limited_total %llu\n", (unsigned long long)c->rate_limited);
    mbuf_family(b, "conduitd_rate_limit_fail_open_total", "counter",
                "Rate-limit checks let through unchecked because Redis was down or failed.");
    mbuf_printf(b, "conduitd_rate_limit_fail_open_total %llu\n",
                (unsigned long long)c->rate_limit_fail_open);
    mbuf_family(b, "conduitd_requests_shed_total", "counter",
                "Requests refused by admission control (503 + Retry-After), by reason.");
    for (int r = 0; r < SB_SHED__COUNT; r++)
        mbuf_printf(b, "conduitd_requests_shed_total{reason=\"%s\"} %llu\n", metrics_shed_names[r],
                    (unsigned long long)c->shed[r]);
}

char *metrics_render(const struct scoreboard *sb, const struct metrics_extra *x, size_t *len)
{
    struct mbuf b = {NULL, 0, 16384, 0};
    struct sb_counters *c = malloc(sizeof(*c));

    b.p = malloc(b.cap);
    if (c == NULL || b.p == NULL) {
        free(c);
        free(b.p);
        return NULL;
    }
    sb_snapshot(sb, c);
    metrics_requests(&b, sb, c);
    metrics_workers(&b, sb, x);
    metrics_dependencies(&b, sb, c);
    mbuf_family(&b, "process_resident_memory_bytes", "gauge",
                "Resident memory of the supervisor and its live workers, summed.");
    mbuf_printf(&b, "process_resident_memory_bytes %lld\n", (long long)x->rss_bytes);
    mbuf_family(&b, "process_cpu_seconds_total", "counter",
                "CPU seconds of the supervisor and all its workers, past and present.");
    mbuf_printf(&b, "process_cpu_seconds_total %.6f\n", x->cpu_seconds);
    mbuf_family(&b, "process_start_time_seconds", "gauge",
                "Start time of the supervisor, seconds since the epoch.");
    mbuf_printf(&b, "process_start_time_seconds %.3f\n", x->start_time_seconds);
    free(c);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
