/*
 * check_metrics.c: unit tests of the Prometheus rendering (common/metrics.c):
 * HELP and TYPE once per family before its samples, no duplicate series,
 * only non-zero request series, cumulative histogram buckets ending with
 * +Inf equal to _count, escaped label values, fixed label sets always
 * present, counters unchanged by folding, and `promtool check metrics`
 * accepting the output when promtool is installed.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "scoreboard.h"
#include "suite_main.h"

static struct scoreboard *sb;
static struct metrics_extra extra;

static void setup(void)
{
    sb = sb_create(4);
    ck_assert_ptr_nonnull(sb);
    sb->nroutes = 4;
    strcpy(sb->route_labels[1], "/healthz");
    strcpy(sb->route_labels[2], "/api/articles/:slug");
    strcpy(sb->route_labels[3], "/odd\"route\\with\nnewline");
    memset(&extra, 0, sizeof(extra));
    extra.version = "1.2.3\"beta";
    extra.revision = "abc123";
    extra.generation = 3;
    extra.reloads_ok = 2;
    extra.reloads_failed = 1;
    extra.upgrades_failed = 4;
    extra.ready = 1;
    extra.listen_queue_depth = 5;
    extra.rss_bytes = 123456;
    extra.cpu_seconds = 1.5;
    extra.start_time_seconds = 1700000000.25;
}

static void teardown(void)
{
    sb_destroy(sb);
}

/* Render and return the text (caller frees). */
static char *render(void)
{
    size_t len = 0;
    char *t = metrics_render(sb, &extra, &len);

    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(strlen(t), len);
    ck_assert(len > 0 && t[len - 1] == '\n');
    return t;
}

/* The value of the sample line that starts with series (full name and
 * labels); -1 if absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

START_TEST(test_structure)
{
    char *text, *copy, *line, *save = NULL;
    char families[64][96];
    char series[512][256];
    int nfam = 0, nseries = 0;
    char current[96] = "";
    int have_help = 0;

    sb_record_request(&sb->slots[0], 1, HTTP_M_GET, 200, 0.001);
    sb_record_request(&sb->slots[1], 2, HTTP_M_PUT, 404, 0.3);
    text = render();
    copy = strdup(text);
    ck_assert_ptr_nonnull(copy);
    for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[96];
        if (strncmp(line, "# HELP ", 7) == 0) {
            ck_assert_int_eq(sscanf(line + 7, "%95s", name), 1);
            for (int i = 0; i < nfam; i++)
                ck_assert_msg(strcmp(families[i], name) != 0, "family %s twice", name);
            ck_assert_int_lt(nfam, 64);
            strcpy(families[nfam++], name);
            strcpy(current, name);
            have_help = 1;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char type[32];
            ck_assert_int_eq(sscanf(line + 7, "%95s %31s", name, type), 2);
            ck_assert_str_eq(name, current);
            ck_assert(have_help);
            ck_assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                      strcmp(type, "histogram") == 0);
            continue;
        }
        ck_assert_msg(line[0] != '#', "stray comment: %s", line);
        /* A sample belongs to the current family. */
        ck_assert_msg(strncmp(line, current, strlen(current)) == 0, "sample %s outside %s", line,
                      current);
        /* No series twice. */
        char *sp = strrchr(line, ' ');
        ck_assert_ptr_nonnull(sp);
        ck_assert_int_lt(sp - line, 255);
        for (int i = 0; i < nseries; i++)
            ck_assert_msg(strncmp(series[i], line, (size_t)(sp - line)) != 0 ||
                              series[i][sp - line] != '\0',
                          "duplicate series %s", line);
        ck_assert_int_lt(nseries, 512);
        memcpy(series[nseries], line, (size_t)(sp - line));
        series[nseries++][sp - line] = '\0';
    }
    /* Every family of the contract is there. */
    const char *want[] = {"http_requests_total",
                          "http_request_duration_seconds",
                          "http_requests_in_flight",
                          "http_connections_open",
                          "http_connections_accepted_total",
                          "conduitd_accept_pauses_total",
                          "conduitd_refusal_pacing_waits_total",
                          "conduitd_workers",
                          "conduitd_worker_restarts_total",
                          "conduitd_readiness_checks_total",
                          "conduitd_ready",
                          "conduitd_crash_loop",
                          "conduitd_generation",
                          "conduitd_reloads_total",
                          "conduitd_upgrades_total",
                          "conduitd_listen_queue_depth",
                          "conduitd_build_info",
                          "conduitd_dependency_up",
                          "conduitd_db_query_duration_seconds",
                          "conduitd_db_errors_total",
                          "conduitd_db_pool_connections",
                          "conduitd_redis_errors_total",
                          "conduitd_cache_requests_total",
                          "conduitd_cache_distrust_episodes_total",
                          "conduitd_cache_trusted",
                          "conduitd_rate_limited_total",
                          "conduitd_rate_limit_fail_open_total",
                          "process_resident_memory_bytes",
                          "process_cpu_seconds_total",
                          "process_start_time_seconds"};
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        int found = 0;
        for (int i = 0; i < nfam; i++)
            found |= strcmp(families[i], want[w]) == 0;
        ck_assert_msg(found, "family %s missing", want[w]);
    }
    free(copy);
    free(text);
}
END_TEST

START_TEST(test_request_series)
{
    char *text;

    for (int i = 0; i < 3; i++)
        sb_record_request(&sb->slots[0], 1, HTTP_M_GET, 200, 0.0002);
    sb_record_request(&sb->slots[1], 1, HTTP_M_HEAD, 200, 0.0002);
    sb_record_request(&sb->slots[1], 0, HTTP_M_OTHER, 501, 0.0002);
    text = render();
    ck_assert_int_eq(
        sample(text, "http_requests_total{method=\"GET\",route=\"/healthz\",code=\"200\"}"), 3);
    ck_assert_int_eq(
        sample(text, "http_requests_total{method=\"HEAD\",route=\"/healthz\",code=\"200\"}"), 1);
    ck_assert_int_eq(
        sample(text, "http_requests_total{method=\"OTHER\",route=\"unmatched\",code=\"501\"}"), 1);
    /* Zero series are not emitted. */
    ck_assert_ptr_null(strstr(text, "code=\"404\""));
    ck_assert_ptr_null(strstr(text, "method=\"POST\""));
    ck_assert_ptr_null(strstr(text, "route=\"/api/articles/:slug\""));
    free(text);
}
END_TEST

START_TEST(test_histogram_cumulative)
{
    double d[] = {0.0001, 0.0007, 0.003, 0.003, 0.2, 0.2, 0.2, 4, 60};
    char *text, series[256];
    double prev = 0;

    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        sb_record_request(&sb->slots[i % 2], 2, HTTP_M_GET, 200, d[i]);
    text = render();
    for (int i = 0; i < SB_BUCKETS; i++) {
        snprintf(series, sizeof(series),
                 "http_request_duration_seconds_bucket{route=\"/api/articles/:slug\",le=\"%g\"}",
                 sb_bucket_bounds[i]);
        double v = sample(text, series);
        ck_assert_msg(v >= prev, "bucket %s = %g below %g", series, v, prev);
        prev = v;
    }
    ck_assert_int_eq(prev, 8); /* all but the 60 s one */
    ck_assert_int_eq(
        sample(text,
               "http_request_duration_seconds_bucket{route=\"/api/articles/:slug\",le=\"0.001\"}"),
        2);
    ck_assert_int_eq(
        sample(text,
               "http_request_duration_seconds_bucket{route=\"/api/articles/:slug\",le=\"+Inf\"}"),
        9);
    ck_assert_int_eq(
        sample(text, "http_request_duration_seconds_count{route=\"/api/articles/:slug\"}"), 9);
    double sum = sample(text, "http_request_duration_seconds_sum{route=\"/api/articles/:slug\"}");
    ck_assert(sum > 64.6 && sum < 64.7);
    /* Routes without requests have no histogram. */
    ck_assert_ptr_null(strstr(text, "http_request_duration_seconds_count{route=\"/healthz\"}"));
    /* The unlabeled database histogram is always there. */
    ck_assert_int_eq(sample(text, "conduitd_db_query_duration_seconds_bucket{le=\"+Inf\"}"), 0);
    ck_assert_int_eq(sample(text, "conduitd_db_query_duration_seconds_count"), 0);
    free(text);
}
END_TEST

START_TEST(test_escaping)
{
    char buf[64], *text;

    ck_assert_str_eq(metrics_escape_label(buf, sizeof(buf), "a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    /* Truncation never splits an escape. */
    ck_assert_str_eq(metrics_escape_label(buf, 4, "ab\"c"), "ab");
    sb_record_request(&sb->slots[0], 3, HTTP_M_GET, 200, 0.001);
    text = render();
    ck_assert_ptr_nonnull(strstr(text, "http_requests_total{method=\"GET\",route=\"/"
                                       "odd\\\"route\\\\with\\nnewline\",code=\"200\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "conduitd_build_info{version=\"1.2.3\\\"beta\",revision=\"abc123\"} 1\n"));
    free(text);
}
END_TEST

START_TEST(test_process_and_workers)
{
    char *text;

    sb->slots[0].state = SB_READY;
    sb->slots[0].pid = 10;
    sb->slots[0].in_flight = 2;
    sb->slots[0].connections_open = 5;
    sb->slots[1].state = SB_STARTING;
    sb->slots[2].state = SB_BACKOFF;
    sb->slots[3].state = SB_FREE;
    sb->slots[3].in_flight = 99; /* a free slot's gauges never count */
    sb->restarts[SB_RESTART_SIGNAL] = 4;
    sb->readiness_checks[0] = 7;
    sb->readiness_checks[1] = 2;
    text = render();
    ck_assert_int_eq(sample(text, "conduitd_workers{state=\"ready\"}"), 1);
    ck_assert_int_eq(sample(text, "conduitd_workers{state=\"starting\"}"), 1);
    ck_assert_int_eq(sample(text, "conduitd_workers{state=\"draining\"}"), 0);
    ck_assert_int_eq(sample(text, "conduitd_workers{state=\"backoff\"}"), 1);
    ck_assert_int_eq(sample(text, "conduitd_crash_loop"), 1);
    ck_assert_int_eq(sample(text, "http_requests_in_flight"), 2);
    ck_assert_int_eq(sample(text, "http_connections_open"), 5);
    ck_assert_int_eq(sample(text, "conduitd_worker_restarts_total{reason=\"signal\"}"), 4);
    ck_assert_int_eq(sample(text, "conduitd_worker_restarts_total{reason=\"crash\"}"), 0);
    ck_assert_int_eq(sample(text, "conduitd_worker_restarts_total{reason=\"hung\"}"), 0);
    ck_assert_int_eq(sample(text, "conduitd_readiness_checks_total{result=\"ok\"}"), 7);
    ck_assert_int_eq(sample(text, "conduitd_readiness_checks_total{result=\"fail\"}"), 2);
    ck_assert_int_eq(sample(text, "conduitd_ready"), 1);
    ck_assert_int_eq(sample(text, "conduitd_generation"), 3);
    ck_assert_int_eq(sample(text, "conduitd_reloads_total{result=\"ok\"}"), 2);
    ck_assert_int_eq(sample(text, "conduitd_reloads_total{result=\"failed\"}"), 1);
    ck_assert_int_eq(sample(text, "conduitd_upgrades_total{result=\"ok\"}"), 0);
    ck_assert_int_eq(sample(text, "conduitd_upgrades_total{result=\"failed\"}"), 4);
    ck_assert_int_eq(sample(text, "conduitd_listen_queue_depth"), 5);
    ck_assert_int_eq(sample(text, "process_resident_memory_bytes"), 123456);
    ck_assert(sample(text, "process_cpu_seconds_total") == 1.5);
    ck_assert(sample(text, "process_start_time_seconds") == 1700000000.25);
    /* No worker reports a dependency: no dependency_up series. */
    ck_assert_ptr_null(strstr(text, "conduitd_dependency_up{"));
    free(text);

    /* Dependencies: 1 only while every live worker using it says up. */
    sb->slots[0].dep_up[SB_DEP_POSTGRES] = 1;
    sb->slots[1].dep_up[SB_DEP_POSTGRES] = 1;
    sb->slots[3].dep_up[SB_DEP_POSTGRES] = 0; /* free slot: ignored */
    text = render();
    ck_assert_int_eq(sample(text, "conduitd_dependency_up{dependency=\"postgres\"}"), 1);
    ck_assert_ptr_null(strstr(text, "dependency=\"redis\""));
    free(text);
    sb->slots[1].dep_up[SB_DEP_POSTGRES] = 0;
    text = render();
    ck_assert_int_eq(sample(text, "conduitd_dependency_up{dependency=\"postgres\"}"), 0);
    free(text);

    /* A negative queue depth means unknown: not emitted. */
    extra.listen_queue_depth = -1;
    text = render();
    ck_assert_ptr_null(strstr(text, "conduitd_listen_queue_depth"));
    free(text);
}
END_TEST

START_TEST(test_fold_keeps_rendered_counters)
{
    char *before, *after;

    sb->slots[0].state = SB_READY;
    for (int i = 0; i < 5; i++)
        sb_record_request(&sb->slots[0], 1, HTTP_M_GET, 200, 0.002);
    sb_inc(&sb->slots[0].c.connections_accepted, 2);
    before = render();
    sb_fold_retired(sb, 0);
    after = render();
    ck_assert_int_eq(
        sample(after, "http_requests_total{method=\"GET\",route=\"/healthz\",code=\"200\"}"), 5);
    ck_assert_int_eq(sample(after, "http_request_duration_seconds_count{route=\"/healthz\"}"), 5);
    ck_assert_int_eq(sample(after, "http_connections_accepted_total"), 2);
    /* Only the worker gauges changed. */
    ck_assert_int_eq(sample(before, "conduitd_workers{state=\"ready\"}"), 1);
    ck_assert_int_eq(sample(after, "conduitd_workers{state=\"ready\"}"), 0);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_cache_trust)
{
    char *text;

    /* Distrusted until the first epoch bump (store/cache.h). */
    text = render();
    ck_assert_ptr_nonnull(strstr(text, "\nconduitd_cache_trusted 0\n"));
    free(text);
    sb->cache_trust.trusted = 1;
    sb_inc(&sb->slots[0].c.cache_distrust_episodes, 2);
    sb_inc(&sb->slots[1].c.cache_distrust_episodes, 1);
    text = render();
    ck_assert_ptr_nonnull(strstr(text, "\nconduitd_cache_trusted 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nconduitd_cache_distrust_episodes_total 3\n"));
    free(text);
    sb->cache_trust.distrusted = 1;
    text = render();
    ck_assert_ptr_nonnull(strstr(text, "\nconduitd_cache_trusted 0\n"));
    free(text);
}
END_TEST

START_TEST(test_promtool)
{
    char path[] = "/tmp/check_metrics_XXXXXX";
    char cmd[256];
    char *text;
    FILE *f;
    int fd, rc;

    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "check_metrics: promtool not installed, promtool test skipped\n");
        return;
    }
    for (int r = 0; r < 4; r++)
        sb_record_request(&sb->slots[r], r, (enum http_method_id)r, 200 + r, 0.01 * r);
    sb_record_query(&sb->slots[0], 0.002, false);
    sb->slots[0].state = SB_READY;
    sb->slots[0].dep_up[SB_DEP_REDIS] = 1;
    text = render();
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
    rc = system(cmd);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "promtool rejected:\n%s", text);
    free(text);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_structure);
    tcase_add_test(tc, test_request_series);
    tcase_add_test(tc, test_histogram_cumulative);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_process_and_workers);
    tcase_add_test(tc, test_fold_keeps_rendered_counters);
    tcase_add_test(tc, test_cache_trust);
    tcase_add_test(tc, test_promtool);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_main_run_suite(metrics_suite());
}
