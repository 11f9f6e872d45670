/*
 * check_scoreboard.c: unit tests of the scoreboard (common/scoreboard.c):
 * status code and bucket indexing, recording, snapshots summing retired and
 * live slots, folding a dead worker's slot (counters never go down, gauges
 * drop to zero), route labels from the router, and a real second process
 * writing its slot while this one reads.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "router.h"
#include "scoreboard.h"
#include "suite_main.h"

/* Total of http requests in a counters block. */
static uint64_t total_requests(const struct sb_counters *c)
{
    uint64_t n = 0;

    for (int r = 0; r < SB_ROUTES; r++)
        for (int m = 0; m < HTTP_M__COUNT; m++)
            for (int k = 0; k < SB_CODES; k++)
                n += c->requests[r][m][k];
    return n;
}

START_TEST(test_code_index)
{
    for (int i = 0; i < SB_CODES; i++)
        ck_assert_int_eq(sb_code_index(sb_code_values[i]), i);
    /* Unlisted codes: nearest listed one of the same hundred. */
    ck_assert_int_eq(sb_code_values[sb_code_index(202)], 201);
    ck_assert_int_eq(sb_code_values[sb_code_index(206)], 204);
    ck_assert_int_eq(sb_code_values[sb_code_index(302)], 304);
    ck_assert_int_eq(sb_code_values[sb_code_index(418)], 415);
    ck_assert_int_eq(sb_code_values[sb_code_index(599)], 505);
    /* Out of range counts as 500. */
    ck_assert_int_eq(sb_code_values[sb_code_index(100)], 500);
    ck_assert_int_eq(sb_code_values[sb_code_index(-1)], 500);
    ck_assert_int_eq(sb_code_values[sb_code_index(700)], 500);
}
END_TEST

START_TEST(test_bucket_index)
{
    ck_assert_int_eq(sb_bucket_index(0), 0);
    ck_assert_int_eq(sb_bucket_index(sb_bucket_bounds[0]), 0); /* le is inclusive */
    ck_assert_int_eq(sb_bucket_index(sb_bucket_bounds[0] * 1.01), 1);
    ck_assert_int_eq(sb_bucket_index(0.3), 9);
    ck_assert_int_eq(sb_bucket_index(sb_bucket_bounds[SB_BUCKETS - 1]), SB_BUCKETS - 1);
    ck_assert_int_eq(sb_bucket_index(1000), SB_BUCKETS);
    for (int i = 1; i < SB_BUCKETS; i++)
        ck_assert(sb_bucket_bounds[i] > sb_bucket_bounds[i - 1]);
}
END_TEST

START_TEST(test_create_and_record)
{
    struct scoreboard *sb = sb_create(4);
    struct sb_counters *snap = malloc(sizeof(*snap));

    ck_assert_ptr_nonnull(sb);
    ck_assert_ptr_nonnull(snap);
    ck_assert_uint_eq(sb->nslots, 4);
    ck_assert_int_eq(sb->slots[3].state, SB_FREE);
    ck_assert_int_eq(sb->slots[3].dep_up[SB_DEP_POSTGRES], -1);
    ck_assert_ptr_null(sb_create(0));
    ck_assert_ptr_null(sb_create(SB_MAX_SLOTS + 1));

    sb_record_request(&sb->slots[0], 1, HTTP_M_GET, 200, 0.0001);
    sb_record_request(&sb->slots[0], 1, HTTP_M_GET, 200, 0.2);
    sb_record_request(&sb->slots[1], 2, HTTP_M_POST, 422, 20.0);   /* beyond the last bucket */
    sb_record_request(&sb->slots[1], 999, HTTP_M_GET, 404, 0.001); /* bad route: unmatched */
    ck_assert_uint_eq(sb->slots[0].c.requests[1][HTTP_M_GET][sb_code_index(200)], 2);
    ck_assert_uint_eq(sb->slots[0].c.duration_bucket[1][0], 1);
    ck_assert_uint_eq(sb->slots[0].c.duration_bucket[1][sb_bucket_index(0.2)], 1);
    ck_assert_uint_eq(sb->slots[0].c.duration_sum_us[1], 200100);
    ck_assert_uint_eq(sb->slots[1].c.duration_count[2], 1);
    ck_assert_uint_eq(sb->slots[1].c.requests[0][HTTP_M_GET][sb_code_index(404)], 1);
    ck_assert_uint_eq(sb->slots[0].requests_served, 2);

    sb_snapshot(sb, snap);
    ck_assert_uint_eq(total_requests(snap), 4);
    ck_assert_uint_eq(snap->duration_count[1], 2);

    sb_record_query(&sb->slots[2], 0.003, true);
    sb_inc(&sb->slots[2].c.cache_hits, 3);
    sb_add(&sb->slots[2].in_flight, 5);
    sb_add(&sb->slots[2].in_flight, -2);
    ck_assert_int_eq(sb->slots[2].in_flight, 3);
    sb_snapshot(sb, snap);
    ck_assert_uint_eq(snap->db_query_count, 1);
    ck_assert_uint_eq(snap->db_errors, 1);
    ck_assert_uint_eq(snap->cache_hits, 3);
    free(snap);
    sb_destroy(sb);
}
END_TEST

START_TEST(test_fold_keeps_counters)
{
    struct scoreboard *sb = sb_create(2);
    struct sb_counters *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
    struct sb_slot *s0;

    ck_assert_ptr_nonnull(sb);
    s0 = &sb->slots[0];
    s0->pid = 1234;
    s0->state = SB_READY;
    s0->in_flight = 2;
    s0->connections_open = 7;
    s0->rss_bytes = 1 << 20;
    s0->db_pool_busy = 1;
    s0->dep_up[SB_DEP_REDIS] = 1;
    s0->recycle = 1;
    for (int i = 0; i < 10; i++)
        sb_record_request(s0, 1, HTTP_M_GET, 200, 0.01);
    sb_inc(&s0->c.connections_accepted, 4);
    sb_record_request(&sb->slots[1], 1, HTTP_M_GET, 500, 0.01);

    sb_snapshot(sb, before);
    sb_fold_retired(sb, 0);
    sb_snapshot(sb, after);
    /* Counters: the same after folding, byte for byte. */
    ck_assert_int_eq(memcmp(before, after, sizeof(*before)), 0);
    ck_assert_uint_eq(total_requests(after), 11);
    ck_assert_uint_eq(sb->retired.connections_accepted, 4);
    ck_assert_uint_eq(sb->retired_requests_served, 10);
    /* The slot: gauges zero, counters zero, free, no dependency report. */
    ck_assert_int_eq(s0->state, SB_FREE);
    ck_assert_int_eq(s0->pid, 0);
    ck_assert_int_eq(s0->in_flight, 0);
    ck_assert_int_eq(s0->connections_open, 0);
    ck_assert_int_eq(s0->rss_bytes, 0);
    ck_assert_int_eq(s0->db_pool_busy, 0);
    ck_assert_int_eq(s0->dep_up[SB_DEP_REDIS], -1);
    ck_assert_uint_eq(s0->requests_served, 0);
    ck_assert_int_eq(s0->recycle, 0); /* a new worker starts with its own budget */
    ck_assert_uint_eq(total_requests(&s0->c), 0);

    /* A new worker in the slot counts on top of the retired total. */
    sb_record_request(s0, 1, HTTP_M_GET, 200, 0.01);
    sb_snapshot(sb, after);
    ck_assert_uint_eq(after->requests[1][HTTP_M_GET][sb_code_index(200)], 11);
    /* Folding twice (an empty slot) changes nothing. */
    sb_fold_retired(sb, 0);
    sb_fold_retired(sb, 0);
    sb_snapshot(sb, before);
    ck_assert_int_eq(memcmp(before, after, sizeof(*before)), 0);
    /* Out of range is ignored. */
    sb_fold_retired(sb, 99);
    free(before);
    free(after);
    sb_destroy(sb);
}
END_TEST

static void noop_handler(struct http_request *req, const struct route_params *p, void *ctx)
{
    (void)req;
    (void)p;
    (void)ctx;
}

START_TEST(test_routes_from_router)
{
    struct scoreboard *sb = sb_create(1);
    struct router *r = router_new();
    int a, b;

    ck_assert_ptr_nonnull(sb);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(sb->nroutes, 1);
    ck_assert_str_eq(sb->route_labels[0], "unmatched");
    a = router_add(r, HTTP_M_GET, "/healthz", noop_handler);
    b = router_add(r, HTTP_M_GET, "/api/articles/:slug", noop_handler);
    ck_assert_int_ge(a, 1);
    ck_assert_int_ge(b, 1);
    sb_set_routes(sb, r);
    ck_assert_int_eq(sb->nroutes, router_route_count(r));
    ck_assert_str_eq(sb->route_labels[a], "/healthz");
    ck_assert_str_eq(sb->route_labels[b], "/api/articles/:slug");
    ck_assert_str_eq(sb->route_labels[0], "unmatched");
    router_free(r);
    sb_destroy(sb);
}
END_TEST

/* A child process writes its slot while we read: what we read only grows,
 * and after it exits and we fold, nothing is lost. */
START_TEST(test_cross_process)
{
    struct scoreboard *sb = sb_create(2);
    struct sb_counters *snap = malloc(sizeof(*snap));
    const int n = 200000;
    uint64_t last = 0;
    int status;
    pid_t pid;

    ck_assert_ptr_nonnull(sb);
    ck_assert_ptr_nonnull(snap);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < n; i++)
            sb_record_request(&sb->slots[1], 1, HTTP_M_GET, 200, 0.001);
        _exit(0);
    }
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        sb_snapshot(sb, snap);
        uint64_t now = total_requests(snap);
        ck_assert_uint_ge(now, last);
        last = now;
        if (w == pid)
            break;
        ck_assert_int_eq(w, 0);
    }
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sb_fold_retired(sb, 1);
    sb_snapshot(sb, snap);
    ck_assert_uint_eq(total_requests(snap), (uint64_t)n);
    ck_assert_uint_eq(snap->duration_count[1], (uint64_t)n);
    free(snap);
    sb_destroy(sb);
}
END_TEST

static Suite *scoreboard_suite(void)
{
    Suite *s = suite_create("scoreboard");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_code_index);
    tcase_add_test(tc, test_bucket_index);
    tcase_add_test(tc, test_create_and_record);
    tcase_add_test(tc, test_fold_keeps_counters);
    tcase_add_test(tc, test_routes_from_router);
    tcase_add_test(tc, test_cross_process);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_main_run_suite(scoreboard_suite());
}
