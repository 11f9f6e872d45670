/*
 * api_favorites.c: POST and DELETE /api/articles/:slug/favorite.
 *
 * One statement adds (ON CONFLICT DO NOTHING: favoriting twice is fine) or
 * removes the favorite and says whether the article exists; then the
 * article's cache entry is tombstoned (its favoritesCount changed) and the
 * article is read back for the viewer and returned.
 */
#include "config.h"

#include <stdio.h>

#include "api_internal.h"

/* The article's cache entry is clean: answer with the article. */
static void favorites_answer(struct api_req *r)
{
    api_articles_respond_one(r, r->p1, 200);
}

/* The favorite is written (or the article does not exist). */
static void favorites_on_write(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    char key[CACHE_KEY_MAX];
    const char *keys[1] = {key};

    if (st != DB_OK) {
        api_respond_db_failure(r, st, res);
        return;
    }
    if (PQntuples(res) != 1) {
        api_respond_error(r, 404, "article", "not found");
        return;
    }
    api_key_article(r->p1, key);
    api_invalidate(r, keys, 1, favorites_answer);
}

/* Shared by both routes. */
static void favorites_run(struct http_request *req, const struct route_params *p, void *ctx,
                          int stmt)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    char id[24];
    const char *vals[2];

    if (r == NULL || api_auth(r, true) != 0)
        return;
    snprintf(id, sizeof(id), "%lld", (long long)r->viewer);
    vals[0] = r->p1;
    vals[1] = id;
    (void)api_db(r, stmt, vals, favorites_on_write);
}

void api_favorites_add(struct http_request *req, const struct route_params *p, void *ctx)
{
    favorites_run(req, p, ctx, Q_FAVORITE);
}

void api_favorites_remove(struct http_request *req, const struct route_params *p, void *ctx)
{
    favorites_run(req, p, ctx, Q_UNFAVORITE);
}
