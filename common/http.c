/*
 * http.c: the server side of the HTTP/1.1 core: the listening socket's
 * accept path (one place: http_server_on_accept, bounded per wake-up,
 * backing off after EMFILE and friends), pausing, draining and freeing the
 * set of connections. Each accepted socket becomes a connection
 * (http_conn.c), which owns everything from there on; the pure parser and
 * formatter below it are http_parse.c and http_format.c, the request
 * handle is http_request.c, the shared structures are in http_internal.h.
 *
 * Relies on: libevent (event_base, events, timers), log.h.
 *
 * Callbacks into the caller (on_request, on_done, on_conn, body_limit)
 * may respond, drain the server or pause accepting, but must not call
 * http_server_free.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "http_internal.h"
#include "log.h"

#define HTTP_BACKOFF_MS 100 /* accept pause after EMFILE and friends */

/* ---------------------------------------------------------- the server */

/* Add or remove the accept event to match paused/backoff/draining. */
static int http_server_update_accept(struct http_server *s)
{
    bool want = !s->paused && !s->backoff && !s->draining;
    if (want == s->accept_on)
        return 0;
    int rc = want ? event_add(s->ev_accept, NULL) : event_del(s->ev_accept);
    if (rc < 0) {
        log_error("http accept event change failed", "\"on\":%d", want);
        return -1;
    }
    s->accept_on = want;
    return 0;
}

/* libevent: the accept pause after EMFILE is over. */
static void http_server_on_backoff(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    s->backoff = false;
    if (http_server_update_accept(s) < 0)
        log_error("http accept resume failed", "");
}

/* libevent: connections are waiting; accept a bounded number of them so
 * that a burst spreads over the workers sharing the socket. */
static void http_server_on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    int max = s->limits.accepts_per_wake > 0 ? s->limits.accepts_per_wake : 1;

    for (int i = 0; i < max && !s->draining && s->accept_on; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            if (sl == 0)
                ss.ss_family = AF_UNIX;
            s->accept_failing = false;
            (void)http_conn_new(s, cfd, &ss);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return; /* another worker took it */
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            if (!s->accept_failing) /* once per streak, not every pause */
                log_warn("accept failed, pausing accept",
                         "\"errno\":%d,\"error\":\"%s\",\"pause_ms\":%d", errno, strerror(errno),
                         HTTP_BACKOFF_MS);
            s->accept_failing = true;
            struct timeval tv = {.tv_sec = 0, .tv_usec = HTTP_BACKOFF_MS * 1000};
            if (evtimer_add(s->ev_backoff, &tv) < 0) {
                log_error("http backoff timer add failed", "");
                return;
            }
            s->backoff = true;
            if (http_server_update_accept(s) < 0)
                log_error("http accept pause failed", "");
            return;
        }
        log_warn("accept failed", "\"errno\":%d,\"error\":\"%s\"", errno, strerror(errno));
        return;
    }
}

/* A per-process seed for request ids (the worker creates its server after fork). */
static uint64_t http_server_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    return http_now_ns() ^ ((uint64_t)getpid() << 32);
}

/* Create a server on base for listen_fd and start accepting; NULL on bad arguments. */
struct http_server *http_server_new(struct event_base *base, int listen_fd,
                                    const struct http_limits *limits,
                                    const struct http_callbacks *cb)
{
    if (base == NULL || listen_fd < 0 || limits == NULL || cb == NULL || cb->on_request == NULL ||
        limits->max_headers < 0)
        return NULL;
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->base = base;
    s->listen_fd = listen_fd;
    s->limits = *limits;
    s->cb = *cb;
    s->head_limit = limits->max_request_line + limits->max_header_bytes + 8;
    s->parse_limits.max_request_line = limits->max_request_line;
    s->parse_limits.max_header_bytes = limits->max_header_bytes;
    s->parse_limits.max_headers = limits->max_headers;
    s->id_seed = http_server_seed();
    s->date_sec = -1;
    s->ev_accept = event_new(base, listen_fd, EV_READ | EV_PERSIST, http_server_on_accept, s);
    s->ev_backoff = evtimer_new(base, http_server_on_backoff, s);
    if (s->ev_accept == NULL || s->ev_backoff == NULL || http_server_update_accept(s) < 0) {
        if (s->ev_accept != NULL)
            event_free(s->ev_accept);
        if (s->ev_backoff != NULL)
            event_free(s->ev_backoff);
        free(s);
        return NULL;
    }
    return s;
}

/* Stop accepting for good; idle connections get a short grace (see
 * http_conn_drain), the others close after their response. */
void http_server_drain(struct http_server *s)
{
    if (s->draining)
        return;
    s->draining = true;
    if (http_server_update_accept(s) < 0)
        log_error("http accept stop failed", "");
    uint64_t now_ns = http_now_ns();
    struct http_conn *next;
    for (struct http_conn *c = s->conns; c != NULL; c = next) {
        next = c->next;
        http_conn_drain(c, now_ns);
    }
}

/* Pause or resume accepting without touching open connections. */
int http_server_pause_accept(struct http_server *s, bool paused)
{
    s->paused = paused;
    if (paused == false && s->draining)
        return -1;
    return http_server_update_accept(s);
}

/* Open sockets, lingering ones included. */
size_t http_server_connections(const struct http_server *s)
{
    return s->nconns;
}

/* Requests with their handler (orphans included). */
size_t http_server_in_flight(const struct http_server *s)
{
    return s->in_flight;
}

/* Admission hook: close the request's connection once its response is
 * written (the response says Connection: close). */
void http_request_close_after(struct http_request *r)
{
    if (r != NULL && r->conn != NULL)
        r->conn->close_after = true;
}

/* Close every connection and free the server; pending requests become orphans. */
void http_server_free(struct http_server *s)
{
    if (s == NULL)
        return;
    event_free(s->ev_accept);
    event_free(s->ev_backoff);
    struct http_conn *next;
    for (struct http_conn *c = s->conns; c != NULL; c = next) {
        next = c->next;
        c->srv = NULL; /* no callbacks from here on */
        c->prev = c->next = NULL;
        http_conn_close(c); /* a pending request becomes an orphan */
        http_conn_maybe_free(c);
    }
    free(s);
}
