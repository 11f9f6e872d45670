/*
 * json_input.h: checks and accessors for JSON request bodies.
 *
 * cJSON parses what it is given: it does not reject invalid UTF-8, it
 * recurses up to depth 1000, and it turns "\u0000" into a C string cut
 * short. json_input_parse() scans the bytes first and refuses all three,
 * plus raw control characters inside strings, so handlers only ever see
 * well-formed documents whose strings are valid, NUL-free UTF-8.
 *
 * The same scan bounds what the tree will cost before cJSON builds it: a
 * byte limit, a nesting depth and a count of JSON values (each value is a
 * cJSON node of about 64 bytes plus its string, so a 1 MiB array of small
 * numbers would cost some 40 MiB as a tree but is refused from its bytes).
 */
#ifndef CONDUIT_JSON_INPUT_H
#define CONDUIT_JSON_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Deepest nesting of arrays/objects a request body may have. */
#define JSON_INPUT_MAX_DEPTH 32
/* Most JSON values a request body may hold. The largest Conduit body (an
 * article with 50 tags) has about 60; the tree of 1024 values costs at most
 * 64 KiB beyond the body's own strings. */
#define JSON_INPUT_MAX_NODES 1024

/* What a body may cost; 0 for max_bytes means no byte limit of its own. */
struct json_input_limits {
    size_t max_bytes;
    int max_depth;
    size_t max_nodes;
};

enum json_input_error {
    JSON_INPUT_OK,
    JSON_INPUT_EMPTY,    /* no body at all */
    JSON_INPUT_BAD_UTF8, /* invalid UTF-8 bytes */
    JSON_INPUT_TOO_DEEP, /* nesting deeper than max_depth */
    JSON_INPUT_NUL,      /* a "\u0000" escape or a raw control character in a string */
    JSON_INPUT_SYNTAX,   /* cJSON refused it */
    JSON_INPUT_TOO_BIG,  /* more bytes than max_bytes (answer 413) */
    JSON_INPUT_TOO_MANY, /* more JSON values than max_nodes (answer 413) */
};

/* Scan body bytes without parsing, against limits. The value count is an
 * upper bound taken from the bytes: one per '[' or '{', one per ',' outside
 * strings, plus one. */
enum json_input_error json_input_scan_limits(const char *s, size_t len,
                                             const struct json_input_limits *lim);

/* json_input_scan_limits() with max_depth, JSON_INPUT_MAX_NODES and no
 * byte limit. */
enum json_input_error json_input_scan(const char *s, size_t len, int max_depth);

/* Scan against limits, then parse. Returns the tree (caller frees with
 * cJSON_Delete) or NULL with *err set. */
cJSON *json_input_parse_limits(const char *s, size_t len, const struct json_input_limits *lim,
                               enum json_input_error *err);

/* json_input_parse_limits() with the limits of json_input_scan(). */
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
