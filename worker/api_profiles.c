/*
 * api_profiles.c: GET /api/profiles/:username, POST and DELETE
 * /api/profiles/:username/follow.
 *
 * Anonymous profile reads go through the cache (key "p:<username>", the
 * whole response body); a signed-in reader needs "following", so reads
 * PostgreSQL. Follow and unfollow are one statement each (look up + insert
 * or delete) and do not touch the cache: nothing cached depends on who
 * follows whom. Unknown users answer 404 {"errors":{"profile":["not found"]}}.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "api_internal.h"

/* Answer {"profile":{...}} from a row (id, username, bio, image, following);
 * for anonymous reads also fill the cache. */
static void profiles_respond(struct api_req *r, const PGresult *res)
{
    struct jbuf b;

    jbuf_init(&b, 256);
    jbuf_puts(&b, "{\"profile\":");
    api_write_profile(&b, PQgetvalue(res, 0, 1), api_col(res, 0, 2), api_col(res, 0, 3),
                      api_col_bool(res, 0, 4));
    jbuf_putc(&b, '}');
    if (r->viewer == 0 && !b.failed && r->api->cache != NULL) {
        char key[CACHE_KEY_MAX];
        size_t klen = api_key_profile(r->p1, key);
        cache_put(r->api->cache, key, klen, b.data, b.len, &r->read_started);
    }
    api_respond_json(r, 200, &b);
}

/* The profile row (or none) from any of the three statements. */
static void profiles_on_row(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;

    if (st != DB_OK) {
        api_respond_db_failure(r, st, res);
        return;
    }
    if (PQntuples(res) != 1) {
        api_respond_error(r, 404, "profile", "not found");
        return;
    }
    profiles_respond(r, res);
}

/* Read the profile from PostgreSQL. */
static void profiles_query(struct api_req *r, int stmt)
{
    char id[24];
    const char *vals[2] = {r->p1, NULL};

    if (r->viewer != 0) {
        snprintf(id, sizeof(id), "%lld", (long long)r->viewer);
        vals[1] = id;
    }
    (void)clock_gettime(CLOCK_MONOTONIC, &r->read_started);
    (void)api_db(r, stmt, vals, profiles_on_row);
}

/* Cache answer for an anonymous read. */
static void profiles_on_cache(const char *val, size_t len, void *arg)
{
    struct api_req *r = arg;

    if (val != NULL) {
        api_respond_raw(r, 200, val, len);
        return;
    }
    profiles_query(r, Q_PROFILE_GET);
}

void api_profiles_get(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    char key[CACHE_KEY_MAX];
    size_t klen;

    if (r == NULL || api_auth(r, false) != 0)
        return;
    if (r->viewer == 0) {
        klen = api_key_profile(r->p1, key);
        if (cache_get(r->api->cache, key, klen, profiles_on_cache, r) == 0)
            return;
    }
    profiles_query(r, Q_PROFILE_GET);
}

void api_profiles_follow(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));

    if (r == NULL || api_auth(r, true) != 0)
        return;
    profiles_query(r, Q_FOLLOW);
}

void api_profiles_unfollow(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));

    if (r == NULL || api_auth(r, true) != 0)
        return;
    profiles_query(r, Q_UNFOLLOW);
}
