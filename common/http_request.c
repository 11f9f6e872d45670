/*
 * http_request.c: read-only accessors of struct http_request (and the route
 * label setter). Everything they return points into the connection's read
 * buffer, which http.c keeps pinned from dispatch until on_done returns.
 */
#include "config.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "http_internal.h"

/* Where the current request's bytes start in its connection's buffer. */
static const char *http_request_base(const struct http_request *r)
{
    return r->conn->buf + r->conn->req_start;
}

/* The method, as counted in metrics. */
enum http_method_id http_request_method(const struct http_request *r)
{
    return r->method;
}

/* The method as sent ("-" when it was never parsed). */
const char *http_request_method_name(const struct http_request *r)
{
    return r->parser_method >= 0 ? http_method_str((enum http_method)r->parser_method) : "-";
}

/* The path, NUL-terminated in the read buffer. */
const char *http_request_path(const struct http_request *r)
{
    return r->path_static != NULL ? r->path_static : http_request_base(r) + r->path_off;
}

/* The query string without '?', or "". */
const char *http_request_query(const struct http_request *r)
{
    return r->query_off == HTTP_OFF_NONE ? "" : http_request_base(r) + r->query_off;
}

/* Linear scan: requests carry few headers and names are compared only when
 * the lengths match. The first of repeated headers wins. */
const char *http_request_header(const struct http_request *r, const char *name)
{
    if (!r->headers_ready)
        return NULL;
    const struct http_conn *c = r->conn;
    const char *base = http_request_base(r);
    size_t n = strlen(name);
    for (int i = 0; i < c->nhdr; i++) {
        const struct http_header *h = &c->hdrs[i];
        if (h->name_len == n && strcasecmp(base + h->name_off, name) == 0)
            return h->val_len > 0 ? base + h->val_off : "";
    }
    return NULL;
}

/* The same scan, keeping the last match: for headers that proxies append
 * as a line of their own (X-Forwarded-For), where the last line is the one
 * the nearest hop wrote. */
const char *http_request_header_last(const struct http_request *r, const char *name)
{
    const char *found = NULL;

    if (!r->headers_ready)
        return NULL;
    const struct http_conn *c = r->conn;
    const char *base = http_request_base(r);
    size_t n = strlen(name);
    for (int i = 0; i < c->nhdr; i++) {
        const struct http_header *h = &c->hdrs[i];
        if (h->name_len == n && strcasecmp(base + h->name_off, name) == 0)
            found = h->val_len > 0 ? base + h->val_off : "";
    }
    return found;
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
