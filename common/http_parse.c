/*
 * http_parse.c: request parsing for the HTTP/1.1 core. Feeds buffered bytes
 * to libhttp-parser, records the request line and headers as offsets into
 * the connection's buffer, applies the limits (414, 431, 413, 411, 501,
 * 505, 400), answers Expect: 100-continue, sizes the buffer for the body
 * and hands complete requests to the handler one at a time.
 *
 * Relies on libhttp-parser 2.9: the parser is paused in
 * on_headers_complete (so the head is finished between head and body) and
 * in on_message_complete (so pipelined requests wait their turn); data
 * callbacks arrive in pieces that are contiguous in our buffer, because
 * every read appends to it and nothing moves while a head is parsed
 * except by compaction, which offsets relative to req_start survive.
 * http_parser reports HTTP/2.0 or 1.2 as valid versions, so the version is
 * checked here once the request line is done; "HTTP/11.1" is a parser
 * error (HPE_INVALID_VERSION), also answered with 505.
 */
#include "config.h"

#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http.h"
#include "http_internal.h"
#include "log.h"

#define HTTP_METHOD_TOKEN_MAX 32 /* longer "methods" are garbage (400) */
#define HTTP_CONTINUE         "HTTP/1.1 100 Continue\r\n\r\n"

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

/* Check the HTTP version once the request line is done: 1.0 and 1.1 only. */
static int http_conn_check_version(struct http_conn *c)
{
    const http_parser *p = &c->parser;
    if (p->http_major == 1 && (p->http_minor == 0 || p->http_minor == 1))
        return 0;
    c->err_status = 505;
    return -1;
}

/* The request target, in pieces; the method is known at the first piece. */
static int http_cb_url(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    uint32_t off = (uint32_t)(at - (c->buf + c->req_start));

    if (c->url_len == 0 && c->req.parser_method < 0) {
        c->url_off = off;
        c->req.parser_method = (int)p->method;
        c->req.method = http_method_map(p->method);
        if (c->req.method == HTTP_M_OTHER) {
            c->err_status = 501;
            return -1;
        }
    }
    c->url_len += (uint32_t)n;
    if ((size_t)c->url_off + c->url_len > c->srv->limits.max_request_line) {
        c->err_status = 414;
        return -1;
    }
    return 0;
}

/* A header name, in pieces; a name after a value starts a new header. */
static int http_cb_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    const struct http_limits *lim = &c->srv->limits;
    uint32_t off = (uint32_t)(at - (c->buf + c->req_start));
    struct http_header *h;

    if (c->rl_end == 0) {
        c->rl_end = off;
        if (off > lim->max_request_line + 2) {
            c->err_status = 414;
            return -1;
        }
        if (http_conn_check_version(c) < 0)
            return -1;
    }
    if (c->nhdr == 0 || c->last_was_value) {
        if (c->nhdr >= lim->max_headers) {
            c->err_status = 431;
            return -1;
        }
        h = &c->hdrs[c->nhdr++];
        h->name_off = off;
        h->name_len = (uint32_t)n;
        h->val_off = h->val_len = 0;
        c->last_was_value = false;
    } else {
        h = &c->hdrs[c->nhdr - 1];
        h->name_len += (uint32_t)n;
    }
    /* RFC 9112 5.1: no whitespace between the field name and the colon. */
    if (memchr(at, ' ', n) != NULL || memchr(at, '\t', n) != NULL) {
        c->err_status = 400;
        return -1;
    }
    if ((size_t)(off + n - c->rl_end) > lim->max_header_bytes) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

/* A header value, in pieces; a piece that does not continue the previous
 * one is an obsolete line folding, which we reject (RFC 9112 5.2). */
static int http_cb_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    uint32_t off = (uint32_t)(at - (c->buf + c->req_start));
    struct http_header *h = &c->hdrs[c->nhdr - 1];

    if (!c->last_was_value) {
        h->val_off = off;
        h->val_len = (uint32_t)n;
        c->last_was_value = true;
    } else if (off == h->val_off + h->val_len) {
        h->val_len += (uint32_t)n;
    } else {
        c->err_status = 400;
        return -1;
    }
    if ((size_t)(off + n - c->rl_end) > c->srv->limits.max_header_bytes) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

/* The head is complete: pause so that http_conn_finish_head runs between
 * the head and the body. */
static int http_cb_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    if (c->rl_end == 0 && http_conn_check_version(c) < 0)
        return -1;
    c->head_done = true;
    http_parser_pause(p, 1);
    return 0;
}

/* The message is complete: pause, so one request is handled at a time. */
static int http_cb_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    c->msg_done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings http_parser_cbs = {
    .on_url = http_cb_url,
    .on_header_field = http_cb_header_field,
    .on_header_value = http_cb_header_value,
    .on_headers_complete = http_cb_headers_complete,
    .on_message_complete = http_cb_message_complete,
};

/* ---------------------------------------------------------- the request */

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
static int http_conn_method_verdict(const struct http_conn *c)
{
    const unsigned char *p = (const unsigned char *)c->buf + c->req_start;
    const unsigned char *end = (const unsigned char *)c->buf + c->len;
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
    if (n == 0 || n > HTTP_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\'' || ch == '\\')
            return false;
    }
    return true;
}

/* Locate path and query in the request target (NUL-terminating in place). */
static int http_conn_split_target(struct http_conn *c)
{
    struct http_request *r = &c->req;
    char *base = c->buf + c->req_start;
    char *u = base + c->url_off;
    size_t n = c->url_len;
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
        r->path_static = "*";
        return 0;
    } else {
        struct http_parser_url pu;
        http_parser_url_init(&pu);
        if (http_parser_parse_url(u, n, 0, &pu) != 0)
            return -1;
        if (!(pu.field_set & (1 << UF_PATH))) {
            r->path_static = "/";
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
    r->path_static = NULL;
    r->path_off = c->url_off + (uint32_t)path_off;
    if (has_q) {
        u[q_off + q_len] = '\0';
        r->query_off = c->url_off + (uint32_t)q_off;
    }
    return 0;
}

/* Write "100 Continue" directly; it is tiny and the socket has room for it. */
static int http_conn_send_continue(struct http_conn *c)
{
    ssize_t n = send(c->fd, HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1, MSG_NOSIGNAL);
    return n == (ssize_t)(sizeof HTTP_CONTINUE - 1) ? 0 : -1;
}

/* Between head and body: terminate strings in place, apply the header
 * limits, pick out X-Request-Id and Expect, size the buffer for the body.
 * Returns 0 to go on parsing, -1 when an error response was sent. */
static int http_conn_finish_head(struct http_conn *c)
{
    struct http_server *s = c->srv;
    struct http_request *r = &c->req;
    const http_parser *p = &c->parser;
    char *base = c->buf + c->req_start;
    const char *expect = NULL;
    int status = 0;

    c->head_len = (uint32_t)(c->parsed + 1 - c->req_start);
    if (c->rl_end == 0 && c->head_len > s->limits.max_request_line + 4)
        status = 414;
    else if (c->rl_end != 0 && c->head_len - c->rl_end > s->limits.max_header_bytes + 2)
        status = 431;

    base[c->url_off + c->url_len] = '\0';
    for (int i = 0; i < c->nhdr; i++) {
        struct http_header *h = &c->hdrs[i];
        while (h->val_len > 0 && (base[h->val_off + h->val_len - 1] == ' ' ||
                                  base[h->val_off + h->val_len - 1] == '\t'))
            h->val_len--;
        base[h->name_off + h->name_len] = '\0';
        if (h->val_len > 0)
            base[h->val_off + h->val_len] = '\0';
        if (h->name_len == 12 && strcasecmp(base + h->name_off, "x-request-id") == 0) {
            if (r->id[0] == '\0' && http_request_id_ok(base + h->val_off, h->val_len)) {
                memcpy(r->id, base + h->val_off, h->val_len);
                r->id[h->val_len] = '\0';
            }
        } else if (h->name_len == 6 && strcasecmp(base + h->name_off, "expect") == 0) {
            expect = h->val_len > 0 ? base + h->val_off : "";
        }
    }
    r->headers_ready = true;
    if (r->id[0] == '\0')
        http_server_make_request_id(s, r->id);
    if (status == 0 && http_conn_split_target(c) < 0)
        status = 400;

    uint64_t cl = (p->flags & F_CONTENTLENGTH) ? p->content_length : 0;
    bool continue_wanted = false;
    if (status != 0) {
        /* limit already exceeded */
    } else if (p->flags & F_CHUNKED) {
        status = 411;
    } else if (cl > s->limits.max_body || cl >= UINT32_MAX) {
        status = 413;
    } else if (expect != NULL && p->http_minor == 1) {
        if (strcasecmp(expect, "100-continue") != 0)
            status = 417;
        else
            continue_wanted = true;
    }
    if (status != 0) {
        http_conn_send_error(c, status);
        return -1;
    }
    if (cl == 0)
        return 0;

    /* Room for the whole body plus its NUL, contiguous after the head. */
    size_t need = c->head_len + (size_t)cl + 1;
    if (c->req_start > 0 && c->req_start + need > c->cap) {
        memmove(c->buf, c->buf + c->req_start, c->len - c->req_start);
        c->len -= c->req_start;
        c->parsed -= c->req_start;
        c->req_start = 0;
    }
    if (c->req_start + need > c->cap) {
        char *nb = realloc(c->buf, c->req_start + need);
        if (nb == NULL) {
            log_error("http body buffer allocation failed", "\"bytes\":%zu", need);
            http_conn_send_error(c, 503);
            return -1;
        }
        c->buf = nb;
        c->cap = c->req_start + need;
    }
    r->body_off = c->head_len;
    r->body_len = (uint32_t)cl;
    c->state = HTTP_CONN_BODY;
    if (c->len - c->req_start < c->head_len + cl) {
        if (continue_wanted && http_conn_send_continue(c) < 0) {
            http_conn_close(c);
            return -1;
        }
        http_conn_set_deadline(c, s->limits.body_timeout_ms);
    }
    return 0;
}

/* Hand the complete request to the handler. */
static void http_conn_dispatch(struct http_conn *c)
{
    struct http_server *s = c->srv;
    struct http_request *r = &c->req;

    c->next_start = c->parsed;
    if (r->body_len > 0) {
        /* NUL-terminate the body: borrow the next byte (restored before the
         * next request is parsed) or, at the end of the data, leave a gap. */
        size_t pos = c->parsed;
        if (pos < c->len) {
            c->saved_byte = (unsigned char)c->buf[pos];
        } else {
            c->len = pos + 1;
            c->next_start = pos + 1;
        }
        c->buf[pos] = '\0';
    }
    r->keep_alive = http_should_keep_alive(&c->parser) != 0;
    r->dispatched = true;
    s->in_flight++;
    c->state = HTTP_CONN_HANDLER;
    c->deadline_ms = 0;
    s->cb.on_request(r, s->cb.arg);
}

/* All buffered bytes are parsed and the head is not complete: apply the
 * limits to what has arrived so far (whitespace does not reach callbacks). */
static void http_conn_check_partial(struct http_conn *c)
{
    const struct http_limits *lim = &c->srv->limits;
    size_t got = c->len - c->req_start;

    if (c->state != HTTP_CONN_HEAD)
        return;
    if (c->rl_end == 0 && got > lim->max_request_line + 2)
        http_conn_send_error(c, 414);
    else if (c->rl_end != 0 && got - c->rl_end > lim->max_header_bytes + 2)
        http_conn_send_error(c, 431);
    else if (got >= c->srv->head_limit)
        http_conn_send_error(c, c->rl_end == 0 ? 414 : 431);
}

/* Map a parser error to a status and answer it (or wait to decide). */
static void http_conn_parse_error(struct http_conn *c, enum http_errno e)
{
    int status;

    switch (e) {
    case HPE_INVALID_METHOD:
        c->method_check = true;
        status = http_conn_method_verdict(c);
        if (status == 0)
            return; /* wait for the rest of the token */
        break;
    case HPE_INVALID_VERSION:
        status = 505;
        break;
    case HPE_HEADER_OVERFLOW:
        status = c->rl_end == 0 ? 414 : 431;
        break;
    default:
        status = 400;
        break;
    }
    http_conn_send_error(c, status);
}

/* Parse buffered bytes and dispatch complete requests, one at a time. */
void http_conn_process(struct http_conn *c)
{
    if (c->in_process)
        return;
    c->in_process = true;
    c->busy++;
    while (!c->dead && (c->state == HTTP_CONN_HEAD || c->state == HTTP_CONN_BODY)) {
        if (c->method_check) {
            int status = http_conn_method_verdict(c);
            if (status != 0)
                http_conn_send_error(c, status);
            break;
        }
        if (c->parsed >= c->len) {
            http_conn_check_partial(c);
            if (c->peer_eof && (c->state == HTTP_CONN_HEAD || c->state == HTTP_CONN_BODY))
                http_conn_close(c); /* the rest of this request will never come */
            break;
        }
        size_t n = http_parser_execute(&c->parser, &http_parser_cbs, c->buf + c->parsed,
                                       c->len - c->parsed);
        c->parsed += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (c->err_status != 0) {
            http_conn_send_error(c, c->err_status);
            break;
        }
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            if (c->msg_done) {
                http_conn_dispatch(c);
            } else if (c->head_done && c->head_len == 0) {
                if (http_conn_finish_head(c) < 0)
                    break;
            }
        } else if (e != HPE_OK) {
            http_conn_parse_error(c, e);
            break;
        }
    }
    c->in_process = false;
    c->busy--;
}
