/*
 * json_input.c: pre-parse checks and typed accessors for request bodies
 * (see json_input.h). The scanner is one pass over the bytes that tracks
 * whether it is inside a string, so brackets in strings do not count as
 * nesting, and validates UTF-8 sequences as it goes.
 */
#include "config.h"

#include <string.h>

#include "json_input.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t json_input_utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        if (left < 2 || (s[1] & 0xc0) != 0x80)
            return 0;
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0) /* overlong */
            return 0;
        if (c == 0xed && s[1] >= 0xa0) /* UTF-16 surrogates */
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (left < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xf4 && s[1] >= 0x90) /* past U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

bool json_input_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        size_t n = json_input_utf8_seq(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

enum json_input_error json_input_scan_limits(const char *s, size_t len,
                                             const struct json_input_limits *lim)
{
    const unsigned char *p = (const unsigned char *)s;
    bool in_string = false;
    int depth = 0;
    size_t nodes = 1;
    size_t i = 0;

    if (len == 0)
        return JSON_INPUT_EMPTY;
    if (lim->max_bytes > 0 && len > lim->max_bytes)
        return JSON_INPUT_TOO_BIG;
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = json_input_utf8_seq(p + i, len - i);
            if (n == 0)
                return JSON_INPUT_BAD_UTF8;
            i += n;
            continue;
        }
        if (in_string) {
            if (c < 0x20)
                return JSON_INPUT_NUL;
            if (c == '"') {
                in_string = false;
            } else if (c == '\\') {
                if (i + 1 >= len)
                    return JSON_INPUT_SYNTAX;
                if (p[i + 1] == 'u' && i + 5 < len && memcmp(p + i + 2, "0000", 4) == 0)
                    return JSON_INPUT_NUL;
                i += 2;
                continue;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > lim->max_depth)
                return JSON_INPUT_TOO_DEEP;
            if (++nodes > lim->max_nodes)
                return JSON_INPUT_TOO_MANY;
        } else if (c == ',') {
            if (++nodes > lim->max_nodes)
                return JSON_INPUT_TOO_MANY;
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == 0) {
            return JSON_INPUT_SYNTAX;
        }
        i++;
    }
    return JSON_INPUT_OK;
}

enum json_input_error json_input_scan(const char *s, size_t len, int max_depth)
{
    const struct json_input_limits lim = {0, max_depth, JSON_INPUT_MAX_NODES};

    return json_input_scan_limits(s, len, &lim);
}

cJSON *json_input_parse_limits(const char *s, size_t len, const struct json_input_limits *lim,
                               enum json_input_error *err)
{
    cJSON *root;
    const char *end = NULL;

    *err = json_input_scan_limits(s, len, lim);
    if (*err != JSON_INPUT_OK)
        return NULL;
    root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root == NULL) {
        *err = JSON_INPUT_SYNTAX;
        return NULL;
    }
    /* Only whitespace may follow the document. */
    for (; end != NULL && end < s + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            cJSON_Delete(root);
            *err = JSON_INPUT_SYNTAX;
            return NULL;
        }
    }
    return root;
}

cJSON *json_input_parse(const char *s, size_t len, int max_depth, enum json_input_error *err)
{
    const struct json_input_limits lim = {0, max_depth, JSON_INPUT_MAX_NODES};

    return json_input_parse_limits(s, len, &lim, err);
}

enum json_field json_input_string(const cJSON *obj, const char *name, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = NULL;
    if (item == NULL)
        return JSON_FIELD_ABSENT;
    if (cJSON_IsNull(item))
        return JSON_FIELD_NULL;
    if (cJSON_IsString(item) && item->valuestring != NULL) {
        *out = item->valuestring;
        return JSON_FIELD_STRING;
    }
    return JSON_FIELD_WRONG;
}

bool json_input_blank(const char *s)
{
    if (s == NULL)
        return true;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
            return false;
    return true;
}
