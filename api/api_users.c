/*
 * api_users.c: registration, login, the current user and its update.
 *
 *   POST /api/users        validate -> rate limit -> taken? -> hash -> insert -> 201
 *   POST /api/users/login  validate -> rate limit -> account limit -> look up -> verify -> 200
 *   GET  /api/user         token -> look up (and check the token's version) -> 200
 *   PUT  /api/user         token -> validate -> [token check] -> taken? -> [hash] -> update
 *                          -> invalidate -> 200
 *
 * Validation (api_validate.c) copies the fields a route needs out of the parsed body and
 * frees the cJSON tree at once, before any wait (Redis, the database queue,
 * the hashing threads): a request that waits holds its copied fields, not
 * a tree that can cost tens of times its body. Login and registration
 * bodies are also limited to API_AUTH_BODY_MAX bytes by the JSON layer.
 *
 * Rate limits key on the client's address group (api_client_addr(), then
 * netaddr_bucket(): IPv6 clients per /64). Failed logins are also counted
 * per account (a digest of the lower-cased email), and an account over
 * --rate-limit-account failures in the window gets 429 before its password
 * is even checked.
 *
 * Hashing and verifying run on the password pool's threads. A login with an
 * unknown email still verifies (against a dummy hash) so that timing does
 * not reveal which emails exist; both failures answer 401
 * {"errors":{"credentials":["invalid"]}}. The user's token is a fresh JWT
 * after registration and login, and the presented one otherwise.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>

#include <openssl/sha.h>

#include "api_internal.h"
#include "json_input.h"
#include "log.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "scoreboard.h"
#include "settings.h"

struct users_req {
    struct api_req base;
    /* While validating these point into base.json; users_copy_fields()
     * then copies them out and frees the tree. */
    struct api_user_fields f;
    char account[2 * SHA256_DIGEST_LENGTH + 1]; /* the email's digest, for the account limit */
    char hash[160];
    char token[JWT_MAX_LEN + 1];
    void (*after_limit)(struct api_req *r); /* the step the rate limit lets through */
};

/* Copy every field out of the parsed body, then free the tree. 0, or -1
 * after answering 503 (out of memory). */
static int users_copy_fields(struct users_req *u)
{
    if (api_user_fields_copy(&u->f) != 0) {
        api_respond_error(&u->base, 503, "server", "out of memory");
        return -1;
    }
    api_body_release(&u->base);
    return 0;
}

/* Free the copies (and wipe the password). */
static void users_cleanup(struct api_req *r)
{
    struct users_req *u = (struct users_req *)r;

    api_user_fields_free(&u->f);
}

/* Rate-limit answer helper: 429 with Retry-After. */
static void users_respond_limited(struct api_req *r, int retry_after)
{
    char txt[16];

    snprintf(txt, sizeof(txt), "%d", retry_after);
    if (http_response_header(r->req, "Retry-After", txt) != 0)
        log_warn("api: cannot add a header", "");
    api_respond_error(r, 429, "request", "too many requests");
}

/* The rate limiter answered: 429, or on to the request's next step. */
static void users_on_limit(bool allowed, int retry_after, void *arg)
{
    struct users_req *u = arg;

    if (!allowed)
        users_respond_limited(&u->base, retry_after);
    else
        u->after_limit(&u->base);
}

/* Check a limit bucket for r's client group (r is a struct users_req),
 * then run next(r) if allowed. */
static void users_rate_limit(struct api_req *r, const char *bucket, void (*next)(struct api_req *))
{
    const struct settings *s = r->api->settings;
    char addr[NETADDR_TEXT_MAX], group[NETADDR_TEXT_MAX];

    ((struct users_req *)r)->after_limit = next;
    netaddr_bucket(api_client_addr(r, addr), group);
    if (ratelimit_check(r->api->rl, bucket, group, s->rate_limit_auth, s->rate_limit_window_s,
                        users_on_limit, r) != 0)
        next(r); /* limit off or Redis down: fail open */
}

/* The account key of an email: SHA-256 of its lower-cased bytes in hex
 * (fixed length, and no address kept in Redis). */
static void users_account_key(const char *email, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
    unsigned char lower[API_EMAIL_MAX + 1], md[SHA256_DIGEST_LENGTH];
    size_t n = 0;

    for (; n < API_EMAIL_MAX && email[n] != '\0'; n++)
        lower[n] = (unsigned char)tolower((unsigned char)email[n]);
    SHA256(lower, n, md);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Write {"user":{...}} from a users row (id, username, email, bio, image). */
static void users_respond_user(struct api_req *r, int status, const PGresult *res,
                               const char *token)
{
    struct jbuf b;

    jbuf_init(&b, 512);
    jbuf_puts(&b, "{\"user\":{\"email\":");
    jbuf_str(&b, PQgetvalue(res, 0, 2));
    jbuf_puts(&b, ",\"token\":");
    jbuf_str(&b, token);
    jbuf_puts(&b, ",\"username\":");
    jbuf_str(&b, PQgetvalue(res, 0, 1));
    jbuf_puts(&b, ",\"bio\":");
    jbuf_str_or_null(&b, api_col(res, 0, 3));
    jbuf_puts(&b, ",\"image\":");
    jbuf_str_or_null(&b, api_col(res, 0, 4));
    jbuf_puts(&b, "}}");
    api_respond_json(r, status, &b);
}

/* 409 for a unique violation on users; other failures as usual. */
static void users_respond_conflict_or_failure(struct api_req *r, enum db_status st,
                                              const PGresult *res)
{
    if (st == DB_SQL_ERROR && strcmp(db_sqlstate(res), "23505") == 0) {
        const char *field =
            strcmp(db_constraint(res), "users_email_key") == 0 ? "email" : "username";
        api_respond_error(r, 409, field, "has already been taken");
        return;
    }
    api_respond_db_failure(r, st, res);
}

/* Answer 409 if the taken check found the username or email in use.
 * Returns true if it answered. */
static bool users_respond_taken(struct api_req *r, const PGresult *res)
{
    struct api_errors errs = {0};

    if (api_col_bool(res, 0, 0))
        api_errors_add(&errs, "username", "has already been taken");
    if (api_col_bool(res, 0, 1))
        api_errors_add(&errs, "email", "has already been taken");
    if (errs.n == 0)
        return false;
    api_respond_errors(r, 409, &errs);
    return true;
}

/* ---- POST /api/users ---- */

/* Registration: the row is in; answer with a new token. */
static void users_register_on_insert(enum db_status st, const PGresult *res, void *arg)
{
    struct users_req *u = arg;

    if (st != DB_OK || PQntuples(res) != 1) {
        users_respond_conflict_or_failure(&u->base, st, res);
        return;
    }
    if (api_token_sign(u->base.api, api_col_int(res, 0, 0), api_col_int(res, 0, 5), u->token,
                       sizeof(u->token)) != 0) {
        api_respond_error(&u->base, 500, "server", "cannot sign a token");
        return;
    }
    users_respond_user(&u->base, 201, res, u->token);
}

/* Registration: the password is hashed; insert the user. */
static void users_register_on_hash(enum password_result result, const char *encoded, void *arg)
{
    struct users_req *u = arg;
    const char *vals[3];

    if (result != PASSWORD_OK) {
        api_respond_error(&u->base, 503, "server", "unavailable");
        return;
    }
    snprintf(u->hash, sizeof(u->hash), "%s", encoded);
    vals[0] = u->f.username;
    vals[1] = u->f.email;
    vals[2] = u->hash;
    (void)api_db(&u->base, Q_USER_INSERT, vals, users_register_on_insert);
}

/* Registration: neither name nor email taken; hash the password. */
static void users_register_on_taken(enum db_status st, const PGresult *res, void *arg)
{
    struct users_req *u = arg;

    if (st != DB_OK || PQntuples(res) != 1) {
        api_respond_db_failure(&u->base, st, res);
        return;
    }
    if (users_respond_taken(&u->base, res))
        return;
    if (u->base.api->pw == NULL ||
        password_hash(u->base.api->pw, u->f.password, users_register_on_hash, u) != 0)
        api_respond_error(&u->base, 503, "server", "busy");
}

/* Registration: allowed by the rate limit; check for a taken name or email. */
static void users_register_check_taken(struct api_req *r)
{
    struct users_req *u = (struct users_req *)r;
    const char *vals[3];

    vals[0] = u->f.username;
    vals[1] = u->f.email;
    vals[2] = NULL;
    (void)api_db(r, Q_USER_TAKEN, vals, users_register_on_taken);
}

/* Registration: validate the body and copy its fields out, then the rate
 * limit. */
static void users_register_start(struct api_req *r)
{
    struct users_req *u = (struct users_req *)r;
    const cJSON *obj = api_body_object_limited(r, "user", API_AUTH_BODY_MAX);
    struct api_errors errs = {0};

    if (obj == NULL)
        return;
    api_validate_register(obj, &u->f, &errs);
    if (errs.n > 0) {
        api_respond_errors(r, 422, &errs);
        return;
    }
    if (users_copy_fields(u) != 0)
        return;
    users_rate_limit(r, "register", users_register_check_taken);
}

void api_users_register(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct users_req));

    if (r == NULL)
        return;
    r->cleanup = users_cleanup;
    users_register_start(r);
}

/* ---- POST /api/users/login ---- */

struct login_req {
    struct users_req u;
    PGresult *row; /* the user row, kept across the verify */
};

/* Free the kept row and the copies. */
static void users_login_cleanup(struct api_req *r)
{
    PQclear(((struct login_req *)r)->row);
    users_cleanup(r);
}

/* Login: the failure is counted; answer 401. */
static void users_login_on_counted(void *arg)
{
    struct login_req *l = arg;

    api_respond_error(&l->u.base, 401, "credentials", "invalid");
}

/* A failed login counts against its account before the 401 goes out, so the
 * client's next attempt (on any worker) sees the count. */
static void users_login_failed(struct login_req *l)
{
    const struct settings *s = l->u.base.api->settings;

    if (ratelimit_add(l->u.base.api->rl, "login-account", l->u.account, s->rate_limit_account,
                      s->rate_limit_window_s, users_login_on_counted, l) != 0)
        users_login_on_counted(l);
}

/* Login: the password check finished. */
static void users_login_on_verify(enum password_result result, const char *encoded, void *arg)
{
    struct login_req *l = arg;

    (void)encoded;
    if (result == PASSWORD_ERROR && l->row != NULL) {
        api_respond_error(&l->u.base, 503, "server", "unavailable");
        return;
    }
    if (result != PASSWORD_OK || l->row == NULL) {
        users_login_failed(l);
        return;
    }
    if (api_token_sign(l->u.base.api, api_col_int(l->row, 0, 0), api_col_int(l->row, 0, 6),
                       l->u.token, sizeof(l->u.token)) != 0) {
        api_respond_error(&l->u.base, 500, "server", "cannot sign a token");
        return;
    }
    users_respond_user(&l->u.base, 200, l->row, l->u.token);
}

/* Login: the user row (or nothing) is here; verify off the loop. */
static void users_login_on_user(enum db_status st, const PGresult *res, void *arg)
{
    struct login_req *l = arg;
    const char *hash = password_dummy_hash();

    if (st != DB_OK) {
        api_respond_db_failure(&l->u.base, st, res);
        return;
    }
    if (PQntuples(res) == 1) {
        l->row = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
        if (l->row == NULL) {
            api_respond_error(&l->u.base, 503, "server", "out of memory");
            return;
        }
        hash = PQgetvalue(l->row, 0, 5);
    }
    if (l->u.base.api->pw == NULL ||
        password_verify(l->u.base.api->pw, hash, l->u.f.password, users_login_on_verify, l) != 0)
        api_respond_error(&l->u.base, 503, "server", "busy");
}

/* Login: the account is under its failure limit; look the email up. */
static void users_login_look_up(struct api_req *r)
{
    struct login_req *l = (struct login_req *)r;
    const char *vals[1];

    vals[0] = l->u.f.email;
    (void)api_db(r, Q_USER_BY_EMAIL, vals, users_login_on_user);
}

/* Login: the client's limit let it through; now the account's. */
static void users_login_check_account(struct api_req *r)
{
    struct login_req *l = (struct login_req *)r;
    const struct settings *s = r->api->settings;

    l->u.after_limit = users_login_look_up;
    if (ratelimit_peek(r->api->rl, "login-account", l->u.account, s->rate_limit_account,
                       s->rate_limit_window_s, users_on_limit, r) != 0)
        users_login_look_up(r); /* limit off or Redis down: fail open */
}

/* Login: validate and copy the fields out, then the rate limits. */
static void users_login_start(struct api_req *r)
{
    struct login_req *l = (struct login_req *)r;
    const cJSON *obj = api_body_object_limited(r, "user", API_AUTH_BODY_MAX);
    struct api_errors errs = {0};

    if (obj == NULL)
        return;
    api_validate_login(obj, &l->u.f, &errs);
    if (errs.n > 0) {
        api_respond_errors(r, 422, &errs);
        return;
    }
    if (users_copy_fields(&l->u) != 0)
        return;
    users_account_key(l->u.f.email, l->u.account);
    users_rate_limit(r, "login", users_login_check_account);
}

void api_users_login(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct login_req));

    if (r == NULL)
        return;
    r->cleanup = users_login_cleanup;
    users_login_start(r);
}

/* ---- GET /api/user ---- */

/* Current user: the row is here (none: the token's user is gone). */
static void users_get_on_user(enum db_status st, const PGresult *res, void *arg)
{
    struct api_req *r = arg;

    if (st != DB_OK) {
        api_respond_db_failure(r, st, res);
        return;
    }
    if (PQntuples(res) != 1) {
        api_respond_error(r, 401, "token", "is invalid");
        return;
    }
    users_respond_user(r, 200, res, r->token);
}

void api_users_get(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct api_req));
    char id[API_ID_LEN], ver[API_ID_LEN], digest[API_TOKEN_DIGEST_LEN];
    const char *vals[3];

    if (r == NULL || api_auth(r, true) != 0)
        return;
    /* The statement checks the token itself. */
    r->token_checked = true;
    snprintf(ver, sizeof(ver), "%lld", (long long)r->token_ver);
    vals[0] = api_viewer_text(r, id);
    vals[1] = ver;
    vals[2] = api_token_digest(r, digest);
    (void)api_db(r, Q_USER_BY_ID, vals, users_get_on_user);
}

/* ---- PUT /api/user ---- */

struct update_req {
    struct users_req u;
    PGresult *row; /* the updated row, kept across the invalidation */
};

/* Free the kept row. */
static void users_update_cleanup(struct api_req *r)
{
    struct update_req *x = (struct update_req *)r;

    PQclear(x->row);
    users_cleanup(r);
}

/* Update: caches are clean; answer. A new password bumped the token
 * version, so the presented token is dead: answer with a fresh one. */
static void users_update_respond(struct api_req *r)
{
    struct update_req *x = (struct update_req *)r;
    int64_t ver = api_col_int(x->row, 0, 6);

    if (x->u.f.password != NULL)
        api_token_seen_forget(r->api, r->viewer);
    if (ver == r->token_ver) {
        users_respond_user(r, 200, x->row, r->token);
        return;
    }
    if (api_token_sign(r->api, r->viewer, ver, x->u.token, sizeof(x->u.token)) != 0) {
        api_respond_error(r, 500, "server", "cannot sign a token");
        return;
    }
    users_respond_user(r, 200, x->row, x->u.token);
}

/* Update: invalidate the old and new profile and the user's author block
 * (every article of theirs embeds it; store/cache.h), which also bumps the
 * lists generation (list pages embed it too): one Redis command whatever
 * the number of the user's articles. */
static void users_update_invalidate(struct update_req *x)
{
    const PGresult *res = x->row;
    char old_name[API_CACHE_NAME_MAX], new_name[API_CACHE_NAME_MAX], author[API_CACHE_NAME_MAX];
    const char *names[3] = {old_name, new_name, author};

    api_name_profile(PQgetvalue(res, 0, 5), old_name);
    api_name_profile(PQgetvalue(res, 0, 1), new_name);
    api_name_author(api_col_int(res, 0, 0), author);
    api_invalidate(&x->u.base, names, 3, users_update_respond);
}

/* Update: the row is written. */
static void users_update_on_update(enum db_status st, const PGresult *res, void *arg)
{
    struct update_req *x = arg;

    if (st != DB_OK) {
        users_respond_conflict_or_failure(&x->u.base, st, res);
        return;
    }
    if (PQntuples(res) != 1) {
        api_respond_error(&x->u.base, 401, "token", "is invalid");
        return;
    }
    x->row = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
    if (x->row == NULL) {
        api_respond_error(&x->u.base, 503, "server", "out of memory");
        return;
    }
    users_update_invalidate(x);
}

/* Update: run the UPDATE (password already hashed if one was given). */
static void users_update_write(struct update_req *x)
{
    struct users_req *u = &x->u;
    char id[API_ID_LEN], digest[API_TOKEN_DIGEST_LEN];
    const char *vals[9];

    vals[0] = api_viewer_text(&u->base, id);
    vals[1] = u->f.username;
    vals[2] = u->f.email;
    vals[3] = u->hash[0] != '\0' ? u->hash : NULL;
    vals[4] = u->f.set_bio ? "t" : "f";
    vals[5] = u->f.bio;
    vals[6] = u->f.set_image ? "t" : "f";
    vals[7] = u->f.image;
    vals[8] = api_token_digest(&u->base, digest); /* stays signed in after a new password */
    (void)api_db(&u->base, Q_USER_UPDATE, vals, users_update_on_update);
}

/* Update: the new password is hashed. */
static void users_update_on_hash(enum password_result result, const char *encoded, void *arg)
{
    struct update_req *x = arg;

    if (result != PASSWORD_OK) {
        api_respond_error(&x->u.base, 503, "server", "unavailable");
        return;
    }
    snprintf(x->u.hash, sizeof(x->u.hash), "%s", encoded);
    users_update_write(x);
}

/* Update: hash the password if one was given, then write. */
static void users_update_continue(struct update_req *x)
{
    if (x->u.f.password == NULL) {
        users_update_write(x);
        return;
    }
    if (x->u.base.api->pw == NULL ||
        password_hash(x->u.base.api->pw, x->u.f.password, users_update_on_hash, x) != 0)
        api_respond_error(&x->u.base, 503, "server", "busy");
}

/* Update: the taken check answered. */
static void users_update_on_taken(enum db_status st, const PGresult *res, void *arg)
{
    struct update_req *x = arg;

    if (st != DB_OK || PQntuples(res) != 1) {
        api_respond_db_failure(&x->u.base, st, res);
        return;
    }
    if (users_respond_taken(&x->u.base, res))
        return;
    users_update_continue(x);
}

void api_users_update(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct api_req *r = api_req_new(api_from_ctx(ctx), req, p, sizeof(struct update_req));
    struct update_req *x = (struct update_req *)r;
    struct users_req *u = &x->u;
    struct api_errors errs = {0};
    const cJSON *obj;
    char id[API_ID_LEN];
    const char *vals[3];

    if (r == NULL)
        return;
    r->cleanup = users_update_cleanup;
    if (api_auth(r, true) != 0 || (obj = api_body_object(r, "user")) == NULL)
        return;
    api_validate_update(obj, &u->f, &errs);
    if (errs.n > 0) {
        api_respond_errors(r, 422, &errs);
        return;
    }
    if (users_copy_fields(u) != 0)
        return;
    if (u->f.username == NULL && u->f.email == NULL) {
        users_update_continue(x);
        return;
    }
    vals[0] = u->f.username;
    vals[1] = u->f.email;
    vals[2] = api_viewer_text(r, id);
    (void)api_db(r, Q_USER_TAKEN, vals, users_update_on_taken);
}
