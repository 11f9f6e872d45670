/*
 * api_articles.c: the article routes.
 *
 *   GET    /api/articles        [token] -> cache (anonymous first pages) or one list
 *                                          statement (filters, page, count)
 *   GET    /api/articles/feed   token   -> one feed statement
 *   GET    /api/articles/:slug  [token] -> cache (anonymous) or one statement
 *   POST   /api/articles        token   -> validate -> insert (+tags) -> invalidate -> 201
 *   PUT    /api/articles/:slug  token   -> validate -> owner? -> update -> invalidate -> 200
 *   DELETE /api/articles/:slug  token   -> delete if owner -> invalidate -> 204
 *
 * Cache: an article is cached with its author block apart ("a:<slug>"
 * linked to "u:<author id>", store/cache.h), so a profile change
 * invalidates one key. Anonymous list pages with offset below
 * ARTICLES_CACHED_OFFSET are cached whole under the lists generation; every
 * article write (and favorite, and profile change) bumps it, one command
 * whatever the number of cached pages.
 *
 * Slugs: the title slugified (api_text_slugify); when that slug is taken
 * the insert fails on the unique constraint and is retried with a random
 * suffix ("my-title-k3j9x0qa"), so equal titles get distinct slugs. A new
 * title gives a new slug, unless the current one already derives from it.
 * Tags: optional array of strings; blank entries are dropped, duplicates
 * merged, order irrelevant (they are returned alphabetically). On update,
 * an absent tagList keeps the tags, [] clears them, null is a 422.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* Attempts at a unique slug before giving up with 409. */
#define ARTICLES_SLUG_TRIES 5
/* Anonymous list pages starting below this offset are cached. */
#define ARTICLES_CACHED_OFFSET 100

struct list_req {
    struct api_req base;
    int stmt;
    char limit[24];
    char offset[24];
    char tag[ROUTER_PARAM_MAX];
    char author[ROUTER_PARAM_MAX];
    char favorited[ROUTER_PARAM_MAX];
};

struct article_req {
    struct api_req base;
    char slug[ROUTER_PARAM_MAX]; /* slug to write / answer with */
    char base_slug[API_SLUG_MAX];
    const char *title; /* point into base.json */
    const char *description;
    const char *body;
    char *tags_json;    /* owned; NULL: tags not given */
    int64_t article_id; /* 0 on create */
    int tries;
};

/* Free the tag list. */
static void articles_cleanup(struct api_req *r)
{
    free(((struct article_req *)r)->tags_json);
}

/* ---- lists ---- */

/* Answer {"articles":[...],"articlesCount":n} from a list result. */
static void articles_on_list(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    struct jbuf b;
    int rows;

    if (st != DB_OK) {
        api_respond_db_failure(r, st, res);
        return;
    }
    rows = PQntuples(res);
    jbuf_init(&b, 1024 + (size_t)rows * 768);
    jbuf_puts(&b, "{\"articles\":[");
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, AC_ID))
            continue; /* the count-only row of an empty page */
        if (i > 0)
            jbuf_putc(&b, ',');
        api_write_article(&b, res, i, false);
    }
    jbuf_puts(&b, "],\"articlesCount\":");
    jbuf_int(&b, rows > 0 ? api_col_int(res, 0, AC__COUNT) : 0);
    jbuf_putc(&b, '}');
    api_cache_fill(r, &b);
    api_respond_json(r, 200, &b);
}

/* Parse limit and offset into l; 0, or -1 after answering 422. */
static int articles_parse_page(struct list_req *l, const char *query)
{
    char buf[32];
    int64_t v;
    int rc;

    rc = api_text_query_param(query, "limit", buf, sizeof(buf));
    if (rc < 0 || (rc == 1 && buf[0] != '\0' && api_text_parse_uint(buf, 1000000000, &v) != 0)) {
        api_respond_error(&l->base, 422, "limit", "must be a positive integer");
        return -1;
    }
    if (rc == 0 || buf[0] == '\0')
        v = API_LIST_LIMIT_DEFAULT;
    if (v < 1) {
        api_respond_error(&l->base, 422, "limit", "must be a positive integer");
        return -1;
    }
    if (v > API_LIST_LIMIT_MAX)
        v = API_LIST_LIMIT_MAX;
    snprintf(l->limit, sizeof(l->limit), "%lld", (long long)v);

    rc = api_text_query_param(query, "offset", buf, sizeof(buf));
    if (rc < 0 ||
        (rc == 1 && buf[0] != '\0' && api_text_parse_uint(buf, API_LIST_OFFSET_MAX, &v) != 0)) {
        api_respond_error(&l->base, 422, "offset", "must be a non-negative integer");
        return -1;
    }
    if (rc == 0 || buf[0] == '\0')
        v = 0;
    snprintf(l->offset, sizeof(l->offset), "%lld", (long long)v);
    return 0;
}

/* Read one text filter; 1 set, 0 absent or empty, -1 after answering 422. */
static int articles_parse_filter(struct list_req *l, const char *query, const char *name, char *out,
                                 size_t outlen)
{
    int rc = api_text_query_param(query, name, out, outlen);

    if (rc < 0) {
        api_respond_error(&l->base, 422, name, "is invalid");
        return -1;
    }
    return rc == 1 && out[0] != '\0' ? 1 : 0;
}

/* Run a list statement for l (viewer may be 0). */
static void articles_run_list(struct list_req *l)
{
    char id[API_ID_LEN];
    const char *vals[6];

    vals[0] = api_viewer_text(&l->base, id);
    vals[1] = l->limit;
    vals[2] = l->offset;
    vals[3] = l->tag[0] != '\0' ? l->tag : NULL;
    vals[4] = l->author[0] != '\0' ? l->author : NULL;
    vals[5] = l->favorited[0] != '\0' ? l->favorited : NULL;
    (void)api_db(&l->base, l->stmt, vals, articles_on_list);
}

/* The cache missed (or was not asked): read the page from PostgreSQL. */
static void articles_list_read(struct api_req *r)
{
    articles_run_list((struct list_req *)r);
}

/* The cache name of an anonymous list page into out (API_CACHE_NAME_MAX):
 * every parameter, each text with its length so no two queries share a
 * name. 0: not cached (a deep page, or too long a name). */
static size_t articles_list_name(const struct list_req *l, char *out)
{
    int n;

    if (strtoll(l->offset, NULL, 10) >= ARTICLES_CACHED_OFFSET)
        return 0;
    n = snprintf(out, API_CACHE_NAME_MAX, "l:%s:%s:%zu:%s:%zu:%s:%zu:%s", l->limit, l->offset,
                 strlen(l->tag), l->tag, strlen(l->author), l->author, strlen(l->favorited),
                 l->favorited);
    return n < 0 || n >= API_CACHE_NAME_MAX ? 0 : (size_t)n;
}

/* Answer an anonymous list from the cache, else (and for a viewer) from
 * PostgreSQL. */
static void articles_list_cached(struct list_req *l)
{
    char name[API_CACHE_NAME_MAX];

    if (l->base.viewer != 0) {
        articles_run_list(l);
        return;
    }
    api_cache_or_read(&l->base, true, name, articles_list_name(l, name), articles_list_read);
}

void api_articles_list(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct list_req));
    struct list_req *l = (struct list_req *)r;
    const char *q = http_request_query(req);
    int mask = 0, rc;

    if (r == NULL || api_auth(r, false) != 0 || articles_parse_page(l, q) != 0)
        return;
    if ((rc = articles_parse_filter(l, q, "tag", l->tag, sizeof(l->tag))) < 0)
        return;
    mask |= rc ? API_FILTER_TAG : 0;
    if ((rc = articles_parse_filter(l, q, "author", l->author, sizeof(l->author))) < 0)
        return;
    mask |= rc ? API_FILTER_AUTHOR : 0;
    if ((rc = articles_parse_filter(l, q, "favorited", l->favorited, sizeof(l->favorited))) < 0)
        return;
    mask |= rc ? API_FILTER_FAVORITED : 0;
    l->stmt = (r->viewer != 0 ? Q_LIST_BASE : Q_LIST_ANON_BASE) + mask;
    articles_list_cached(l);
}

void api_articles_feed(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct list_req));
    struct list_req *l = (struct list_req *)r;

    if (r == NULL || api_auth(r, true) != 0 || articles_parse_page(l, http_request_query(req)) != 0)
        return;
    l->stmt = Q_FEED;
    articles_run_list(l);
}

/* ---- one article ---- */

/* Answer {"article":{...}} (with body); reads that missed the cache fill
 * it, the author block apart (it ends before the closing "}}"). */
static void articles_on_one(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    struct jbuf b;
    size_t author_at;

    if (api_db_one_row(r, st, res, "article") != 0)
        return;
    jbuf_init(&b, 1024 + (size_t)PQgetlength(res, 0, AC_BODY) * 2);
    jbuf_puts(&b, "{\"article\":");
    api_write_article_at(&b, res, 0, true, &author_at);
    jbuf_putc(&b, '}');
    if (r->status == 200 && !b.failed && b.len >= author_at + 2) {
        char author[API_CACHE_NAME_MAX];
        if (api_name_author(api_col_int(res, 0, AC_AUTHOR_ID), author) > 0)
            api_cache_fill_linked(r, author, &b, author_at, b.len - 2 - author_at);
    }
    api_respond_json(r, r->status, &b);
}

/* Read the article by slug for r's viewer and answer status with it. */
static void articles_respond_one(struct api_req *r, const char *slug, int status)
{
    r->status = status;
    (void)api_db_viewer(r, r->viewer != 0 ? Q_ARTICLE_BY_SLUG : Q_ARTICLE_BY_SLUG_ANON, slug,
                        articles_on_one);
}

void api_articles_read(struct api_req *r)
{
    articles_respond_one(r, r->p1, 200);
}

void api_articles_get(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    char name[API_CACHE_NAME_MAX];

    if (r == NULL || api_auth(r, false) != 0)
        return;
    api_cache_or_read(r, false, name, api_name_article(r->p1, name), api_articles_read);
}

/* The write's cache keys are tombstoned: answer r->status with the article. */
static void articles_after_write(struct api_req *r)
{
    struct article_req *a = (struct article_req *)r;

    articles_respond_one(r, a->slug, r->status);
}

/* Invalidate what a write changed, then answer status with the article.
 * Every write bumps the lists generation (lists and the tag list); an
 * update (old_slug set) also tombstones the article under its new and old
 * slug; a new slug cannot be cached (deletes tombstone theirs; misses are
 * not stored), so a create (old_slug NULL) has no name to tombstone. */
static void articles_invalidate_and_answer(struct article_req *a, const char *old_slug, int status)
{
    char k1[API_CACHE_NAME_MAX], k2[API_CACHE_NAME_MAX];
    const char *names[2];
    int n = 0;

    if (old_slug != NULL) {
        api_name_article(a->slug, k1);
        names[n++] = k1;
        if (strcmp(old_slug, a->slug) != 0) {
            api_name_article(old_slug, k2);
            names[n++] = k2;
        }
    }
    a->base.status = status;
    api_invalidate(&a->base, names, n, articles_after_write);
}

/* Next slug to try: the base slug, then base + random suffix. */
static int articles_next_slug(struct article_req *a)
{
    if (a->tries++ == 0) {
        snprintf(a->slug, sizeof(a->slug), "%s", a->base_slug);
        return 0;
    }
    if (a->tries > ARTICLES_SLUG_TRIES)
        return -1;
    snprintf(a->slug, sizeof(a->slug), "%s", a->base_slug);
    return api_text_slug_suffix(a->slug);
}

/* True for a unique violation on the slug. */
static bool articles_slug_taken(enum db_status st, const PGresult *res)
{
    return st == DB_SQL_ERROR && strcmp(db_sqlstate(res), "23505") == 0 &&
           strcmp(db_constraint(res), "articles_slug_key") == 0;
}

/* ---- POST /api/articles and PUT /api/articles/:slug ---- */

static void articles_write(struct article_req *a);

/* The row is written (create: the new id; update: the slug), or the slug
 * was taken and the next one is tried. */
static void articles_on_write(enum db_status st, const PGresult *res, void *arg)
{
    struct article_req *a = arg;

    if (articles_slug_taken(st, res)) {
        articles_write(a);
        return;
    }
    /* No row: the article was deleted after the owner check. */
    if (api_db_one_row(&a->base, st, res, "article") != 0)
        return;
    if (a->article_id == 0) {
        articles_invalidate_and_answer(a, NULL, 201);
        return;
    }
    snprintf(a->slug, sizeof(a->slug), "%s", PQgetvalue(res, 0, 0));
    articles_invalidate_and_answer(a, a->base.p1, 200);
}

/* Send the INSERT (create) or the UPDATE with the next slug candidate; an
 * update that keeps its slug (base_slug empty) sends none. Both statements
 * take (slug, title, description, body, author or article id, tags). */
static void articles_write(struct article_req *a)
{
    bool create = a->article_id == 0;
    bool new_slug = create || a->base_slug[0] != '\0';
    char id[API_ID_LEN];
    const char *vals[6];

    if (new_slug && articles_next_slug(a) != 0) {
        api_respond_error(&a->base, 409, "slug", "has already been taken");
        return;
    }
    snprintf(id, sizeof(id), "%lld", (long long)(create ? a->base.viewer : a->article_id));
    vals[0] = new_slug ? a->slug : NULL;
    vals[1] = a->title;
    vals[2] = a->description;
    vals[3] = a->body;
    vals[4] = id;
    vals[5] = create && a->tags_json == NULL ? "[]" : a->tags_json;
    (void)api_db(&a->base, create ? Q_ARTICLE_INSERT : Q_ARTICLE_UPDATE, vals, articles_on_write);
}

/* Start a create or an update: context, token, then the "article" object
 * checked (every text field required on create; on update at least one
 * field). NULL: already answered. */
static struct article_req *
articles_start_write(struct http_request *req, const struct route_params *p, void *ctx, bool create)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct article_req));
    struct article_req *a = (struct article_req *)r;
    struct api_article_fields f = {0};
    struct api_errors errs = {0};
    const cJSON *obj;

    if (r == NULL)
        return NULL;
    r->cleanup = articles_cleanup;
    if (api_auth(r, true) != 0 || (obj = api_body_object(r, "article")) == NULL)
        return NULL;
    api_validate_article(obj, create, &f, &errs);
    a->title = f.title;
    a->description = f.description;
    a->body = f.body;
    a->tags_json = f.tags_json; /* articles_cleanup() frees it */
    if (errs.n > 0) {
        api_respond_errors(r, 422, &errs);
        return NULL;
    }
    return a;
}

void api_articles_create(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct article_req *a = articles_start_write(req, p, ctx, true);

    if (a == NULL)
        return;
    api_text_slugify(a->title, a->base_slug);
    articles_write(a);
}

/* ---- PUT /api/articles/:slug ---- */

/* Does slug already derive from base (equal, or base + "-" + 8 chars)? */
static bool articles_slug_derives(const char *slug, const char *base)
{
    size_t n = strlen(base);

    return strncmp(slug, base, n) == 0 &&
           (slug[n] == '\0' || (slug[n] == '-' && strlen(slug + n + 1) == 8));
}

/* Update: the owner check answered. */
static void articles_update_on_owner(enum db_status st, const PGresult *res, void *arg)
{
    struct article_req *a = arg;

    if (api_db_one_row(&a->base, st, res, "article") != 0)
        return;
    if (api_col_int(res, 0, 1) != a->base.viewer) {
        api_respond_error(&a->base, 403, "article", "forbidden");
        return;
    }
    a->article_id = api_col_int(res, 0, 0);
    /* A title that still yields the current slug keeps it. */
    if (a->base_slug[0] != '\0' && articles_slug_derives(a->base.p1, a->base_slug))
        a->base_slug[0] = '\0';
    articles_write(a);
}

void api_articles_update(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct article_req *a = articles_start_write(req, p, ctx, false);
    const char *vals[1];

    if (a == NULL)
        return;
    if (a->title != NULL)
        api_text_slugify(a->title, a->base_slug);
    snprintf(a->slug, sizeof(a->slug), "%s", a->base.p1);
    vals[0] = a->base.p1;
    (void)api_db(&a->base, Q_ARTICLE_OWNER, vals, articles_update_on_owner);
}

/* ---- DELETE /api/articles/:slug ---- */

/* Delete: caches are clean; 204. */
static void articles_delete_done(struct api_req *r)
{
    api_respond_empty(r, 204);
}

/* Delete: row (author, deleted count) or none. */
static void articles_delete_on_delete(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    char name[API_CACHE_NAME_MAX];
    const char *names[1] = {name};

    if (api_db_one_row(r, st, res, "article") != 0)
        return;
    if (api_col_int(res, 0, 0) != r->viewer) {
        api_respond_error(r, 403, "article", "forbidden");
        return;
    }
    if (api_col_int(res, 0, 1) != 1) {
        /* Ours, but a concurrent delete got there first. */
        api_respond_error(r, 404, "article", "not found");
        return;
    }
    api_name_article(r->p1, name);
    api_invalidate(r, names, 1, articles_delete_done);
}

void api_articles_delete(struct http_request *req, const struct route_params *p, void *ctx)
{
    api_route_viewer(ctx, req, p, true, Q_ARTICLE_DELETE, articles_delete_on_delete);
}
