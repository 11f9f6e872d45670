/*
 * api_internal.h: what the Conduit API's files share: the per-worker state,
 * the per-request context, response helpers, authentication, the SQL
 * statement table and the JSON writers for users, profiles and articles.
 *
 * Request life: a handler allocates its context with api_req_new(), starts
 * asynchronous steps (rate limit, database, cache, hashing) whose callbacks
 * carry the context, and ends with exactly one api_respond_*() call, which
 * sends the response and frees the context. After that call the handler
 * must not touch the context again: return at once.
 */
#ifndef CONDUIT_API_INTERNAL_H
#define CONDUIT_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "api.h"
#include "api_text.h"
#include "api_validate.h"
#include "cache.h"
#include "db.h"
#include "http.h"
#include "jbuf.h"
#include "jwt.h"
#include "password.h"
#include "router.h"

#define API_LIST_LIMIT_DEFAULT 20
#define API_LIST_LIMIT_MAX     100
#define API_LIST_OFFSET_MAX    1000000000
/* Comments in one GET .../comments answer: the newest this many, oldest
 * first (about 190 KB at the benchmark's comment size; an article with
 * 50,000 comments would otherwise answer 18.8 MB). */
#define API_COMMENTS_MAX 500
/* Queries waiting for a database connection before new ones get 503. */
#define API_DB_QUEUE_MAX 1024
/* Queries in flight per connection. Measured here (2 cores, 32 clients,
 * GET /api/articles/:slug without cache): depth 1 and 2 give the same
 * throughput and p99 (~6-9 ms); 4 gives +10% req/s but twice the p99, 16
 * worse still (queries stall behind a descheduled backend). */
#define API_DB_PIPELINE_DEPTH 2

/* The prepared statements; SQL text in api_sql.c. */
enum api_stmt {
    Q_TOKEN_CHECK, /* the token's version is the user's current one */
    Q_USER_BY_ID,
    Q_USER_BY_EMAIL,
    Q_USER_TAKEN,
    Q_USER_INSERT,
    Q_USER_UPDATE,
    Q_PROFILE_GET,
    Q_FOLLOW,
    Q_UNFOLLOW,
    Q_ARTICLE_BY_SLUG,
    Q_ARTICLE_BY_SLUG_ANON,
    Q_ARTICLE_OWNER,
    Q_ARTICLE_INSERT,
    Q_ARTICLE_UPDATE,
    Q_ARTICLE_DELETE,
    Q_FAVORITE,
    Q_UNFAVORITE,
    Q_COMMENTS_LIST,
    Q_COMMENT_INSERT,
    Q_COMMENT_DELETE,
    Q_TAGS,
    Q_TAGS_VERSION,
    Q_FEED,
    Q_LIST_BASE, /* + filter mask (API_FILTER_*): 8 statements */
    /* The same 8 for anonymous readers: favorited/following are constant
     * false (no per-row tests to run). */
    Q_LIST_ANON_BASE = Q_LIST_BASE + 8,
    Q__COUNT = Q_LIST_ANON_BASE + 8
};

#define API_FILTER_TAG       1
#define API_FILTER_AUTHOR    2
#define API_FILTER_FAVORITED 4

/* Columns of every article row (Q_ARTICLE_BY_SLUG, lists, feed). */
enum api_article_col {
    AC_ID,
    AC_SLUG,
    AC_TITLE,
    AC_DESCRIPTION,
    AC_BODY,    /* NULL in lists */
    AC_CREATED, /* timestamptz text, session TimeZone UTC */
    AC_UPDATED,
    AC_TAGS, /* text[] literal, tags in byte order */
    AC_FAVORITES_COUNT,
    AC_FAVORITED,
    AC_USERNAME,
    AC_BIO,
    AC_IMAGE,
    AC_FOLLOWING,
    AC_AUTHOR_ID,
    AC__COUNT /* lists add the total count here */
};

/* Fill st[Q__COUNT] with every statement (api_sql.c); 0, or -1 out of
 * memory. api_sql_free() releases the generated SQL texts. */
int api_sql_build(struct db_stmt *st) __attribute__((warn_unused_result));
void api_sql_free(struct db_stmt *st);

/* Tokens this worker checked lately (direct-mapped by the token's digest):
 * one checked less than API_TOKEN_SEEN_MS ago skips the check query, so a
 * busy client costs one check per second per worker, not one per request.
 * A password change clears its user's entries on the worker that made it;
 * other workers refuse the old tokens within API_TOKEN_SEEN_MS. */
#define API_TOKEN_SEEN_SLOTS 1024
#define API_TOKEN_SEEN_MS    1000
struct api_token_seen {
    uint64_t key;       /* first 8 bytes of the token's SHA-256 */
    int64_t user;       /* 0: empty */
    int64_t checked_ms; /* proc_mono_ms() of the check */
};

/* The worker's copy of GET /api/tags's body and the tag list version it
 * was built at (migration 0011); body NULL until the first read. */
struct api_tags_copy {
    long long version;
    char *body;
    size_t len;
};

/* Per-worker API state (api_start). */
struct api {
    const struct settings *settings;
    struct event_base *base;
    struct sb_slot *slot;
    const struct router *router;
    struct db_pool *db;   /* NULL without DATABASE_URL: DB routes answer 503 */
    struct cache *cache;  /* NULL without REDIS_URL */
    struct ratelimit *rl; /* over cache; fails open without it */
    struct password_pool *pw;
    struct db_stmt stmts[Q__COUNT];
    struct api_token_seen token_seen[API_TOKEN_SEEN_SLOTS];
    struct api_tags_copy tags; /* GET /api/tags's last list (api_tags.c) */
    char jwt_secret[1024];
    size_t jwt_secret_len;
    bool stopping;
};

/* Per-request context; handlers that need more embed it as first member. */
struct api_req {
    struct api *api;
    struct http_request *req;
    int64_t viewer;    /* authenticated user id, 0 for anonymous */
    const char *token; /* the presented JWT (points into the request) */
    int64_t token_ver; /* its "ver" claim */
    /* The token's version was compared with users.token_version (by
     * api_db()'s check or by the route's own statement). */
    bool token_checked;
    /* A statement held back until the token check answers (api_db). */
    int held_stmt;
    db_done_fn held_fn;
    char *held_values;  /* the parameters, copied: NUL-separated, owned */
    unsigned held_null; /* bit i: parameter i is NULL */
    cJSON *json;        /* parsed request body, owned */
    /* Route parameters, copied: the router's copy lives on its stack. */
    char p1[ROUTER_PARAM_MAX];
    char p2[ROUTER_PARAM_MAX];
    void (*cleanup)(struct api_req *r);          /* frees the embedding struct's extras */
    void (*after_invalidate)(struct api_req *r); /* see api_invalidate */
    void (*on_miss)(struct api_req *r);          /* see api_cache_or_read */
    int status;                                  /* for handlers that answer after several steps */
    struct timespec read_started;                /* start of the last query (api_db) */
    struct cache_lookup lookup; /* where this request's cache read resolved (api_cache_or_read) */
};

/* Room for an int64 in decimal and its NUL. */
#define API_ID_LEN 24

/* The per-worker API state from a handler's ctx (the worker passes it). */
struct api *api_from_ctx(void *ctx);

/* Allocate size bytes (>= sizeof(struct api_req)), zeroed, and copy the
 * first two route parameters. NULL: already answered 503 (out of memory). */
struct api_req *api_req_new(struct api *api, struct http_request *req,
                            const struct route_params *params, size_t size);

/* Add Access-Control-Allow-Origin (and Vary) for the request's Origin
 * according to cors_origins (api.c). 0 or -1. */
int api_cors_headers(const struct settings *s, struct http_request *req)
    __attribute__((warn_unused_result));

/* ---- responses: each sends and frees r (and r->json, and extras) ---- */
void api_respond_json(struct api_req *r, int status, struct jbuf *body);
void api_respond_raw(struct api_req *r, int status, const char *body, size_t len);
void api_respond_empty(struct api_req *r, int status);
void api_respond_error(struct api_req *r, int status, const char *field, const char *message);
/* 503 {"errors":{"database":["unavailable"]}} with Retry-After. */
void api_respond_db_unavailable(struct api_req *r);
/* Answer a database callback's failure: 503 for DB_UNAVAILABLE and unknown
 * SQL errors, 503 {"errors":{"server":["overloaded"]}} for DB_OVERLOADED
 * (shed by the queue timeout; both with Retry-After), 401 for a token whose user no longer exists
 * (FK violation). */
void api_respond_db_failure(struct api_req *r, enum db_status st, const PGresult *res);

/* Answer the field errors (struct api_errors, api_validate.h). */
void api_respond_errors(struct api_req *r, int status, const struct api_errors *errs);

/* ---- authentication ---- */
/* Read the Authorization header. required: missing gives 401 "is missing".
 * A present but bad token always gives 401 "is invalid". Returns 0 (viewer
 * set, or anonymous), or -1 after answering. */
int api_auth(struct api_req *r, bool required) __attribute__((warn_unused_result));
/* Room for a token's SHA-256 in hex and its NUL. */
#define API_TOKEN_DIGEST_LEN 65
/* The presented token's SHA-256 in hex into out (the key of
 * users.password_changed_by); "" for an anonymous request. Returns out. */
const char *api_token_digest(const struct api_req *r, char out[API_TOKEN_DIGEST_LEN]);
/* Forget the checked tokens of user_id (after a password change). */
void api_token_seen_forget(struct api *api, int64_t user_id);
/* Sign a token for user_id with token version ver into out; 0 or -1. */
int api_token_sign(struct api *api, int64_t user_id, int64_t ver, char *out, size_t outlen)
    __attribute__((warn_unused_result));

/* The client's address (behind --trusted-proxies, from X-Forwarded-For;
 * see netaddr.h) into out (NETADDR_TEXT_MAX bytes). Returns out. */
const char *api_client_addr(const struct api_req *r, char *out);

/* The viewer's id as decimal text in buf, or NULL for an anonymous reader
 * (a SQL NULL parameter). */
const char *api_viewer_text(const struct api_req *r, char buf[API_ID_LEN]);

/* ---- request bodies ---- */
/* Parse the body and return the object under key ("user", "article"...).
 * The bytes are scanned first (json_input.h), so the tree's cost is bounded
 * before cJSON builds it. NULL: already answered 413 (more bytes than
 * max_bytes, or more than JSON_INPUT_MAX_NODES values) or 422 (malformed
 * JSON, too deep, key missing/not an object). The tree is kept in r->json
 * until api_body_release() or the response. max_bytes 0: no limit beyond
 * the server's --max-body. */
const cJSON *api_body_object_limited(struct api_req *r, const char *key, size_t max_bytes);
/* api_body_object_limited(r, key, 0). */
const cJSON *api_body_object(struct api_req *r, const char *key);
/* Free the parsed body now (before a wait in a queue), once the fields the
 * request needs are copied out: nothing may point into it afterwards. */
void api_body_release(struct api_req *r);

/* ---- database ---- */
/* Run a statement for r. For a signed-in viewer whose token is not checked
 * yet, the statement waits for Q_TOKEN_CHECK first (one primary-key probe):
 * a token older than the user's last password change (other than the token
 * that made it) gets 401 and the statement never runs. Then run it, noting its start in
 * r->read_started (cache fills count from the start of the query that read the value); on refusal
 * answers 503 and returns -1 (r is gone). On 0, fn runs later exactly once. Either way the request
 * is taken care of, so callers may ignore the result (and must not touch r). */
int api_db(struct api_req *r, int stmt, const char *const *values, db_done_fn fn);
/* api_db() with $1 = param and $2 = the viewer's id (NULL when anonymous),
 * the parameters of every statement that reads or writes "for the viewer"
 * (statements with one parameter ignore $2). */
int api_db_viewer(struct api_req *r, int stmt, const char *param, db_done_fn fn);
/* A whole route that is one statement with (route parameter, viewer): new
 * context, token (required or optional), then api_db_viewer(stmt, first
 * route parameter, fn). */
void api_route_viewer(void *ctx, struct http_request *req, const struct route_params *p,
                      bool auth_required, int stmt, db_done_fn fn);
/* Check a callback's answer that must be exactly one row: 0 if it is;
 * otherwise -1 after answering (the database failure, or, for no row,
 * 404 {"errors":{"<what>":["not found"]}}). */
int api_db_one_row(struct api_req *r, enum db_status st, const PGresult *res, const char *what)
    __attribute__((warn_unused_result));

/* ---- cache ---- */
/* Cache entry names (the cache adds the namespace, store/cache.h) into out
 * (API_CACHE_NAME_MAX bytes); each returns the length. Articles "a:<slug>"
 * (linked to their author block "u:<author id>"), profiles "p:<username>",
 * the tag list "tags" and list pages (api_articles.c) under the lists
 * generation. */
#define API_CACHE_NAME_MAX 300
size_t api_name_article(const char *slug, char *out);
size_t api_name_profile(const char *username, char *out);
size_t api_name_author(int64_t user_id, char *out);
#define API_CACHE_NAME_TAGS "tags"
/* Answer an anonymous reader with the cached body under name (in the
 * lists generation when lists is true) (200); on a miss, when the cache is
 * off, down or not trusted, or for a signed-in reader (whose
 * favorited/following differ), run read(r), which answers from PostgreSQL.
 * A miss leaves r->lookup set for the fill. */
void api_cache_or_read(struct api_req *r, bool lists, const char *name, size_t nlen,
                       void (*read)(struct api_req *r));
/* Offer body (a complete 200 answer read by r's last query) to the cache
 * under the key r's lookup resolved; nothing happens when r made no lookup
 * (a signed-in reader, a write), the cache is off or body failed. */
void api_cache_fill(struct api_req *r, const struct jbuf *body);
/* The same, storing body[hole_at, hole_at + hole_len) apart under ref (an
 * article's author block under api_name_author): see store/cache.h. */
void api_cache_fill_linked(struct api_req *r, const char *ref, const struct jbuf *body,
                           size_t hole_at, size_t hole_len);
/* Tombstone up to CACHE_INVALIDATE_MAX names and bump the lists
 * generation (every write that calls this changes some list page or the
 * tag list), in one Redis command, then call fn(r) (at once if the cache
 * is off or down). names are copied before this returns. */
void api_invalidate(struct api_req *r, const char *const *names, int n,
                    void (*fn)(struct api_req *r));

/* ---- JSON writers (api.c) ---- */
/* A text column or NULL when SQL NULL. */
const char *api_col(const PGresult *res, int row, int col);
int64_t api_col_int(const PGresult *res, int row, int col);
bool api_col_bool(const PGresult *res, int row, int col);
/* {"username":...,"bio":...,"image":...,"following":...} */
void api_write_profile(struct jbuf *b, const char *username, const char *bio, const char *image,
                       bool following);
/* key (e.g. ",\"createdAt\":") then a timestamptz column as ISO 8601 in
 * quotes; ts is scratch space. */
void api_write_time(struct jbuf *b, const char *key, const char *pg, char ts[API_TIME_LEN]);
/* One article object from a row with api_article_col columns. */
void api_write_article(struct jbuf *b, const PGresult *res, int row, bool with_body);
/* The same; *author_at is set to the offset in b where the author's
 * profile object starts (it ends one byte before the article's end). */
void api_write_article_at(struct jbuf *b, const PGresult *res, int row, bool with_body,
                          size_t *author_at);

/* ---- route groups (one file each) ---- */
void api_users_register(struct http_request *req, const struct route_params *p, void *ctx);
void api_users_login(struct http_request *req, const struct route_params *p, void *ctx);
void api_users_get(struct http_request *req, const struct route_params *p, void *ctx);
void api_users_update(struct http_request *req, const struct route_params *p, void *ctx);
void api_profiles_get(struct http_request *req, const struct route_params *p, void *ctx);
void api_profiles_follow(struct http_request *req, const struct route_params *p, void *ctx);
void api_profiles_unfollow(struct http_request *req, const struct route_params *p, void *ctx);
void api_articles_list(struct http_request *req, const struct route_params *p, void *ctx);
void api_articles_feed(struct http_request *req, const struct route_params *p, void *ctx);
void api_articles_get(struct http_request *req, const struct route_params *p, void *ctx);
void api_articles_create(struct http_request *req, const struct route_params *p, void *ctx);
void api_articles_update(struct http_request *req, const struct route_params *p, void *ctx);
void api_articles_delete(struct http_request *req, const struct route_params *p, void *ctx);
void api_favorites_add(struct http_request *req, const struct route_params *p, void *ctx);
void api_favorites_remove(struct http_request *req, const struct route_params *p, void *ctx);
void api_comments_list(struct http_request *req, const struct route_params *p, void *ctx);
void api_comments_create(struct http_request *req, const struct route_params *p, void *ctx);
void api_comments_delete(struct http_request *req, const struct route_params *p, void *ctx);
void api_tags_list(struct http_request *req, const struct route_params *p, void *ctx);

/* Shared by articles and favorites: read the route's article (slug r->p1)
 * for r's viewer and answer 200 with it (404 if it vanished meanwhile). */
void api_articles_read(struct api_req *r);

#endif
