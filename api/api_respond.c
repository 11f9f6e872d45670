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

#include <openssl/sha.h>

#include "api_internal.h"
#include "json_input.h"
#include "log.h"
#include "netaddr.h"
#include "proc.h"
#include "settings.h"

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
    free(r->held_values);
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
    } else if (st == DB_OVERLOADED) {
        /* Shed by the pool's queue timeout before any work was done. */
        api_respond_error(r, 503, "server", "overloaded");
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
    int64_t id = 0, ver = 0;

    if (header == NULL || header[0] == '\0') {
        if (!required)
            return 0;
        api_respond_error(r, 401, "token", "is missing");
        return -1;
    }
    token = api_text_auth_token(header);
    if (token == NULL || jwt_verify_ver(r->api->jwt_secret, r->api->jwt_secret_len, token,
                                        time(NULL), &id, &ver) != JWT_OK) {
        api_respond_error(r, 401, "token", "is invalid");
        return -1;
    }
    r->viewer = id;
    r->token = token;
    r->token_ver = ver;
    return 0;
}

/* The presented token's SHA-256 as hex into out, and its first 8 bytes
 * into *key (0 for an anonymous request). */
static const char *api_token_hash(const struct api_req *r, char out[API_TOKEN_DIGEST_LEN],
                                  uint64_t *key)
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    out[0] = '\0';
    *key = 0;
    if (r->token == NULL)
        return out;
    SHA256((const unsigned char *)r->token, strlen(r->token), md);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    memcpy(key, md, sizeof(*key));
    return out;
}

const char *api_token_digest(const struct api_req *r, char out[API_TOKEN_DIGEST_LEN])
{
    uint64_t key;

    return api_token_hash(r, out, &key);
}

void api_token_seen_forget(struct api *api, int64_t user_id)
{
    for (int i = 0; i < API_TOKEN_SEEN_SLOTS; i++)
        if (api->token_seen[i].user == user_id)
            memset(&api->token_seen[i], 0, sizeof(api->token_seen[i]));
}

/* The entry a token key maps to. */
static struct api_token_seen *api_token_seen_slot(struct api *api, uint64_t key)
{
    return &api->token_seen[key % API_TOKEN_SEEN_SLOTS];
}

int api_token_sign(struct api *api, int64_t user_id, int64_t ver, char *out, size_t outlen)
{
    int ttl = api->settings->jwt_ttl_s > 0 ? api->settings->jwt_ttl_s : 86400;

    return jwt_sign_ver(api->jwt_secret, api->jwt_secret_len, user_id, ver, time(NULL), ttl, out,
                        outlen) < 0
               ? -1
               : 0;
}

const cJSON *api_body_object_limited(struct api_req *r, const char *key, size_t max_bytes)
{
    struct api_errors errs = {0};
    size_t len = 0;
    const char *body = http_request_body(r->req, &len);
    const cJSON *obj;
    int status;

    obj = api_validate_body(body, len, max_bytes, key, &r->json, &errs, &status);
    if (obj == NULL)
        api_respond_errors(r, status, &errs);
    return obj;
}

const cJSON *api_body_object(struct api_req *r, const char *key)
{
    return api_body_object_limited(r, key, 0);
}

void api_body_release(struct api_req *r)
{
    cJSON_Delete(r->json);
    r->json = NULL;
}

const char *api_client_addr(const struct api_req *r, char *out)
{
    return netaddr_client(http_request_peer(r->req),
                          http_request_header_last(r->req, "X-Forwarded-For"),
                          &r->api->settings->trusted_proxies, out);
}

const char *api_viewer_text(const struct api_req *r, char buf[API_ID_LEN])
{
    if (r->viewer == 0)
        return NULL;
    snprintf(buf, API_ID_LEN, "%lld", (long long)r->viewer);
    return buf;
}

/* Send stmt now. */
static int api_db_send(struct api_req *r, int stmt, const char *const *values, db_done_fn fn)
{
    struct api *api = r->api;

    (void)clock_gettime(CLOCK_MONOTONIC, &r->read_started);
    if (api->db == NULL || api->stopping || db_query(api->db, stmt, values, fn, r) != 0) {
        api_respond_db_unavailable(r);
        return -1;
    }
    return 0;
}

/* Copy a statement's parameters into r (held_values, held_null); 0 or -1. */
static int api_db_hold(struct api_req *r, int stmt, const char *const *values, db_done_fn fn)
{
    int n = r->api->stmts[stmt].nparams;
    size_t total = 1, o = 0;

    for (int i = 0; i < n; i++)
        total += values[i] != NULL ? strlen(values[i]) + 1 : 0;
    r->held_values = malloc(total);
    if (r->held_values == NULL)
        return -1;
    r->held_null = 0;
    for (int i = 0; i < n; i++) {
        if (values[i] == NULL) {
            r->held_null |= 1u << i;
            continue;
        }
        size_t len = strlen(values[i]) + 1;
        memcpy(r->held_values + o, values[i], len);
        o += len;
    }
    r->held_stmt = stmt;
    r->held_fn = fn;
    return 0;
}

/* The token check answered: 401 for a stale token, else send the held
 * statement. */
static void api_db_on_token_check(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;
    const char *values[DB_MAX_PARAMS];
    const char *p;
    int n;

    if (st != DB_OK) {
        api_respond_db_failure(r, st, res);
        return;
    }
    if (PQntuples(res) != 1) {
        api_respond_error(r, 401, "token", "is invalid");
        return;
    }
    r->token_checked = true;
    {
        char digest[API_TOKEN_DIGEST_LEN];
        uint64_t key;
        struct api_token_seen *seen;
        (void)api_token_hash(r, digest, &key);
        seen = api_token_seen_slot(r->api, key);
        seen->key = key;
        seen->user = r->viewer;
        seen->checked_ms = proc_mono_ms();
    }
    n = r->api->stmts[r->held_stmt].nparams;
    p = r->held_values;
    for (int i = 0; i < n; i++) {
        if (r->held_null & (1u << i)) {
            values[i] = NULL;
        } else {
            values[i] = p;
            p += strlen(p) + 1;
        }
    }
    /* db_query() copies the parameters, so held_values may go with r. */
    (void)api_db_send(r, r->held_stmt, values, r->held_fn);
}

int api_db(struct api_req *r, int stmt, const char *const *values, db_done_fn fn)
{
    char id[API_ID_LEN], ver[API_ID_LEN], digest[API_TOKEN_DIGEST_LEN];
    const char *check[3];
    const struct api_token_seen *seen;
    uint64_t key;

    if (r->viewer == 0 || r->token_checked)
        return api_db_send(r, stmt, values, fn);
    (void)api_token_hash(r, digest, &key);
    seen = api_token_seen_slot(r->api, key);
    if (seen->user == r->viewer && seen->key == key &&
        proc_mono_ms() - seen->checked_ms < API_TOKEN_SEEN_MS) {
        r->token_checked = true;
        return api_db_send(r, stmt, values, fn);
    }
    if (api_db_hold(r, stmt, values, fn) != 0) {
        api_respond_error(r, 503, "server", "out of memory");
        return -1;
    }
    snprintf(ver, sizeof(ver), "%lld", (long long)r->token_ver);
    check[0] = api_viewer_text(r, id);
    check[1] = ver;
    check[2] = digest;
    return api_db_send(r, Q_TOKEN_CHECK, check, api_db_on_token_check);
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
