/*
 * http.h: the HTTP/1.1 server core shared by the worker (API port) and the
 * supervisor (admin port). It runs on a libevent event_base with
 * libhttp-parser, reads into per-connection buffers and writes preformatted
 * response headers with writev.
 *
 * Requests on one connection are handled one at a time: while a request is
 * waiting for its response, further pipelined bytes stay buffered, so
 * responses always go out in request order.
 *
 * Ownership: the core owns every struct http_request. A handler receives
 * one in on_request and must call http_respond() exactly once, now or later
 * (from a database or Redis callback). The request stays valid until then
 * even if the client goes away; after http_respond() the caller must not
 * touch it again.
 *
 * Layers (no file calls back up): http.c (the server, accepting) ->
 * http_conn.c (a connection: socket, deadlines, state) -> http_parse.c
 * (pure parser) and http_format.c (pure formatter); http_request.c is the
 * request handle declared below.
 *
 * Semantics worth knowing (details in common/http_conn.c and http_parse.c):
 *  - The core answers malformed or over-limit requests itself, with a JSON
 *    body {"errors":{"request":["..."]}} and Connection: close: 400
 *    garbage or a framing error (RFC 9112, listed in http_parse.c: Host
 *    missing or repeated, obs-fold, bare CR, CL with TE...), 408 head/body
 *    timeout, 411 chunked body, 413 body too large (the route's limit from
 *    body_limit, or max_body), 414 request line, 417 unknown Expect, 431
 *    header bytes or count, 501 a method other than GET HEAD POST PUT
 *    DELETE OPTIONS PATCH, 505 a version other than HTTP/1.0 and 1.1.
 *    on_request never sees those, but on_done does (route 0, method name
 *    "-" if the method was not parsed, path "" if the head was not
 *    complete or invalid, http_request_header() NULL then).
 *  - on_done runs once per answered request, when the whole response is
 *    in the kernel (or the connection died), with the time from the first
 *    byte of the request (for a pipelined request: from the end of the
 *    previous response) to then.
 *  - A peer that closes (or half-closes) while its request is with the
 *    handler orphans the request; http_respond() still works (the answer
 *    is written if the socket takes it, complete requests already received
 *    behind it are answered too, then the connection closes). A reset
 *    closes the socket at once; on_conn(-1) comes then.
 *  - Connections closed after a response linger: our side is shut down and
 *    input is discarded until the peer closes, at most 2 s, so that unread
 *    request bytes cannot turn the close into a reset that destroys the
 *    response. http_server_connections() counts them.
 *  - Not supported: chunked request bodies (411), Upgrade (ignored, the
 *    request is answered as HTTP/1.1), obsolete header line folding (400).
 *    An HTTP/1.1 request without Host, or any with two, is 400.
 */
#ifndef CONDUIT_HTTP_H
#define CONDUIT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_method.h" /* enum http_method_id */
#include "http_status.h" /* http_status_reason() */

struct event_base;
struct http_server;
struct http_request;

struct http_limits {
    size_t max_request_line; /* longer: 414 */
    size_t max_header_bytes; /* longer: 431 */
    int max_headers;         /* more: 431 */
    size_t max_body;         /* larger Content-Length: 413 (body_limit may lower it) */
    int header_timeout_ms;   /* whole head must arrive within this: 408 + close */
    int body_timeout_ms;     /* body must arrive within this: 408 + close */
    int idle_timeout_ms;     /* keep-alive idle: close silently */
    int write_timeout_ms;    /* peer not reading: close */
    int accepts_per_wake;    /* bound on accept() calls per readiness event */
};

struct http_callbacks {
    /* A complete request: route it and eventually call http_respond(). */
    void (*on_request)(struct http_request *req, void *arg);
    /* The response was written (or the connection died); for metrics and access log. */
    void (*on_done)(const struct http_request *req, int status, double seconds, void *arg);
    /* Connection count changed (+1 opened, -1 closed). May be NULL. */
    void (*on_conn)(int delta, void *arg);
    void *arg;
    /* May be NULL. Called once the head of a request that declares a body
     * (Content-Length > 0) is complete and valid, before a byte of the body
     * is read: return that request's body limit (the route's own, e.g. a
     * few KB for login), or 0 for limits.max_body. Only a limit below
     * max_body counts; a larger body is answered 413 and closed. The
     * request's method, path and headers are readable; it must not be
     * answered here. */
    size_t (*body_limit)(const struct http_request *req, void *arg);
};

/* Serve listen_fd (non-blocking, already listening; not closed by the core). */
struct http_server *http_server_new(struct event_base *base, int listen_fd,
                                    const struct http_limits *limits,
                                    const struct http_callbacks *cb);

/* Grace that http_server_drain() gives idle connections (milliseconds):
 * a connection that has not sent a byte of its first request yet (just
 * accepted) gets HTTP_DRAIN_FRESH_GRACE_MS, or header_timeout_ms when that
 * is shorter; a keep-alive connection between requests gets
 * HTTP_DRAIN_IDLE_GRACE_MS, or what is left of its idle timeout when that
 * is shorter. */
#define HTTP_DRAIN_FRESH_GRACE_MS 2000
#define HTTP_DRAIN_IDLE_GRACE_MS  1000

/* Stop accepting for good, then wind every connection down without
 * closing one under a request on its way:
 * - a connection with a request under way (head or body arriving, with
 *   the handler, response being written) gets its current response with
 *   Connection: close and is closed (pipelined requests behind it are
 *   dropped);
 * - an idle connection (no byte of a next request yet, freshly accepted or
 *   between keep-alive requests) stays open for its grace (above): a
 *   request that starts arriving meanwhile is answered with
 *   Connection: close; when the grace ends with nothing received, it is
 *   closed. A request the client sends just as the grace ends can still
 *   meet the close (unavoidable: HTTP/1.1 has no way to announce it on an
 *   idle connection); clients retry such a request (RFC 9112 9.3.1).
 * The listening socket stays open (the caller owns it). Draining is final.
 * The caller is done when http_server_connections() and
 * http_server_in_flight() are both 0. */
void http_server_drain(struct http_server *s);

/* Stop accepting but keep connections as they are (used while paused).
 * Returns 0, or -1 if the event cannot be changed or, when unpausing, the
 * server is draining. */
int http_server_pause_accept(struct http_server *s, bool paused);

/* Open connections and requests waiting for a response. */
size_t http_server_connections(const struct http_server *s);
size_t http_server_in_flight(const struct http_server *s);

/* Close everything and free. Requests still pending are orphaned and
 * freed when their handler responds. */
void http_server_free(struct http_server *s);

/* ---- the request, valid from on_request until http_respond() ---- */
enum http_method_id http_request_method(const struct http_request *r);
const char *http_request_method_name(const struct http_request *r);
/* Path without the query string, NUL-terminated, not percent-decoded. */
const char *http_request_path(const struct http_request *r);
/* Query string without '?', NUL-terminated, "" when absent. */
const char *http_request_query(const struct http_request *r);
/* Header value by case-insensitive name, NUL-terminated, trailing blanks
 * removed; NULL if absent. The first of repeated headers wins. */
const char *http_request_header(const struct http_request *r, const char *name);
/* Like http_request_header(), but the last of repeated headers. */
const char *http_request_header_last(const struct http_request *r, const char *name);
/* Body bytes (NUL-terminated for convenience) and length; "" and 0 if none.
 * len may be NULL. */
const char *http_request_body(const struct http_request *r, size_t *len);
/* X-Request-Id from the client (if sane), else a generated one. */
const char *http_request_id(const struct http_request *r);
/* Peer address as text ("127.0.0.1"), for rate limits and logs. */
const char *http_request_peer(const struct http_request *r);
/* True when the client has gone away while the response was pending. */
bool http_request_orphaned(const struct http_request *r);

/* When the last 503 answered on this request's connection (an earlier
 * request on it) was handed to http_respond(), in CLOCK_MONOTONIC
 * milliseconds (proc_mono_ms()'s clock); 0 if none was. Admission control
 * reads it to tell a client that retried at once after a refusal. */
int64_t http_request_last_503_ms(const struct http_request *r);

/* Answer this request with Connection: close and close the connection
 * after it (admission control's graceful close). Before http_respond. */
void http_request_close_after(struct http_request *r);

/* The route label for metrics (an index into the caller's route table). */
void http_request_set_route(struct http_request *r, int route_id);
int http_request_route(const struct http_request *r);

/* Add a response header (before http_respond); name and value are copied.
 * Returns -1 for a name that is not a token, a value with CR, LF or other
 * control characters, or a header the core writes itself (Content-Length,
 * Content-Type, Connection, Date, Server, Transfer-Encoding, X-Request-Id). */
int http_response_header(struct http_request *r, const char *name, const char *value)
    __attribute__((warn_unused_result));

/* Send the response: status line, Date, Server, Content-Type, Content-Length,
 * X-Request-Id, Connection, added headers, then body (omitted for HEAD and
 * for 204/304). body is copied. Returns 0, or -1 if the request was already
 * answered. Frees the request (and the connection if it is orphaned).
 * A status outside 200..599 is sent as 500. For HEAD, pass the body GET
 * would send: its length becomes the Content-Length. 204 and 304 carry
 * neither Content-Type nor Content-Length. */
int http_respond(struct http_request *r, int status, const char *content_type, const char *body,
                 size_t len);

/* Like http_respond with application/json and a body taking ownership of a
 * malloc'ed buffer (avoids a copy for large JSON). */
int http_respond_json_owned(struct http_request *r, int status, char *body, size_t len);

#endif
