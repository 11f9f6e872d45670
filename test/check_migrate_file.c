/*
 * check_migrate_file.c: unit tests of the migrator's text handling
 * (store/migrate_file.c): options from the leading comment block only,
 * bad option values refused, statements split at top-level semicolons but
 * not inside quotes, dollar quotes (DO blocks) or comments, and the index
 * name of CREATE INDEX CONCURRENTLY picked out.
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "migrate_file.h"
#include "suite_main.h"

START_TEST(test_options_from_leading_block)
{
    struct migrate_options o;
    const char *err = NULL;
    const char *sql = "-- 0007_x.sql: indexes\n"
                      "-- conduitd:no-transaction\n"
                      "--   conduitd:lock-timeout=10s  \n"
                      "\n"
                      "CREATE INDEX CONCURRENTLY i ON t (a);\n"
                      "-- conduitd:lock-timeout=1ms\n";

    ck_assert_int_eq(migrate_file_options(sql, &o, &err), 0);
    ck_assert(o.no_transaction);
    ck_assert_str_eq(o.lock_timeout, "10s");
    ck_assert_int_eq(
        migrate_file_options("CREATE TABLE t ();\n-- conduitd:no-transaction\n", &o, &err), 0);
    ck_assert(!o.no_transaction);
    ck_assert_str_eq(o.lock_timeout, "");
}
END_TEST

START_TEST(test_bad_options_refused)
{
    struct migrate_options o;
    const char *err = NULL;

    ck_assert_int_eq(migrate_file_options("-- conduitd:lock-timeout=5 s\n", &o, &err), -1);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(migrate_file_options("-- conduitd:lock-timeout='1s'; DROP\n", &o, &err), -1);
    ck_assert_int_eq(migrate_file_options("-- conduitd:lock-timeout=\n", &o, &err), -1);
    ck_assert_int_eq(migrate_file_options("-- conduitd:no-transactions\n", &o, &err), -1);
    ck_assert_int_eq(migrate_file_options("-- conduitd:lock-timeout=300ms\n", &o, &err), 0);
    ck_assert_str_eq(o.lock_timeout, "300ms");
}
END_TEST

START_TEST(test_split_statements)
{
    const char *sql = "-- header; not a statement\n"
                      "CREATE TABLE a (x text DEFAULT 'a;b');\n"
                      "DO $$\nBEGIN\n  PERFORM 1;\n  COMMIT;\nEND\n$$;\n"
                      "/* c; */ SELECT $tag$ ; $$ ; $tag$, \"we;ird\";\n"
                      "SELECT 'it''s;'\n"
                      "-- trailing; comment\n";
    const char *want[] = {
        "CREATE TABLE a (x text DEFAULT 'a;b')", "DO $$\nBEGIN\n  PERFORM 1;\n  COMMIT;\nEND\n$$",
        "SELECT $tag$ ; $$ ; $tag$, \"we;ird\"", "SELECT 'it''s;'\n-- trailing; comment\n"};
    size_t pos = 0, start, len, n = 0;

    while (migrate_file_next(sql, &pos, &start, &len)) {
        ck_assert_uint_lt(n, 4);
        ck_assert_uint_eq(len, strlen(want[n]));
        ck_assert(memcmp(sql + start, want[n], len) == 0);
        n++;
    }
    ck_assert_uint_eq(n, 4);
    pos = 0;
    ck_assert(!migrate_file_next("-- only a comment;\n  \n", &pos, &start, &len));
}
END_TEST

START_TEST(test_concurrent_index_name)
{
    char name[64];
    const char *a = "CREATE INDEX CONCURRENTLY IF NOT EXISTS Article_Tags_X ON t (a)";
    const char *b = "create unique index concurrently u_idx on t (a)";
    const char *c = "CREATE INDEX i ON t (a)";
    const char *d = "DROP INDEX CONCURRENTLY IF EXISTS i";

    ck_assert(migrate_file_concurrent_index(a, strlen(a), name, sizeof(name)));
    ck_assert_str_eq(name, "article_tags_x");
    ck_assert(migrate_file_concurrent_index(b, strlen(b), name, sizeof(name)));
    ck_assert_str_eq(name, "u_idx");
    ck_assert(!migrate_file_concurrent_index(c, strlen(c), name, sizeof(name)));
    ck_assert(!migrate_file_concurrent_index(d, strlen(d), name, sizeof(name)));
}
END_TEST

int main(void)
{
    const TTest *tests[] = {test_options_from_leading_block, test_bad_options_refused,
                            test_split_statements, test_concurrent_index_name};

    return suite_main_run("migrate_file", tests, sizeof(tests) / sizeof(tests[0]), 0);
}
