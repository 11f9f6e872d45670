/*
 * api_favorites.c: POST and DELETE /api/articles/:slug/favorite.
 *
 * One statement adds (ON CONFLICT DO NOTHING: favoriting twice is fine) or
 * removes the favorite and says whether the article exists; then the
 * article's cache entry is tombstoned and the lists generation bumped (its
 * favoritesCount changed) and the article is read back for the viewer and
 * returned.
 */
#include "config.h"

#include "api_internal.h"

/* The favorite is written (or the article does not exist). */
static void favorites_on_write(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    char name[API_CACHE_NAME_MAX];
    const char *names[1] = {name};

    if (api_db_one_row(r, st, res, "article") != 0)
        return;
    api_name_article(r->p1, name);
    /* Once the article's cache entry is clean, answer with the article. */
    api_invalidate(r, names, 1, api_articles_read);
}

void api_favorites_add(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, true, Q_FAVORITE, favorites_on_write);
}

void api_favorites_remove(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, true, Q_UNFAVORITE, favorites_on_write);
}
