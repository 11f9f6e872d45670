/*
 * check_http.c: unit tests of the HTTP/1.1 core (common/http*.c).
 *
 * No mocks: every test runs the real core on its own event_base, serving a
 * real loopback listening socket, and talks to it through real client
 * sockets in the same process. The loop is pumped until a client socket
 * becomes readable (or a deadline passes), so tests are single-threaded
 * and deterministic. Timeout tests use short millisecond limits and only
 * assert that the expected outcome happens within a generous bound.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "suite_main.h"

#define MAX_DONE 64
#define MAX_HELD 8
#define BIG_BODY (8u * 1024 * 1024)

struct fx {
    struct event_base *base;
    int lfd;
    int port;
    struct http_server *srv;
    struct http_limits lim;
    /* what the callbacks saw */
    int ndone;
    int done_status[MAX_DONE];
    double done_secs[MAX_DONE];
    char done_path[MAX_DONE][64];
    int conns_open; /* sum of on_conn deltas */
    int conn_events;
    int nrequests;
    char order[256]; /* query strings of requests in on_request order */
    /* requests the handler keeps for later */
    struct http_request *held[MAX_HELD];
    int nheld;
    int respond_twice_rc;
    char *big;
    int body_limit_calls; /* how often the core asked for a body limit */
};

static struct fx *g; /* the fixture of the running test (each test forks) */

/* ---------------------------------------------------------------- server */

/* A deferred response, sent from a timer. */
struct later {
    struct event *ev;
    struct http_request *req;
};

static void later_fire(evutil_socket_t fd, short what, void *arg)
{
    struct later *l = arg;
    const char *q = http_request_query(l->req);
    ck_assert_int_eq(http_respond(l->req, 200, "text/plain", q, strlen(q)), 0);
    event_free(l->ev);
    free(l);
}

static void on_request(struct http_request *req, void *arg)
{
    struct fx *fx = arg;
    const char *path = http_request_path(req);
    const char *q = http_request_query(req);

    fx->nrequests++;
    strncat(fx->order, q, sizeof fx->order - strlen(fx->order) - 2);
    strcat(fx->order, ",");
    http_request_set_route(req, 7);

    if (strcmp(path, "/hello") == 0) {
        ck_assert_int_eq(http_respond(req, 200, "application/json", "{\"ok\":true}", 11), 0);
    } else if (strcmp(path, "/slow") == 0) {
        struct later *l = calloc(1, sizeof *l);
        l->req = req;
        l->ev = evtimer_new(fx->base, later_fire, l);
        struct timeval tv = {0, 60 * 1000};
        ck_assert_int_eq(evtimer_add(l->ev, &tv), 0);
    } else if (strcmp(path, "/hold") == 0) {
        ck_assert_int_lt(fx->nheld, MAX_HELD);
        fx->held[fx->nheld++] = req;
    } else if (strcmp(path, "/echo") == 0 || strcmp(path, "/small") == 0 ||
               strcmp(path, "/huge") == 0) {
        size_t len;
        const char *body = http_request_body(req, &len);
        ck_assert_int_eq(body[len], '\0');
        ck_assert_uint_eq(strlen(body), len);
        ck_assert_int_eq(http_response_header(req, "X-Echo-Len", "yes"), 0);
        ck_assert_int_eq(http_respond(req, 201, "text/plain", body, len), 0);
    } else if (strcmp(path, "/info") == 0) {
        char out[2048];
        const char *xt = http_request_header(req, "x-TEST");
        size_t blen;
        const char *body = http_request_body(req, &blen);
        snprintf(out, sizeof out, "%s|%s|%s|%s|%s|%s|%s|%d", http_request_method_name(req), path, q,
                 xt ? xt : "(none)", body, http_request_peer(req), http_request_id(req),
                 (int)http_request_method(req));
        ck_assert_int_eq(http_respond(req, 200, "text/plain", out, strlen(out)), 0);
    } else if (strcmp(path, "/big") == 0) {
        ck_assert_int_eq(http_respond(req, 200, "application/octet-stream", fx->big, BIG_BODY), 0);
    } else if (strcmp(path, "/owned") == 0) {
        char *b = strdup("{\"owned\":1}");
        ck_assert_int_eq(http_respond_json_owned(req, 200, b, strlen(b)), 0);
    } else if (strcmp(path, "/headers") == 0) {
        ck_assert_int_eq(http_response_header(req, "X-Custom", "v1"), 0);
        ck_assert_int_eq(http_response_header(req, "X-Bad", "a\r\nInjected: 1"), -1);
        ck_assert_int_eq(http_response_header(req, "Bad Name", "x"), -1);
        ck_assert_int_eq(http_response_header(req, "Content-Length", "1"), -1);
        ck_assert_int_eq(http_response_header(req, "Access-Control-Allow-Origin", "*"), 0);
        ck_assert_int_eq(http_respond(req, 200, "text/plain", "h", 1), 0);
    } else if (strcmp(path, "/twice") == 0) {
        ck_assert_int_eq(http_respond(req, 200, "text/plain", "1", 1), 0);
        fx->respond_twice_rc = http_respond(req, 200, "text/plain", "2", 1);
    } else if (strcmp(path, "/nocontent") == 0) {
        ck_assert_int_eq(http_respond(req, 204, "application/json", "", 0), 0);
    } else {
        ck_assert_int_eq(http_respond(req, 404, "application/json", "{}", 2), 0);
    }
}

static void on_done(const struct http_request *req, int status, double secs, void *arg)
{
    struct fx *fx = arg;
    ck_assert_int_lt(fx->ndone, MAX_DONE);
    fx->done_status[fx->ndone] = status;
    fx->done_secs[fx->ndone] = secs;
    snprintf(fx->done_path[fx->ndone], sizeof fx->done_path[0], "%s", http_request_path(req));
    fx->ndone++;
}

static void on_conn(int delta, void *arg)
{
    struct fx *fx = arg;
    fx->conns_open += delta;
    fx->conn_events++;
}

/* The per-route body limit hook: "/small" takes 8 bytes, "/huge" asks for
 * more than max_body (which must not raise it), the rest max_body. */
static size_t body_limit(const struct http_request *req, void *arg)
{
    struct fx *fx = arg;
    const char *path = http_request_path(req);
    fx->body_limit_calls++;
    ck_assert_ptr_nonnull(http_request_header(req, "host"));
    if (strcmp(path, "/small") == 0)
        return 8;
    if (strcmp(path, "/huge") == 0)
        return (size_t)1 << 40;
    return 0;
}

/* Default limits: generous, so that only the test under way trips one. */
static struct http_limits default_limits(void)
{
    struct http_limits l = {
        .max_request_line = 1024,
        .max_header_bytes = 8192,
        .max_headers = 16,
        .max_body = 512 * 1024,
        .header_timeout_ms = 5000,
        .body_timeout_ms = 5000,
        .idle_timeout_ms = 5000,
        .write_timeout_ms = 5000,
        .accepts_per_wake = 8,
    };
    return l;
}

/* Open a loopback listening socket (non-blocking, as the supervisor makes it). */
static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void fx_start(struct http_limits lim)
{
    g = calloc(1, sizeof *g);
    g->base = event_base_new();
    ck_assert_ptr_nonnull(g->base);
    g->lfd = listen_loopback(&g->port);
    g->lim = lim;
    struct http_callbacks cb = {.on_request = on_request,
                                .on_done = on_done,
                                .on_conn = on_conn,
                                .arg = g,
                                .body_limit = body_limit};
    g->srv = http_server_new(g->base, g->lfd, &g->lim, &cb);
    ck_assert_ptr_nonnull(g->srv);
}

static void fx_stop(void)
{
    http_server_free(g->srv);
    ck_assert_int_eq(close(g->lfd), 0);
    event_base_free(g->base);
    free(g->big);
    free(g);
    g = NULL;
}

/* ---------------------------------------------------------------- client */

struct client {
    int fd;
    char buf[64 * 1024];
    size_t len;
    bool eof;
};

struct resp {
    int status;
    char head[8192];
    char body[16384];
    size_t body_len;
};

static struct client *client_new(void)
{
    struct client *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)g->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return c;
}

static void client_free(struct client *c)
{
    if (c->fd >= 0)
        ck_assert_int_eq(close(c->fd), 0);
    free(c);
}

static void client_send_n(struct client *c, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
        ck_assert_int_gt(k, 0);
        s += k;
        n -= (size_t)k;
    }
}

static void client_send(struct client *c, const char *s)
{
    client_send_n(c, s, strlen(s));
}

static void pump_break(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Run the loop for ms milliseconds. */
static void pump(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    ck_assert_int_eq(event_base_loopexit(g->base, &tv), 0);
    ck_assert_int_ge(event_base_dispatch(g->base), 0);
}

/* Run the loop until the client's socket is readable or ms pass. */
static void pump_until_readable(struct client *c, int ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) > 0)
        return;
    struct event *ev = event_new(g->base, c->fd, EV_READ, pump_break, g->base);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    ck_assert_int_eq(event_add(ev, &tv), 0);
    ck_assert_int_ge(event_base_dispatch(g->base), 0);
    event_free(ev);
}

/* Receive what is there (after pumping up to ms). Returns bytes, 0 on EOF, -1 if nothing. */
static ssize_t client_fill(struct client *c, int ms)
{
    pump_until_readable(c, ms);
    if (sizeof c->buf - c->len == 0)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        c->eof = true;
        return 0;
    }
    if (n < 0)
        return -1;
    c->len += (size_t)n;
    return n;
}

/* Value of header name in a response head, copied to out; false if absent. */
static bool resp_header(const struct resp *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p != NULL && p[2] != '\0') {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t vl = (size_t)(e - v);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        p = strstr(p, "\r\n");
    }
    return false;
}

/* Read one response (no body when head_only). Returns 0, or -1 on EOF/timeout. */
static int client_response(struct client *c, struct resp *r, bool head_only, int ms)
{
    uint64_t deadline = (uint64_t)time(NULL) + (uint64_t)(ms / 1000 + 2);
    memset(r, 0, sizeof *r);
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end != NULL) {
            size_t hlen = (size_t)(end - c->buf) + 4;
            ck_assert_uint_lt(hlen, sizeof r->head);
            memcpy(r->head, c->buf, hlen);
            r->head[hlen] = '\0';
            char cl[32];
            size_t blen = 0;
            if (!head_only && resp_header(r, "Content-Length", cl, sizeof cl))
                blen = strtoul(cl, NULL, 10);
            if (c->len >= hlen + blen) {
                ck_assert_int_eq(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
                size_t keep = blen < sizeof r->body - 1 ? blen : sizeof r->body - 1;
                memcpy(r->body, c->buf + hlen, keep);
                r->body[keep] = '\0';
                r->body_len = blen;
                memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
                c->len -= hlen + blen;
                return 0;
            }
        }
        if (c->eof || (uint64_t)time(NULL) > deadline)
            return -1;
        (void)client_fill(c, ms);
    }
}

/* Send a request and read its response; fails the test if none comes. */
static void roundtrip(struct client *c, const char *req, struct resp *r)
{
    client_send(c, req);
    ck_assert_int_eq(client_response(c, r, strncmp(req, "HEAD ", 5) == 0, 3000), 0);
}

/* True when the server closes the connection within ms (no further bytes). */
static bool client_sees_eof(struct client *c, int ms)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        ssize_t n = client_fill(c, ms);
        if (n == 0)
            return true;
        if (n > 0)
            return false;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > ms)
            return false;
    }
}

static void assert_header(const struct resp *r, const char *name, const char *want)
{
    char v[256];
    ck_assert_msg(resp_header(r, name, v, sizeof v), "missing header %s in\n%s", name, r->head);
    ck_assert_str_eq(v, want);
}

static bool is_hex16(const char *s)
{
    if (strlen(s) != 16)
        return false;
    for (int i = 0; i < 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ----------------------------------------------------------------- tests */

START_TEST(test_get_basic)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;
    char v[256];

    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strncmp(r.head, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
    ck_assert_str_eq(r.body, "{\"ok\":true}");
    assert_header(&r, "Content-Type", "application/json");
    assert_header(&r, "Content-Length", "11");
    assert_header(&r, "Server", "conduitd");
    assert_header(&r, "Connection", "keep-alive");
    ck_assert(resp_header(&r, "Date", v, sizeof v));
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ck_assert_msg(end != NULL && *end == '\0', "bad Date: %s", v);
    ck_assert(resp_header(&r, "X-Request-Id", v, sizeof v));
    ck_assert_msg(is_hex16(v), "generated id %s", v);

    ck_assert_int_eq(g->ndone, 1);
    ck_assert_int_eq(g->done_status[0], 200);
    ck_assert(g->done_secs[0] >= 0.0 && g->done_secs[0] < 5.0);
    ck_assert_str_eq(g->done_path[0], "/hello");
    ck_assert_int_eq(g->conns_open, 1);
    ck_assert_uint_eq(http_server_connections(g->srv), 1);
    ck_assert_uint_eq(http_server_in_flight(g->srv), 0);

    client_free(c);
    pump(50);
    ck_assert_int_eq(g->conns_open, 0);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    fx_stop();
}
END_TEST

START_TEST(test_keepalive)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;
    char ids[3][64];

    for (int i = 0; i < 3; i++) {
        roundtrip(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        ck_assert_int_eq(r.status, 200);
        assert_header(&r, "Connection", "keep-alive");
        ck_assert(resp_header(&r, "X-Request-Id", ids[i], sizeof ids[i]));
    }
    ck_assert_str_ne(ids[0], ids[1]);
    ck_assert_str_ne(ids[1], ids[2]);
    ck_assert_int_eq(g->conn_events, 1); /* one connection for all three */
    ck_assert_int_eq(g->ndone, 3);

    /* The owned-body variant and an unknown path on the same connection. */
    roundtrip(c, "GET /owned HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"owned\":1}");
    assert_header(&r, "Content-Type", "application/json");
    roundtrip(c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert(strncmp(r.head, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_connection_semantics)
{
    fx_start(default_limits());
    struct resp r;

    /* HTTP/1.0 without keep-alive: close. */
    struct client *c = client_new();
    roundtrip(c, "GET /hello HTTP/1.0\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Connection", "close");
    ck_assert(client_sees_eof(c, 2000));
    client_free(c);

    /* HTTP/1.0 asking for keep-alive: kept. */
    c = client_new();
    roundtrip(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r);
    assert_header(&r, "Connection", "keep-alive");
    roundtrip(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    client_free(c);

    /* HTTP/1.1 with Connection: close. */
    c = client_new();
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
    assert_header(&r, "Connection", "close");
    ck_assert(client_sees_eof(c, 2000));
    client_free(c);
    pump(50);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    fx_stop();
}
END_TEST

START_TEST(test_pipeline_order)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;

    /* The first is answered 60 ms later from a timer; the others at once. */
    client_send(c, "GET /slow?1 HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /info?2 HTTP/1.1\r\nHost: t\r\nX-Test: two\r\n\r\n"
                   "GET /slow?3 HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /info?4 HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_str_eq(r.body, "1");
    /* the second request reached the handler only after the first was answered */
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert(strncmp(r.body, "GET|/info|2|two|", 16) == 0);
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_str_eq(r.body, "3");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert(strncmp(r.body, "GET|/info|4|(none)|", 19) == 0);
    ck_assert_str_eq(g->order, "1,2,3,4,");
    ck_assert_int_eq(g->ndone, 4);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_pipeline_bodies)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;

    /* Bodies NUL-terminated in place, both mid-buffer and at its end. */
    client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                   "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                   "GET /info?z HTTP/1.1\r\nHost: t\r\n\r\n"
                   "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body, "hello");
    assert_header(&r, "X-Echo-Len", "yes");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_str_eq(r.body, "abc");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert(strncmp(r.body, "GET|/info|z|(none)||127.0.0.1|", 30) == 0);
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_str_eq(r.body, "last");

    /* A body split over several writes. */
    client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
    pump(20);
    client_send(c, "56789");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_str_eq(r.body, "0123456789");
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_large_head_and_body)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;

    /* 6 KB of headers: the read buffer grows past its initial size. */
    char *req = malloc(16384);
    strcpy(req, "GET /info?big HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 6; i++) {
        strcat(req, "X-Pad: ");
        size_t l = strlen(req);
        memset(req + l, 'p', 1000);
        strcpy(req + l + 1000, "\r\n");
    }
    strcat(req, "X-Test: after-padding\r\n\r\n");
    roundtrip(c, req, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strncmp(r.body, "GET|/info|big|after-padding|", 28) == 0);

    /* A 300 KB body (under max_body), sent in one go. */
    size_t blen = 300 * 1024;
    char *post = malloc(blen + 128);
    int h =
        snprintf(post, 128, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", blen);
    memset(post + h, 'b', blen);
    client_send_n(c, post, (size_t)h + blen);
    /* the echo is larger than the client's buffer: count it as it comes */
    size_t got = 0;
    char *hdr_end = NULL;
    while (hdr_end == NULL) {
        ck_assert_int_gt(client_fill(c, 3000), 0);
        hdr_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    }
    ck_assert(strncmp(c->buf, "HTTP/1.1 201 ", 13) == 0);
    got = c->len - (size_t)(hdr_end + 4 - c->buf);
    c->len = 0;
    while (got < blen) {
        ssize_t n = client_fill(c, 3000);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
        c->len = 0;
    }
    ck_assert_uint_eq(got, blen);
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    free(req);
    free(post);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_head)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;

    roundtrip(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Content-Length", "11");
    ck_assert_uint_eq(c->len, 0); /* no body bytes followed */
    /* the connection is still in sync: the next response parses cleanly */
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"ok\":true}");
    /* 204 carries neither body nor Content-Length */
    client_send(c, "GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(client_response(c, &r, true, 3000), 0);
    ck_assert_int_eq(r.status, 204);
    char v[64];
    ck_assert(!resp_header(&r, "Content-Length", v, sizeof v));
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_expect_continue)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;

    client_send(
        c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    ck_assert_int_eq(client_response(c, &r, true, 3000), 0);
    ck_assert_int_eq(r.status, 100);
    ck_assert_str_eq(r.head, "HTTP/1.1 100 Continue\r\n\r\n");
    ck_assert_int_eq(g->nrequests, 0);
    client_send(c, "abcde");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body, "abcde");

    /* A body that is already there gets no 100 Continue. */
    roundtrip(
        c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok",
        &r);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body, "ok");

    /* Too large: 413 at once, without waiting for the body. */
    client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n"
                   "Expect: 100-continue\r\n\r\n");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 413);
    assert_header(&r, "Connection", "close");
    ck_assert_str_eq(r.body, "{\"errors\":{\"request\":[\"request body too large\"]}}");
    ck_assert(client_sees_eof(c, 2000));
    client_free(c);

    /* An expectation we do not know: 417. */
    c = client_new();
    roundtrip(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: teapot\r\n\r\n",
              &r);
    ck_assert_int_eq(r.status, 417);
    client_free(c);
    fx_stop();
}
END_TEST

/* One malformed or oversized request: status, JSON error, close. */
static void check_refused(const char *req, int want, const char *msg)
{
    struct client *c = client_new();
    struct resp r;
    int before = g->ndone;

    client_send(c, req);
    ck_assert_msg(client_response(c, &r, false, 3000) == 0, "no response to %.40s", req);
    ck_assert_msg(r.status == want, "got %d, want %d for %.60s", r.status, want, req);
    assert_header(&r, "Connection", "close");
    assert_header(&r, "Content-Type", "application/json");
    char want_body[256];
    snprintf(want_body, sizeof want_body, "{\"errors\":{\"request\":[\"%s\"]}}", msg);
    ck_assert_str_eq(r.body, want_body);
    char v[256];
    ck_assert(resp_header(&r, "X-Request-Id", v, sizeof v));
    ck_assert_msg(client_sees_eof(c, 3000), "not closed after %d", want);
    ck_assert_int_eq(g->ndone, before + 1);
    ck_assert_int_eq(g->done_status[before], want);
    client_free(c);
}

/* check_refused for a request with NUL bytes in it. */
static void check_refused_n(const char *req, size_t n, int want)
{
    struct client *c = client_new();
    struct resp r;

    client_send_n(c, req, n);
    ck_assert_msg(client_response(c, &r, false, 3000) == 0, "no response to %.40s", req);
    ck_assert_msg(r.status == want, "got %d, want %d for %.60s", r.status, want, req);
    assert_header(&r, "Connection", "close");
    ck_assert_msg(client_sees_eof(c, 3000), "not closed after %d", want);
    client_free(c);
}

/* A request the core accepts: the handler answers it with want. */
static void check_served(const char *req, int want)
{
    struct client *c = client_new();
    struct resp r;

    roundtrip(c, req, &r);
    ck_assert_msg(r.status == want, "got %d, want %d for %.60s", r.status, want, req);
    client_free(c);
}

#define BAD "malformed request"

/* RFC 9112 3.2: Host exactly once on HTTP/1.1, at most once on 1.0, and a
 * valid uri-host [":" port]. */
START_TEST(test_framing_host)
{
    fx_start(default_limits());
    check_refused("GET /hello HTTP/1.1\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nX-A: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nX-A:\r\nHost: a\r\nHost: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost:\r\nHost: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: a@b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: a:80x\r\n\r\n", 400, BAD);
    check_served("GET /hello HTTP/1.0\r\n\r\n", 200);
    check_served("GET /hello HTTP/1.1\r\nHost:\r\n\r\n", 200);
    check_served("GET /hello HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200);
    check_served("GET /hello HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n", 200);
    check_served("GET /hello HTTP/1.1\r\nhost: 10.0.0.1\r\n\r\n", 200);
    fx_stop();
}
END_TEST

/* RFC 9112 5.2 and 2.2: obs-fold, also after an empty value (which
 * libhttp-parser reads as leading whitespace), and whitespace between the
 * request line and the first header line. */
START_TEST(test_framing_obs_fold)
{
    fx_start(default_limits());
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nX-A:\r\n\tContent-Length: 5\r\n\r\nhello", 400,
                  BAD);
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n 5\r\n\r\nhello", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: one\r\n\ttwo\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\nHost: t\nX-A:\n Y\n\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\n Host: t\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\n\tHost: t\r\n\r\n", 400, BAD);
    check_served("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: \t spaced \t\r\n\r\n", 200);
    fx_stop();
}
END_TEST

/* RFC 9112 2.2: a bare CR anywhere in the head. */
START_TEST(test_framing_bare_cr)
{
    fx_start(default_limits());
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\rHost: t\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\n\r\r\n", 400, BAD);
    fx_stop();
}
END_TEST

/* RFC 9112 5.1 and RFC 9110 5.1: field names are tokens, with no
 * whitespace before the colon. */
START_TEST(test_framing_field_names)
{
    fx_start(default_limits());
    check_refused("GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\n: empty\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX\"A: b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX(A): b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX\x80"
                  "A: b\r\n\r\n",
                  400, BAD);
    check_served("GET /hello HTTP/1.1\r\nHost: t\r\nX-Odd!#$%&'*+.^_`|~: b\r\n\r\n", 200);
    fx_stop();
}
END_TEST

/* RFC 9110 5.5: no NUL or control characters (HTAB aside) in values, and
 * no NUL anywhere in the head; obs-text is allowed. */
START_TEST(test_framing_field_values)
{
    static const char nul_value[] = "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n";
    static const char nul_target[] = "GET /hel\0lo HTTP/1.1\r\nHost: t\r\n\r\n";
    fx_start(default_limits());
    check_refused_n(nul_value, sizeof nul_value - 1, 400);
    check_refused_n(nul_target, sizeof nul_target - 1, 400);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x7f\r\n\r\n", 400, BAD);
    check_refused("GET /hello HTTP/1.1\r\nHost: t\x1b\r\n\r\n", 400, BAD);
    check_served("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: caf\xc3\xa9\tok\r\n\r\n", 200);
    fx_stop();
}
END_TEST

/* RFC 9112 6.1 and 6.3: Transfer-Encoding with Content-Length, in HTTP/1.0,
 * or without chunked as the final coding. */
START_TEST(test_framing_cl_te)
{
    fx_start(default_limits());
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\nhello",
                  400, BAD);
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Length: 5\r\n\r\nhello",
                  400, BAD);
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nhello", 400,
                  BAD);
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello",
                  400, BAD);
    check_refused(
        "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400,
        BAD);
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                  "5\r\nhello\r\n0\r\n\r\n",
                  411, "chunked request bodies are not supported; send Content-Length");
    fx_stop();
}
END_TEST

/* RFC 9112 6.3 and RFC 9110 8.6: one Content-Length of digits only. */
START_TEST(test_framing_content_length)
{
    static const char *const bad[] = {"5, 5", "5,5", "+5", "-1", "0x5", "5 5", "", "5;", "\"5\""};
    char req[256];
    fx_start(default_limits());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(req, sizeof req,
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %s\r\n\r\nhello", bad[i]);
        check_refused(req, 400, BAD);
    }
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
                  "\r\nhello",
                  400, BAD);
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\ncontent-length: 6\r\n"
                  "\r\nhello!",
                  400, BAD);
    {
        struct client *c = client_new();
        struct resp r;
        roundtrip(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 005\r\n\r\nhello", &r);
        ck_assert_int_eq(r.status, 201);
        ck_assert_str_eq(r.body, "hello");
        client_free(c);
    }
    fx_stop();
}
END_TEST

/* RFC 9112 3.2: origin-form, absolute-form (its authority wins over Host,
 * which must still be present on HTTP/1.1), asterisk-form for OPTIONS
 * only; authority-form (CONNECT, 501 anyway) and bare words are 400. */
START_TEST(test_framing_target_forms)
{
    fx_start(default_limits());
    check_refused("GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400, BAD);
    check_refused("GET example.com:80 HTTP/1.1\r\nHost: t\r\n\r\n", 400, BAD);
    check_refused("GET hello HTTP/1.1\r\nHost: t\r\n\r\n", 400, BAD);
    check_refused("GET http:/hello HTTP/1.1\r\nHost: t\r\n\r\n", 400, BAD);
    check_refused("GET http://example.com/hello HTTP/1.1\r\n\r\n", 400, BAD);
    check_served("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 404); /* the handler's answer */
    check_served("GET http://example.com/hello?x HTTP/1.1\r\nHost: other\r\n\r\n", 200);
    check_served("GET https://example.com:8443/hello HTTP/1.1\r\nHost: example.com:8443\r\n\r\n",
                 200);
    fx_stop();
}
END_TEST

/* The body_limit hook: decided once the head is complete, before the body
 * is read (413 without 100 Continue), never above max_body, and only asked
 * for requests that have a body. */
START_TEST(test_body_limit_per_route)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;

    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(g->body_limit_calls, 0);
    roundtrip(c, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n12345678", &r);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(r.body, "12345678");
    ck_assert_int_eq(g->body_limit_calls, 1);
    client_free(c);

    /* one byte over the route's limit: 413 at once, no 100 Continue */
    check_refused("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n"
                  "Expect: 100-continue\r\n\r\n",
                  413, "request body too large");
    /* the same size elsewhere is fine */
    c = client_new();
    roundtrip(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n123456789", &r);
    ck_assert_int_eq(r.status, 201);
    client_free(c);
    /* a route limit above max_body does not raise it */
    check_refused("POST /huge HTTP/1.1\r\nHost: t\r\nContent-Length: 524289\r\n\r\n", 413,
                  "request body too large");
    fx_stop();
}
END_TEST

START_TEST(test_limits)
{
    fx_start(default_limits());
    char big[4096];

    /* request line over 1024 */
    snprintf(big, sizeof big, "GET /%01100d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
    check_refused(big, 414, "request line too long");
    /* more than 16 headers */
    strcpy(big, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 17; i++)
        sprintf(big + strlen(big), "X-H%d: v\r\n", i);
    strcat(big, "\r\n");
    check_refused(big, 431, "request header fields too large");
    /* exactly 16 headers are fine */
    {
        struct client *c = client_new();
        struct resp r;
        strcpy(big, "GET /hello HTTP/1.1\r\nHost: t\r\n"); /* Host and 15 more */
        for (int i = 0; i < 15; i++)
            sprintf(big + strlen(big), "X-H%d: v\r\n", i);
        strcat(big, "\r\n");
        roundtrip(c, big, &r);
        ck_assert_int_eq(r.status, 200);
        client_free(c);
    }
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 524289\r\n\r\n", 413,
                  "request body too large");
    check_refused("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                  411, "chunked request bodies are not supported; send Content-Length");
    check_refused("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "malformed request");
    check_refused("GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n", 400, "malformed request");
    check_refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "malformed request");
    check_refused("GET / HTTP/1.1\r\nHost: t\r\nX-A: one\r\n  folded\r\n\r\n", 400,
                  "malformed request");
    check_refused("GET /a b HTTP/1.1\r\nHost: t\r\n\r\n", 400, "malformed request");
    check_refused("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                  400, "malformed request");
    check_refused("FOO / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method not implemented");
    check_refused("get / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method not implemented");
    check_refused("TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method not implemented");
    check_refused("CONNECT example.com:443 HTTP/1.1\r\nHost: t\r\n\r\n", 501,
                  "method not implemented");
    check_refused("GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported");
    check_refused("GET / HTTP/1.2\r\n\r\n", 505, "HTTP version not supported");
    check_refused("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "HTTP version not supported");
    check_refused("GET / HTTP/11.1\r\n\r\n", 505, "HTTP version not supported");
    check_refused("GET /\r\n\r\n", 505, "HTTP version not supported");

    /* the server keeps serving others */
    struct client *c = client_new();
    struct resp r;
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_limit_header_bytes)
{
    struct http_limits lim = default_limits();
    lim.max_header_bytes = 2048;
    fx_start(lim);
    char big[8192];

    /* one long header, sent whole */
    snprintf(big, sizeof big, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Long: %03000d\r\n\r\n", 7);
    check_refused(big, 431, "request header fields too large");
    /* header bytes arriving in pieces without an end */
    struct client *c = client_new();
    struct resp r;
    client_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 10; i++) {
        char line[400];
        snprintf(line, sizeof line, "X-%d: %0300d\r\n", i, i);
        if (send(c->fd, line, strlen(line), MSG_NOSIGNAL) < 0)
            break;
        pump(5);
    }
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 431);
    client_free(c);
    /* a long request line arriving slowly, without a line end */
    c = client_new();
    client_send(c, "GET /");
    for (int i = 0; i < 12; i++) {
        char chunk[128];
        memset(chunk, 'a', sizeof chunk);
        if (send(c->fd, chunk, sizeof chunk, MSG_NOSIGNAL) < 0)
            break;
        pump(5);
    }
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 414);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_header_timeout)
{
    struct http_limits lim = default_limits();
    lim.header_timeout_ms = 200;
    fx_start(lim);
    struct resp r;
    struct timespec t0;

    /* part of a head: 408 and close */
    struct client *c = client_new();
    client_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 408);
    ck_assert_str_eq(r.body, "{\"errors\":{\"request\":[\"request timeout\"]}}");
    ck_assert_int_ge(ms_since(&t0), 150);
    ck_assert(client_sees_eof(c, 3000));
    ck_assert_int_eq(g->done_status[g->ndone - 1], 408);
    client_free(c);

    /* nothing at all: closed silently */
    c = client_new();
    int done_before = g->ndone;
    ck_assert(client_sees_eof(c, 3000));
    ck_assert_uint_eq(c->len, 0);
    ck_assert_int_eq(g->ndone, done_before);
    client_free(c);
    pump(20);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    fx_stop();
}
END_TEST

START_TEST(test_slowloris)
{
    struct http_limits lim = default_limits();
    lim.header_timeout_ms = 300;
    fx_start(lim);
    struct client *c = client_new();
    const char *req = "GET /hello HTTP/1.1\r\nHost: slowly.example\r\nUser-Agent: x\r\n\r\n";
    struct timespec t0;
    struct resp r;

    /* one byte every 40 ms would take 2.4 s; the deadline counts from the first */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t sent = 0;
    for (; req[sent] != '\0'; sent++) {
        if (send(c->fd, req + sent, 1, MSG_NOSIGNAL) != 1)
            break;
        pump_until_readable(c, 40);
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) > 0)
            break;
    }
    ck_assert_uint_lt(sent, strlen(req) - 1);
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 408);
    long took = ms_since(&t0);
    ck_assert_msg(took >= 250 && took < 1500, "408 after %ld ms", took);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_body_timeout)
{
    struct http_limits lim = default_limits();
    lim.body_timeout_ms = 200;
    fx_start(lim);
    struct client *c = client_new();
    struct resp r;

    client_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    ck_assert_int_eq(client_response(c, &r, false, 3000), 0);
    ck_assert_int_eq(r.status, 408);
    assert_header(&r, "Connection", "close");
    ck_assert(client_sees_eof(c, 3000));
    ck_assert_int_eq(g->nrequests, 0);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_idle_timeout)
{
    struct http_limits lim = default_limits();
    lim.idle_timeout_ms = 200;
    fx_start(lim);
    struct client *c = client_new();
    struct resp r;
    struct timespec t0;

    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert(client_sees_eof(c, 3000));
    ck_assert_int_ge(ms_since(&t0), 150);
    ck_assert_uint_eq(c->len, 0); /* closed silently */
    ck_assert_int_eq(g->ndone, 1);
    pump(20);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_write_timeout)
{
    struct http_limits lim = default_limits();
    lim.write_timeout_ms = 200;
    fx_start(lim);
    int small = 4096;
    ck_assert_int_eq(setsockopt(g->lfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    g->big = malloc(BIG_BODY);
    memset(g->big, 'x', BIG_BODY);
    struct client *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)g->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);

    client_send(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    /* the client never reads: the server gives up and closes */
    for (int i = 0; i < 100 && g->ndone == 0; i++)
        pump(20);
    ck_assert_int_eq(g->ndone, 1);
    ck_assert_int_eq(g->done_status[0], 200);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_int_eq(g->conns_open, 0);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_request_id)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;
    char v[256];

    roundtrip(c, "GET /info HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123_Z.9\r\n\r\n", &r);
    assert_header(&r, "X-Request-Id", "abc-123_Z.9");
    ck_assert_ptr_nonnull(strstr(r.body, "|abc-123_Z.9|"));

    const char *bad[] = {"X-Request-Id: has space\r\n", "X-Request-Id: \"quoted\"\r\n",
                         "X-Request-Id: \r\n", NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET /info HTTP/1.1\r\nHost: t\r\n%s\r\n", bad[i]);
        roundtrip(c, req, &r);
        ck_assert(resp_header(&r, "X-Request-Id", v, sizeof v));
        ck_assert_msg(is_hex16(v), "id %s for %s", v, bad[i]);
        /* the handler saw the same id as the response carries */
        char want[300];
        snprintf(want, sizeof want, "|%s|", v);
        ck_assert_ptr_nonnull(strstr(r.body, want));
    }
    /* 128 characters are echoed, 129 are not */
    char req[512], id[130];
    memset(id, 'a', 128);
    id[128] = '\0';
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Request-Id: %s\r\n\r\n", id);
    roundtrip(c, req, &r);
    assert_header(&r, "X-Request-Id", id);
    strcat(id, "b");
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Request-Id: %s\r\n\r\n", id);
    roundtrip(c, req, &r);
    ck_assert(resp_header(&r, "X-Request-Id", v, sizeof v));
    ck_assert(is_hex16(v));
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_accessors)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct resp r;

    roundtrip(c,
              "PATCH /info?a=1&b=%20 HTTP/1.1\r\nHost: t\r\nX-Test:   spaced value  \r\n"
              "Content-Length: 4\r\n\r\nbody",
              &r);
    ck_assert_int_eq(r.status, 200);
    char want[128];
    snprintf(want, sizeof want, "PATCH|/info|a=1&b=%%20|spaced value|body|127.0.0.1|");
    ck_assert_msg(strncmp(r.body, want, strlen(want)) == 0, "%s", r.body);
    char tail[16];
    snprintf(tail, sizeof tail, "|%d", (int)HTTP_M_PATCH);
    ck_assert_str_eq(r.body + strlen(r.body) - strlen(tail), tail);

    /* absolute-form target and a fragment */
    roundtrip(c, "GET http://example.com/info?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert(strncmp(r.body, "GET|/info|x=1|", 14) == 0);
    roundtrip(c, "DELETE /info#frag HTTP/1.1\r\nHost: t\r\nX-Test:\r\n\r\n", &r);
    ck_assert_msg(strncmp(r.body, "DELETE|/info||||", 16) == 0, "%s", r.body);
    roundtrip(c, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 404);

    /* added headers, refused ones, and a second respond() */
    roundtrip(c, "GET /headers HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_header(&r, "X-Custom", "v1");
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    char v[64];
    ck_assert(!resp_header(&r, "Injected", v, sizeof v));
    roundtrip(c, "GET /twice HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_str_eq(r.body, "1");
    ck_assert_int_eq(g->respond_twice_rc, -1);
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_orphan)
{
    fx_start(default_limits());
    struct client *c = client_new();

    client_send(c, "GET /hold?o HTTP/1.1\r\nHost: t\r\nX-Test: kept\r\n\r\n");
    for (int i = 0; i < 100 && g->nheld == 0; i++)
        pump(10);
    ck_assert_int_eq(g->nheld, 1);
    struct http_request *req = g->held[0];
    ck_assert(!http_request_orphaned(req));
    ck_assert_uint_eq(http_server_in_flight(g->srv), 1);

    client_free(c); /* the client gives up */
    for (int i = 0; i < 100 && !http_request_orphaned(req); i++)
        pump(10);
    ck_assert(http_request_orphaned(req));
    /* still valid: the handler may read it */
    ck_assert_str_eq(http_request_path(req), "/hold");
    ck_assert_str_eq(http_request_header(req, "X-Test"), "kept");
    ck_assert_int_eq(g->ndone, 0);

    ck_assert_int_eq(http_respond(req, 200, "text/plain", "late", 4), 0);
    pump(20);
    ck_assert_int_eq(g->ndone, 1);
    ck_assert_uint_eq(http_server_in_flight(g->srv), 0);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_int_eq(g->conns_open, 0);
    fx_stop();
}
END_TEST

START_TEST(test_orphan_reset)
{
    fx_start(default_limits());
    struct client *c = client_new();

    client_send(c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 100 && g->nheld == 0; i++)
        pump(10);
    ck_assert_int_eq(g->nheld, 1);
    /* abortive close: RST instead of FIN */
    struct linger lg = {1, 0};
    ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    client_free(c);
    for (int i = 0; i < 100 && !http_request_orphaned(g->held[0]); i++)
        pump(10);
    ck_assert(http_request_orphaned(g->held[0]));
    ck_assert_int_eq(http_respond(g->held[0], 200, "text/plain", "x", 1), 0);
    ck_assert_int_eq(g->ndone, 1);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_uint_eq(http_server_in_flight(g->srv), 0);
    fx_stop();
}
END_TEST

START_TEST(test_half_close)
{
    fx_start(default_limits());
    struct resp r;

    /* A client that shuts its side after the request still gets the answer. */
    struct client *c = client_new();
    client_send(
        c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hel");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    for (int i = 0; i < 100 && !(g->nheld == 1 && http_request_orphaned(g->held[0])); i++)
        pump(10);
    ck_assert(http_request_orphaned(g->held[0]));
    ck_assert_int_eq(http_respond(g->held[0], 200, "text/plain", "held", 4), 0);
    ck_assert_int_eq(client_response(c, &r, false, 2000), 0);
    ck_assert_str_eq(r.body, "held");
    /* the complete request behind it is answered too, the partial one dropped */
    ck_assert_int_eq(client_response(c, &r, false, 2000), 0);
    ck_assert_str_eq(r.body, "{\"ok\":true}");
    ck_assert(client_sees_eof(c, 2000));
    ck_assert_int_eq(g->ndone, 2);
    client_free(c);
    pump(20);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);

    /* Half a request, then EOF: closed at once, no 408. */
    c = client_new();
    client_send(c, "GET /hello HTTP/1.1\r\nHost:");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    ck_assert(client_sees_eof(c, 1000));
    ck_assert_uint_eq(c->len, 0);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_free_with_pending)
{
    fx_start(default_limits());
    struct client *c = client_new();

    client_send(c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 100 && g->nheld == 0; i++)
        pump(10);
    ck_assert_int_eq(g->nheld, 1);
    http_server_free(g->srv);
    g->srv = NULL;
    /* the request outlives the server until its handler answers */
    ck_assert(http_request_orphaned(g->held[0]));
    ck_assert_str_eq(http_request_path(g->held[0]), "/hold");
    ck_assert(client_sees_eof(c, 2000));
    int done = g->ndone;
    ck_assert_int_eq(http_respond(g->held[0], 200, "text/plain", "x", 1), 0);
    ck_assert_int_eq(g->ndone, done); /* no callbacks after free */
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_drain)
{
    fx_start(default_limits());
    struct resp r;

    struct client *idle = client_new();
    roundtrip(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    struct client *busy = client_new();
    client_send(busy,
                "GET /hold HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    struct client *partial = client_new();
    client_send(partial, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 100 && (g->nheld == 0 || http_server_connections(g->srv) < 3); i++)
        pump(10);
    ck_assert_int_eq(g->nheld, 1);
    ck_assert_uint_eq(http_server_connections(g->srv), 3);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_server_drain(g->srv);
    ck_assert_uint_eq(http_server_connections(g->srv), 3);
    ck_assert_uint_eq(http_server_in_flight(g->srv), 1);

    /* new connections are not accepted (the listening socket stays open) */
    struct client *late = client_new();
    pump(50);
    ck_assert_uint_eq(http_server_connections(g->srv), 3);
    ck_assert_int_ge(fcntl(g->lfd, F_GETFD), 0);

    /* idle keep-alive: kept for the grace, then closed silently */
    ck_assert(client_sees_eof(idle, HTTP_DRAIN_IDLE_GRACE_MS + 2000));
    ck_assert_int_ge(ms_since(&t0), HTTP_DRAIN_IDLE_GRACE_MS - 100);
    ck_assert_uint_eq(idle->len, 0);
    ck_assert_uint_eq(http_server_connections(g->srv), 2);

    /* the pending request is answered with Connection: close, then closed;
     * the pipelined request behind it is dropped */
    ck_assert_int_eq(http_respond(g->held[0], 200, "text/plain", "done", 4), 0);
    ck_assert_int_eq(client_response(busy, &r, false, 2000), 0);
    ck_assert_str_eq(r.body, "done");
    assert_header(&r, "Connection", "close");
    ck_assert(client_sees_eof(busy, 2000));

    /* the partial request may still complete, and is answered with close */
    client_send(partial, "\r\n");
    ck_assert_int_eq(client_response(partial, &r, false, 2000), 0);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Connection", "close");
    ck_assert(client_sees_eof(partial, 2000));

    /* closed connections linger until the client closes its side too */
    client_free(idle);
    client_free(busy);
    client_free(partial);
    for (int i = 0; i < 100 && http_server_connections(g->srv) > 0; i++)
        pump(10);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_uint_eq(http_server_in_flight(g->srv), 0);
    ck_assert_int_eq(g->conns_open, 0);
    ck_assert_int_eq(http_server_pause_accept(g->srv, false), -1);
    client_free(late);
    fx_stop();
}
END_TEST

/* A request that arrives on an idle keep-alive connection shortly after the
 * drain began is answered (with Connection: close), not met by a close. */
START_TEST(test_drain_idle_request)
{
    fx_start(default_limits());
    struct resp r;
    struct client *c = client_new();
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Connection", "keep-alive");
    c->len = 0;

    http_server_drain(g->srv);
    pump(100);
    ck_assert_uint_eq(http_server_connections(g->srv), 1);
    roundtrip(c, "GET /hello?after HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"ok\":true}");
    assert_header(&r, "Connection", "close");
    ck_assert(client_sees_eof(c, 2000));
    ck_assert_int_eq(g->ndone, 2);
    ck_assert_str_eq(g->order, ",after,");

    client_free(c);
    for (int i = 0; i < 100 && http_server_connections(g->srv) > 0; i++)
        pump(10);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_int_eq(g->conns_open, 0);
    fx_stop();
}
END_TEST

/* A connection accepted before the drain whose first request arrives after
 * it is answered with Connection: close; one that sends nothing is closed
 * silently after min(header timeout, HTTP_DRAIN_FRESH_GRACE_MS). */
START_TEST(test_drain_fresh_connection)
{
    struct http_limits lim = default_limits();
    lim.header_timeout_ms = 600; /* shorter than HTTP_DRAIN_FRESH_GRACE_MS: it bounds the grace */
    fx_start(lim);
    struct resp r;
    struct client *c = client_new();
    struct client *silent = client_new();
    for (int i = 0; i < 100 && http_server_connections(g->srv) < 2; i++)
        pump(10);
    ck_assert_uint_eq(http_server_connections(g->srv), 2);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_server_drain(g->srv);
    pump(100);
    ck_assert_uint_eq(http_server_connections(g->srv), 2);
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    assert_header(&r, "Connection", "close");
    ck_assert(client_sees_eof(c, 2000));

    ck_assert(client_sees_eof(silent, 3000));
    long waited = ms_since(&t0);
    ck_assert_int_ge(waited, 500);
    ck_assert_int_lt(waited, HTTP_DRAIN_FRESH_GRACE_MS + 1500);
    ck_assert_uint_eq(silent->len, 0);
    ck_assert_int_eq(g->ndone, 1);

    client_free(c);
    client_free(silent);
    for (int i = 0; i < 100 && http_server_connections(g->srv) > 0; i++)
        pump(10);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_int_eq(g->conns_open, 0);
    fx_stop();
}
END_TEST

START_TEST(test_accepts_per_wake)
{
    struct http_limits lim = default_limits();
    lim.accepts_per_wake = 1;
    fx_start(lim);
    struct client *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = client_new();
    for (size_t want = 1; want <= 3; want++) {
        ck_assert_int_eq(event_base_loop(g->base, EVLOOP_ONCE), 0);
        ck_assert_uint_eq(http_server_connections(g->srv), want);
    }
    for (int i = 0; i < 3; i++)
        client_free(c[i]);
    fx_stop();
}
END_TEST

START_TEST(test_pause_accept)
{
    fx_start(default_limits());
    ck_assert_int_eq(http_server_pause_accept(g->srv, true), 0);
    struct client *c = client_new();
    pump(50);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_int_eq(http_server_pause_accept(g->srv, false), 0);
    struct resp r;
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_emfile)
{
    fx_start(default_limits());
    struct client *c = client_new();
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0);
    ck_assert_int_ge(lowest, 0);
    ck_assert_int_eq(close(lowest), 0);
    low = old;
    low.rlim_cur = (rlim_t)lowest; /* the next descriptor is refused */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    pump(50);
    ck_assert_uint_eq(http_server_connections(g->srv), 0);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* accepting resumes after the pause */
    struct resp r;
    roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    client_free(c);
    fx_stop();
}
END_TEST

START_TEST(test_reasons)
{
    ck_assert_str_eq(http_status_reason(200), "OK");
    ck_assert_str_eq(http_status_reason(404), "Not Found");
    ck_assert_str_eq(http_status_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(http_status_reason(599), "Server Error");
    ck_assert_str_eq(http_status_reason(299), "Success");
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_get_basic);
    tcase_add_test(tc, test_keepalive);
    tcase_add_test(tc, test_connection_semantics);
    tcase_add_test(tc, test_pipeline_order);
    tcase_add_test(tc, test_pipeline_bodies);
    tcase_add_test(tc, test_large_head_and_body);
    tcase_add_test(tc, test_head);
    tcase_add_test(tc, test_expect_continue);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_framing_host);
    tcase_add_test(tc, test_framing_obs_fold);
    tcase_add_test(tc, test_framing_bare_cr);
    tcase_add_test(tc, test_framing_field_names);
    tcase_add_test(tc, test_framing_field_values);
    tcase_add_test(tc, test_framing_cl_te);
    tcase_add_test(tc, test_framing_content_length);
    tcase_add_test(tc, test_framing_target_forms);
    tcase_add_test(tc, test_body_limit_per_route);
    tcase_add_test(tc, test_limit_header_bytes);
    tcase_add_test(tc, test_header_timeout);
    tcase_add_test(tc, test_slowloris);
    tcase_add_test(tc, test_body_timeout);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_write_timeout);
    tcase_add_test(tc, test_request_id);
    tcase_add_test(tc, test_accessors);
    tcase_add_test(tc, test_orphan);
    tcase_add_test(tc, test_orphan_reset);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_free_with_pending);
    tcase_add_test(tc, test_drain);
    tcase_add_test(tc, test_drain_idle_request);
    tcase_add_test(tc, test_drain_fresh_connection);
    tcase_add_test(tc, test_accepts_per_wake);
    tcase_add_test(tc, test_pause_accept);
    tcase_add_test(tc, test_emfile);
    tcase_add_test(tc, test_reasons);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_main_run_suite(http_suite());
}
