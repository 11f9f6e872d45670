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

#include "api_internal.h"

/* Answer {"profile":{...}} from the profile row (id, username, bio, image,
 * following), or 404, from any of the three statements; reads that missed
 * the cache also fill it. */
static void profiles_on_row(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    struct jbuf b;

    if (api_db_one_row(r, st, res, "profile") != 0)
        return;
    jbuf_init(&b, 256);
    jbuf_puts(&b, "{\"profile\":");
    api_write_profile(&b, PQgetvalue(res, 0, 1), api_col(res, 0, 2), api_col(res, 0, 3),
                      api_col_bool(res, 0, 4));
    jbuf_putc(&b, '}');
    api_cache_fill(r, &b);
    api_respond_json(r, 200, &b);
}

/* Read the profile from PostgreSQL. */
static void profiles_read(struct api_req *r)
{
    (void)api_db_viewer(r, Q_PROFILE_GET, r->p1, profiles_on_row);
}

void api_profiles_get(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    char name[API_CACHE_NAME_MAX];

    if (r == NULL || api_auth(r, false) != 0)
        return;
    api_cache_or_read(r, false, name, api_name_profile(r->p1, name), profiles_read);
}

void api_profiles_follow(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, true, Q_FOLLOW, profiles_on_row);
}

void api_profiles_unfollow(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, true, Q_UNFOLLOW, profiles_on_row);
}
