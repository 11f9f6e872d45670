/*
 * api_tags.c: GET /api/tags.
 *
 * The tags in use by at least one article, alphabetical, as one JSON array
 * built by PostgreSQL. Cached under "tags" (the whole response body) in the
 * lists generation, which every article write bumps.
 *
 * Without a cache hit (Redis off, down, or a miss) the worker answers from
 * its own copy of the last list when PostgreSQL says the list has not
 * changed since: the copy carries the tag list version (migration 0011's
 * kept count of changes to article_tags, read in the same snapshot as the
 * list), and a request reads only the version, a primary-key row and a few
 * deltas, instead of building the list (a json_agg over every tag in use:
 * 2,000 tags cost PostgreSQL about 0.6 ms). The version only grows, so an
 * equal version is the same list, and a write's answer comes after its
 * commit: a later read sees the new version. A changed version builds the
 * list again, in the same request. On a database without migration 0011
 * (its version never moves) nothing is kept and every request builds the
 * list.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* Answer {"tags": list} from list (len bytes) and fill the cache. */
static void tags_answer(struct api_req *r, const char *list, size_t len)
{
    struct jbuf b;

    jbuf_init(&b, len + 16);
    jbuf_puts(&b, "{\"tags\":");
    jbuf_put(&b, list, len);
    jbuf_putc(&b, '}');
    api_cache_fill(r, &b);
    api_respond_json(r, 200, &b);
}

/* Keep list at version as the worker's copy, unless the copy is newer
 * (two reads in flight can answer out of order). Allocation failure only
 * loses the copy. */
static void tags_keep(struct api *api, long long version, const char *list, size_t len)
{
    char *copy;

    if (api->tags.body != NULL && api->tags.version > version)
        return;
    copy = malloc(len + 1);
    if (copy == NULL)
        return;
    memcpy(copy, list, len + 1);
    free(api->tags.body);
    api->tags.body = copy;
    api->tags.len = len;
    api->tags.version = version;
}

/* The version and the tag array are here: keep them, answer. */
static void tags_on_list(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    const char *list;
    size_t len;

    if (st != DB_OK || PQntuples(res) != 1 || PQnfields(res) != 3) {
        api_respond_db_failure(r, st == DB_OK ? DB_UNAVAILABLE : st, res);
        return;
    }
    list = PQgetvalue(res, 0, 2);
    len = (size_t)PQgetlength(res, 0, 2);
    /* Without migration 0011 the version never moves: keep nothing. */
    if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
        tags_keep(r->api, strtoll(PQgetvalue(res, 0, 0), NULL, 10), list, len);
    tags_answer(r, list, len);
}

/* The current version is here: answer from the copy if it is that one,
 * else build the list. */
static void tags_on_version(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    const struct api_tags_copy *copy = &r->api->tags;

    if (st != DB_OK || PQntuples(res) != 1) {
        api_respond_db_failure(r, st == DB_OK ? DB_UNAVAILABLE : st, res);
        return;
    }
    if (copy->body != NULL && strtoll(PQgetvalue(res, 0, 0), NULL, 10) == copy->version) {
        tags_answer(r, copy->body, copy->len);
        return;
    }
    (void)api_db(r, Q_TAGS, NULL, tags_on_list);
}

/* Read the tag list: its version first when the worker has a copy. */
static void tags_read(struct api_req *r)
{
    if (r->api->tags.body != NULL)
        (void)api_db(r, Q_TAGS_VERSION, NULL, tags_on_version);
    else
        (void)api_db(r, Q_TAGS, NULL, tags_on_list);
}

void api_tags_list(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));

    if (r == NULL)
        return;
    api_cache_or_read(r, true, API_CACHE_NAME_TAGS, strlen(API_CACHE_NAME_TAGS), tags_read);
}
