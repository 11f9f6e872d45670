/*
 * api_tags.c: GET /api/tags.
 *
 * The tags in use by at least one article, alphabetical, as one JSON array
 * built by PostgreSQL. Cached under "tags" (the whole response body); every
 * article write that can change the set tombstones that key.
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
    if (!b.failed && r->api->cache != NULL) {
        char key[CACHE_KEY_MAX];
        size_t klen = api_key_tags(key);
        cache_put(r->api->cache, key, klen, b.data, b.len, &r->read_started);
    }
    api_respond_json(r, 200, &b);
}

/* Cache answer. */
static void tags_on_cache(const char *val, size_t len, void *arg)
{
    struct api_req *r = arg;

    if (val != NULL) {
        api_respond_raw(r, 200, val, len);
        return;
    }
    (void)clock_gettime(CLOCK_MONOTONIC, &r->read_started);
    (void)api_db(r, Q_TAGS, NULL, tags_on_list);
}

void api_tags_list(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    char key[CACHE_KEY_MAX];
    size_t klen;

    if (r == NULL)
        return;
    klen = api_key_tags(key);
    if (cache_get(r->api->cache, key, klen, tags_on_cache, r) == 0)
        return;
    (void)clock_gettime(CLOCK_MONOTONIC, &r->read_started);
    (void)api_db(r, Q_TAGS, NULL, tags_on_list);
}
