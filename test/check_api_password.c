/*
 * check_api_password.c: unit tests for store/password.c: argon2id hashing
 * and verifying on the thread pool, results delivered on the event loop,
 * every accepted job answered exactly once (also when the pool shuts down
 * with work queued), and the queue bound.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <event2/event.h>

#include "password.h"
#include "suite_main.h"

struct outcome {
    struct event_base *base;
    int calls;
    enum password_result result;
    char encoded[160];
    int stop_after;
};

/* Record a result; stop the loop after the expected number of calls. */
static void on_done(enum password_result result, const char *encoded, void *arg)
{
    struct outcome *o = arg;

    o->calls++;
    o->result = result;
    if (encoded != NULL)
        strncpy(o->encoded, encoded, sizeof(o->encoded) - 1);
    if (o->base != NULL && o->calls == o->stop_after)
        event_base_loopbreak(o->base);
}

/* Run the loop until the callbacks have happened (bounded by a timer). */
static void run_until_done(struct event_base *base)
{
    struct timeval tv = {20, 0};

    ck_assert_int_eq(event_base_loopexit(base, &tv), 0);
    ck_assert_int_ge(event_base_dispatch(base), 0);
}

START_TEST(test_hash_then_verify)
{
    struct event_base *base = event_base_new();
    char err[128];
    struct password_pool *p = password_pool_new(base, 2, err, sizeof(err));
    struct outcome h = {.base = base, .stop_after = 1};
    struct outcome ok = {.base = base, .stop_after = 1};
    struct outcome bad = {.base = base, .stop_after = 1};

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(password_hash(p, "correct horse", on_done, &h), 0);
    ck_assert_int_eq(h.calls, 0); /* never answered before the loop runs */
    run_until_done(base);
    ck_assert_int_eq(h.calls, 1);
    ck_assert_int_eq(h.result, PASSWORD_OK);
    ck_assert(strncmp(h.encoded, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    /* The stored form verifies with libargon2 directly, too. */
    ck_assert_int_eq(argon2id_verify(h.encoded, "correct horse", 13), ARGON2_OK);

    ck_assert_int_eq(password_verify(p, h.encoded, "correct horse", on_done, &ok), 0);
    run_until_done(base);
    ck_assert_int_eq(ok.calls, 1);
    ck_assert_int_eq(ok.result, PASSWORD_OK);

    ck_assert_int_eq(password_verify(p, h.encoded, "correct horsf", on_done, &bad), 0);
    run_until_done(base);
    ck_assert_int_eq(bad.calls, 1);
    ck_assert_int_eq(bad.result, PASSWORD_MISMATCH);

    password_pool_free(p);
    event_base_free(base);
}
END_TEST

START_TEST(test_two_hashes_differ)
{
    struct event_base *base = event_base_new();
    char err[128];
    struct password_pool *p = password_pool_new(base, 1, err, sizeof(err));
    struct outcome a = {.base = base, .stop_after = 1}, b = {.base = base, .stop_after = 1};

    ck_assert_int_eq(password_hash(p, "same", on_done, &a), 0);
    run_until_done(base);
    ck_assert_int_eq(password_hash(p, "same", on_done, &b), 0);
    run_until_done(base);
    ck_assert_int_eq(a.result, PASSWORD_OK);
    ck_assert_int_eq(b.result, PASSWORD_OK);
    ck_assert_str_ne(a.encoded, b.encoded); /* random salt */
    password_pool_free(p);
    event_base_free(base);
}
END_TEST

START_TEST(test_dummy_and_garbage)
{
    struct event_base *base = event_base_new();
    char err[128];
    struct password_pool *p = password_pool_new(base, 1, err, sizeof(err));
    struct outcome d = {.base = base, .stop_after = 1}, g = {.base = base, .stop_after = 1};

    ck_assert_int_eq(password_verify(p, password_dummy_hash(), "password123", on_done, &d), 0);
    run_until_done(base);
    ck_assert_int_eq(d.result, PASSWORD_MISMATCH);
    ck_assert_int_eq(password_verify(p, "not a hash", "password123", on_done, &g), 0);
    run_until_done(base);
    ck_assert_int_eq(g.result, PASSWORD_ERROR);
    password_pool_free(p);
    event_base_free(base);
}
END_TEST

START_TEST(test_bound_and_shutdown)
{
    struct event_base *base = event_base_new();
    char err[128];
    struct password_pool *p = password_pool_new(base, 1, err, sizeof(err));
    struct outcome o = {.base = NULL};
    int accepted = 0, refused = 0;

    for (int i = 0; i < PASSWORD_MAX_PENDING + 20; i++) {
        if (password_hash(p, "x", on_done, &o) == 0)
            accepted++;
        else
            refused++;
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_le(accepted, PASSWORD_MAX_PENDING + 1);
    /* Shutting down answers every accepted job exactly once. */
    password_pool_free(p);
    ck_assert_int_eq(o.calls, accepted);
    event_base_free(base);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_hash_then_verify,
        test_two_hashes_differ,
        test_dummy_and_garbage,
        test_bound_and_shutdown,
    };

    return suite_main_run("password", tests, sizeof(tests) / sizeof(tests[0]), 60);
}
