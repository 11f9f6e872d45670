/*
 * json_input.h: checks and accessors for JSON request bodies.
 *
 * cJSON parses what it is given: it does not reject invalid UTF-8, it
 * recurses up to depth 1000, and it turns "\u0000" into a C string cut
 * short. json_input_parse() scans the bytes first and refuses all three,
 * plus raw control characters inside strings, so handlers only ever see
 * well-formed documents whose strings are valid, NUL-free UTF-8.
 */
#ifndef CONDUIT_JSON_INPUT_H
#define CONDUIT_JSON_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Deepest nesting of arrays/objects a request body may have. */
#define JSON_INPUT_MAX_DEPTH 32

enum json_input_error {
    JSON_INPUT_OK,
    JSON_INPUT_EMPTY,    /* no body at all */
    JSON_INPUT_BAD_UTF8, /* invalid UTF-8 bytes */
    JSON_INPUT_TOO_DEEP, /* nesting deeper than max_depth */
    JSON_INPUT_NUL,      /* a "\u0000" escape or a raw control character in a string */
    JSON_INPUT_SYNTAX,   /* cJSON refused it */
};

/* Scan body bytes without parsing. */
enum json_input_error json_input_scan(const char *s, size_t len, int max_depth);

/* Scan, then parse. Returns the tree (caller frees with cJSON_Delete) or
 * NULL with *err set. */
cJSON *json_input_parse(const char *s, size_t len, int max_depth, enum json_input_error *err);

/* What a member of an object holds. */
enum json_field {
    JSON_FIELD_ABSENT, /* no such member */
    JSON_FIELD_NULL,   /* explicit null */
    JSON_FIELD_STRING, /* a string: *out points into the tree */
    JSON_FIELD_WRONG,  /* anything else */
};

enum json_field json_input_string(const cJSON *obj, const char *name, const char **out);

/* NULL, "" or only ASCII whitespace. */
bool json_input_blank(const char *s);

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF)? */
bool json_input_utf8_valid(const char *s, size_t len);

#endif
