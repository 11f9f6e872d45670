/*
 * api_text.h: small text helpers of the Conduit API, pure functions kept
 * apart so the unit tests can reach them: slugs, timestamps, query-string
 * parameters, numbers and the Authorization header.
 */
#ifndef CONDUIT_API_TEXT_H
#define CONDUIT_API_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest slug base made from a title (before any "-suffix"). */
#define API_SLUG_BASE_MAX 80
/* Room for a slug: base + "-" + 8 random characters + NUL. */
#define API_SLUG_MAX (API_SLUG_BASE_MAX + 10)
/* "2026-11-29T14:08:11.353Z" + NUL. */
#define API_TIME_LEN 25

/* Slug of a title: lower-case ASCII letters and digits, every other run of
 * characters becomes one '-', no leading or trailing '-', at most
 * API_SLUG_BASE_MAX characters; "article" if nothing is left. out must hold
 * API_SLUG_MAX bytes. Returns the length. */
size_t api_text_slugify(const char *title, char *out);

/* Append "-" and 8 random lower-case base-36 characters to a slug made by
 * api_text_slugify (out holds API_SLUG_MAX bytes). 0, or -1 if no
 * randomness was available. */
int api_text_slug_suffix(char *slug) __attribute__((warn_unused_result));

/* Format milliseconds since the epoch as ISO 8601 UTC with milliseconds. */
void api_text_format_time(int64_t ms, char out[API_TIME_LEN]);

/* Convert PostgreSQL's text output of a timestamptz in a session with
 * TimeZone=UTC and DateStyle=ISO ("2026-11-29 14:08:11.35+00") to ISO 8601
 * with milliseconds ("2026-11-29T14:08:11.350Z"). 0, or -1 if pg has
 * another shape (out then holds the epoch, never garbage). */
int api_text_pg_time(const char *pg, char out[API_TIME_LEN]);

struct jbuf;
/* Write PostgreSQL's text output of a one-dimensional text[] ("{a,"b c"}")
 * as a JSON array of strings (["a","b c"]; NULL elements become null).
 * 0, or -1 if the literal is malformed (then "[]" is written). */
int api_text_pg_array_json(const char *pg, struct jbuf *out);

/* Find parameter name in a query string ("a=1&b=x%20y") and percent-decode
 * its value ('+' is a space) into out. 1 found, 0 absent, -1 if the value
 * is malformed, too long for out, or decodes to a NUL or invalid UTF-8. */
int api_text_query_param(const char *query, const char *name, char *out, size_t outlen);

/* Parse a decimal integer in [0, max]: digits only, no sign, no spaces.
 * 0, or -1. */
int api_text_parse_uint(const char *s, int64_t max, int64_t *out);

/* The token of an Authorization header "Token <jwt>" or "Bearer <jwt>"
 * (scheme case-insensitive); NULL if the header has another shape. */
const char *api_text_auth_token(const char *header);

#endif
