/*
 * api_validate.c: the checks of JSON request bodies (api_validate.h).
 * Pure: reads the bytes or the tree it is given and writes only to the
 * structs it is given (and, for copies and the tag array, to memory it
 * allocates and the caller frees).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api_validate.h"
#include "jbuf.h"
#include "json_input.h"

void api_errors_add(struct api_errors *errs, const char *field, const char *message)
{
    if (errs->n < (int)(sizeof(errs->e) / sizeof(errs->e[0]))) {
        errs->e[errs->n].field = field;
        errs->e[errs->n].message = message;
        errs->n++;
    }
}

/* The 422 message for a body the scan or the parser refused. */
static const char *validate_body_message(enum json_input_error err)
{
    switch (err) {
    case JSON_INPUT_EMPTY:
        return "body is empty";
    case JSON_INPUT_BAD_UTF8:
        return "body is not valid UTF-8";
    case JSON_INPUT_TOO_DEEP:
        return "body is nested too deeply";
    case JSON_INPUT_NUL:
        return "body contains a NUL or control character";
    default:
        return "body is not valid JSON";
    }
}

const cJSON *api_validate_body(const char *body, size_t len, size_t max_bytes, const char *key,
                               cJSON **root, struct api_errors *errs, int *status)
{
    const struct json_input_limits lim = {max_bytes, JSON_INPUT_MAX_DEPTH, JSON_INPUT_MAX_NODES};
    enum json_input_error err = JSON_INPUT_OK;
    const cJSON *obj;

    *status = 422;
    *root = json_input_parse_limits(body, len, &lim, &err);
    if (*root == NULL) {
        if (err == JSON_INPUT_TOO_BIG) {
            *status = 413;
            api_errors_add(errs, "request", "body is too large for this route");
        } else if (err == JSON_INPUT_TOO_MANY) {
            *status = 413;
            api_errors_add(errs, "request", "body has too many JSON values");
        } else {
            api_errors_add(errs, "request", validate_body_message(err));
        }
        return NULL;
    }
    if (!cJSON_IsObject(*root)) {
        api_errors_add(errs, "request", "body must be a JSON object");
        return NULL;
    }
    obj = cJSON_GetObjectItemCaseSensitive(*root, key);
    if (obj == NULL || cJSON_IsNull(obj)) {
        api_errors_add(errs, key, "can't be blank");
        return NULL;
    }
    if (!cJSON_IsObject(obj)) {
        api_errors_add(errs, key, "must be an object");
        return NULL;
    }
    return obj;
}

/* ---- users ---- */

/* A plausible email: something@something, no spaces, not too long. */
static bool validate_email_ok(const char *e)
{
    const char *at = strchr(e, '@');

    if (at == NULL || at == e || at[1] == '\0' || strlen(e) > API_EMAIL_MAX)
        return false;
    for (; *e; e++)
        if (*e == ' ' || *e == '\t' || *e == '\r' || *e == '\n')
            return false;
    return true;
}

/* Validate a required-or-optional string field into *out; adds errors. */
static void validate_field(struct api_errors *errs, const cJSON *obj, const char *name,
                           bool required, size_t max, const char **out)
{
    enum json_field f = json_input_string(obj, name, out);

    if (f == JSON_FIELD_ABSENT && !required)
        return;
    if (f == JSON_FIELD_WRONG) {
        api_errors_add(errs, name, "must be a string");
    } else if (f != JSON_FIELD_STRING || json_input_blank(*out)) {
        api_errors_add(errs, name, "can't be blank");
    } else if (strlen(*out) > max) {
        api_errors_add(errs, name, "is too long");
    } else {
        return;
    }
    *out = NULL;
}

/* bio/image: absent keeps, null or "" clears, a string sets. */
static void validate_nullable(struct api_errors *errs, const cJSON *obj, const char *name,
                              bool *set, const char **out)
{
    enum json_field f = json_input_string(obj, name, out);

    *set = f != JSON_FIELD_ABSENT;
    if (f == JSON_FIELD_WRONG) {
        api_errors_add(errs, name, "must be a string or null");
        *out = NULL;
    } else if (f == JSON_FIELD_STRING && (*out)[0] == '\0') {
        *out = NULL;
    }
}

/* username, email and password, required or not; the email plausible and
 * the password long enough when given. */
static void validate_user_core(const cJSON *obj, bool required, struct api_user_fields *f,
                               struct api_errors *errs)
{
    validate_field(errs, obj, "username", required, API_USERNAME_MAX, &f->username);
    validate_field(errs, obj, "email", required, API_EMAIL_MAX, &f->email);
    if (f->email != NULL && !validate_email_ok(f->email))
        api_errors_add(errs, "email", "is invalid");
    validate_field(errs, obj, "password", required, API_PASSWORD_MAX, &f->password);
    if (f->password != NULL && strlen(f->password) < API_PASSWORD_MIN)
        api_errors_add(errs, "password", "is too short (minimum is 8 characters)");
}

void api_validate_register(const cJSON *obj, struct api_user_fields *f, struct api_errors *errs)
{
    validate_user_core(obj, true, f, errs);
}

void api_validate_login(const cJSON *obj, struct api_user_fields *f, struct api_errors *errs)
{
    validate_field(errs, obj, "email", true, API_EMAIL_MAX, &f->email);
    validate_field(errs, obj, "password", true, API_PASSWORD_MAX, &f->password);
}

void api_validate_update(const cJSON *obj, struct api_user_fields *f, struct api_errors *errs)
{
    validate_user_core(obj, false, f, errs);
    validate_nullable(errs, obj, "bio", &f->set_bio, &f->bio);
    validate_nullable(errs, obj, "image", &f->set_image, &f->image);
    if (errs->n == 0 && cJSON_GetArraySize(obj) == 0)
        api_errors_add(errs, "user", "can't be blank");
}

/* Copy a validated field (at most max bytes) into buf; NULL stays NULL. */
static const char *validate_copy_into(char *buf, size_t max, const char *v)
{
    size_t len;

    if (v == NULL)
        return NULL;
    len = strlen(v);
    if (len > max)
        len = max;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

int api_user_fields_copy(struct api_user_fields *f)
{
    f->username = validate_copy_into(f->username_buf, API_USERNAME_MAX, f->username);
    f->email = validate_copy_into(f->email_buf, API_EMAIL_MAX, f->email);
    f->password = validate_copy_into(f->password_buf, API_PASSWORD_MAX, f->password);
    if (f->bio != NULL && (f->bio = f->bio_copy = strdup(f->bio)) == NULL)
        return -1;
    if (f->image != NULL && (f->image = f->image_copy = strdup(f->image)) == NULL)
        return -1;
    return 0;
}

void api_user_fields_free(struct api_user_fields *f)
{
    explicit_bzero(f->password_buf, sizeof(f->password_buf));
    free(f->bio_copy);
    free(f->image_copy);
    f->bio_copy = f->image_copy = NULL;
}

/* ---- articles ---- */

/* A text field of "article": required on create, optional on update. */
static void validate_text(struct api_errors *errs, const cJSON *obj, const char *name,
                          bool required, const char **out)
{
    enum json_field f = json_input_string(obj, name, out);

    if (f == JSON_FIELD_ABSENT && !required)
        return;
    if (f == JSON_FIELD_WRONG)
        api_errors_add(errs, name, "must be a string");
    else if (f != JSON_FIELD_STRING || json_input_blank(*out))
        api_errors_add(errs, name, "can't be blank");
    else
        return;
    *out = NULL;
}

/* qsort comparator for C strings, byte order (PostgreSQL's COLLATE "C"). */
static int validate_cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* tagList: absent leaves *tags_json NULL; an array of strings becomes a
 * JSON array text (blank entries dropped). Adds errors otherwise. */
static void validate_tags(struct api_errors *errs, const cJSON *obj, char **tags_json)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "tagList");
    const cJSON *item;
    const char *names[API_TAGS_MAX];
    struct jbuf b;
    size_t len;
    int n = 0;

    if (list == NULL)
        return;
    if (cJSON_IsNull(list)) {
        api_errors_add(errs, "tagList", "can't be null");
        return;
    }
    if (!cJSON_IsArray(list)) {
        api_errors_add(errs, "tagList", "must be an array of strings");
        return;
    }
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsString(item) || item->valuestring == NULL) {
            api_errors_add(errs, "tagList", "must be an array of strings");
            return;
        }
        if (json_input_blank(item->valuestring))
            continue;
        if (strlen(item->valuestring) > API_TAG_LEN_MAX || n == API_TAGS_MAX) {
            api_errors_add(errs, "tagList", "has too many or too long tags");
            return;
        }
        names[n++] = item->valuestring;
    }
    /* Sorted and without duplicates: the tag upsert then locks rows in one
     * order in every transaction (no deadlocks between concurrent writers)
     * and never touches a row twice in one statement. */
    qsort(names, (size_t)n, sizeof(names[0]), validate_cmp_str);
    jbuf_init(&b, 128);
    jbuf_putc(&b, '[');
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        if (b.len > 1)
            jbuf_putc(&b, ',');
        jbuf_str(&b, names[i]);
    }
    jbuf_putc(&b, ']');
    *tags_json = jbuf_take(&b, &len);
    if (*tags_json == NULL)
        api_errors_add(errs, "server", "out of memory");
}

void api_validate_article(const cJSON *obj, bool create, struct api_article_fields *f,
                          struct api_errors *errs)
{
    validate_text(errs, obj, "title", create, &f->title);
    validate_text(errs, obj, "description", create, &f->description);
    validate_text(errs, obj, "body", create, &f->body);
    validate_tags(errs, obj, &f->tags_json);
    if (errs->n == 0 && cJSON_GetArraySize(obj) == 0)
        api_errors_add(errs, "article", "can't be blank");
}

/* ---- comments ---- */

void api_validate_comment(const cJSON *obj, const char **body, struct api_errors *errs)
{
    enum json_field f = json_input_string(obj, "body", body);

    if (f == JSON_FIELD_WRONG)
        api_errors_add(errs, "body", "must be a string");
    else if (f != JSON_FIELD_STRING || json_input_blank(*body))
        api_errors_add(errs, "body", "can't be blank");
    else
        return;
    *body = NULL;
}
