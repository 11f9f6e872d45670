/*
 * check_backoff.c: unit tests of the respawn back-off (supervisor/backoff.c):
 * the first quick death is replaced at once, later ones wait exponentially
 * longer up to the cap, a stable run resets the history, and exit status 2
 * (configuration) waits the cap at once.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "backoff.h"
#include "suite_main.h"

START_TEST(test_first_death_immediate)
{
    struct backoff b;

    backoff_init(&b, 100, 30000, 10000);
    ck_assert_int_eq(backoff_next(&b, 50, 0), 0);
    ck_assert(!backoff_looping(&b));
}
END_TEST

START_TEST(test_exponential_and_capped)
{
    struct backoff b;
    int64_t expect[] = {0, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};

    backoff_init(&b, 100, 30000, 10000);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        ck_assert_int_eq(backoff_next(&b, 10, 0), expect[i]);
    ck_assert(backoff_looping(&b));
    /* Many more quick deaths stay at the cap (no overflow). */
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(backoff_next(&b, 10, 0), 30000);
}
END_TEST

START_TEST(test_reset_after_stable_run)
{
    struct backoff b;

    backoff_init(&b, 100, 30000, 10000);
    ck_assert_int_eq(backoff_next(&b, 10, 0), 0);
    ck_assert_int_eq(backoff_next(&b, 10, 0), 100);
    ck_assert_int_eq(backoff_next(&b, 10, 0), 200);
    /* Ran just under the stable time: still a quick death. */
    ck_assert_int_eq(backoff_next(&b, 9999, 0), 400);
    /* Ran stably: replaced at once, history forgotten. */
    ck_assert_int_eq(backoff_next(&b, 10000, 0), 0);
    ck_assert(!backoff_looping(&b));
    ck_assert_int_eq(backoff_next(&b, 10, 0), 100);
}
END_TEST

START_TEST(test_config_exit_waits_cap)
{
    struct backoff b;

    backoff_init(&b, 100, 30000, 10000);
    ck_assert_int_eq(backoff_next(&b, 5, 1), 30000);
    ck_assert_int_eq(backoff_next(&b, 5, 1), 30000);
    /* Even after a long run, a configuration failure is not retried fast. */
    ck_assert_int_eq(backoff_next(&b, 60000, 1), 30000);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_first_death_immediate);
    tcase_add_test(tc, test_exponential_and_capped);
    tcase_add_test(tc, test_reset_after_stable_run);
    tcase_add_test(tc, test_config_exit_waits_cap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_main_run_suite(backoff_suite());
}
