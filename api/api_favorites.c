/*
 * api_favorites.c: POST and DELETE /api/articles/:slug/favorite.
 *
 * One statement adds (ON CONFLICT DO NOTHING: favoriting twice is fine) or
 * removes the favorite and says whether the article exists; then the
 * article's cache entry is tombstoned (its favoritesCount changed) and the
 * article is read back for the viewer and returned.
 */
#include "config.h"

#include "api_internal.h"

/* The favorite is written (or the article does not exist). */
static void favorites_on_write(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    char key[CACHE_KEY_MAX];
    const char *keys[1] = {key};

    if (api_db_one_row(r, st, res, "article") != 0)
        return;
    api_key_article(r->p1, key);
    /* Once the article's cache entry is clean, answer with the article. */
    api_invalidate(r, keys, 1, api_articles_read);
}

void api_favorites_add(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, true, Q_FAVORITE, favorites_on_write);
}

void api_favorites_remove(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, true, Q_UNFAVORITE, favorites_on_write);
}
