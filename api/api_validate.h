/*
 * api_validate.h: the checks every JSON request body goes through, as
 * pure functions: bytes or a parsed cJSON object in; the fields a route
 * needs and the field errors it answers 422 with out. No I/O, no
 * database, no request: the route files (api_users.c, api_articles.c,
 * api_comments.c) call these, and so does test/fuzz/fuzz_json.c.
 *
 *   api_validate_body      bytes -> scan (json_input.h) -> parse -> the
 *                          wrapper object ("user", "article", "comment")
 *   api_validate_register  POST /api/users
 *   api_validate_login     POST /api/users/login
 *   api_validate_update    PUT  /api/user
 *   api_validate_article   POST /api/articles, PUT /api/articles/:slug
 *   api_validate_comment   POST /api/articles/:slug/comments
 *
 * Each validator leaves the string fields pointing into the tree; for the
 * user routes api_user_fields_copy() then copies them out, so the tree can
 * be freed before any wait.
 */
#ifndef CONDUIT_API_VALIDATE_H
#define CONDUIT_API_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Password lengths accepted on registration and update (bytes). */
#define API_PASSWORD_MIN 8
#define API_PASSWORD_MAX 1024
#define API_USERNAME_MAX 100
#define API_EMAIL_MAX    254
/* Bytes a login or registration body may have: its three fields at their
 * longest and room to spare (the JSON layer's own bound, whatever the HTTP
 * core's per-route limit says). */
#define API_AUTH_BODY_MAX 8192
#define API_TAGS_MAX      50
#define API_TAG_LEN_MAX   100

/* Field errors collected before answering 422 (or 409). field and message
 * are static strings. Past the eighth, errors are dropped. */
struct api_errors {
    int n;
    struct {
        const char *field;
        const char *message;
    } e[8];
};
void api_errors_add(struct api_errors *errs, const char *field, const char *message);

/* Scan body (len bytes; json_input.h limits with max_bytes, 0 for none),
 * parse it and find the object under key. Returns that object, with the
 * whole tree in *root (the caller frees it with cJSON_Delete; it may be set
 * even on failure), or NULL with one error in errs and the status to
 * answer in *status: 413 (too many bytes or JSON values) or 422 (malformed,
 * too deep, not an object, key missing or not an object). */
const cJSON *api_validate_body(const char *body, size_t len, size_t max_bytes, const char *key,
                               cJSON **root, struct api_errors *errs, int *status);

/* The fields of a "user" object. While validating, the strings point into
 * the tree; api_user_fields_copy() points them at the copies below. */
struct api_user_fields {
    const char *username; /* NULL: not given (update) */
    const char *email;
    const char *password;
    bool set_bio, set_image; /* update: the member was present */
    const char *bio;         /* NULL: store NULL */
    const char *image;
    char username_buf[API_USERNAME_MAX + 1];
    char email_buf[API_EMAIL_MAX + 1];
    char password_buf[API_PASSWORD_MAX + 1];
    char *bio_copy, *image_copy; /* owned */
};

/* Registration: username, email (plausible) and password (long enough),
 * all required. */
void api_validate_register(const cJSON *obj, struct api_user_fields *f, struct api_errors *errs);
/* Login: email and password required. */
void api_validate_login(const cJSON *obj, struct api_user_fields *f, struct api_errors *errs);
/* Update: every field optional, bio/image nullable (null or "" clears), at
 * least one member. */
void api_validate_update(const cJSON *obj, struct api_user_fields *f, struct api_errors *errs);
/* Copy the validated strings out of the tree (the tree may then be freed).
 * 0, or -1 when out of memory. */
int api_user_fields_copy(struct api_user_fields *f) __attribute__((warn_unused_result));
/* Free the copies and wipe the password. */
void api_user_fields_free(struct api_user_fields *f);

/* The fields of an "article" object. */
struct api_article_fields {
    const char *title; /* point into the tree; NULL: not given (update) */
    const char *description;
    const char *body;
    char *tags_json; /* owned (free()); NULL: tagList not given */
};

/* Create (every text field required) or update (at least one member):
 * text fields not blank; tagList an array of strings (blank ones dropped,
 * at most API_TAGS_MAX of at most API_TAG_LEN_MAX bytes) turned into a
 * sorted JSON array text without duplicates. tags_json may be set even
 * when errors are added; the caller frees it either way. */
void api_validate_article(const cJSON *obj, bool create, struct api_article_fields *f,
                          struct api_errors *errs);

/* A comment: body required, not blank; *body points into the tree. */
void api_validate_comment(const cJSON *obj, const char **body, struct api_errors *errs);

#endif
