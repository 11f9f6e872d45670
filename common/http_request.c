/*
 * http_request.c: the request handle that handlers hold (http.h): read-only
 * accessors, the route label, added response headers and http_respond.
 * Everything the accessors return points into the connection's read
 * buffer, which the connection (http_conn.c) keeps pinned from dispatch
 * until on_done returns. Answering hands the response to the connection;
 * header checks and layout come from the pure formatter (http_format.c).
 */
#include "config.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "http_format.h"
#include "http_internal.h"
#include "http_parse.h"

/* Where the current request's bytes start in its connection's buffer. */
static const char *http_request_base(const struct http_request *r)
{
    return r->conn->buf + r->conn->req_start;
}

/* The method, as counted in metrics. */
enum http_method_id http_request_method(const struct http_request *r)
{
    return r->conn->parse.method;
}

/* The method as sent ("-" when it was never parsed). */
const char *http_request_method_name(const struct http_request *r)
{
    int m = r->conn->parse.parser_method;
    return m >= 0 ? http_method_str((enum http_method)m) : "-";
}

/* The path, NUL-terminated in the read buffer ("" until the head is parsed). */
const char *http_request_path(const struct http_request *r)
{
    const struct http_parse *p = &r->conn->parse;
    if (!p->head_checked || p->status != 0)
        return "";
    return p->path_static != NULL ? p->path_static : http_request_base(r) + p->path_off;
}

/* The query string without '?', or "". */
const char *http_request_query(const struct http_request *r)
{
    const struct http_parse *p = &r->conn->parse;
    if (!p->head_checked || p->status != 0 || p->query_off == HTTP_PARSE_OFF_NONE)
        return "";
    return http_request_base(r) + p->query_off;
}

/* A header value by name (the parser's table). */
const char *http_request_header(const struct http_request *r, const char *name)
{
    return http_parse_header(&r->conn->parse, http_request_base(r), name);
}

/* The last of repeated headers: proxies append X-Forwarded-For as a line
 * of their own, and the last line is the one the nearest hop wrote. */
const char *http_request_header_last(const struct http_request *r, const char *name)
{
    return http_parse_header_last(&r->conn->parse, http_request_base(r), name);
}

/* The body, NUL-terminated in the read buffer. */
const char *http_request_body(const struct http_request *r, size_t *len)
{
    if (r->body_len == 0) {
        if (len != NULL)
            *len = 0;
        return "";
    }
    if (len != NULL)
        *len = r->body_len;
    return http_request_base(r) + r->body_off;
}

/* The request id (the client's or a generated one). */
const char *http_request_id(const struct http_request *r)
{
    return r->id;
}

/* The peer address as text. */
const char *http_request_peer(const struct http_request *r)
{
    return r->conn->peer;
}

/* Whether the client went away while the request was pending. */
bool http_request_orphaned(const struct http_request *r)
{
    return r->orphaned;
}

/* When the previous 503 on this request's connection was answered. */
int64_t http_request_last_503_ms(const struct http_request *r)
{
    return (int64_t)(r->conn->last_503_ns / 1000000u);
}

/* Record the route id for metrics. */
void http_request_set_route(struct http_request *r, int route_id)
{
    r->route_id = route_id;
}

/* The route id recorded for metrics (0 = unmatched). */
int http_request_route(const struct http_request *r)
{
    return r->route_id;
}

/* Queue a response header for the request's answer (validated, copied). */
int http_response_header(struct http_request *r, const char *name, const char *value)
{
    struct http_conn *c = r->conn;
    size_t nlen = strlen(name), vlen = strlen(value);

    if (!r->dispatched || !http_format_header_ok(name, nlen, value, vlen))
        return -1;
    size_t need = c->xlen + nlen + 2 + vlen + 2;
    if (need > c->xcap) {
        size_t ncap = need * 2 > 256 ? need * 2 : 256;
        char *nb = realloc(c->xbuf, ncap);
        if (nb == NULL)
            return -1;
        c->xbuf = nb;
        c->xcap = ncap;
    }
    char *end = http_format_header_line(c->xbuf + c->xlen, name, nlen, value, vlen);
    c->xlen = (size_t)(end - c->xbuf);
    return 0;
}

/* Shared by http_respond and http_respond_json_owned; owned is freed. */
static int http_respond_common(struct http_request *r, int status, const char *ctype,
                               const char *body, size_t len, char *owned)
{
    if (!r->dispatched) {
        free(owned);
        return -1;
    }
    r->dispatched = false;
    http_conn_respond(r->conn, status, ctype, body, len, owned);
    return 0;
}

/* Answer with a copied body. */
int http_respond(struct http_request *r, int status, const char *content_type, const char *body,
                 size_t len)
{
    return http_respond_common(r, status, content_type, body, len, NULL);
}

/* Answer with a JSON body whose malloc'ed buffer the core takes over. */
int http_respond_json_owned(struct http_request *r, int status, char *body, size_t len)
{
    return http_respond_common(r, status, "application/json", body, len, body);
}
