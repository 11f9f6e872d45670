/*
 * check_router.c: unit tests of the router (common/router.c): ids and
 * labels, matching and parameters, percent-decoding, 405, precedence of
 * literal segments, malformed templates and a full table.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "suite_main.h"

/* Distinct handlers, so a test can tell which one matched. */
static void h_list(struct http_request *req, const struct route_params *p, void *ctx)
{
}
static void h_get(struct http_request *req, const struct route_params *p, void *ctx)
{
}
static void h_put(struct http_request *req, const struct route_params *p, void *ctx)
{
}
static void h_feed(struct http_request *req, const struct route_params *p, void *ctx)
{
}
static void h_comment(struct http_request *req, const struct route_params *p, void *ctx)
{
}
static void h_head(struct http_request *req, const struct route_params *p, void *ctx)
{
}

/* Match and return the result, with fn/params/id in the out arguments. */
static enum router_result match(const struct router *r, enum http_method_id m, const char *path,
                                route_handler_fn *fn, struct route_params *p, int *id)
{
    return router_match(r, m, path, fn, p, id);
}

START_TEST(test_ids_and_labels)
{
    struct router *r = router_new();
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(router_route_count(r), 1);
    ck_assert_str_eq(router_route_label(r, 0), "unmatched");

    int a = router_add(r, HTTP_M_GET, "/api/articles", h_list);
    int b = router_add(r, HTTP_M_GET, "/api/articles/:slug", h_get);
    int b2 = router_add(r, HTTP_M_PUT, "/api/articles/:slug", h_put);
    int b3 = router_add(r, HTTP_M_DELETE, "/api/articles/:slug", h_put);
    ck_assert_int_eq(a, 1);
    ck_assert_int_eq(b, 2);
    ck_assert_int_eq(b2, 2); /* several methods share one template id */
    ck_assert_int_eq(b3, 2);
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/api/articles/:slug", h_get), -1); /* twice */
    ck_assert_int_eq(router_add(r, HTTP_M_OTHER, "/x", h_get), -1);
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/x", NULL), -1);
    ck_assert_int_eq(router_route_count(r), 3);
    ck_assert_str_eq(router_route_label(r, 1), "/api/articles");
    ck_assert_str_eq(router_route_label(r, 2), "/api/articles/:slug");
    ck_assert_str_eq(router_route_label(r, 3), "unmatched");
    ck_assert_str_eq(router_route_label(r, -1), "unmatched");
    ck_assert_str_eq(router_allowed_methods(r, 1), "GET, HEAD");
    ck_assert_str_eq(router_allowed_methods(r, 2), "GET, HEAD, PUT, DELETE");
    ck_assert_str_eq(router_allowed_methods(r, 0), "");
    router_free(r);
}
END_TEST

START_TEST(test_match_params)
{
    struct router *r = router_new();
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/", h_list), 1);
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/api/articles/:slug", h_get), 2);
    ck_assert_int_eq(router_add(r, HTTP_M_DELETE, "/api/articles/:slug/comments/:id", h_comment),
                     3);
    route_handler_fn fn;
    struct route_params p;
    int id;

    ck_assert_int_eq(match(r, HTTP_M_GET, "/", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_int_eq(id, 1);
    ck_assert_int_eq(p.count, 0);

    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/articles/how-to-x", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_get);
    ck_assert_int_eq(id, 2);
    ck_assert_int_eq(p.count, 1);
    ck_assert_str_eq(route_param(&p, "slug"), "how-to-x");
    ck_assert_ptr_null(route_param(&p, "id"));

    ck_assert_int_eq(match(r, HTTP_M_DELETE, "/api/articles/a%20b%2Fc/comments/42", &fn, &p, &id),
                     ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_comment);
    ck_assert_int_eq(id, 3);
    ck_assert_int_eq(p.count, 2);
    ck_assert_str_eq(route_param(&p, "slug"), "a b/c");
    ck_assert_str_eq(route_param(&p, "id"), "42");
    ck_assert_str_eq(p.p[0].name, "slug");
    ck_assert_str_eq(p.p[1].name, "id");

    /* UTF-8 percent-encoded */
    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/articles/caf%C3%A9", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_str_eq(route_param(&p, "slug"), "caf\xc3\xa9");

    /* not found: no template, deeper, shallower, trailing slash, empty segment */
    const char *nf[] = {"/api/nope",
                        "/api/articles",
                        "/api/articles/x/y",
                        "/api/articles/x/",
                        "/api/articles/",
                        "/api/articles//comments/1",
                        "//",
                        "relative",
                        "*",
                        ""};
    for (size_t i = 0; i < sizeof nf / sizeof nf[0]; i++) {
        enum router_result res = match(r, HTTP_M_GET, nf[i], &fn, &p, &id);
        ck_assert_msg(res == ROUTER_NOT_FOUND, "%s gave %d", nf[i], res);
        ck_assert_int_eq(id, ROUTER_UNMATCHED);
    }
    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/articles/x/", &fn, &p, &id), ROUTER_NOT_FOUND);
    ck_assert_ptr_null(fn);
    router_free(r);
}
END_TEST

START_TEST(test_bad_method)
{
    struct router *r = router_new();
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/api/user", h_get), 1);
    ck_assert_int_eq(router_add(r, HTTP_M_PUT, "/api/user", h_put), 1);
    route_handler_fn fn;
    struct route_params p;
    int id;

    ck_assert_int_eq(match(r, HTTP_M_POST, "/api/user", &fn, &p, &id), ROUTER_BAD_METHOD);
    ck_assert_int_eq(id, 1);
    ck_assert_ptr_null(fn);
    ck_assert_str_eq(router_allowed_methods(r, id), "GET, HEAD, PUT");
    ck_assert_int_eq(match(r, HTTP_M_OTHER, "/api/user", &fn, &p, &id), ROUTER_BAD_METHOD);
    ck_assert_int_eq(match(r, HTTP_M_OPTIONS, "/api/user", &fn, &p, &id), ROUTER_BAD_METHOD);

    /* HEAD falls back to GET, unless HEAD has its own handler */
    ck_assert_int_eq(match(r, HTTP_M_HEAD, "/api/user", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_get);
    ck_assert_int_eq(router_add(r, HTTP_M_HEAD, "/api/user", h_head), 1);
    ck_assert_int_eq(match(r, HTTP_M_HEAD, "/api/user", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_head);
    ck_assert_int_eq(router_add(r, HTTP_M_OPTIONS, "/api/user", h_head), 1);
    ck_assert_str_eq(router_allowed_methods(r, 1), "GET, HEAD, PUT, OPTIONS");
    router_free(r);
}
END_TEST

/* Literal segments beat parameters whatever the order of registration. */
static void check_precedence(bool literal_first)
{
    struct router *r = router_new();
    int feed, slug;
    if (literal_first) {
        feed = router_add(r, HTTP_M_GET, "/api/articles/feed", h_feed);
        slug = router_add(r, HTTP_M_GET, "/api/articles/:slug", h_get);
    } else {
        slug = router_add(r, HTTP_M_GET, "/api/articles/:slug", h_get);
        feed = router_add(r, HTTP_M_GET, "/api/articles/feed", h_feed);
    }
    ck_assert_int_gt(feed, 0);
    ck_assert_int_gt(slug, 0);
    ck_assert_int_eq(router_add(r, HTTP_M_DELETE, "/api/articles/:slug", h_put), slug);
    route_handler_fn fn;
    struct route_params p;
    int id;

    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/articles/feed", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_feed);
    ck_assert_int_eq(id, feed);
    ck_assert_int_eq(p.count, 0);
    /* a literal written percent-encoded is the same literal */
    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/articles/f%65ed", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_feed);
    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/articles/feeds", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_get);
    ck_assert_int_eq(id, slug);
    ck_assert_str_eq(route_param(&p, "slug"), "feeds");
    /* the literal has no DELETE: the parameter template that has one answers */
    ck_assert_int_eq(match(r, HTTP_M_DELETE, "/api/articles/feed", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_ptr_eq(fn, h_put);
    ck_assert_int_eq(id, slug);
    /* nobody has POST: 405 labelled with the most specific template */
    ck_assert_int_eq(match(r, HTTP_M_POST, "/api/articles/feed", &fn, &p, &id), ROUTER_BAD_METHOD);
    ck_assert_int_eq(id, feed);
    router_free(r);
}

START_TEST(test_precedence)
{
    check_precedence(true);
    check_precedence(false);

    /* leftmost literal wins between /a/:x/c and /:y/b/c style overlaps */
    struct router *r = router_new();
    int deep = router_add(r, HTTP_M_GET, "/api/:kind/comments", h_list);
    int left = router_add(r, HTTP_M_GET, "/api/articles/:what", h_get);
    route_handler_fn fn;
    struct route_params p;
    int id;
    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/articles/comments", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_int_eq(id, left);
    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/users/comments", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_int_eq(id, deep);
    ck_assert_str_eq(route_param(&p, "kind"), "users");
    router_free(r);
}
END_TEST

START_TEST(test_bad_encoding)
{
    struct router *r = router_new();
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/api/profiles/:username", h_get), 1);
    route_handler_fn fn;
    struct route_params p;
    int id;
    const char *bad[] = {"/api/profiles/a%zz",  "/api/profiles/a%2", "/api/profiles/a%",
                         "/api/profiles/a%00b", "/api/pro%gfiles/x", "/nothing/%0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(match(r, HTTP_M_GET, bad[i], &fn, &p, &id) == ROUTER_BAD_PATH, "%s", bad[i]);
        ck_assert_int_eq(id, ROUTER_UNMATCHED);
        ck_assert_ptr_null(fn);
    }
    /* a parameter of 255 bytes fits, 256 do not (even when encoded shorter) */
    char path[1024];
    strcpy(path, "/api/profiles/");
    memset(path + strlen(path), 'u', 255);
    path[14 + 255] = '\0';
    ck_assert_int_eq(match(r, HTTP_M_GET, path, &fn, &p, &id), ROUTER_FOUND);
    ck_assert_uint_eq(strlen(route_param(&p, "username")), 255);
    strcat(path, "u");
    ck_assert_int_eq(match(r, HTTP_M_GET, path, &fn, &p, &id), ROUTER_BAD_PATH);
    strcpy(path, "/api/profiles/");
    for (int i = 0; i < 256; i++)
        strcat(path, "%41");
    ck_assert_int_eq(match(r, HTTP_M_GET, path, &fn, &p, &id), ROUTER_BAD_PATH);
    /* '+' is not a space in a path */
    ck_assert_int_eq(match(r, HTTP_M_GET, "/api/profiles/a+b", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_str_eq(route_param(&p, "username"), "a+b");
    router_free(r);
}
END_TEST

START_TEST(test_malformed_templates)
{
    struct router *r = router_new();
    const char *bad[] = {
        "",       "api",  "/api//x",   "/api/", "/:", "/a/:x/:x", "/:a/:b/:c/:d/:e",
        "/a%20b", "/a?b", "/a/:na-me", "/a#b",  "//"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(router_add(r, HTTP_M_GET, bad[i], h_get) == -1, "accepted '%s'", bad[i]);
    ck_assert_int_eq(router_route_count(r), 1);
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/:a/:b/:c/:d", h_get), 1);
    route_handler_fn fn;
    struct route_params p;
    int id;
    ck_assert_int_eq(match(r, HTTP_M_GET, "/1/2/3/4", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_int_eq(p.count, ROUTER_MAX_PARAMS);
    ck_assert_str_eq(route_param(&p, "d"), "4");
    router_free(r);
}
END_TEST

START_TEST(test_table_full)
{
    struct router *r = router_new();
    char t[64];
    for (int i = 0; i < ROUTER_MAX_ROUTES; i++) {
        snprintf(t, sizeof t, "/r%d/:x", i);
        ck_assert_int_eq(router_add(r, HTTP_M_GET, t, h_get), i + 1);
    }
    ck_assert_int_eq(router_add(r, HTTP_M_GET, "/one/more", h_get), -1);
    /* an existing template still takes another method */
    ck_assert_int_eq(router_add(r, HTTP_M_POST, "/r0/:x", h_put), 1);
    ck_assert_int_eq(router_route_count(r), ROUTER_MAX_ROUTES + 1);
    route_handler_fn fn;
    struct route_params p;
    int id;
    ck_assert_int_eq(match(r, HTTP_M_GET, "/r47/v", &fn, &p, &id), ROUTER_FOUND);
    ck_assert_int_eq(id, ROUTER_MAX_ROUTES);
    ck_assert_str_eq(router_route_label(r, id), "/r47/:x");
    router_free(r);
    router_free(NULL);
}
END_TEST

/* Per-route body limits: set per method + template, found for a path as
 * router_match finds the handler (literal beats parameter, HEAD falls back
 * to GET), 0 where none is set or nothing matches. */
START_TEST(test_max_body)
{
    struct router *r = router_new();
    ck_assert_int_gt(router_add(r, HTTP_M_POST, "/api/users/login", h_list), 0);
    ck_assert_int_gt(router_add(r, HTTP_M_POST, "/api/users/:name", h_get), 0);
    ck_assert_int_gt(router_add(r, HTTP_M_PUT, "/api/users/login", h_put), 0);
    ck_assert_int_gt(router_add(r, HTTP_M_GET, "/api/users/login", h_head), 0);
    ck_assert_int_eq(router_set_max_body(r, HTTP_M_POST, "/api/users/login", 8192), 0);
    ck_assert_int_eq(router_set_max_body(r, HTTP_M_GET, "/api/users/login", 10), 0);
    /* only routed method + template pairs */
    ck_assert_int_eq(router_set_max_body(r, HTTP_M_DELETE, "/api/users/login", 1), -1);
    ck_assert_int_eq(router_set_max_body(r, HTTP_M_POST, "/nope", 1), -1);

    ck_assert_uint_eq(router_max_body(r, HTTP_M_POST, "/api/users/login"), 8192);
    ck_assert_uint_eq(router_max_body(r, HTTP_M_POST, "/api/users/log%69n"), 8192);
    ck_assert_uint_eq(router_max_body(r, HTTP_M_PUT, "/api/users/login"), 0);
    ck_assert_uint_eq(router_max_body(r, HTTP_M_HEAD, "/api/users/login"), 10);
    ck_assert_uint_eq(router_max_body(r, HTTP_M_POST, "/api/users/bob"), 0);
    ck_assert_uint_eq(router_max_body(r, HTTP_M_POST, "/api/users/login/"), 0);
    ck_assert_uint_eq(router_max_body(r, HTTP_M_POST, "/api/users/%zz"), 0);
    ck_assert_uint_eq(router_max_body(r, HTTP_M_DELETE, "/api/users/login"), 0);
    router_free(r);
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_add_test(tc, test_ids_and_labels);
    tcase_add_test(tc, test_match_params);
    tcase_add_test(tc, test_bad_method);
    tcase_add_test(tc, test_precedence);
    tcase_add_test(tc, test_bad_encoding);
    tcase_add_test(tc, test_malformed_templates);
    tcase_add_test(tc, test_table_full);
    tcase_add_test(tc, test_max_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_main_run_suite(router_suite());
}
