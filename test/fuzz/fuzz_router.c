/*
 * fuzz_router.c: libFuzzer target for the router (common/router.c) with
 * percent-decoding. The table is the Conduit API's templates plus the
 * worker's /healthz; the input's first byte picks the method, the rest is
 * the path. Checks what router.h promises: an id only for FOUND and
 * BAD_METHOD, within the table; decoded parameters NUL-free, shorter than
 * ROUTER_PARAM_MAX, and at most ROUTER_MAX_PARAMS of them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "router.h"

/* Any handler: the target never calls it. */
static void fuzz_router_handler(struct http_request *req, const struct route_params *p, void *ctx)
{
    (void)req;
    (void)p;
    (void)ctx;
}

static const struct {
    enum http_method_id method;
    const char *tmpl;
} fuzz_router_routes[] = {
    {HTTP_M_GET, "/healthz"},
    {HTTP_M_POST, "/api/users/login"},
    {HTTP_M_POST, "/api/users"},
    {HTTP_M_GET, "/api/user"},
    {HTTP_M_PUT, "/api/user"},
    {HTTP_M_GET, "/api/profiles/:username"},
    {HTTP_M_POST, "/api/profiles/:username/follow"},
    {HTTP_M_DELETE, "/api/profiles/:username/follow"},
    {HTTP_M_GET, "/api/articles/feed"},
    {HTTP_M_GET, "/api/articles"},
    {HTTP_M_POST, "/api/articles"},
    {HTTP_M_GET, "/api/articles/:slug"},
    {HTTP_M_PUT, "/api/articles/:slug"},
    {HTTP_M_DELETE, "/api/articles/:slug"},
    {HTTP_M_POST, "/api/articles/:slug/favorite"},
    {HTTP_M_DELETE, "/api/articles/:slug/favorite"},
    {HTTP_M_GET, "/api/articles/:slug/comments"},
    {HTTP_M_POST, "/api/articles/:slug/comments"},
    {HTTP_M_DELETE, "/api/articles/:slug/comments/:id"},
    {HTTP_M_GET, "/api/tags"},
};

/* The table, built on the first input and kept (read-only afterwards). */
static struct router *fuzz_router_table(void)
{
    static struct router *r;
    if (r != NULL)
        return r;
    r = router_new();
    if (r == NULL)
        abort();
    for (size_t i = 0; i < sizeof fuzz_router_routes / sizeof fuzz_router_routes[0]; i++)
        if (router_add(r, fuzz_router_routes[i].method, fuzz_router_routes[i].tmpl,
                       fuzz_router_handler) < 0)
            abort();
    if (router_set_max_body(r, HTTP_M_POST, "/api/users/login", 8192) < 0)
        abort();
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct router *r = fuzz_router_table();
    route_handler_fn fn = NULL;
    struct route_params params;
    int id = -1;

    if (size == 0)
        return 0;
    enum http_method_id m = (enum http_method_id)(data[0] % HTTP_M__COUNT);
    char *path = malloc(size);
    if (path == NULL)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';

    enum router_result res = router_match(r, m, path, &fn, &params, &id);
    switch (res) {
    case ROUTER_FOUND:
        if (fn == NULL || id < 1 || id >= router_route_count(r))
            abort();
        if (params.count < 0 || params.count > ROUTER_MAX_PARAMS)
            abort();
        for (int i = 0; i < params.count; i++) {
            size_t n = strnlen(params.p[i].value, ROUTER_PARAM_MAX);
            if (n == 0 || n >= ROUTER_PARAM_MAX || route_param(&params, params.p[i].name) == NULL)
                abort();
        }
        break;
    case ROUTER_BAD_METHOD:
        if (fn != NULL || id < 1 || id >= router_route_count(r))
            abort();
        (void)router_allowed_methods(r, id);
        break;
    case ROUTER_NOT_FOUND:
    case ROUTER_BAD_PATH:
        if (fn != NULL || id != ROUTER_UNMATCHED)
            abort();
        break;
    default:
        abort();
    }
    (void)router_route_label(r, id);
    size_t lim = router_max_body(r, m, path);
    if (lim != 0 && lim != 8192)
        abort();
    free(path);
    return 0;
}
