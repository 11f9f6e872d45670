/*
 * check_api_text.c: unit tests for api/api_text.c: slugs, timestamps,
 * query parameters, numbers and the Authorization header.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_text.h"
#include "jbuf.h"
#include "suite_main.h"

START_TEST(test_slugify)
{
    char out[API_SLUG_MAX];
    const struct {
        const char *in, *want;
    } cases[] = {
        {"How to train your dragon", "how-to-train-your-dragon"},
        {"  Hello,   World!! ", "hello-world"},
        {"Test Article 1700000000000abcd", "test-article-1700000000000abcd"},
        {"C'est la vie: ça va?", "c-est-la-vie-a-va"},
        {"---", "article"},
        {"", "article"},
        {"日本語", "article"},
        {"'; DROP TABLE articles; --", "drop-table-articles"},
        {"A", "a"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = api_text_slugify(cases[i].in, out);
        ck_assert_str_eq(out, cases[i].want);
        ck_assert_uint_eq(n, strlen(cases[i].want));
    }
}
END_TEST

START_TEST(test_slugify_long)
{
    char title[1000], out[API_SLUG_MAX];
    size_t n;

    for (int i = 0; i < 999; i++)
        title[i] = (i % 7 == 6) ? ' ' : 'x';
    title[999] = '\0';
    n = api_text_slugify(title, out);
    ck_assert_uint_le(n, API_SLUG_BASE_MAX);
    ck_assert_uint_eq(n, strlen(out));
    ck_assert(out[n - 1] != '-');
    ck_assert(out[0] != '-');
}
END_TEST

START_TEST(test_slug_suffix)
{
    char a[API_SLUG_MAX], b[API_SLUG_MAX];

    api_text_slugify("Dup Title", a);
    strcpy(b, a);
    ck_assert_int_eq(api_text_slug_suffix(a), 0);
    ck_assert_int_eq(api_text_slug_suffix(b), 0);
    ck_assert_uint_eq(strlen(a), strlen("dup-title") + 9);
    ck_assert(strncmp(a, "dup-title-", 10) == 0);
    for (const char *p = a + 10; *p; p++)
        ck_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'));
    ck_assert_str_ne(a, b); /* 36^8 possibilities: a collision here means no randomness */
    /* Longest base still fits. */
    {
        char t[300], s[API_SLUG_MAX];
        memset(t, 'q', 299);
        t[299] = '\0';
        api_text_slugify(t, s);
        ck_assert_int_eq(api_text_slug_suffix(s), 0);
        ck_assert_uint_eq(strlen(s), API_SLUG_BASE_MAX + 9);
    }
}
END_TEST

START_TEST(test_format_time)
{
    char out[API_TIME_LEN];

    api_text_format_time(0, out);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    api_text_format_time(1795961291353LL, out);
    ck_assert_str_eq(out, "2026-11-29T14:08:11.353Z");
    api_text_format_time(951782400000LL, out); /* leap day */
    ck_assert_str_eq(out, "2000-02-29T00:00:00.000Z");
    api_text_format_time(951782400007LL, out);
    ck_assert_str_eq(out, "2000-02-29T00:00:00.007Z");
    api_text_format_time(-1, out);
    ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
    ck_assert_uint_eq(strlen(out), API_TIME_LEN - 1);
}
END_TEST

START_TEST(test_pg_time)
{
    char out[API_TIME_LEN];

    ck_assert_int_eq(api_text_pg_time("2026-11-29 14:08:11.353+00", out), 0);
    ck_assert_str_eq(out, "2026-11-29T14:08:11.353Z");
    ck_assert_int_eq(api_text_pg_time("2026-11-29 14:08:11.35+00", out), 0);
    ck_assert_str_eq(out, "2026-11-29T14:08:11.350Z");
    ck_assert_int_eq(api_text_pg_time("2026-11-29 14:08:11.3+00", out), 0);
    ck_assert_str_eq(out, "2026-11-29T14:08:11.300Z");
    ck_assert_int_eq(api_text_pg_time("2026-11-29 14:08:11+00", out), 0);
    ck_assert_str_eq(out, "2026-11-29T14:08:11.000Z");
    ck_assert_int_eq(api_text_pg_time("2026-11-29 14:08:11.123456+00", out), 0);
    ck_assert_str_eq(out, "2026-11-29T14:08:11.123Z");
    ck_assert_int_eq(api_text_pg_time("2000-02-29 00:00:00+00:00", out), 0);
    ck_assert_str_eq(out, "2000-02-29T00:00:00.000Z");
    /* Anything else is refused and never half-written. */
    const char *bad[] = {
        "2026-11-29 14:08:11.353+01", "2026-11-29T14:08:11.353Z",     "",
        "2026-11-29 14:08:11.+00",    "Sun Nov 29 14:08:11 2026 UTC", "2026-11-29 14:08:11.353"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(api_text_pg_time(bad[i], out), -1);
        ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    }
}
END_TEST

/* Convert a PostgreSQL array literal; returns a static copy of the JSON. */
static const char *pg_array(const char *in, int *rc)
{
    static char copy[256];
    struct jbuf b;
    size_t len;
    char *s;

    jbuf_init(&b, 0);
    jbuf_puts(&b, "x");
    *rc = api_text_pg_array_json(in, &b);
    s = jbuf_take(&b, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert(s[0] == 'x');
    snprintf(copy, sizeof(copy), "%s", s + 1);
    free(s);
    return copy;
}

START_TEST(test_pg_array)
{
    int rc;

    ck_assert_str_eq(pg_array("{}", &rc), "[]");
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(pg_array("{a}", &rc), "[\"a\"]");
    ck_assert_str_eq(pg_array("{dragons,training}", &rc), "[\"dragons\",\"training\"]");
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(pg_array("{\"a b\",\"c,d\",\"\"}", &rc), "[\"a b\",\"c,d\",\"\"]");
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(pg_array("{\"q\\\"x\",\"b\\\\s\"}", &rc), "[\"q\\\"x\",\"b\\\\s\"]");
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(pg_array("{NULL,\"NULL\"}", &rc), "[null,\"NULL\"]");
    ck_assert_str_eq(pg_array("{\xe6\xa0\x87,x}", &rc), "[\"\xe6\xa0\x87\",\"x\"]");
    ck_assert_int_eq(rc, 0);
    /* malformed: "[]" and -1, nothing half-written */
    const char *bad[] = {"", "{", "a,b", "{a,b", "{\"a}", "{a,}", "{,a}", "{a}x", "{\"a\\"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_str_eq(pg_array(bad[i], &rc), "[]");
        ck_assert_int_eq(rc, -1);
    }
}
END_TEST

START_TEST(test_query_param)
{
    char out[64];

    ck_assert_int_eq(api_text_query_param("tag=dragons&limit=5", "tag", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "dragons");
    ck_assert_int_eq(api_text_query_param("tag=dragons&limit=5", "limit", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "5");
    ck_assert_int_eq(api_text_query_param("tag=dragons&limit=5", "offset", out, sizeof(out)), 0);
    ck_assert_int_eq(api_text_query_param("", "tag", out, sizeof(out)), 0);
    /* prefix of another name does not match */
    ck_assert_int_eq(api_text_query_param("tags=x", "tag", out, sizeof(out)), 0);
    ck_assert_int_eq(api_text_query_param("xtag=x&tag=y", "tag", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "y");
    /* first occurrence wins */
    ck_assert_int_eq(api_text_query_param("tag=a&tag=b", "tag", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "a");
    /* decoding */
    ck_assert_int_eq(
        api_text_query_param("author=j%C3%A9r%C3%B4me+x%2By", "author", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "j\xc3\xa9r\xc3\xb4me x+y");
    ck_assert_int_eq(api_text_query_param("tag=", "tag", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(api_text_query_param("tag", "tag", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "");
    /* malformed */
    ck_assert_int_eq(api_text_query_param("tag=%zz", "tag", out, sizeof(out)), -1);
    ck_assert_int_eq(api_text_query_param("tag=%4", "tag", out, sizeof(out)), -1);
    ck_assert_int_eq(api_text_query_param("tag=a%00b", "tag", out, sizeof(out)), -1);
    ck_assert_int_eq(api_text_query_param("tag=%FF", "tag", out, sizeof(out)), -1);
    ck_assert_int_eq(api_text_query_param("tag=%C0%AF", "tag", out, sizeof(out)), -1);
    /* too long for the buffer */
    ck_assert_int_eq(api_text_query_param("tag=abcdefgh", "tag", out, 8), -1);
    ck_assert_int_eq(api_text_query_param("tag=abcdefg", "tag", out, 8), 1);
}
END_TEST

START_TEST(test_parse_uint)
{
    int64_t v = -5;

    ck_assert_int_eq(api_text_parse_uint("0", 100, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(api_text_parse_uint("100", 100, &v), 0);
    ck_assert_int_eq(v, 100);
    ck_assert_int_eq(api_text_parse_uint("101", 100, &v), -1);
    ck_assert_int_eq(api_text_parse_uint("-1", 100, &v), -1);
    ck_assert_int_eq(api_text_parse_uint("+1", 100, &v), -1);
    ck_assert_int_eq(api_text_parse_uint(" 1", 100, &v), -1);
    ck_assert_int_eq(api_text_parse_uint("1 ", 100, &v), -1);
    ck_assert_int_eq(api_text_parse_uint("1e3", 10000, &v), -1);
    ck_assert_int_eq(api_text_parse_uint("", 100, &v), -1);
    ck_assert_int_eq(api_text_parse_uint(NULL, 100, &v), -1);
    ck_assert_int_eq(api_text_parse_uint("9223372036854775807", INT64_MAX, &v), 0);
    ck_assert_int_eq(v, INT64_MAX);
    ck_assert_int_eq(api_text_parse_uint("9223372036854775808", INT64_MAX, &v), -1);
    ck_assert_int_eq(api_text_parse_uint("99999999999999999999999", INT64_MAX, &v), -1);
}
END_TEST

START_TEST(test_auth_token)
{
    ck_assert_str_eq(api_text_auth_token("Token abc.def.ghi"), "abc.def.ghi");
    ck_assert_str_eq(api_text_auth_token("Bearer abc.def.ghi"), "abc.def.ghi");
    ck_assert_str_eq(api_text_auth_token("token abc"), "abc");
    ck_assert_str_eq(api_text_auth_token("BEARER  abc"), "abc");
    ck_assert_ptr_null(api_text_auth_token("abc.def.ghi"));
    ck_assert_ptr_null(api_text_auth_token("Basic dXNlcjpwYXNz"));
    ck_assert_ptr_null(api_text_auth_token("Token"));
    ck_assert_ptr_null(api_text_auth_token("Token "));
    ck_assert_ptr_null(api_text_auth_token("Token a b"));
    ck_assert_ptr_null(api_text_auth_token("Tokenabc"));
    ck_assert_ptr_null(api_text_auth_token(NULL));
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_slugify,  test_slugify_long, test_slug_suffix, test_format_time, test_pg_time,
        test_pg_array, test_query_param,  test_parse_uint,  test_auth_token,
    };

    return suite_main_run("api_text", tests, sizeof(tests) / sizeof(tests[0]), 0);
}
