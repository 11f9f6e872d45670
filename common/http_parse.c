/*
 * http_parse.c: the request parser of the HTTP/1.1 core (http_parse.h).
 * Pure: it reads and NUL-terminates bytes the caller owns and returns
 * events; it does no I/O, keeps no connection state, allocates nothing and
 * calls nothing of the connection module (http_conn.c drives it).
 *
 * Relies on libhttp-parser 2.9 for the grammar: the parser is paused in
 * on_headers_complete (so the head is checked between head and body) and
 * in on_message_complete (so the caller takes one request at a time); data
 * callbacks arrive in pieces contiguous in the caller's bytes, recorded as
 * offsets from the request start. http_parser reports HTTP/2.0 or 1.2 as
 * valid versions, so the version is checked here once the request line is
 * done; "HTTP/11.1" is a parser error (HPE_INVALID_VERSION), also 505.
 *
 * RFC 9112 rules enforced (each answered with the status named and a
 * close; the test in test/check_http.c that fails without it in brackets):
 *  - 3.2: an HTTP/1.1 request without Host, any request with more than one
 *    Host line, or a Host value that is not uri-host [":" port]: 400
 *    [test_framing_host]. Absolute-form targets are accepted and their
 *    authority wins: Host is then only checked, never used (3.2.2)
 *    [test_framing_target_forms].
 *  - 3.2: request-target forms: origin-form ("/..."), absolute-form
 *    (scheme and authority required), asterisk-form only for OPTIONS;
 *    authority-form and anything else: 400 [test_framing_target_forms].
 *  - 3 / 2.3: method token (unknown token 501, garbage 400), single SP
 *    separators, version HTTP/1.0 or 1.1 (else 505) [test_limits].
 *  - 5.2: obs-fold (a line starting with SP or HTAB inside the head), also
 *    after an empty value ("X-A:\r\n\tContent-Length: 5",
 *    "Content-Length:\r\n 5"), which libhttp-parser takes for leading
 *    whitespace: found on the raw bytes: 400 [test_framing_obs_fold].
 *  - 2.2: whitespace between the request line and the first header line
 *    (the same raw-byte rule) and a bare CR anywhere in the head: 400
 *    [test_framing_bare_cr, test_framing_obs_fold].
 *  - 5.1: whitespace between a field name and the colon, an empty name or
 *    a non-token character in a name: 400 [test_framing_field_names].
 *  - RFC 9110 5.5: NUL, CR, LF or other control characters (but HTAB) in a field
 *    value, or NUL anywhere in the head: 400 [test_framing_field_values].
 *  - 6.1 / 6.3: Content-Length together with Transfer-Encoding: 400
 *    [test_framing_cl_te]; Transfer-Encoding in an HTTP/1.0 request, or
 *    whose final coding is not chunked: 400; chunked (a body we do not
 *    read): 411 [test_framing_cl_te, test_limits].
 *  - 6.3: Content-Length that is not a single run of digits ("5, 5",
 *    "+5", "", "0x5"), or repeated (equal or not): 400
 *    [test_framing_content_length].
 *  - Limits (not RFC MUSTs, the core's own): request line 414, header
 *    bytes and count 431 [test_limits, test_limit_header_bytes].
 * libhttp-parser 2.9 already refuses some of these itself (repeated or
 * non-digit Content-Length, non-token names, control characters in
 * values, an absolute-form target without an authority); they are checked
 * here as well, on the recorded head, so that no parser version or
 * leniency flag decides the framing: for those the tests fail only when
 * both checks are gone (found by disabling each of ours in turn). The
 * others (Host, obs-fold and whitespace after the request line, bare CR,
 * the Transfer-Encoding rules, asterisk-form) only this file enforces.
 */
#include "config.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"

#define HTTP_METHOD_TOKEN_MAX 32 /* longer "methods" are garbage (400) */

/* Map http_parser's method to the methods we serve; others are OTHER (501). */
static enum http_method_id http_method_map(unsigned m)
{
    switch (m) {
    case HTTP_GET:
        return HTTP_M_GET;
    case HTTP_HEAD:
        return HTTP_M_HEAD;
    case HTTP_POST:
        return HTTP_M_POST;
    case HTTP_PUT:
        return HTTP_M_PUT;
    case HTTP_DELETE:
        return HTTP_M_DELETE;
    case HTTP_OPTIONS:
        return HTTP_M_OPTIONS;
    case HTTP_PATCH:
        return HTTP_M_PATCH;
    default:
        return HTTP_M_OTHER;
    }
}

/* Stop parsing with this status. */
static int http_parse_fail(struct http_parse *p, int status)
{
    p->status = status;
    return -1;
}

/* Check the HTTP version once the request line is done: 1.0 and 1.1 only. */
static int http_parse_check_version(struct http_parse *p)
{
    const http_parser *hp = &p->parser;
    if (hp->http_major == 1 && (hp->http_minor == 0 || hp->http_minor == 1))
        return 0;
    return http_parse_fail(p, 505);
}

/* The request target, in pieces; the method is known at the first piece. */
static int http_cb_url(http_parser *hp, const char *at, size_t n)
{
    struct http_parse *p = hp->data;
    uint32_t off = (uint32_t)(at - p->base);

    if (p->url_len == 0 && p->parser_method < 0) {
        p->url_off = off;
        p->parser_method = (int)hp->method;
        p->method = http_method_map(hp->method);
        if (p->method == HTTP_M_OTHER)
            return http_parse_fail(p, 501);
    }
    p->url_len += (uint32_t)n;
    if ((size_t)p->url_off + p->url_len > p->lim.max_request_line)
        return http_parse_fail(p, 414);
    return 0;
}

/* A header name, in pieces; a name after a value, or a piece that does not
 * continue the previous name in the bytes, starts a new header (so that no
 * sequence of callbacks can glue two lines' names into one entry). */
static int http_cb_header_field(http_parser *hp, const char *at, size_t n)
{
    struct http_parse *p = hp->data;
    uint32_t off = (uint32_t)(at - p->base);
    struct http_header *h = p->nhdr > 0 ? &p->hdrs[p->nhdr - 1] : NULL;

    if (p->rl_end == 0) {
        p->rl_end = off;
        if (off > p->lim.max_request_line + 2)
            return http_parse_fail(p, 414);
        if (http_parse_check_version(p) < 0)
            return -1;
    }
    if (h == NULL || p->last_was_value || off != h->name_off + h->name_len) {
        if (p->nhdr >= p->lim.max_headers)
            return http_parse_fail(p, 431);
        h = &p->hdrs[p->nhdr++];
        h->name_off = off;
        h->name_len = (uint32_t)n;
        h->val_off = h->val_len = 0;
        p->last_was_value = false;
    } else {
        h->name_len += (uint32_t)n;
    }
    /* RFC 9112 5.1: no whitespace between the field name and the colon. */
    if (memchr(at, ' ', n) != NULL || memchr(at, '\t', n) != NULL)
        return http_parse_fail(p, 400);
    if ((size_t)(off + n - p->rl_end) > p->lim.max_header_bytes)
        return http_parse_fail(p, 431);
    return 0;
}

/* A header value, in pieces; a piece that does not continue the previous
 * one is an obsolete line folding (RFC 9112 5.2). */
static int http_cb_header_value(http_parser *hp, const char *at, size_t n)
{
    struct http_parse *p = hp->data;
    uint32_t off = (uint32_t)(at - p->base);
    struct http_header *h = &p->hdrs[p->nhdr - 1];

    if (!p->last_was_value) {
        h->val_off = off;
        h->val_len = (uint32_t)n;
        p->last_was_value = true;
    } else if (off == h->val_off + h->val_len) {
        h->val_len += (uint32_t)n;
    } else {
        return http_parse_fail(p, 400);
    }
    if ((size_t)(off + n - p->rl_end) > p->lim.max_header_bytes)
        return http_parse_fail(p, 431);
    return 0;
}

/* The head is complete: pause, so that the head is checked before the body. */
static int http_cb_headers_complete(http_parser *hp)
{
    struct http_parse *p = hp->data;
    if (p->rl_end == 0 && http_parse_check_version(p) < 0)
        return -1;
    p->head_done = true;
    http_parser_pause(hp, 1);
    return 0;
}

/* The message is complete: pause, so one request is handled at a time. */
static int http_cb_message_complete(http_parser *hp)
{
    struct http_parse *p = hp->data;
    p->msg_done = true;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings http_parser_cbs = {
    .on_url = http_cb_url,
    .on_header_field = http_cb_header_field,
    .on_header_value = http_cb_header_value,
    .on_headers_complete = http_cb_headers_complete,
    .on_message_complete = http_cb_message_complete,
};

/* ------------------------------------------------------------ checks */

/* Is ch a tchar (RFC 9110 5.6.2)? */
static bool http_is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* http_parser rejects methods it does not know; a well-formed token
 * followed by a space is an unknown method (501), anything else is garbage
 * (400). Returns the status, or 0 while the token is still arriving. */
static int http_parse_method_verdict(const char *req, size_t avail)
{
    const unsigned char *p = (const unsigned char *)req;
    const unsigned char *end = p + avail;
    size_t n = 0;

    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    while (p < end && http_is_tchar(*p) && n <= HTTP_METHOD_TOKEN_MAX) {
        p++;
        n++;
    }
    if (n > HTTP_METHOD_TOKEN_MAX)
        return 400;
    if (p == end)
        return 0;
    return (*p == ' ' && n > 0) ? 501 : 400;
}

/* Is this X-Request-Id value one we echo (1..128 printable, no spaces or quotes)? */
static bool http_request_id_ok(const char *v, size_t n)
{
    if (n == 0 || n > HTTP_PARSE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\'' || ch == '\\')
            return false;
    }
    return true;
}

/* RFC 9112 2.2, 5.2, 5.5 on the raw head: no NUL, no bare CR, and no line
 * that starts with SP or HTAB (obs-fold, or whitespace after the request
 * line). libhttp-parser reports a fold after an empty value as leading
 * whitespace of that value, so only the bytes show it. */
static bool http_parse_head_bytes_ok(const char *h, size_t n)
{
    if (memchr(h, '\0', n) != NULL)
        return false;
    for (const char *cr = memchr(h, '\r', n); cr != NULL;
         cr = memchr(cr + 1, '\r', n - (size_t)(cr + 1 - h)))
        if ((size_t)(cr + 1 - h) >= n || cr[1] != '\n')
            return false;
    for (const char *lf = memchr(h, '\n', n); lf != NULL;
         lf = memchr(lf + 1, '\n', n - (size_t)(lf + 1 - h)))
        if ((size_t)(lf + 1 - h) < n && (lf[1] == ' ' || lf[1] == '\t'))
            return false;
    return true;
}

/* RFC 9110 5.5: a field value has no control characters but HTAB. */
static bool http_parse_value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

/* A Content-Length value: one run of decimal digits (RFC 9110 8.6). */
static bool http_parse_length_ok(const char *v, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

/* A reg-name or IPv4 character of uri-host (RFC 3986 3.2.2). */
static bool http_host_char(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("-._~!$&'()*+,;=%", ch) != NULL;
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2); an empty value is allowed. */
static bool http_parse_host_ok(const char *v, size_t n)
{
    size_t i = 0;
    if (n > 0 && v[0] == '[') {
        for (i = 1; i < n && v[i] != ']'; i++) {
            unsigned char ch = (unsigned char)v[i];
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                  (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.'))
                return false;
        }
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        while (i < n && http_host_char((unsigned char)v[i]))
            i++;
    }
    if (i == n)
        return true;
    if (v[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return false;
    return true;
}

/* Locate path and query in the request target (NUL-terminating in place)
 * and check its form (RFC 9112 3.2). Returns 0 or -1 (400). */
static int http_parse_split_target(struct http_parse *p)
{
    char *u = p->base + p->url_off;
    size_t n = p->url_len;
    size_t path_off, path_len, q_off = 0, q_len = 0;
    bool has_q = false;

    if (n > 0 && u[0] == '/') {
        path_off = 0;
        path_len = n;
        for (size_t i = 0; i < n; i++) {
            if (u[i] == '?' && !has_q) {
                path_len = i;
                has_q = true;
                q_off = i + 1;
                q_len = n - q_off;
            } else if (u[i] == '#') {
                if (has_q)
                    q_len = i - q_off;
                else
                    path_len = i;
                break;
            }
        }
    } else if (n == 1 && u[0] == '*') {
        if (p->method != HTTP_M_OPTIONS)
            return -1; /* asterisk-form is for OPTIONS only */
        p->path_static = "*";
        return 0;
    } else {
        struct http_parser_url pu;
        http_parser_url_init(&pu);
        if (http_parser_parse_url(u, n, 0, &pu) != 0)
            return -1;
        /* absolute-form: a scheme and an authority, or it is not a target */
        if (!(pu.field_set & (1 << UF_SCHEMA)) || !(pu.field_set & (1 << UF_HOST)))
            return -1;
        if (!(pu.field_set & (1 << UF_PATH))) {
            p->path_static = "/";
            if (pu.field_set & (1 << UF_QUERY)) {
                u[pu.field_data[UF_QUERY].off + pu.field_data[UF_QUERY].len] = '\0';
                p->query_off = p->url_off + pu.field_data[UF_QUERY].off;
            }
            return 0;
        }
        path_off = pu.field_data[UF_PATH].off;
        path_len = pu.field_data[UF_PATH].len;
        if (pu.field_set & (1 << UF_QUERY)) {
            has_q = true;
            q_off = pu.field_data[UF_QUERY].off;
            q_len = pu.field_data[UF_QUERY].len;
        }
    }
    u[path_off + path_len] = '\0';
    p->path_static = NULL;
    p->path_off = p->url_off + (uint32_t)path_off;
    if (has_q) {
        u[q_off + q_len] = '\0';
        p->query_off = p->url_off + (uint32_t)q_off;
    }
    return 0;
}

/* Between head and body: terminate strings in place, apply the head
 * limits and RFC 9112's framing rules, pick out X-Request-Id, Expect and
 * the body length. Returns 0, or -1 with p->status set. */
static int http_parse_finish_head(struct http_parse *p)
{
    const http_parser *hp = &p->parser;
    char *base = p->base;
    int hosts = 0, lengths = 0, codings = 0;
    const char *expect = NULL;

    p->head_len = (uint32_t)(p->parsed + 1);
    if (p->rl_end == 0 && p->head_len > p->lim.max_request_line + 4)
        return http_parse_fail(p, 414);
    if (p->rl_end != 0 && p->head_len - p->rl_end > p->lim.max_header_bytes + 2)
        return http_parse_fail(p, 431);
    if (!http_parse_head_bytes_ok(base, p->head_len))
        return http_parse_fail(p, 400);

    base[p->url_off + p->url_len] = '\0';
    for (int i = 0; i < p->nhdr; i++) {
        struct http_header *h = &p->hdrs[i];
        const char *name = base + h->name_off;
        const char *val = base + h->val_off;
        while (h->val_len > 0 && (val[h->val_len - 1] == ' ' || val[h->val_len - 1] == '\t'))
            h->val_len--;
        if (h->name_len == 0 || !http_parse_value_ok(val, h->val_len))
            return http_parse_fail(p, 400);
        for (uint32_t k = 0; k < h->name_len; k++)
            if (!http_is_tchar((unsigned char)name[k]))
                return http_parse_fail(p, 400);
        base[h->name_off + h->name_len] = '\0';
        if (h->val_len > 0)
            base[h->val_off + h->val_len] = '\0';
        if (h->name_len == 4 && strcasecmp(name, "host") == 0) {
            if (++hosts > 1 || !http_parse_host_ok(val, h->val_len))
                return http_parse_fail(p, 400);
        } else if (h->name_len == 14 && strcasecmp(name, "content-length") == 0) {
            if (++lengths > 1 || !http_parse_length_ok(val, h->val_len))
                return http_parse_fail(p, 400);
        } else if (h->name_len == 17 && strcasecmp(name, "transfer-encoding") == 0) {
            codings++;
        } else if (h->name_len == 12 && strcasecmp(name, "x-request-id") == 0) {
            if (p->id_len == 0 && http_request_id_ok(val, h->val_len)) {
                p->id_off = h->val_off;
                p->id_len = h->val_len;
            }
        } else if (h->name_len == 6 && strcasecmp(name, "expect") == 0) {
            expect = h->val_len > 0 ? val : "";
        }
    }
    p->http11 = hp->http_minor == 1;
    if (p->http11 && hosts == 0)
        return http_parse_fail(p, 400);
    if (http_parse_split_target(p) < 0)
        return http_parse_fail(p, 400);
    if (codings > 0) {
        if (lengths > 0 || !p->http11 || !(hp->flags & F_CHUNKED))
            return http_parse_fail(p, 400);
        return http_parse_fail(p, 411);
    }
    p->content_length = (hp->flags & F_CONTENTLENGTH) ? hp->content_length : 0;
    if (expect != NULL && p->http11)
        p->expect =
            strcasecmp(expect, "100-continue") == 0 ? HTTP_EXPECT_CONTINUE : HTTP_EXPECT_UNKNOWN;
    p->keep_alive = http_should_keep_alive(hp) != 0;
    return 0;
}

/* All bytes are parsed and the head is not complete: apply the limits to
 * what has arrived so far (whitespace does not reach callbacks). */
static int http_parse_check_partial(struct http_parse *p, size_t got)
{
    const struct http_parse_limits *lim = &p->lim;
    size_t head_limit = lim->max_request_line + lim->max_header_bytes + 8;

    if (p->rl_end == 0 && got > lim->max_request_line + 2)
        return http_parse_fail(p, 414);
    if (p->rl_end != 0 && got - p->rl_end > lim->max_header_bytes + 2)
        return http_parse_fail(p, 431);
    if (got >= head_limit)
        return http_parse_fail(p, p->rl_end == 0 ? 414 : 431);
    return 0;
}

/* Map a parser error to a status; 0 to wait for the rest of a method. */
static int http_parse_error_status(struct http_parse *p, enum http_errno e, size_t avail)
{
    switch (e) {
    case HPE_INVALID_METHOD:
        p->method_check = true;
        return http_parse_method_verdict(p->base, avail);
    case HPE_INVALID_VERSION:
        return 505;
    case HPE_HEADER_OVERFLOW:
        return p->rl_end == 0 ? 414 : 431;
    default:
        return 400;
    }
}

void http_parse_init(struct http_parse *p, const struct http_parse_limits *lim,
                     struct http_header *hdrs)
{
    memset(p, 0, offsetof(struct http_parse, parser));
    p->lim = *lim;
    p->hdrs = hdrs;
    p->method = HTTP_M_OTHER;
    p->parser_method = -1;
    p->path_static = "";
    p->query_off = HTTP_PARSE_OFF_NONE;
    http_parser_init(&p->parser, HTTP_REQUEST);
    p->parser.data = p;
    p->base = NULL;
    p->parsed = 0;
    p->url_off = p->url_len = p->rl_end = 0;
    p->last_was_value = p->head_done = p->head_checked = p->msg_done = p->method_check = false;
}

enum http_parse_event http_parse_feed(struct http_parse *p, char *req, size_t avail)
{
    p->base = req;
    for (;;) {
        if (p->status != 0)
            return HTTP_PARSE_ERROR;
        if (p->method_check) {
            p->status = http_parse_method_verdict(req, avail);
            return p->status != 0 ? HTTP_PARSE_ERROR : HTTP_PARSE_MORE;
        }
        if (p->head_done && !p->head_checked) {
            p->head_checked = true;
            if (http_parse_finish_head(p) < 0)
                return HTTP_PARSE_ERROR;
            return HTTP_PARSE_HEAD;
        }
        if (p->msg_done)
            return HTTP_PARSE_DONE;
        if (p->parsed >= avail) {
            if (!p->head_done && http_parse_check_partial(p, avail) < 0)
                return HTTP_PARSE_ERROR;
            return HTTP_PARSE_MORE;
        }
        size_t n =
            http_parser_execute(&p->parser, &http_parser_cbs, req + p->parsed, avail - p->parsed);
        p->parsed += n;
        if (p->status != 0)
            return HTTP_PARSE_ERROR;
        enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&p->parser, 0);
        } else if (e != HPE_OK) {
            p->status = http_parse_error_status(p, e, avail);
            if (p->status == 0)
                return HTTP_PARSE_MORE; /* the method token is still arriving */
            return HTTP_PARSE_ERROR;
        }
    }
}

size_t http_parse_used(const struct http_parse *p)
{
    return p->parsed;
}

bool http_parse_in_request_line(const struct http_parse *p)
{
    return p->rl_end == 0;
}

/* The first (or, with last, the last) header named name, as the two
 * lookups below answer. */
static const char *http_parse_find_header(const struct http_parse *p, const char *req,
                                          const char *name, bool last)
{
    const char *found = NULL;

    if (!p->head_checked || p->status != 0)
        return NULL;
    size_t n = strlen(name);
    for (int i = 0; i < p->nhdr; i++) {
        const struct http_header *h = &p->hdrs[i];
        if (h->name_len == n && strcasecmp(req + h->name_off, name) == 0) {
            found = h->val_len > 0 ? req + h->val_off : "";
            if (!last)
                break;
        }
    }
    return found;
}

const char *http_parse_header(const struct http_parse *p, const char *req, const char *name)
{
    return http_parse_find_header(p, req, name, false);
}

const char *http_parse_header_last(const struct http_parse *p, const char *req, const char *name)
{
    return http_parse_find_header(p, req, name, true);
}
