/*
 * api_tags.c: GET /api/tags.
 *
 * The tags in use by at least one article, alphabetical, as one JSON array
 * built by PostgreSQL. Cached under "tags" (the whole response body) in the
 * lists generation, which every article write bumps.
 */
#include "config.h"

#include <string.h>

#include "api_internal.h"

/* The tag array is here: answer and fill the cache. */
static void tags_on_list(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    struct jbuf b;
    const char *list;

    if (st != DB_OK || PQntuples(res) != 1) {
        api_respond_db_failure(r, st == DB_OK ? DB_UNAVAILABLE : st, res);
        return;
    }
    list = PQgetvalue(res, 0, 0);
    jbuf_init(&b, strlen(list) + 16);
    jbuf_puts(&b, "{\"tags\":");
    jbuf_puts(&b, list);
    jbuf_putc(&b, '}');
    api_cache_fill(r, &b);
    api_respond_json(r, 200, &b);
}

/* Read the tag list from PostgreSQL. */
static void tags_read(struct api_req *r)
{
    (void)api_db(r, Q_TAGS, NULL, tags_on_list);
}

void api_tags_list(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));

    if (r == NULL)
        return;
    api_cache_or_read(r, true, API_CACHE_NAME_TAGS, strlen(API_CACHE_NAME_TAGS), tags_read);
}
