/*
 * fuzz_json.c: libFuzzer target for JSON request bodies through each
 * route's validation (api/api_validate.c, over common/json_input.c). The
 * first input byte picks the route (modulo 6: register, login, update
 * user, create article, update article, add comment); the rest is the
 * body, taken through api_validate_body() with the route's wrapper key and
 * byte limit, then through the route's validator, as the handlers do.
 *
 * Checks: a refused body gives exactly one error and 413 or 422, an
 * accepted one none; scan and parse agree (json_input.h); an accepted
 * body's fields are present where the route requires them, valid NUL-free
 * UTF-8 and within their limits; the tag array is a sorted JSON array of
 * distinct strings; and the user routes' copied fields stay readable after
 * the tree is freed (ASan sees any pointer left into it).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api_validate.h"
#include "fuzz.h"
#include "json_input.h"

enum fuzz_route {
    FUZZ_REGISTER,
    FUZZ_LOGIN,
    FUZZ_UPDATE_USER,
    FUZZ_CREATE_ARTICLE,
    FUZZ_UPDATE_ARTICLE,
    FUZZ_COMMENT,
    FUZZ_ROUTES
};

/* A string a handler sees must be valid UTF-8 without NUL, at most max
 * bytes (0: no limit), and not blank when the route says so. */
static void fuzz_json_check_string(const char *s, size_t max, bool not_blank)
{
    if (s == NULL || !json_input_utf8_valid(s, strlen(s)))
        abort();
    if (max > 0 && strlen(s) > max)
        abort();
    if (not_blank && json_input_blank(s))
        abort();
}

/* Optional field: checked when present. */
static void fuzz_json_check_optional(const char *s, size_t max, bool not_blank)
{
    if (s != NULL)
        fuzz_json_check_string(s, max, not_blank);
}

/* Every error names a field and a message, and there are at most 8. */
static void fuzz_json_check_errors(const struct api_errors *errs)
{
    if (errs->n < 0 || errs->n > (int)(sizeof(errs->e) / sizeof(errs->e[0])))
        abort();
    for (int i = 0; i < errs->n; i++)
        if (errs->e[i].field == NULL || errs->e[i].message == NULL)
            abort();
}

/* The tag array text: a JSON array of distinct non-blank strings in byte
 * order, at most API_TAGS_MAX of at most API_TAG_LEN_MAX bytes. */
static void fuzz_json_check_tags(const char *tags_json)
{
    cJSON *arr = cJSON_Parse(tags_json);
    const cJSON *item;
    const char *prev = NULL;

    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > API_TAGS_MAX)
        abort();
    cJSON_ArrayForEach(item, arr)
    {
        if (!cJSON_IsString(item))
            abort();
        fuzz_json_check_string(item->valuestring, API_TAG_LEN_MAX, true);
        if (prev != NULL && strcmp(prev, item->valuestring) >= 0)
            abort();
        prev = item->valuestring;
    }
    cJSON_Delete(arr);
}

/* A user route: validate, copy out, free the tree, then read the copies. */
static void fuzz_json_user(enum fuzz_route route, const cJSON *obj, cJSON *root)
{
    struct api_user_fields f;
    struct api_errors errs = {0};
    bool required = route != FUZZ_UPDATE_USER;

    memset(&f, 0, sizeof(f));
    if (route == FUZZ_REGISTER)
        api_validate_register(obj, &f, &errs);
    else if (route == FUZZ_LOGIN)
        api_validate_login(obj, &f, &errs);
    else
        api_validate_update(obj, &f, &errs);
    fuzz_json_check_errors(&errs);
    if (errs.n > 0) {
        cJSON_Delete(root);
        return;
    }
    if (required && (f.email == NULL || f.password == NULL))
        abort();
    if (route == FUZZ_REGISTER && f.username == NULL)
        abort();
    if (api_user_fields_copy(&f) != 0)
        abort(); /* no allocation fails here */
    cJSON_Delete(root);
    fuzz_json_check_optional(f.username, API_USERNAME_MAX, true);
    fuzz_json_check_optional(f.email, API_EMAIL_MAX, true);
    if (f.email != NULL && route != FUZZ_LOGIN && strchr(f.email, '@') == NULL)
        abort();
    fuzz_json_check_optional(f.password, API_PASSWORD_MAX, true);
    if (f.password != NULL && route != FUZZ_LOGIN && strlen(f.password) < API_PASSWORD_MIN)
        abort();
    fuzz_json_check_optional(f.bio, 0, false);
    fuzz_json_check_optional(f.image, 0, false);
    if ((f.bio != NULL && !f.set_bio) || (f.image != NULL && !f.set_image))
        abort();
    api_user_fields_free(&f);
}

/* An article route: validate, then check the fields and the tag text. */
static void fuzz_json_article(bool create, const cJSON *obj)
{
    struct api_article_fields f = {0};
    struct api_errors errs = {0};

    api_validate_article(obj, create, &f, &errs);
    fuzz_json_check_errors(&errs);
    if (errs.n == 0) {
        if (create && (f.title == NULL || f.description == NULL || f.body == NULL))
            abort();
        fuzz_json_check_optional(f.title, 0, true);
        fuzz_json_check_optional(f.description, 0, true);
        fuzz_json_check_optional(f.body, 0, true);
        if (f.tags_json != NULL)
            fuzz_json_check_tags(f.tags_json);
    }
    free(f.tags_json);
}

/* The comment route: a valid body is a non-blank string. */
static void fuzz_json_comment(const cJSON *obj)
{
    struct api_errors errs = {0};
    const char *body = NULL;

    api_validate_comment(obj, &body, &errs);
    fuzz_json_check_errors(&errs);
    if (errs.n == 0)
        fuzz_json_check_string(body, 0, true);
    else if (body != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[FUZZ_ROUTES] = {"user",    "user",    "user",
                                                  "article", "article", "comment"};
    struct api_errors errs = {0};
    enum fuzz_route route;
    const char *body;
    size_t len, max_bytes;
    cJSON *root = NULL;
    const cJSON *obj;
    int status = 0;

    if (size == 0)
        return 0;
    route = (enum fuzz_route)(data[0] % FUZZ_ROUTES);
    body = (const char *)data + 1;
    len = size - 1;
    max_bytes = route == FUZZ_REGISTER || route == FUZZ_LOGIN ? API_AUTH_BODY_MAX : 0;

    obj = api_validate_body(body, len, max_bytes, keys[route], &root, &errs, &status);
    if (obj == NULL) {
        const struct json_input_limits lim = {max_bytes, JSON_INPUT_MAX_DEPTH,
                                              JSON_INPUT_MAX_NODES};
        enum json_input_error scan = json_input_scan_limits(body, len, &lim);
        if (errs.n != 1 || (status != 413 && status != 422))
            abort(); /* a refusal says why, once */
        if (root == NULL && scan == JSON_INPUT_OK && strcmp(errs.e[0].field, "request") != 0)
            abort();
        if (root != NULL && scan != JSON_INPUT_OK)
            abort(); /* parsed what the scan refused */
        fuzz_json_check_errors(&errs);
        cJSON_Delete(root);
        return 0;
    }
    if (errs.n != 0 || root == NULL || !cJSON_IsObject(obj))
        abort();
    switch (route) {
    case FUZZ_REGISTER:
    case FUZZ_LOGIN:
    case FUZZ_UPDATE_USER:
        fuzz_json_user(route, obj, root); /* frees root */
        return 0;
    case FUZZ_CREATE_ARTICLE:
    case FUZZ_UPDATE_ARTICLE:
        fuzz_json_article(route == FUZZ_CREATE_ARTICLE, obj);
        break;
    default:
        fuzz_json_comment(obj);
        break;
    }
    cJSON_Delete(root);
    return 0;
}
