/*
 * check_api_json.c: unit tests for request-body checks (common/json_input.c),
 * the JSON writer (common/jbuf.c), REDIS_URL parsing (store/cache.c) and
 * the statement table (api/api_sql.c).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "cache.h"
#include "jbuf.h"
#include "json_input.h"
#include "suite_main.h"

/* Scan a NUL-terminated literal. */
static enum json_input_error scan(const char *s)
{
    return json_input_scan(s, strlen(s), JSON_INPUT_MAX_DEPTH);
}

START_TEST(test_scan_utf8)
{
    ck_assert_int_eq(scan("{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"), JSON_INPUT_OK);
    ck_assert_int_eq(scan("{\"a\":\"\xff\"}"), JSON_INPUT_BAD_UTF8);
    ck_assert_int_eq(scan("{\"a\":\"\xc0\xaf\"}"), JSON_INPUT_BAD_UTF8);         /* overlong / */
    ck_assert_int_eq(scan("{\"a\":\"\xe0\x80\xaf\"}"), JSON_INPUT_BAD_UTF8);     /* overlong */
    ck_assert_int_eq(scan("{\"a\":\"\xed\xa0\x80\"}"), JSON_INPUT_BAD_UTF8);     /* surrogate */
    ck_assert_int_eq(scan("{\"a\":\"\xf4\x90\x80\x80\"}"), JSON_INPUT_BAD_UTF8); /* > U+10FFFF */
    ck_assert_int_eq(scan("{\"a\":\"\xe2\x82\"}"), JSON_INPUT_BAD_UTF8);         /* truncated */
    ck_assert_int_eq(scan("{\"a\":\"\x80\"}"), JSON_INPUT_BAD_UTF8);             /* continuation */
    ck_assert(json_input_utf8_valid("plain", 5));
    ck_assert(!json_input_utf8_valid("\xc3", 1));
}
END_TEST

START_TEST(test_scan_depth)
{
    char doc[200];
    int i;

    /* 32 levels is fine, 33 is not. */
    for (i = 0; i < 32; i++)
        doc[i] = '[';
    for (; i < 64; i++)
        doc[i] = ']';
    doc[64] = '\0';
    ck_assert_int_eq(scan(doc), JSON_INPUT_OK);
    for (i = 0; i < 33; i++)
        doc[i] = '[';
    for (; i < 66; i++)
        doc[i] = ']';
    doc[66] = '\0';
    ck_assert_int_eq(scan(doc), JSON_INPUT_TOO_DEEP);
    /* brackets inside strings do not nest */
    memset(doc, '[', 100);
    doc[0] = '"';
    doc[99] = '"';
    doc[100] = '\0';
    ck_assert_int_eq(scan(doc), JSON_INPUT_OK);
    /* an escaped quote does not end the string */
    ck_assert_int_eq(scan("\"a\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\""), JSON_INPUT_OK);
}
END_TEST

START_TEST(test_scan_nul_and_controls)
{
    ck_assert_int_eq(scan("{\"a\":\"x\\u0000y\"}"), JSON_INPUT_NUL);
    ck_assert_int_eq(scan("{\"a\":\"x\ty\"}"), JSON_INPUT_NUL);       /* raw tab in a string */
    ck_assert_int_eq(scan("{\"a\":\"x\\\\u0000y\"}"), JSON_INPUT_OK); /* escaped backslash */
    ck_assert_int_eq(scan("{\"a\":\"x\\u0041y\"}"), JSON_INPUT_OK);
    ck_assert_int_eq(json_input_scan("{\"a\":1}\0", 8, 32), JSON_INPUT_SYNTAX);
    ck_assert_int_eq(json_input_scan("", 0, 32), JSON_INPUT_EMPTY);
}
END_TEST

START_TEST(test_parse)
{
    enum json_input_error err;
    cJSON *j;
    const char *s = NULL;

    j = json_input_parse("{\"user\":{\"a\":\"x\",\"b\":null,\"c\":3}}", 33, 32, &err);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(err, JSON_INPUT_OK);
    {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
        ck_assert_int_eq(json_input_string(u, "a", &s), JSON_FIELD_STRING);
        ck_assert_str_eq(s, "x");
        ck_assert_int_eq(json_input_string(u, "b", &s), JSON_FIELD_NULL);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(json_input_string(u, "c", &s), JSON_FIELD_WRONG);
        ck_assert_int_eq(json_input_string(u, "d", &s), JSON_FIELD_ABSENT);
        ck_assert_int_eq(json_input_string(u, "A", &s), JSON_FIELD_ABSENT); /* case-sensitive */
    }
    cJSON_Delete(j);
    ck_assert_ptr_null(json_input_parse("{\"a\":1} x", 9, 32, &err));
    ck_assert_int_eq(err, JSON_INPUT_SYNTAX);
    ck_assert_ptr_null(json_input_parse("{\"a\":1,}", 8, 32, &err));
    ck_assert_int_eq(err, JSON_INPUT_SYNTAX);
    ck_assert_ptr_null(json_input_parse("{'a':1}", 7, 32, &err));
    ck_assert_int_eq(err, JSON_INPUT_SYNTAX);
    j = json_input_parse("{\"a\":1}\n  ", 10, 32, &err);
    ck_assert_ptr_nonnull(j);
    cJSON_Delete(j);
    /* SQL metacharacters are just text */
    j = json_input_parse("{\"a\":\"'; DROP TABLE users; --\"}", 31, 32, &err);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_input_string(j, "a", &s), JSON_FIELD_STRING);
    ck_assert_str_eq(s, "'; DROP TABLE users; --");
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_blank)
{
    ck_assert(json_input_blank(NULL));
    ck_assert(json_input_blank(""));
    ck_assert(json_input_blank(" \t\r\n"));
    ck_assert(!json_input_blank(" a "));
}
END_TEST

START_TEST(test_jbuf)
{
    struct jbuf b;
    size_t len = 0;
    char *out;

    jbuf_init(&b, 0);
    jbuf_putc(&b, '{');
    jbuf_str(&b, "q\"b\\n\nt\tc\x01\x1f\xc3\xa9");
    jbuf_putc(&b, ':');
    jbuf_int(&b, -1234567890123LL);
    jbuf_putc(&b, ',');
    jbuf_str_or_null(&b, NULL);
    jbuf_putc(&b, ',');
    jbuf_bool(&b, true);
    jbuf_bool(&b, false);
    jbuf_putc(&b, '}');
    out = jbuf_take(&b, &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "{\"q\\\"b\\\\n\\nt\\tc\\u0001\\u001f\xc3\xa9\":-1234567890123,null,"
                          "truefalse}");
    ck_assert_uint_eq(len, strlen(out));
    free(out);
    /* A long string forces growth several times. */
    {
        char big[10000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        jbuf_init(&b, 16);
        jbuf_str(&b, big);
        out = jbuf_take(&b, &len);
        ck_assert_uint_eq(len, sizeof(big) + 1);
        free(out);
    }
}
END_TEST

START_TEST(test_jbuf_roundtrip)
{
    /* Whatever we escape, cJSON reads back the same bytes. */
    char s[256];
    struct jbuf b;
    size_t len;
    char *out;
    cJSON *j;

    for (int i = 1; i < 128; i++)
        s[i - 1] = (char)i;
    s[127] = '\0';
    jbuf_init(&b, 0);
    jbuf_str(&b, s);
    out = jbuf_take(&b, &len);
    j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(j->valuestring, s);
    cJSON_Delete(j);
    free(out);
}
END_TEST

START_TEST(test_redis_url)
{
    struct cache_target t;
    char err[256];

    ck_assert_int_eq(cache_parse_url("redis://127.0.0.1:63799", &t, err, sizeof(err)), 0);
    ck_assert_str_eq(t.host, "127.0.0.1");
    ck_assert_int_eq(t.port, 63799);
    ck_assert_int_eq(t.db, 0);
    ck_assert_str_eq(t.pass, "");
    ck_assert_int_eq(cache_parse_url("redis://localhost", &t, err, sizeof(err)), 0);
    ck_assert_int_eq(t.port, 6379);
    ck_assert_int_eq(cache_parse_url("redis://:s3cret@h:1/2", &t, err, sizeof(err)), 0);
    ck_assert_str_eq(t.user, "");
    ck_assert_str_eq(t.pass, "s3cret");
    ck_assert_str_eq(t.host, "h");
    ck_assert_int_eq(t.port, 1);
    ck_assert_int_eq(t.db, 2);
    ck_assert_int_eq(cache_parse_url("redis://bob:pw@h/", &t, err, sizeof(err)), 0);
    ck_assert_str_eq(t.user, "bob");
    ck_assert_str_eq(t.pass, "pw");
    ck_assert_int_eq(cache_parse_url("redis://[::1]:7000", &t, err, sizeof(err)), 0);
    ck_assert_str_eq(t.host, "::1");
    ck_assert_int_eq(t.port, 7000);
    ck_assert_int_eq(cache_parse_url("unix:///run/redis.sock?db=3", &t, err, sizeof(err)), 0);
    ck_assert_str_eq(t.path, "/run/redis.sock");
    ck_assert_int_eq(t.db, 3);
    ck_assert_int_eq(cache_parse_url("http://h", &t, err, sizeof(err)), -1);
    ck_assert_int_eq(cache_parse_url("redis://", &t, err, sizeof(err)), -1);
    ck_assert_int_eq(cache_parse_url("redis://h:0", &t, err, sizeof(err)), -1);
    ck_assert_int_eq(cache_parse_url("redis://h:70000", &t, err, sizeof(err)), -1);
    ck_assert_int_eq(cache_parse_url("redis://h:12x", &t, err, sizeof(err)), -1);
    ck_assert_int_eq(cache_parse_url("redis://h/x", &t, err, sizeof(err)), -1);
    ck_assert(strstr(err, "REDIS_URL") != NULL);
}
END_TEST

START_TEST(test_statements)
{
    struct db_stmt st[Q__COUNT];

    ck_assert_int_eq(api_sql_build(st), 0);
    for (int i = 0; i < Q__COUNT; i++) {
        ck_assert_ptr_nonnull(st[i].name);
        ck_assert_ptr_nonnull(st[i].sql);
        ck_assert_int_le(st[i].nparams, DB_MAX_PARAMS);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(st[i].name, st[j].name);
        /* every $n used is declared */
        for (int n = st[i].nparams + 1; n <= 9; n++) {
            char ref[16];
            snprintf(ref, sizeof(ref), "$%d", n);
            ck_assert_msg(strstr(st[i].sql, ref) == NULL, "%s uses %s", st[i].name, ref);
        }
    }
    /* each list filter appears exactly in the statements of its mask */
    for (int mask = 0; mask < 8; mask++) {
        const char *sql = st[Q_LIST_BASE + mask].sql;
        ck_assert_int_eq(strstr(sql, "$4") != NULL, (mask & API_FILTER_TAG) != 0);
        ck_assert_int_eq(strstr(sql, "$5") != NULL, (mask & API_FILTER_AUTHOR) != 0);
        ck_assert_int_eq(strstr(sql, "$6") != NULL, (mask & API_FILTER_FAVORITED) != 0);
        /* a page: LIMIT $2 OFFSET $3, or an index walk capped at the
         * largest page and then cut to $2 (api_sql.c, LIST_WALK) */
        ck_assert(strstr(sql, "LIMIT $2 OFFSET $3") != NULL ||
                  (strstr(sql, "OFFSET $3 LIMIT 100") != NULL && strstr(sql, "LIMIT $2") != NULL));
        /* single filters (and none) read a kept count, never count(*) */
        ck_assert_int_eq(strstr(sql, "count(*)") == NULL, (mask & (mask - 1)) == 0);
    }
    /* the anonymous lists: the same filters, no viewer tests, no $1 */
    for (int mask = 0; mask < 8; mask++) {
        const char *sql = st[Q_LIST_ANON_BASE + mask].sql;
        ck_assert_int_eq(strstr(sql, "$4") != NULL, (mask & API_FILTER_TAG) != 0);
        ck_assert_int_eq(strstr(sql, "$5") != NULL, (mask & API_FILTER_AUTHOR) != 0);
        ck_assert_int_eq(strstr(sql, "$6") != NULL, (mask & API_FILTER_FAVORITED) != 0);
        ck_assert(strstr(sql, "LIMIT $2 OFFSET $3") != NULL ||
                  (strstr(sql, "OFFSET $3 LIMIT 100") != NULL && strstr(sql, "LIMIT $2") != NULL));
        ck_assert_int_eq(strstr(sql, "count(*)") == NULL, (mask & (mask - 1)) == 0);
        ck_assert_msg(strstr(sql, "$1") == NULL, "%s uses $1", st[Q_LIST_ANON_BASE + mask].name);
    }
    ck_assert(strstr(st[Q_FEED].sql, "follows") != NULL);
    ck_assert(strstr(st[Q_FEED].sql, "count(*)") == NULL);
    ck_assert(strstr(st[Q_TAGS].sql, "article_tags") == NULL);
    api_sql_free(st);
}
END_TEST

/* The cost limits: bytes, then values counted from the bytes (commas and
 * brackets outside strings), before any tree is built. */
START_TEST(test_scan_limits)
{
    const struct json_input_limits lim = {64, JSON_INPUT_MAX_DEPTH, 8};
    const struct json_input_limits def = {0, JSON_INPUT_MAX_DEPTH, JSON_INPUT_MAX_NODES};
    enum json_input_error err;
    size_t big = 1 << 20, o = 0;
    char *body = malloc(big + 64);

    /* 7 values: object, "a", [..], 1, 2, 3 -> counted as 1 + 2 brackets + 4 commas */
    ck_assert_int_eq(json_input_scan_limits("{\"a\":[1,2,3],\"b\":1}", 19, &lim), JSON_INPUT_OK);
    ck_assert_int_eq(json_input_scan_limits("[1,2,3,4,5,6,7,8]", 17, &lim), JSON_INPUT_TOO_MANY);
    /* commas inside strings are not values */
    ck_assert_int_eq(json_input_scan_limits("[\",,,,,,,,,,,,,,,\"]", 19, &lim), JSON_INPUT_OK);
    ck_assert_int_eq(
        json_input_scan_limits(
            "[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]", 69, &lim),
        JSON_INPUT_TOO_BIG);
    /* The attack shape: one 1 MiB array of small numbers under an unknown
     * field. Refused from its bytes, with no tree. */
    ck_assert_ptr_nonnull(body);
    o += (size_t)sprintf(body, "{\"user\":{\"email\":\"a@b.c\",\"password\":\"x\",\"junk\":[");
    while (o < big - 8)
        o += (size_t)sprintf(body + o, "1,");
    o += (size_t)sprintf(body + o, "1]}}");
    ck_assert_int_eq(json_input_scan_limits(body, o, &def), JSON_INPUT_TOO_MANY);
    ck_assert_ptr_null(json_input_parse_limits(body, o, &def, &err));
    ck_assert_int_eq(err, JSON_INPUT_TOO_MANY);
    ck_assert_ptr_null(json_input_parse(body, o, JSON_INPUT_MAX_DEPTH, &err));
    ck_assert_int_eq(err, JSON_INPUT_TOO_MANY);
    free(body);
    /* Up to the limit parses. */
    {
        char ok[4 * JSON_INPUT_MAX_NODES];
        size_t n = 0;
        cJSON *j;
        ok[n++] = '[';
        for (int i = 0; i < JSON_INPUT_MAX_NODES - 2; i++)
            n += (size_t)sprintf(ok + n, i == 0 ? "1" : ",1");
        ok[n++] = ']';
        j = json_input_parse(ok, n, JSON_INPUT_MAX_DEPTH, &err);
        ck_assert_ptr_nonnull(j);
        cJSON_Delete(j);
    }
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        test_scan_utf8,  test_scan_depth,  test_scan_nul_and_controls, test_parse,
        test_blank,      test_jbuf,        test_jbuf_roundtrip,        test_redis_url,
        test_statements, test_scan_limits,
    };

    return suite_main_run("api_json", tests, sizeof(tests) / sizeof(tests[0]), 0);
}
