/*
 * suite_main.h: the main() every Check program shares: run a suite with
 * CK_NORMAL output and turn its failure count into the process exit status.
 * suite_main_run() also builds the suite (one test case holding the given
 * tests). Included by test/check_*.c only (static inline functions).
 */
#ifndef CONDUIT_SUITE_MAIN_H
#define CONDUIT_SUITE_MAIN_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

/* Run suite s (takes ownership). Returns EXIT_SUCCESS or EXIT_FAILURE. */
static inline int suite_main_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Run tests[0..n) as suite name, case "core"; timeout_s > 0 replaces
 * Check's default per-test timeout. Returns EXIT_SUCCESS or EXIT_FAILURE. */
static inline int suite_main_run(const char *name, const TTest *const *tests, size_t n,
                                 double timeout_s)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("core");

    if (timeout_s > 0)
        tcase_set_timeout(tc, timeout_s);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return suite_main_run_suite(s);
}

#endif
