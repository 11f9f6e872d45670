/*
 * suite_main.h: the main() the API's Check programs share: one suite of one
 * test case holding the given tests, run with CK_NORMAL output, and the
 * process exit status from the failure count. Included by test/check_api_*.c
 * and test/check_jwt.c only (it defines a static inline function).
 */
#ifndef CONDUIT_SUITE_MAIN_H
#define CONDUIT_SUITE_MAIN_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

/* Run tests[0..n) as suite name, case "core"; timeout_s > 0 replaces
 * Check's default per-test timeout. Returns EXIT_SUCCESS or EXIT_FAILURE. */
static inline int suite_main_run(const char *name, const TTest *const *tests, size_t n,
                                 double timeout_s)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    if (timeout_s > 0)
        tcase_set_timeout(tc, timeout_s);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
