/*
 * api_respond.c: helpers every Conduit route uses: the request context,
 * responses (JSON, errors, 503), authentication, body parsing, database
 * calls, cache names, reads, fills and invalidation, and the JSON writers
 * for profiles and articles.
 *
 * Error bodies are {"errors":{"<field>":["<message>"]}}. Internal details
 * (SQL errors, Redis errors) are logged, never sent.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "json_input.h"
#include "log.h"

struct api_req *api_req_new(struct api *api, struct http_request *req,
                            const struct route_params *params, size_t size)
{
    struct api_req *r = calloc(1, size);

    if (r == NULL) {
        static const char body[] = "{\"errors\":{\"server\":[\"out of memory\"]}}";
        if (http_response_header(req, "Retry-After", "1") != 0)
            log_warn("api: cannot add a header", "");
        (void)http_respond(req, 503, "application/json", body, sizeof(body) - 1);
        return NULL;
    }
    r->api = api;
    r->req = req;
    if (params != NULL) {
        if (params->count > 0)
            snprintf(r->p1, sizeof(r->p1), "%s", params->p[0].value);
        if (params->count > 1)
            snprintf(r->p2, sizeof(r->p2), "%s", params->p[1].value);
    }
    return r;
}

/* Free a request context (the one place this happens). */
static void api_req_free(struct api_req *r)
{
    if (r->cleanup != NULL)
        r->cleanup(r);
    cJSON_Delete(r->json);
    free(r);
}

/* Headers every API response carries. */
static void api_common_headers(struct api_req *r)
{
    if (api_cors_headers(r->api->settings, r->req) != 0)
        log_warn("api: cannot add CORS headers", "");
}

void api_respond_json(struct api_req *r, int status, struct jbuf *body)
{
    size_t len = 0;
    char *data = jbuf_take(body, &len);

    if (data == NULL) {
        api_respond_error(r, 503, "server", "out of memory");
        return;
    }
    api_common_headers(r);
    (void)http_respond_json_owned(r->req, status, data, len);
    api_req_free(r);
}

void api_respond_raw(struct api_req *r, int status, const char *body, size_t len)
{
    api_common_headers(r);
    (void)http_respond(r->req, status, "application/json", body, len);
    api_req_free(r);
}

void api_respond_empty(struct api_req *r, int status)
{
    api_common_headers(r);
    (void)http_respond(r->req, status, NULL, NULL, 0);
    api_req_free(r);
}

void api_errors_add(struct api_errors *errs, const char *field, const char *message)
{
    if (errs->n < (int)(sizeof(errs->e) / sizeof(errs->e[0]))) {
        errs->e[errs->n].field = field;
        errs->e[errs->n].message = message;
        errs->n++;
    }
}

void api_respond_errors(struct api_req *r, int status, const struct api_errors *errs)
{
    struct jbuf b;

    jbuf_init(&b, 128);
    jbuf_puts(&b, "{\"errors\":{");
    for (int i = 0; i < errs->n; i++) {
        if (i > 0)
            jbuf_putc(&b, ',');
        jbuf_str(&b, errs->e[i].field);
        jbuf_puts(&b, ":[");
        jbuf_str(&b, errs->e[i].message);
        jbuf_puts(&b, "]");
    }
    jbuf_puts(&b, "}}");
    if (status == 503 || status == 429) {
        /* Callers set Retry-After themselves for 429. */
        if (status == 503 && http_response_header(r->req, "Retry-After", "1") != 0)
            log_warn("api: cannot add a header", "");
    }
    {
        size_t len = 0;
        char *data = jbuf_take(&b, &len);
        api_common_headers(r);
        if (data == NULL) {
            static const char oom[] = "{\"errors\":{\"server\":[\"out of memory\"]}}";
            (void)http_respond(r->req, 503, "application/json", oom, sizeof(oom) - 1);
        } else {
            (void)http_respond_json_owned(r->req, status, data, len);
        }
    }
    api_req_free(r);
}

void api_respond_error(struct api_req *r, int status, const char *field, const char *message)
{
    struct api_errors errs = {0};

    api_errors_add(&errs, field, message);
    api_respond_errors(r, status, &errs);
}

void api_respond_db_unavailable(struct api_req *r)
{
    api_respond_error(r, 503, "database", "unavailable");
}

void api_respond_db_failure(struct api_req *r, enum db_status st, const PGresult *res)
{
    const char *state = db_sqlstate(res);

    if (st == DB_UNAVAILABLE) {
        api_respond_db_unavailable(r);
    } else if (strcmp(state, "23503") == 0) {
        /* A row referenced by the write vanished meanwhile (a concurrent
         * delete): name what is gone. A missing viewer means the token's
         * user no longer exists. */
        const char *c = db_constraint(res);
        if (strstr(c, "_article_id_") != NULL)
            api_respond_error(r, 404, "article", "not found");
        else if (strstr(c, "_followee_id_") != NULL)
            api_respond_error(r, 404, "profile", "not found");
        else
            api_respond_error(r, 401, "token", "is invalid");
    } else if (strncmp(state, "22", 2) == 0) {
        api_respond_error(r, 422, "request", "invalid value");
    } else {
        log_error("api: unexpected database error", "\"sqlstate\":\"%s\"", state);
        api_respond_error(r, 500, "server", "internal error");
    }
}

int api_auth(struct api_req *r, bool required)
{
    const char *header = http_request_header(r->req, "Authorization");
    const char *token;
    int64_t id = 0;

    if (header == NULL || header[0] == '\0') {
        if (!required)
            return 0;
        api_respond_error(r, 401, "token", "is missing");
        return -1;
    }
    token = api_text_auth_token(header);
    if (token == NULL ||
        jwt_verify(r->api->jwt_secret, r->api->jwt_secret_len, token, time(NULL), &id) != JWT_OK) {
        api_respond_error(r, 401, "token", "is invalid");
        return -1;
    }
    r->viewer = id;
    r->token = token;
    return 0;
}

int api_token_sign(struct api *api, int64_t user_id, char *out, size_t outlen)
{
    int ttl = api->settings->jwt_ttl_s > 0 ? api->settings->jwt_ttl_s : 86400;

    return jwt_sign(api->jwt_secret, api->jwt_secret_len, user_id, time(NULL), ttl, out, outlen) < 0
               ? -1
               : 0;
}

const cJSON *api_body_object(struct api_req *r, const char *key)
{
    size_t len = 0;
    const char *body = http_request_body(r->req, &len);
    enum json_input_error err;
    const cJSON *obj;

    r->json = json_input_parse(body, len, JSON_INPUT_MAX_DEPTH, &err);
    if (r->json == NULL) {
        const char *msg = "body is not valid JSON";
        if (err == JSON_INPUT_EMPTY)
            msg = "body is empty";
        else if (err == JSON_INPUT_BAD_UTF8)
            msg = "body is not valid UTF-8";
        else if (err == JSON_INPUT_TOO_DEEP)
            msg = "body is nested too deeply";
        else if (err == JSON_INPUT_NUL)
            msg = "body contains a NUL or control character";
        api_respond_error(r, 422, "request", msg);
        return NULL;
    }
    if (!cJSON_IsObject(r->json)) {
        api_respond_error(r, 422, "request", "body must be a JSON object");
        return NULL;
    }
    obj = cJSON_GetObjectItemCaseSensitive(r->json, key);
    if (obj == NULL || cJSON_IsNull(obj)) {
        api_respond_error(r, 422, key, "can't be blank");
        return NULL;
    }
    if (!cJSON_IsObject(obj)) {
        api_respond_error(r, 422, key, "must be an object");
        return NULL;
    }
    return obj;
}

const char *api_viewer_text(const struct api_req *r, char buf[API_ID_LEN])
{
    if (r->viewer == 0)
        return NULL;
    snprintf(buf, API_ID_LEN, "%lld", (long long)r->viewer);
    return buf;
}

int api_db(struct api_req *r, int stmt, const char *const *values, db_done_fn fn)
{
    struct api *api = r->api;

    (void)clock_gettime(CLOCK_MONOTONIC, &r->read_started);
    if (api->db == NULL || api->stopping || db_query(api->db, stmt, values, fn, r) != 0) {
        api_respond_db_unavailable(r);
        return -1;
    }
    return 0;
}

int api_db_viewer(struct api_req *r, int stmt, const char *param, db_done_fn fn)
{
    char id[API_ID_LEN];
    const char *vals[2] = {param, api_viewer_text(r, id)};

    return api_db(r, stmt, vals, fn);
}

void api_route_viewer(void *ctx, struct http_request *req, const struct route_params *p,
                      bool auth_required, int stmt, db_done_fn fn)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));

    if (r == NULL || api_auth(r, auth_required) != 0)
        return;
    (void)api_db_viewer(r, stmt, r->p1, fn);
}

int api_db_one_row(struct api_req *r, enum db_status st, const PGresult *res, const char *what)
{
    if (st != DB_OK) {
        api_respond_db_failure(r, st, res);
        return -1;
    }
    if (PQntuples(res) != 1) {
        api_respond_error(r, 404, what, "not found");
        return -1;
    }
    return 0;
}

/* kind + name into out (API_CACHE_NAME_MAX bytes); the length, or 0 when
 * it does not fit (nothing is cached under a cut name). */
static size_t api_name(const char *kind, const char *name, char *out)
{
    int n = snprintf(out, API_CACHE_NAME_MAX, "%s%s", kind, name);

    return n < 0 || n >= API_CACHE_NAME_MAX ? 0 : (size_t)n;
}

size_t api_name_article(const char *slug, char *out)
{
    return api_name("a:", slug, out);
}

size_t api_name_profile(const char *username, char *out)
{
    return api_name("p:", username, out);
}

size_t api_name_author(int64_t user_id, char *out)
{
    char id[API_ID_LEN];

    snprintf(id, sizeof(id), "%lld", (long long)user_id);
    return api_name("u:", id, out);
}

/* The cache answered a read: a hit is the answer, a miss reads PostgreSQL. */
static void api_on_cache_get(const struct cache_hit *hit, void *arg)
{
    struct api_req *r = arg;
    struct jbuf b;

    if (hit == NULL) {
        r->on_miss(r);
        return;
    }
    if (hit->nparts == 1) {
        api_respond_raw(r, 200, hit->part[0], hit->len[0]);
        return;
    }
    jbuf_init(&b, hit->len[0] + hit->len[1] + hit->len[2]);
    for (int i = 0; i < hit->nparts; i++)
        jbuf_put(&b, hit->part[i], hit->len[i]);
    api_respond_json(r, 200, &b);
}

void api_cache_or_read(struct api_req *r, bool lists, const char *name, size_t nlen,
                       void (*read)(struct api_req *r))
{
    r->on_miss = read;
    if (r->viewer != 0 || nlen == 0 ||
        cache_get(r->api->cache, lists ? CACHE_GEN_LISTS : NULL, name, nlen, &r->lookup,
                  api_on_cache_get, r) != 0)
        read(r);
}

void api_cache_fill(struct api_req *r, const struct jbuf *body)
{
    if (!body->failed && r->api->cache != NULL)
        cache_put(r->api->cache, &r->lookup, body->data, body->len, &r->read_started);
}

void api_cache_fill_linked(struct api_req *r, const char *ref, const struct jbuf *body,
                           size_t hole_at, size_t hole_len)
{
    if (!body->failed && r->api->cache != NULL)
        cache_put_linked(r->api->cache, &r->lookup, ref, body->data, body->len, hole_at, hole_len,
                         &r->read_started);
}

/* The invalidation is acknowledged (or failed: the cache is then not
 * trusted): continue the request. */
static void api_on_invalidated(void *arg)
{
    struct api_req *r = arg;

    r->after_invalidate(r);
}

void api_invalidate(struct api_req *r, const char *const *names, int n,
                    void (*fn)(struct api_req *r))
{
    size_t lens[CACHE_INVALIDATE_MAX];
    const char *gens[1] = {CACHE_GEN_LISTS};

    if (n > CACHE_INVALIDATE_MAX)
        n = CACHE_INVALIDATE_MAX;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(names[i]);
    r->after_invalidate = fn;
    if (r->api->cache == NULL ||
        cache_invalidate(r->api->cache, names, lens, n, gens, 1, api_on_invalidated, r) != 0)
        fn(r);
}

const char *api_col(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int64_t api_col_int(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool api_col_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

void api_write_time(struct jbuf *b, const char *key, const char *pg, char ts[API_TIME_LEN])
{
    if (api_text_pg_time(pg, ts) != 0)
        log_warn("api: unexpected timestamp from the database", "");
    jbuf_puts(b, key);
    jbuf_putc(b, '"');
    jbuf_put(b, ts, API_TIME_LEN - 1);
    jbuf_putc(b, '"');
}

void api_write_profile(struct jbuf *b, const char *username, const char *bio, const char *image,
                       bool following)
{
    jbuf_puts(b, "{\"username\":");
    jbuf_str(b, username != NULL ? username : "");
    jbuf_puts(b, ",\"bio\":");
    jbuf_str_or_null(b, bio);
    jbuf_puts(b, ",\"image\":");
    jbuf_str_or_null(b, image);
    jbuf_puts(b, following ? ",\"following\":true}" : ",\"following\":false}");
}

void api_write_article(struct jbuf *b, const PGresult *res, int row, bool with_body)
{
    size_t author_at;

    api_write_article_at(b, res, row, with_body, &author_at);
}

void api_write_article_at(struct jbuf *b, const PGresult *res, int row, bool with_body,
                          size_t *author_at)
{
    char ts[API_TIME_LEN];

    jbuf_puts(b, "{\"slug\":");
    jbuf_str(b, PQgetvalue(res, row, AC_SLUG));
    jbuf_puts(b, ",\"title\":");
    jbuf_str(b, PQgetvalue(res, row, AC_TITLE));
    jbuf_puts(b, ",\"description\":");
    jbuf_str(b, PQgetvalue(res, row, AC_DESCRIPTION));
    if (with_body) {
        jbuf_puts(b, ",\"body\":");
        jbuf_str(b, PQgetvalue(res, row, AC_BODY));
    }
    jbuf_puts(b, ",\"tagList\":");
    if (api_text_pg_array_json(PQgetvalue(res, row, AC_TAGS), b) != 0)
        log_warn("api: unexpected tag list from the database", "");
    api_write_time(b, ",\"createdAt\":", PQgetvalue(res, row, AC_CREATED), ts);
    api_write_time(b, ",\"updatedAt\":", PQgetvalue(res, row, AC_UPDATED), ts);
    jbuf_puts(b, api_col_bool(res, row, AC_FAVORITED) ? ",\"favorited\":true"
                                                      : ",\"favorited\":false");
    jbuf_puts(b, ",\"favoritesCount\":");
    jbuf_int(b, api_col_int(res, row, AC_FAVORITES_COUNT));
    jbuf_puts(b, ",\"author\":");
    *author_at = b->len;
    api_write_profile(b, PQgetvalue(res, row, AC_USERNAME), api_col(res, row, AC_BIO),
                      api_col(res, row, AC_IMAGE), api_col_bool(res, row, AC_FOLLOWING));
    jbuf_putc(b, '}');
}
