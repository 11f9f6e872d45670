/*
 * fuzz_json.c: libFuzzer target for JSON request bodies
 * (common/json_input.c) as the routes read them. The body is scanned and
 * parsed as every handler does (json_input_parse with
 * JSON_INPUT_MAX_DEPTH), then the fields of each route's wrapper object
 * are read the way the api/ validators read them: "user" (username, email,
 * password, bio, image), "article" (title, description, body, tagList)
 * and "comment" (body). Checks json_input.h's promise: every string a
 * handler can see is valid, NUL-free UTF-8, and scan and parse agree.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json_input.h"

/* A string a handler sees must be valid UTF-8 without NUL. */
static void fuzz_json_check_string(const char *s)
{
    if (s == NULL || !json_input_utf8_valid(s, strlen(s)))
        abort();
    (void)json_input_blank(s);
}

/* Read the named members of obj[wrapper] as the validators do. */
static void fuzz_json_fields(const cJSON *root, const char *wrapper, const char *const *names)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, wrapper);
    if (!cJSON_IsObject(obj))
        return;
    for (; *names != NULL; names++) {
        const char *v = NULL;
        enum json_field f = json_input_string(obj, *names, &v);
        if (f == JSON_FIELD_STRING)
            fuzz_json_check_string(v);
        else if (f != JSON_FIELD_ABSENT && f != JSON_FIELD_NULL && f != JSON_FIELD_WRONG)
            abort();
    }
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(obj, "tagList");
    const cJSON *item;
    if (cJSON_IsArray(tags)) {
        cJSON_ArrayForEach(item, tags)
        {
            if (cJSON_IsString(item))
                fuzz_json_check_string(item->valuestring);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const user[] = {"username", "email", "password", "bio", "image", NULL};
    static const char *const article[] = {"title", "description", "body", NULL};
    static const char *const comment[] = {"body", NULL};
    enum json_input_error err = JSON_INPUT_OK;
    enum json_input_error scan = json_input_scan((const char *)data, size, JSON_INPUT_MAX_DEPTH);
    cJSON *root = json_input_parse((const char *)data, size, JSON_INPUT_MAX_DEPTH, &err);

    if (root == NULL) {
        if (err == JSON_INPUT_OK)
            abort(); /* a failure must say why */
        if (scan != JSON_INPUT_OK && scan != err)
            abort();
        return 0;
    }
    if (scan != JSON_INPUT_OK)
        abort(); /* parsed what the scan refused */
    fuzz_json_fields(root, "user", user);
    fuzz_json_fields(root, "article", article);
    fuzz_json_fields(root, "comment", comment);
    cJSON_Delete(root);
    return 0;
}
