/*
 * http_conn.c: one connection of the HTTP/1.1 core. It owns the socket,
 * the read buffer, the deadline and every state transition (the states
 * are in http_internal.h): reading, driving the pure parser (http_parse.c)
 * over the buffer, the per-route body limit and Expect: 100-continue
 * between head and body, dispatch to the handler, writing the response
 * that the pure formatter (http_format.c) lays out, keep-alive, linger and
 * close. The server side (accepting, draining the set) is http.c; the
 * request handle is http_request.c.
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
 * Relies on: libevent (events, timers), log.h; writes go through
 * sendmsg(MSG_NOSIGNAL) (writev semantics without SIGPIPE).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "http_format.h"
#include "http_internal.h"
#include "http_parse.h"
#include "log.h"

#define HTTP_BUF_INITIAL  2048        /* read buffer of a new connection */
#define HTTP_BUF_SHRINK   (64 * 1024) /* give back buffers larger than this when idle */
#define HTTP_COMPACT_FREE 1024        /* compact leftover bytes when less is free */
#define HTTP_LINGER_MS    2000        /* discard input this long after the last response */
#define HTTP_HBUF_INITIAL 512
#define HTTP_CONTINUE     "HTTP/1.1 100 Continue\r\n\r\n"

static void http_conn_process(struct http_conn *c);
static void http_conn_send_error(struct http_conn *c, int status);

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
static void http_conn_set_deadline(struct http_conn *c, int ms)
{
    http_conn_set_deadline_at(c, ms > 0 ? http_now_ns() : 0, ms);
}

/* ---------------------------------------------------------- life cycle */

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

/* Free the response-side buffers of a connection. */
static void http_conn_free_output(struct http_conn *c)
{
    free(c->hbuf);
    free(c->xbuf);
    free(c->out_owned);
    c->hbuf = c->xbuf = c->out_owned = NULL;
    c->hcap = c->xcap = c->xlen = 0;
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
    c->next_start = c->req_start;
    c->xlen = 0;
    http_parse_init(&c->parse, &s->parse_limits, c->hdrs);

    struct http_request *r = &c->req;
    r->body_off = r->body_len = 0;
    r->route_id = 0;
    r->status = 0;
    r->dispatched = r->orphaned = false;
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
    c->len = c->req_start = c->next_start = 0;
    c->state = HTTP_CONN_LINGER;
    http_conn_want_read(c, true);
    http_conn_set_deadline(c, HTTP_LINGER_MS);
}

/* The response has been handed to the kernel (ok) or could not be (!ok):
 * report it, then close or go on with the next request. */
static void http_conn_response_done(struct http_conn *c, bool ok)
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

/* ---------------------------------------------------------- writing */

/* The request id of the current request: the client's (if sane) or a new one. */
static void http_conn_pick_request_id(struct http_conn *c)
{
    const struct http_parse *p = &c->parse;
    if (c->req.id[0] != '\0')
        return;
    if (p->id_len > 0 && p->status == 0) {
        memcpy(c->req.id, c->buf + c->req_start + p->id_off, p->id_len);
        c->req.id[p->id_len] = '\0';
    } else if (c->srv != NULL) {
        http_format_request_id(c->srv->id_seed, ++c->srv->id_counter, c->req.id);
    } else {
        strcpy(c->req.id, "-");
    }
}

/* Rebuild the server's Date line when the second changed. */
static void http_server_refresh_date(struct http_server *s)
{
    struct timeval tv;
    if (event_base_gettimeofday_cached(s->base, &tv) < 0)
        tv.tv_sec = time(NULL);
    if ((long)tv.tv_sec == s->date_sec)
        return;
    size_t n = http_format_date_line(tv.tv_sec, s->date_line, sizeof s->date_line);
    if (n == 0)
        return;
    s->date_len = n;
    s->date_sec = (long)tv.tv_sec;
}

/* Lay out the response head in c->hbuf; its length, or 0 when the buffer
 * cannot grow. */
static size_t http_conn_format_head(struct http_conn *c, int status, const char *ctype, size_t blen,
                                    bool send_len, bool keep)
{
    struct http_server *s = c->srv;
    http_server_refresh_date(s);
    struct http_head_spec h = {
        .status = status,
        .date_line = s->date_line,
        .date_len = s->date_len,
        .content_type = ctype,
        .send_length = send_len,
        .body_len = blen,
        .request_id = c->req.id,
        .keep_alive = keep,
        .extra = c->xbuf,
        .extra_len = c->xlen,
    };
    size_t need = http_format_head_size(&h);
    if (need > c->hcap) {
        size_t ncap = need > HTTP_HBUF_INITIAL ? need : HTTP_HBUF_INITIAL;
        char *nb = realloc(c->hbuf, ncap);
        if (nb == NULL)
            return 0;
        c->hbuf = nb;
        c->hcap = ncap;
    }
    return http_format_head(&h, c->hbuf);
}

/* Gathered non-blocking write of iov; returns bytes written, 0 if it would
 * block, -1 if the socket is dead. */
static ssize_t http_sendv(int fd, struct iovec *iov, int niov)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
    ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return -1;
}

/* Write head and body; what the socket does not take now is kept (the body
 * copied unless owned or static) and finished by http_conn_on_writable. */
static void http_conn_send(struct http_conn *c, size_t hlen, const char *body, size_t blen,
                           char *owned, bool body_static)
{
    struct iovec iov[2] = {{c->hbuf, hlen}, {(void *)body, blen}};
    ssize_t n = http_sendv(c->fd, iov, blen > 0 ? 2 : 1);

    if (n == (ssize_t)(hlen + blen)) {
        if (owned != NULL) /* the common case has none: no call at all */
            free(owned);
        http_conn_response_done(c, true);
        return;
    }
    if (n < 0) {
        free(owned);
        http_conn_response_done(c, false);
        return;
    }
    size_t done = (size_t)n;
    if (done < hlen) {
        c->out[0].iov_base = c->hbuf + done;
        c->out[0].iov_len = hlen - done;
        done = 0;
    } else {
        c->out[0].iov_base = NULL;
        c->out[0].iov_len = 0;
        done -= hlen;
    }
    size_t rest = blen - done;
    if (rest == 0 || owned != NULL || body_static) {
        c->out_owned = owned;
        c->out[1].iov_base = (char *)body + done;
    } else {
        c->out_owned = malloc(rest);
        if (c->out_owned == NULL) {
            log_error("http write buffer allocation failed", "\"bytes\":%zu", rest);
            http_conn_response_done(c, false);
            return;
        }
        memcpy(c->out_owned, body + done, rest);
        c->out[1].iov_base = c->out_owned;
    }
    c->out[1].iov_len = rest;
    c->state = HTTP_CONN_WRITE;
    if (event_add(c->ev_write, NULL) < 0) {
        log_error("http write event add failed", "\"fd\":%d", c->fd);
        http_conn_response_done(c, false);
        return;
    }
    http_conn_set_deadline(c, c->srv->limits.write_timeout_ms);
}

/* Continue writing a response after EV_WRITE. */
static void http_conn_on_writable(struct http_conn *c)
{
    struct iovec *iov = c->out[0].iov_len > 0 ? &c->out[0] : &c->out[1];
    int niov = c->out[0].iov_len > 0 && c->out[1].iov_len > 0 ? 2 : 1;
    ssize_t n = http_sendv(c->fd, iov, niov);

    if (n < 0) {
        http_conn_response_done(c, false);
        return;
    }
    size_t done = (size_t)n;
    for (int i = 0; i < 2 && done > 0; i++) {
        size_t k = done < c->out[i].iov_len ? done : c->out[i].iov_len;
        c->out[i].iov_base = (char *)c->out[i].iov_base + k;
        c->out[i].iov_len -= k;
        done -= k;
    }
    if (c->out[0].iov_len > 0 || c->out[1].iov_len > 0) {
        if (n > 0)
            http_conn_set_deadline(c, c->srv->limits.write_timeout_ms);
        return;
    }
    if (event_del(c->ev_write) < 0)
        log_error("http write event del failed", "\"fd\":%d", c->fd);
    free(c->out_owned);
    c->out_owned = NULL;
    http_conn_response_done(c, true);
}

/* Answer the current request with a core-generated JSON error and close. */
static void http_conn_send_error(struct http_conn *c, int status)
{
    struct http_request *r = &c->req;
    const char *body = http_format_error_body(status);
    size_t blen = strlen(body);

    http_conn_pick_request_id(c);
    r->status = status;
    c->close_after = true;
    c->xlen = 0;
    c->deadline_ms = 0;
    size_t hlen = http_conn_format_head(c, status, "application/json", blen, true, false);
    if (hlen == 0) {
        http_conn_close(c);
        return;
    }
    bool no_body = c->parse.method == HTTP_M_HEAD;
    http_conn_send(c, hlen, no_body ? NULL : body, no_body ? 0 : blen, NULL, true);
}

/* Answer c's dispatched request (marked answered by the caller). */
void http_conn_respond(struct http_conn *c, int status, const char *ctype, const char *body,
                       size_t len, char *owned)
{
    struct http_server *s = c->srv;
    struct http_request *r = &c->req;

    if (s != NULL)
        s->in_flight--;
    if (status < 200 || status > 599)
        status = 500;
    r->status = status;
    if (status == 503)
        c->last_503_ns = http_now_ns(); /* admission control's repeat refusals */
    c->busy++;
    if (c->fd < 0 || s == NULL) {
        free(owned);
        http_conn_response_done(c, false); /* orphan: report and free */
    } else {
        /* A half-closed peer still gets answers to the complete requests it
         * sent; the connection closes when nothing complete is left. */
        bool keep = c->parse.keep_alive && !s->draining && !c->close_after;
        bool no_body = c->parse.method == HTTP_M_HEAD || status == 204 || status == 304;
        bool send_len = status != 204 && status != 304;
        if (!keep)
            c->close_after = true;
        if (body == NULL)
            len = 0;
        size_t hlen = http_conn_format_head(
            c, status, (status == 204 || status == 304) ? NULL : ctype, len, send_len, keep);
        if (hlen == 0) {
            free(owned);
            log_error("http head buffer allocation failed", "");
            http_conn_response_done(c, false);
        } else if (no_body) {
            free(owned);
            http_conn_send(c, hlen, NULL, 0, NULL, false);
        } else {
            http_conn_send(c, hlen, body, len, owned, false);
        }
    }
    c->busy--;
    http_conn_maybe_free(c);
}

/* ---------------------------------------------------------- requests */

/* Write "100 Continue" directly; it is tiny and the socket has room for it. */
static int http_conn_send_continue(struct http_conn *c)
{
    ssize_t n = send(c->fd, HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1, MSG_NOSIGNAL);
    return n == (ssize_t)(sizeof HTTP_CONTINUE - 1) ? 0 : -1;
}

/* The body limit of this request: --max-body, lowered by the caller's
 * body_limit hook (the route's own limit) when it has one. */
static uint64_t http_conn_body_limit(struct http_conn *c)
{
    struct http_server *s = c->srv;
    uint64_t lim = s->limits.max_body;
    if (s->cb.body_limit != NULL) {
        size_t route = s->cb.body_limit(&c->req, s->cb.arg);
        if (route > 0 && route < lim)
            lim = route;
    }
    return lim;
}

/* The head is complete and valid: choose the request id, apply the body
 * limit (413 before any body byte is read), the expectation (417, or 100
 * Continue), and make room for the body. Returns 0 to go on, -1 when the
 * connection answered or closed. */
static int http_conn_on_head(struct http_conn *c)
{
    struct http_server *s = c->srv;
    struct http_parse *p = &c->parse;
    struct http_request *r = &c->req;
    uint64_t cl = p->content_length;

    http_conn_pick_request_id(c);
    if (cl > 0 && (cl >= UINT32_MAX || cl > http_conn_body_limit(c))) {
        http_conn_send_error(c, 413);
        return -1;
    }
    if (p->expect == HTTP_EXPECT_UNKNOWN) {
        http_conn_send_error(c, 417);
        return -1;
    }
    if (cl == 0)
        return 0;

    /* Room for the whole body plus its NUL, contiguous after the head. */
    size_t need = p->head_len + (size_t)cl + 1;
    if (c->req_start > 0 && c->req_start + need > c->cap) {
        memmove(c->buf, c->buf + c->req_start, c->len - c->req_start);
        c->len -= c->req_start;
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
    r->body_off = p->head_len;
    r->body_len = (uint32_t)cl;
    c->state = HTTP_CONN_BODY;
    if (c->len - c->req_start < p->head_len + cl) {
        if (p->expect == HTTP_EXPECT_CONTINUE && http_conn_send_continue(c) < 0) {
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

    c->next_start = c->req_start + http_parse_used(&c->parse);
    if (r->body_len > 0) {
        /* NUL-terminate the body: borrow the next byte (restored before the
         * next request is parsed) or, at the end of the data, leave a gap. */
        size_t pos = c->next_start;
        if (pos < c->len) {
            c->saved_byte = (unsigned char)c->buf[pos];
        } else {
            c->len = pos + 1;
            c->next_start = pos + 1;
        }
        c->buf[pos] = '\0';
    }
    r->dispatched = true;
    s->in_flight++;
    c->state = HTTP_CONN_HANDLER;
    c->deadline_ms = 0;
    s->cb.on_request(r, s->cb.arg);
}

/* Feed the buffered bytes to the parser and act on its events until it
 * needs more or a request is dispatched. */
static void http_conn_process(struct http_conn *c)
{
    if (c->in_process)
        return;
    c->in_process = true;
    c->busy++;
    while (!c->dead && (c->state == HTTP_CONN_HEAD || c->state == HTTP_CONN_BODY)) {
        enum http_parse_event ev =
            http_parse_feed(&c->parse, c->buf + c->req_start, c->len - c->req_start);
        if (ev == HTTP_PARSE_ERROR) {
            http_conn_send_error(c, c->parse.status);
            break;
        }
        if (ev == HTTP_PARSE_HEAD) {
            if (http_conn_on_head(c) < 0)
                break;
            continue;
        }
        if (ev == HTTP_PARSE_DONE) {
            /* A handler that answers at once starts the next request
             * (pipelined bytes): the loop goes on with it. */
            http_conn_dispatch(c);
            continue;
        }
        /* HTTP_PARSE_MORE */
        if (c->peer_eof)
            http_conn_close(c); /* the rest of this request will never come */
        break;
    }
    c->in_process = false;
    c->busy--;
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
        http_conn_send_error(c, http_parse_in_request_line(&c->parse) ? 414 : 431);
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

/* ---------------------------------------------------------- events */

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
int http_conn_new(struct http_server *s, int fd, const struct sockaddr_storage *ss)
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

/* Draining: give an idle connection (no byte of a next request yet) a
 * short grace instead of closing it at once, so that a request already on
 * its way is answered (with Connection: close, as everything is while
 * draining) rather than met by a close. A connection that has not sent its
 * first request gets up to HTTP_DRAIN_FRESH_GRACE_MS (or the header
 * timeout when shorter), a keep-alive one HTTP_DRAIN_IDLE_GRACE_MS (or
 * the rest of its idle timeout when shorter). The idle-state timer closes
 * it when the grace ends; nothing else changes for the connection. A
 * connection with a request under way closes after its response. */
void http_conn_drain(struct http_conn *c, uint64_t now_ns)
{
    if (c->fd < 0)
        return;
    switch (c->state) {
    case HTTP_CONN_IDLE: {
        int header_ms = c->srv->limits.header_timeout_ms;
        int grace = HTTP_DRAIN_IDLE_GRACE_MS;
        if (c->fresh)
            grace = header_ms > 0 && header_ms < HTTP_DRAIN_FRESH_GRACE_MS
                        ? header_ms
                        : HTTP_DRAIN_FRESH_GRACE_MS;
        int64_t until = (int64_t)(now_ns / 1000000u) + grace;
        if (c->deadline_ms != 0 && c->deadline_ms <= until)
            return; /* its own timeout ends it sooner */
        http_conn_set_deadline_at(c, now_ns, grace);
        break;
    }
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
