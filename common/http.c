/*
 * http.c: the HTTP/1.1 server core: accepting, connection life cycle,
 * reading, timeouts and draining. Responses are
 * formatted and written by http_response.c; request accessors live in
 * http_request.c; the shared structures are in http_internal.h.
 *
 * Why not evhttp: its profile is malloc/free per request, printf/scanf for
 * headers and epoll_ctl churn. Here a connection owns one read buffer and
 * one embedded request; the parser reports offsets into the buffer and the
 * head is NUL-terminated in place, so a request costs no allocation and no
 * copy. The read event is persistent; a write event is added only when a
 * write would block. One timer per connection carries a deadline that is
 * moved lazily: a later deadline does not touch the timer (it re-arms
 * itself when it fires early), so the common request/response cycle makes
 * no timer or epoll calls at all.
 *
 * Parsing (libhttp-parser callbacks, limits, dispatch) is in http_parse.c.
 *
 * Relies on: libevent (event_base, events, timers), log.h.
 *
 * Callbacks into the caller (on_request, on_done, on_conn) may respond,
 * drain the server or pause accepting, but must not call http_server_free.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "http_internal.h"
#include "log.h"

#define HTTP_BUF_INITIAL  2048        /* read buffer of a new connection */
#define HTTP_BUF_SHRINK   (64 * 1024) /* give back buffers larger than this when idle */
#define HTTP_COMPACT_FREE 1024        /* compact leftover bytes when less is free */
#define HTTP_LINGER_MS    2000        /* discard input this long after the last response */
#define HTTP_BACKOFF_MS   100         /* accept pause after EMFILE and friends */

/* Monotonic clock in nanoseconds (vDSO, no system call). */
uint64_t http_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- timers */

/* Arm the connection's timer so that it fires no later than ms after
 * now_ns (a monotonic reading the caller already has); ms <= 0 means no
 * deadline in this state. */
static void http_conn_set_deadline_at(struct http_conn *c, uint64_t now_ns, int ms)
{
    if (ms <= 0 || c->ev_timer == NULL) {
        c->deadline_ms = 0;
        return;
    }
    c->deadline_ms = (int64_t)(now_ns / 1000000u) + ms;
    if (c->timer_at_ms != 0 && c->timer_at_ms <= c->deadline_ms)
        return; /* fires earlier and re-arms itself for the rest */
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (evtimer_add(c->ev_timer, &tv) < 0) {
        log_error("http timer add failed", "\"fd\":%d", c->fd);
        c->timer_at_ms = 0;
        return;
    }
    c->timer_at_ms = c->deadline_ms;
}

/* Arm the connection's timer so that it fires no later than ms from now. */
void http_conn_set_deadline(struct http_conn *c, int ms)
{
    http_conn_set_deadline_at(c, ms > 0 ? http_now_ns() : 0, ms);
}

/* ---------------------------------------------------------- connections */

/* Turn the persistent read event on or off (only when it changes). */
static void http_conn_want_read(struct http_conn *c, bool on)
{
    if (c->fd < 0 || c->read_on == on)
        return;
    int rc = on ? event_add(c->ev_read, NULL) : event_del(c->ev_read);
    if (rc < 0) {
        log_error("http read event change failed", "\"fd\":%d,\"on\":%d", c->fd, on);
        return;
    }
    c->read_on = on;
}

/* Close the socket at once. The struct is freed by http_conn_maybe_free,
 * unless a request is with its handler: then it becomes an orphan. */
void http_conn_close(struct http_conn *c)
{
    if (c->fd >= 0) {
        event_free(c->ev_read);
        event_free(c->ev_write);
        event_free(c->ev_timer);
        c->ev_read = c->ev_write = c->ev_timer = NULL;
        c->read_on = false;
        if (close(c->fd) < 0)
            log_debug("http close failed", "\"errno\":%d", errno);
        c->fd = -1;
        if (c->srv != NULL) {
            c->srv->nconns--;
            if (c->srv->cb.on_conn != NULL)
                c->srv->cb.on_conn(-1, c->srv->cb.arg);
        }
    }
    c->state = HTTP_CONN_CLOSED;
    if (c->req.dispatched)
        c->req.orphaned = true;
    else
        c->dead = true;
}

/* Free c if it is closed, nothing on the stack uses it and no request is pending. */
void http_conn_maybe_free(struct http_conn *c)
{
    if (!c->dead || c->busy > 0)
        return;
    if (c->srv != NULL) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            c->srv->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
    }
    http_conn_free_output(c);
    free(c->buf);
    free(c);
}

/* Reset the per-request state and start the next request from the bytes
 * already buffered (pipelining), or wait for one. now_ns is a fresh clock
 * reading, or 0 to take one. */
static void http_conn_begin_request(struct http_conn *c, uint64_t now_ns)
{
    struct http_server *s = c->srv;

    if (c->saved_byte >= 0) {
        c->buf[c->next_start] = (char)c->saved_byte;
        c->saved_byte = -1;
    }
    c->req_start = c->next_start;
    if (c->req_start >= c->len) {
        c->req_start = c->len = 0;
        if (c->cap > HTTP_BUF_SHRINK) {
            char *nb = realloc(c->buf, HTTP_BUF_INITIAL);
            if (nb != NULL) {
                c->buf = nb;
                c->cap = HTTP_BUF_INITIAL;
            }
        }
    } else if (c->cap - c->len < HTTP_COMPACT_FREE || c->req_start > c->cap / 2) {
        memmove(c->buf, c->buf + c->req_start, c->len - c->req_start);
        c->len -= c->req_start;
        c->req_start = 0;
    }
    c->parsed = c->next_start = c->req_start;

    c->url_off = c->url_len = c->rl_end = c->head_len = 0;
    c->nhdr = 0;
    c->last_was_value = c->head_done = c->msg_done = c->method_check = false;
    c->err_status = 0;
    c->xlen = 0;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;

    struct http_request *r = &c->req;
    r->method = HTTP_M_OTHER;
    r->parser_method = -1;
    r->path_static = "";
    r->path_off = 0;
    r->query_off = HTTP_OFF_NONE;
    r->body_off = r->body_len = 0;
    r->route_id = 0;
    r->status = 0;
    r->dispatched = r->orphaned = r->keep_alive = r->headers_ready = false;
    r->id[0] = '\0';

    if (now_ns == 0)
        now_ns = http_now_ns();
    if (c->len > c->req_start) {
        c->state = HTTP_CONN_HEAD;
        r->t_start_ns = now_ns;
        http_conn_set_deadline_at(c, now_ns, s->limits.header_timeout_ms);
    } else {
        c->state = HTTP_CONN_IDLE;
        http_conn_set_deadline_at(
            c, now_ns, c->fresh ? s->limits.header_timeout_ms : s->limits.idle_timeout_ms);
        if (c->peer_eof) {
            http_conn_close(c);
            return;
        }
    }
    if (!c->peer_eof)
        http_conn_want_read(c, true);
}

/* After a final response: shut our side and discard input for a while, so
 * that unread request bytes do not turn the close into a reset that could
 * destroy the response before the client reads it. */
static void http_conn_linger(struct http_conn *c)
{
    if (c->fd < 0 || c->peer_eof) {
        http_conn_close(c);
        return;
    }
    if (shutdown(c->fd, SHUT_WR) < 0) {
        http_conn_close(c);
        return;
    }
    if (c->saved_byte >= 0)
        c->saved_byte = -1;
    c->len = c->req_start = c->parsed = c->next_start = 0;
    c->state = HTTP_CONN_LINGER;
    http_conn_want_read(c, true);
    http_conn_set_deadline(c, HTTP_LINGER_MS);
}

/* The response has been handed to the kernel (ok) or could not be (!ok):
 * report it, then close or go on with the next request. */
void http_conn_response_done(struct http_conn *c, bool ok)
{
    struct http_server *s = c->srv;
    uint64_t now = 0;
    if (s != NULL && s->cb.on_done != NULL) {
        now = http_now_ns();
        double secs = now > c->req.t_start_ns ? (double)(now - c->req.t_start_ns) / 1e9 : 0.0;
        s->cb.on_done(&c->req, c->req.status, secs, s->cb.arg);
    }
    if (c->fd < 0)
        http_conn_close(c);
    else if (!ok)
        http_conn_close(c);
    else if (c->close_after || s == NULL || s->draining)
        http_conn_linger(c);
    else {
        c->fresh = false;
        http_conn_begin_request(c, now);
        if (c->state == HTTP_CONN_HEAD && !c->in_process)
            http_conn_process(c);
    }
}

/* ---------------------------------------------------------- reading */

/* Make room in the read buffer while reading a head: compact, then grow up
 * to the head limit. Returns the free space. */
static size_t http_conn_make_room(struct http_conn *c)
{
    if (c->cap - c->len >= 256 || c->state == HTTP_CONN_BODY)
        return c->cap - c->len;
    if (c->req_start > 0) {
        memmove(c->buf, c->buf + c->req_start, c->len - c->req_start);
        c->len -= c->req_start;
        c->parsed -= c->req_start;
        c->req_start = 0;
    }
    size_t limit = c->srv->head_limit + 256;
    if (c->cap - c->len < 256 && c->cap < limit) {
        size_t ncap = c->cap * 2 < limit ? c->cap * 2 : limit;
        char *nb = realloc(c->buf, ncap);
        if (nb != NULL) {
            c->buf = nb;
            c->cap = ncap;
        }
    }
    return c->cap - c->len;
}

/* Read while a request is being received (IDLE, HEAD, BODY). */
static void http_conn_read_request(struct http_conn *c)
{
    size_t room = http_conn_make_room(c);
    if (room == 0) {
        http_conn_send_error(c, c->rl_end == 0 ? 414 : 431);
        return;
    }
    ssize_t n = read(c->fd, c->buf + c->len, room);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            http_conn_close(c);
        return;
    }
    if (n == 0) {
        c->peer_eof = true; /* an incomplete request cannot be answered */
        http_conn_close(c);
        return;
    }
    if (c->state == HTTP_CONN_IDLE) {
        c->state = HTTP_CONN_HEAD;
        c->req.t_start_ns = http_now_ns();
        http_conn_set_deadline_at(c, c->req.t_start_ns, c->srv->limits.header_timeout_ms);
    }
    c->len += (size_t)n;
    http_conn_process(c);
}

/* Read ahead while a request is with its handler or its response is being
 * written: only into free space (the buffer is pinned), and notice the
 * peer going away. */
static void http_conn_read_ahead(struct http_conn *c)
{
    if (c->cap == c->len) {
        http_conn_want_read(c, false); /* resumed by http_conn_begin_request */
        return;
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n > 0) {
        c->len += (size_t)n;
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == 0) {
        /* Half-closed or gone: keep the socket for the pending response. */
        c->peer_eof = true;
        if (c->req.dispatched)
            c->req.orphaned = true;
        http_conn_want_read(c, false);
        return;
    }
    if (c->state == HTTP_CONN_WRITE)
        http_conn_response_done(c, false);
    else
        http_conn_close(c);
}

/* Discard input after the last response until EOF or the linger deadline. */
static void http_conn_read_discard(struct http_conn *c)
{
    ssize_t n = read(c->fd, c->buf, c->cap);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return;
    http_conn_close(c);
}

/* libevent: the socket is readable. */
static void http_conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    c->busy++;
    switch (c->state) {
    case HTTP_CONN_IDLE:
    case HTTP_CONN_HEAD:
    case HTTP_CONN_BODY:
        http_conn_read_request(c);
        break;
    case HTTP_CONN_HANDLER:
    case HTTP_CONN_WRITE:
        http_conn_read_ahead(c);
        break;
    case HTTP_CONN_LINGER:
        http_conn_read_discard(c);
        break;
    case HTTP_CONN_CLOSED:
        break;
    }
    c->busy--;
    http_conn_maybe_free(c);
}

/* libevent: the socket is writable again. */
static void http_conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    c->busy++;
    if (c->state == HTTP_CONN_WRITE)
        http_conn_on_writable(c);
    c->busy--;
    http_conn_maybe_free(c);
}

/* libevent: the connection's timer; act if the current deadline passed. */
static void http_conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    c->timer_at_ms = 0;
    if (c->deadline_ms == 0)
        return;
    int64_t now = (int64_t)(http_now_ns() / 1000000u);
    if (now < c->deadline_ms) {
        int64_t left = c->deadline_ms - now;
        struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
        if (evtimer_add(c->ev_timer, &tv) == 0)
            c->timer_at_ms = c->deadline_ms;
        else
            log_error("http timer add failed", "\"fd\":%d", c->fd);
        return;
    }
    c->deadline_ms = 0;
    c->busy++;
    switch (c->state) {
    case HTTP_CONN_IDLE:
    case HTTP_CONN_LINGER:
        http_conn_close(c);
        break;
    case HTTP_CONN_HEAD:
    case HTTP_CONN_BODY:
        http_conn_send_error(c, 408);
        break;
    case HTTP_CONN_WRITE:
        http_conn_response_done(c, false);
        break;
    case HTTP_CONN_HANDLER:
    case HTTP_CONN_CLOSED:
        break;
    }
    c->busy--;
    http_conn_maybe_free(c);
}

/* Set up a connection for an accepted socket. Returns 0 or -1 (fd closed). */
static int http_conn_new(struct http_server *s, int fd, const struct sockaddr_storage *ss)
{
    struct http_conn *c =
        calloc(1, sizeof *c + (size_t)s->limits.max_headers * sizeof(struct http_header));
    if (c == NULL)
        goto fail;
    c->buf = malloc(HTTP_BUF_INITIAL);
    if (c->buf == NULL)
        goto fail;
    c->cap = HTTP_BUF_INITIAL;
    c->srv = s;
    c->fd = fd;
    c->fresh = true;
    c->saved_byte = -1;
    c->req.conn = c;

    if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6) {
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
            log_debug("http TCP_NODELAY failed", "\"errno\":%d", errno);
        const void *a = ss->ss_family == AF_INET
                            ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                            : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (inet_ntop(ss->ss_family, a, c->peer, sizeof c->peer) == NULL)
            strcpy(c->peer, "-");
    } else {
        strcpy(c->peer, "local");
    }

    c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST, http_conn_on_read, c);
    c->ev_write = event_new(s->base, fd, EV_WRITE | EV_PERSIST, http_conn_on_write, c);
    c->ev_timer = evtimer_new(s->base, http_conn_on_timer, c);
    if (c->ev_read == NULL || c->ev_write == NULL || c->ev_timer == NULL)
        goto fail;

    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (s->cb.on_conn != NULL)
        s->cb.on_conn(+1, s->cb.arg);
    http_conn_begin_request(c, 0);
    return 0;

fail:
    log_error("http connection setup failed", "\"errno\":%d", errno);
    if (c != NULL) {
        if (c->ev_read != NULL)
            event_free(c->ev_read);
        if (c->ev_write != NULL)
            event_free(c->ev_write);
        if (c->ev_timer != NULL)
            event_free(c->ev_timer);
        free(c->buf);
        free(c);
    }
    if (close(fd) < 0)
        log_debug("http close failed", "\"errno\":%d", errno);
    return -1;
}

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

/* Draining: give an idle connection (no byte of a next request yet) a
 * short grace instead of closing it at once, so that a request already on
 * its way is answered (with Connection: close, as everything is while
 * draining) rather than met by a close. A connection that has not sent its
 * first request gets up to HTTP_DRAIN_FRESH_GRACE_MS (or the header
 * timeout when shorter), a keep-alive one HTTP_DRAIN_IDLE_GRACE_MS (or
 * the rest of its idle timeout when shorter). The idle-state timer closes
 * it when the grace ends; nothing else changes for the connection. */
static void http_conn_drain_grace(struct http_conn *c, uint64_t now_ns)
{
    int header_ms = c->srv->limits.header_timeout_ms;
    int grace = HTTP_DRAIN_IDLE_GRACE_MS;
    if (c->fresh)
        grace = header_ms > 0 && header_ms < HTTP_DRAIN_FRESH_GRACE_MS ? header_ms
                                                                       : HTTP_DRAIN_FRESH_GRACE_MS;
    int64_t until = (int64_t)(now_ns / 1000000u) + grace;
    if (c->deadline_ms != 0 && c->deadline_ms <= until)
        return; /* its own timeout ends it sooner */
    http_conn_set_deadline_at(c, now_ns, grace);
}

/* Stop accepting for good; idle connections get a short grace (see
 * http_conn_drain_grace), the others close after their response. */
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
        if (c->fd < 0)
            continue;
        switch (c->state) {
        case HTTP_CONN_IDLE:
            http_conn_drain_grace(c, now_ns);
            break;
        case HTTP_CONN_HEAD:
        case HTTP_CONN_BODY:
        case HTTP_CONN_HANDLER:
        case HTTP_CONN_WRITE:
            c->close_after = true;
            break;
        case HTTP_CONN_LINGER:
        case HTTP_CONN_CLOSED:
            break;
        }
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
