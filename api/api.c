/*
 * api.c: the Conduit API's entry points (api.h): the route table, the
 * per-worker start and stop, CORS, and the OPTIONS preflight answer.
 *
 * Per worker the API owns a PostgreSQL pool (db.c), a Redis connection
 * (cache.c), a password-hashing thread pool (password.c) and the prepared
 * statement table (api_sql.c). Handlers live in one file per route group
 * (api_users.c, api_profiles.c, api_articles.c, api_favorites.c,
 * api_comments.c, api_tags.c); shared helpers in api_respond.c.
 *
 * Relies on api.h (struct api_host: base, settings, slot, router), the
 * router, log.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "log.h"
#include "ratelimit.h"
#include "scoreboard.h"

/* Allowed request headers in preflight answers. */
#define API_CORS_HEADERS "Authorization, Content-Type, X-Request-Id"
#define API_CORS_MAX_AGE "86400"

static void api_options(struct http_request *req, const struct route_params *p, void *ctx);

/* Body limit of login and registration: a username, an email and a
 * password at their longest, every character escaped, fit in 8 KiB; an
 * unauthenticated client gets no more than that (not --max-body). */
#define API_AUTH_BODY_MAX 8192

struct api_route {
    enum http_method_id method;
    const char *tmpl;
    route_handler_fn fn;
    size_t max_body; /* this route's own body limit, 0 = --max-body */
};

/* The route table. /api/articles/feed comes before /api/articles/:slug so a
 * router that tries routes in order still picks the literal segment. */
static const struct api_route api_routes[] = {
    {HTTP_M_POST, "/api/users/login", api_users_login, API_AUTH_BODY_MAX},
    {HTTP_M_POST, "/api/users", api_users_register, API_AUTH_BODY_MAX},
    {HTTP_M_GET, "/api/user", api_users_get, 0},
    {HTTP_M_PUT, "/api/user", api_users_update, 0},
    {HTTP_M_GET, "/api/profiles/:username", api_profiles_get, 0},
    {HTTP_M_POST, "/api/profiles/:username/follow", api_profiles_follow, 0},
    {HTTP_M_DELETE, "/api/profiles/:username/follow", api_profiles_unfollow, 0},
    {HTTP_M_GET, "/api/articles/feed", api_articles_feed, 0},
    {HTTP_M_GET, "/api/articles", api_articles_list, 0},
    {HTTP_M_POST, "/api/articles", api_articles_create, 0},
    {HTTP_M_GET, "/api/articles/:slug", api_articles_get, 0},
    {HTTP_M_PUT, "/api/articles/:slug", api_articles_update, 0},
    {HTTP_M_DELETE, "/api/articles/:slug", api_articles_delete, 0},
    {HTTP_M_POST, "/api/articles/:slug/favorite", api_favorites_add, 0},
    {HTTP_M_DELETE, "/api/articles/:slug/favorite", api_favorites_remove, 0},
    {HTTP_M_GET, "/api/articles/:slug/comments", api_comments_list, 0},
    {HTTP_M_POST, "/api/articles/:slug/comments", api_comments_create, 0},
    {HTTP_M_DELETE, "/api/articles/:slug/comments/:id", api_comments_delete, 0},
    {HTTP_M_GET, "/api/tags", api_tags_list, 0},
};

int api_register_routes(struct router *r)
{
    size_t n = sizeof(api_routes) / sizeof(api_routes[0]);

    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        if (router_add(r, api_routes[i].method, api_routes[i].tmpl, api_routes[i].fn) < 0)
            return -1;
        if (api_routes[i].max_body > 0 &&
            router_set_max_body(r, api_routes[i].method, api_routes[i].tmpl,
                                api_routes[i].max_body) < 0)
            return -1;
        /* One OPTIONS (CORS preflight) route per template. */
        for (size_t j = 0; j < i; j++)
            if (strcmp(api_routes[j].tmpl, api_routes[i].tmpl) == 0)
                seen = true;
        if (!seen && router_add(r, HTTP_M_OPTIONS, api_routes[i].tmpl, api_options) < 0)
            return -1;
    }
    return 0;
}

struct api *api_from_ctx(void *ctx)
{
    return ctx;
}

/* Is origin listed in a comma-separated list (spaces allowed)? */
static bool api_origin_listed(const char *list, const char *origin)
{
    size_t olen = strlen(origin);
    const char *p = list;

    while (*p != '\0') {
        const char *end;
        size_t len;
        while (*p == ' ' || *p == ',')
            p++;
        end = p + strcspn(p, ",");
        len = (size_t)(end - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == olen && len > 0 && memcmp(p, origin, len) == 0)
            return true;
        p = end;
    }
    return false;
}

/* Add the CORS response headers for this request's Origin. 0 or -1. */
int api_cors_headers(const struct settings *s, struct http_request *req)
{
    const char *origin;
    const char *list = s->cors_origins[0] != '\0' ? s->cors_origins : "*";

    if (strcmp(list, "*") == 0)
        return http_response_header(req, "Access-Control-Allow-Origin", "*");
    if (http_response_header(req, "Vary", "Origin") != 0)
        return -1;
    origin = http_request_header(req, "Origin");
    if (origin == NULL || !api_origin_listed(list, origin))
        return 0;
    return http_response_header(req, "Access-Control-Allow-Origin", origin);
}

/* OPTIONS on any API template: the CORS preflight answer. */
static void api_options(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api *api = api_from_ctx(ctx);
    const char *methods = NULL;
    int id = http_request_route(req);

    (void)p;
    if (id > 0)
        methods = router_allowed_methods(api->router, id);
    if (methods == NULL || methods[0] == '\0')
        methods = "GET, POST, PUT, DELETE, OPTIONS";
    if (api_cors_headers(api->settings, req) != 0 ||
        http_response_header(req, "Access-Control-Allow-Methods", methods) != 0 ||
        http_response_header(req, "Access-Control-Allow-Headers", API_CORS_HEADERS) != 0 ||
        http_response_header(req, "Access-Control-Max-Age", API_CORS_MAX_AGE) != 0 ||
        http_response_header(req, "Allow", methods) != 0)
        log_warn("api: cannot add CORS headers", "");
    (void)http_respond(req, 204, NULL, NULL, 0);
}

/* Release everything api_start made; pointers are cleared before each
 * free so callbacks run during the teardown see the part as gone. */
void api_free(struct api *api)
{
    struct cache *c;
    struct password_pool *pw;
    struct db_pool *db;

    if (api == NULL)
        return;
    c = api->cache;
    pw = api->pw;
    db = api->db;
    api->stopping = true;
    api->cache = NULL;
    cache_free(c);
    /* After the cache: its teardown may still answer pending checks. */
    ratelimit_free(api->rl);
    api->rl = NULL;
    api->pw = NULL;
    password_pool_free(pw);
    api->db = NULL;
    db_pool_free(db);
    api_sql_free(api->stmts);
    free(api->tags.body);
    explicit_bzero(api->jwt_secret, sizeof(api->jwt_secret));
    free(api);
}

struct api *api_start(const struct api_host *host, char *errbuf, size_t errlen)
{
    const struct settings *s = host->settings;
    struct api *api = calloc(1, sizeof(*api));

    if (api == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    api->settings = s;
    api->base = host->base;
    api->slot = host->slot;
    api->router = host->router;

    /* With --dev and no JWT_SECRET the supervisor generated one before
     * forking, so every worker signs with the same secret. */
    if (s->jwt_secret[0] == '\0') {
        snprintf(errbuf, errlen, "JWT_SECRET is not set");
        goto fail;
    }
    snprintf(api->jwt_secret, sizeof(api->jwt_secret), "%s", s->jwt_secret);
    api->jwt_secret_len = strlen(api->jwt_secret);

    if (api_sql_build(api->stmts) != 0) {
        snprintf(errbuf, errlen, "out of memory building statements");
        goto fail;
    }
    if (s->database_url[0] != '\0') {
        struct db_config cfg = {
            .url = s->database_url,
            .size = s->db_pool > 0 ? s->db_pool : 1,
            .statement_timeout_ms = s->statement_timeout_ms,
            .queue_max = API_DB_QUEUE_MAX,
            .queue_timeout_ms = s->db_queue_timeout_ms,
            .pipeline_depth = API_DB_PIPELINE_DEPTH,
            .stmts = api->stmts,
            .nstmts = Q__COUNT,
            .slot = api->slot,
        };
        api->db = db_pool_new(api->base, &cfg, errbuf, errlen);
        if (api->db == NULL)
            goto fail;
    } else {
        if (api->slot != NULL)
            api->slot->dep_up[SB_DEP_POSTGRES] = -1;
        log_warn("api: DATABASE_URL is not set; API requests get 503", "");
    }
    if (s->redis_url[0] != '\0') {
        api->cache = cache_new(api->base, s->redis_url, s->cache_ttl_s, api->slot,
                               host->cache_trust, errbuf, errlen);
        if (api->cache == NULL)
            goto fail;
    } else if (api->slot != NULL) {
        api->slot->dep_up[SB_DEP_REDIS] = -1;
    }
    api->rl = ratelimit_new(api->cache, api->slot);
    if (api->rl == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    api->pw = password_pool_new(api->base, s->hash_threads, errbuf, errlen);
    if (api->pw == NULL)
        goto fail;
    return api;
fail:
    api_free(api);
    return NULL;
}

void api_drain(struct api *api)
{
    /* Requests in flight finish normally (their database and Redis work
     * continues); the worker closes connections as they go idle. */
    (void)api;
}
