/*
 * http_internal.h: private structures of the HTTP/1.1 core, shared by its
 * connection side: http.c (the server: accepting, draining), http_conn.c
 * (one connection: socket, deadlines, state transitions, reading and
 * writing) and http_request.c (the request handle handlers use). The pure
 * layers below them, http_parse.c and http_format.c, see none of this.
 * Nothing outside common/http*.c includes this file.
 *
 * Memory model: one struct http_conn per accepted socket, allocated once
 * with its header table; it embeds the one struct http_request that the
 * connection can have in progress, so a request costs no allocation. The
 * read buffer (buf) holds the raw bytes; the parser records offsets into
 * it (relative to req_start) and NUL-terminates the head in place, so
 * paths, header values and the body are handed out without copying.
 * From dispatch until on_done the buffer is pinned: it is neither moved
 * nor reallocated, so pointers a handler obtained stay valid.
 */
#ifndef CONDUIT_HTTP_INTERNAL_H
#define CONDUIT_HTTP_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "http.h"
#include "http_parse.h"

#define HTTP_REQUEST_ID_MAX HTTP_PARSE_ID_MAX /* longest client X-Request-Id we echo */
#define HTTP_DATE_LINE_MAX  64                /* "Date: ...\r\nServer: conduitd\r\n" */
#define HTTP_PEER_MAX       48                /* INET6_ADDRSTRLEN and some */

/* Where a connection is in its request/response cycle. */
enum http_conn_state {
    HTTP_CONN_IDLE,    /* no byte of the next request yet (new or keep-alive) */
    HTTP_CONN_HEAD,    /* part of a request head received */
    HTTP_CONN_BODY,    /* head parsed, reading a Content-Length body */
    HTTP_CONN_HANDLER, /* request with the handler, waiting for http_respond */
    HTTP_CONN_WRITE,   /* response partly written, waiting for the socket */
    HTTP_CONN_LINGER,  /* last response sent, write side shut, discarding input */
    HTTP_CONN_CLOSED,  /* socket closed; kept only for an orphaned request */
};

struct http_conn;

struct http_request {
    struct http_conn *conn;
    uint32_t body_off; /* relative to req_start */
    uint32_t body_len;
    int route_id;
    int status;          /* the status answered (for on_done) */
    bool dispatched;     /* handed to on_request, not yet answered */
    bool orphaned;       /* the peer went away while dispatched */
    uint64_t t_start_ns; /* first byte of the request (monotonic) */
    char id[HTTP_REQUEST_ID_MAX + 1];
};

struct http_server {
    struct event_base *base;
    int listen_fd; /* owned by the caller, never closed here */
    struct http_limits limits;
    struct http_parse_limits parse_limits;
    struct http_callbacks cb;
    struct event *ev_accept;
    struct event *ev_backoff; /* re-enables accept after EMFILE and friends */
    bool accept_on;           /* ev_accept is added */
    bool paused;              /* http_server_pause_accept(s, true) */
    bool backoff;             /* waiting on ev_backoff */
    bool draining;
    bool accept_failing;     /* accept() keeps failing (EMFILE...); logged once */
    size_t head_limit;       /* request line + headers, the most a head may take */
    size_t nconns;           /* open sockets */
    size_t in_flight;        /* requests dispatched and not answered */
    struct http_conn *conns; /* every connection, orphans included */
    uint64_t id_seed;        /* per-process random seed for request ids */
    uint64_t id_counter;
    long date_sec; /* second that date_line describes */
    size_t date_len;
    char date_line[HTTP_DATE_LINE_MAX]; /* "Date: ...\r\nServer: conduitd\r\n" */
};

struct http_conn {
    struct http_server *srv; /* NULL once the server is freed (orphans) */
    struct http_conn *prev, *next;
    int fd; /* -1 once closed */
    enum http_conn_state state;
    struct event *ev_read;
    struct event *ev_write;
    struct event *ev_timer;
    bool read_on;         /* ev_read is added */
    bool peer_eof;        /* the peer shut down its side */
    bool close_after;     /* close once the current response is written */
    bool in_process;      /* http_conn_process is on the stack */
    bool fresh;           /* no request seen yet on this connection */
    int busy;             /* callbacks on the stack; free is deferred until 0 */
    bool dead;            /* closed and to be freed once busy drops to 0 */
    int64_t deadline_ms;  /* when the current state times out; 0 = never */
    int64_t timer_at_ms;  /* when ev_timer fires; 0 = not pending */
    uint64_t last_503_ns; /* when a 503 was last answered here (http_now_ns); 0 = never */

    /* input */
    char *buf;
    size_t cap;
    size_t len;        /* bytes in buf */
    size_t req_start;  /* first byte of the current request */
    size_t next_start; /* where the next request begins once this one is done */
    int saved_byte;    /* byte replaced by the body's NUL, or -1 */
    struct http_parse parse;

    /* output */
    char *hbuf; /* formatted response head; kept across requests */
    size_t hcap;
    char *xbuf; /* headers added with http_response_header() */
    size_t xcap, xlen;
    struct iovec out[2]; /* what is left to write */
    char *out_owned;     /* heap body being written, freed when done */

    struct http_request req;
    char peer[HTTP_PEER_MAX];
    struct http_header hdrs[]; /* limits.max_headers entries */
};

/* ---- http_conn.c: one connection ---- */
/* Set up a connection for an accepted socket. Returns 0 or -1 (fd closed). */
int http_conn_new(struct http_server *s, int fd, const struct sockaddr_storage *ss);
/* Close the socket at once (and free c unless a request is pending or busy). */
void http_conn_close(struct http_conn *c);
/* Free c if nothing on the stack uses it and no request is pending. */
void http_conn_maybe_free(struct http_conn *c);
/* The server drains: wind c down (see http_server_drain). */
void http_conn_drain(struct http_conn *c, uint64_t now_ns);
/* Answer c's dispatched request (the work of http_respond); owned is freed. */
void http_conn_respond(struct http_conn *c, int status, const char *ctype, const char *body,
                       size_t len, char *owned);
/* Monotonic clock in nanoseconds. */
uint64_t http_now_ns(void);

#endif
