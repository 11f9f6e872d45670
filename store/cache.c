/*
 * cache.c: Redis through hiredis's async API and libevent adapter, with
 * client-side timeouts, reconnects, and the cache protocol (see cache.h).
 *
 * hiredis calls a command's callback exactly once: with the reply, or with
 * NULL when the context is freed or disconnects. Each command carries a
 * struct cache_cmd holding our timer; whichever comes first (reply or timer)
 * answers the caller, and the command memory is freed only in hiredis's
 * callback, when nothing can refer to it any more.
 *
 * Relies on hiredis 0.14 (async.h, adapters/libevent.h), libevent,
 * scoreboard.h, log.h.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "log.h"
#include "scoreboard.h"

#define CACHE_CONNECT_TIMEOUT_MS 1000
#define CACHE_BACKOFF_MIN_MS     100
#define CACHE_BACKOFF_MAX_MS     2000
#define CACHE_TOMBSTONE          "-"

/* The connection's life. */
enum cache_state {
    CACHE_DOWN,       /* no context; a reconnect is scheduled */
    CACHE_CONNECTING, /* context made, waiting for the handshake's PING */
    CACHE_UP,         /* PING answered; commands go out */
};

struct cache {
    struct event_base *base;
    struct sb_slot *slot;
    struct cache_target target;
    int ttl_s;
    redisAsyncContext *ac;
    enum cache_state state;
    struct event ev_timer; /* reconnect back-off, or connect timeout */
    int backoff_ms;
    bool failing;  /* the current outage has been logged */
    bool dirty;    /* an invalidation was lost: flush on reconnect */
    bool stopping; /* cache_free in progress */
};

struct cache_cmd {
    struct cache *c;
    cache_reply_fn fn;
    void *arg;
    struct event timer;
    bool answered;
};

/* Context for one cache_get. */
struct cache_get_op {
    struct cache *c;
    cache_get_fn fn;
    void *arg;
};

/* Context for one cache_invalidate: counts outstanding tombstones. */
struct cache_inval_op {
    struct cache *c;
    int left;
    cache_done_fn fn;
    void *arg;
};

static void cache_connect(struct cache *c);

/* Count a Redis failure. */
static void cache_count_error(struct cache *c)
{
    if (c->slot != NULL)
        sb_inc(&c->slot->c.redis_errors, 1);
}

/* Publish up/down to the scoreboard. */
static void cache_publish(struct cache *c)
{
    if (c->slot != NULL)
        c->slot->dep_up[SB_DEP_REDIS] = c->state == CACHE_UP ? 1 : 0;
}

/* Arm the timer for ms milliseconds. */
static void cache_timer(struct cache *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (evtimer_add(&c->ev_timer, &tv) != 0)
        log_error("redis: cannot arm a timer", "");
}

/* Go DOWN (the context is gone or going) and schedule a reconnect. */
static void cache_set_down(struct cache *c, const char *why)
{
    bool was_up = c->state == CACHE_UP;

    if (c->state == CACHE_DOWN)
        return;
    c->state = CACHE_DOWN;
    c->ac = NULL;
    cache_publish(c);
    cache_count_error(c);
    if (!c->failing) {
        char msg[256];
        log_json_escape(msg, sizeof(msg), why);
        if (was_up)
            log_error("redis: connection lost; serving from PostgreSQL, limits open",
                      "\"error\":\"%s\"", msg);
        else
            log_warn("redis: cannot connect; serving from PostgreSQL, limits open",
                     "\"error\":\"%s\"", msg);
        c->failing = true;
    }
    if (c->stopping)
        return;
    c->backoff_ms = c->backoff_ms == 0 ? CACHE_BACKOFF_MIN_MS : c->backoff_ms * 2;
    if (c->backoff_ms > CACHE_BACKOFF_MAX_MS)
        c->backoff_ms = CACHE_BACKOFF_MAX_MS;
    cache_timer(c, c->backoff_ms);
}

/* Drop the connection on our initiative (timeout, bad handshake). Pending
 * commands get NULL replies from hiredis, now or when its callback returns. */
static void cache_abort(struct cache *c, const char *why)
{
    redisAsyncContext *ac = c->ac;

    cache_set_down(c, why);
    if (ac != NULL)
        redisAsyncFree(ac);
}

/* hiredis: a command finished (reply) or was dropped (NULL). */
static void cache_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct cache_cmd *cmd = priv;
    redisReply *reply = r;

    (void)ac;
    if (!cmd->answered) {
        cmd->answered = true;
        (void)evtimer_del(&cmd->timer);
        /* A NULL reply outside CACHE_UP belongs to a connection already
         * counted as failed. */
        if ((reply == NULL && cmd->c->state == CACHE_UP) ||
            (reply != NULL && reply->type == REDIS_REPLY_ERROR))
            cache_count_error(cmd->c);
        if (cmd->fn != NULL)
            cmd->fn(reply, cmd->arg);
    }
    free(cmd);
}

/* A command took too long: answer the caller with a failure and drop the
 * connection (a hung server would otherwise stall every cached request). */
static void cache_on_cmd_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct cache_cmd *cmd = arg;
    struct cache *c = cmd->c;
    cache_reply_fn fn = cmd->fn;
    void *fnarg = cmd->arg;

    (void)fd;
    (void)what;
    cmd->answered = true;
    /* After this, cmd may be freed (hiredis runs its callback with NULL). */
    cache_abort(c, "command timed out");
    if (fn != NULL)
        fn(NULL, fnarg);
}

/* Send a command whatever the state (the handshake uses it while CONNECTING). */
static int cache_send(struct cache *c, int argc, const char **argv, const size_t *argvlen,
                      cache_reply_fn fn, void *arg)
{
    struct cache_cmd *cmd;
    struct timeval tv = {CACHE_CMD_TIMEOUT_MS / 1000, (CACHE_CMD_TIMEOUT_MS % 1000) * 1000};

    if (c->ac == NULL || c->stopping)
        return -1;
    cmd = calloc(1, sizeof(*cmd));
    if (cmd == NULL)
        return -1;
    cmd->c = c;
    cmd->fn = fn;
    cmd->arg = arg;
    if (evtimer_assign(&cmd->timer, c->base, cache_on_cmd_timeout, cmd) != 0) {
        free(cmd);
        return -1;
    }
    if (redisAsyncCommandArgv(c->ac, cache_on_reply, cmd, argc, argv, argvlen) != REDIS_OK) {
        free(cmd);
        return -1;
    }
    /* From here hiredis owns cmd's lifetime. A failed timer only loses the
     * timeout for this one command. */
    if (evtimer_add(&cmd->timer, &tv) != 0)
        log_warn("redis: cannot arm a command timeout", "");
    return 0;
}

int cache_command(struct cache *c, int argc, const char **argv, const size_t *argvlen,
                  cache_reply_fn fn, void *arg)
{
    if (c == NULL || c->state != CACHE_UP)
        return -1;
    return cache_send(c, argc, argv, argvlen, fn, arg);
}

bool cache_up(const struct cache *c)
{
    return c != NULL && c->state == CACHE_UP;
}

/* Handshake done: the connection is usable. */
static void cache_set_up(struct cache *c)
{
    c->state = CACHE_UP;
    c->backoff_ms = 0;
    (void)evtimer_del(&c->ev_timer);
    cache_publish(c);
    if (c->failing)
        log_info("redis: connected", "");
    c->failing = false;
}

/* Reply to the flush script run after a dirty reconnect. */
static void cache_on_flush(const redisReply *reply, void *arg)
{
    struct cache *c = arg;

    if (c->state != CACHE_CONNECTING)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        cache_abort(c, "cache flush after reconnect failed");
        return;
    }
    log_info("redis: flushed the cache after lost invalidations", "\"keys\":%lld",
             reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0LL);
    c->dirty = false;
    cache_set_up(c);
}

/* Reply to the handshake's PING (AUTH/SELECT errors also end up here:
 * their failure drops the connection first). */
static void cache_on_ping(const redisReply *reply, void *arg)
{
    struct cache *c = arg;
    static const char *script = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                                "redis.call('DEL', k) n = n + 1 end return n";

    if (c->state != CACHE_CONNECTING)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        cache_abort(c, reply != NULL && reply->str != NULL ? reply->str : "PING failed");
        return;
    }
    if (c->dirty && c->ttl_s > 0) {
        const char *argv[] = {"EVAL", script, "0", CACHE_KEY_PREFIX "*"};
        size_t lens[] = {4, strlen(script), 1, strlen(CACHE_KEY_PREFIX "*")};
        if (cache_send(c, 4, argv, lens, cache_on_flush, c) != 0)
            cache_abort(c, "cannot send the cache flush");
        return;
    }
    cache_set_up(c);
}

/* Reply to AUTH or SELECT during the handshake. */
static void cache_on_setup(const redisReply *reply, void *arg)
{
    struct cache *c = arg;

    if (c->state != CACHE_CONNECTING)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        cache_abort(c, reply != NULL && reply->str != NULL ? reply->str : "AUTH/SELECT failed");
}

/* hiredis: TCP connect finished. On failure hiredis frees the context. */
static void cache_on_connect(const redisAsyncContext *ac, int status)
{
    struct cache *c = ac->data;

    if (c == NULL || c->ac != ac)
        return;
    if (status != REDIS_OK)
        cache_set_down(c, ac->errstr);
}

/* hiredis: the connection closed; the context is freed after this. */
static void cache_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct cache *c = ac->data;

    (void)status;
    if (c == NULL || c->ac != ac)
        return;
    cache_set_down(c, ac->errstr[0] != '\0' ? ac->errstr : "server closed the connection");
}

/* Timer: reconnect (DOWN) or give up on a slow connect (CONNECTING). */
static void cache_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct cache *c = arg;

    (void)fd;
    (void)what;
    if (c->state == CACHE_DOWN)
        cache_connect(c);
    else if (c->state == CACHE_CONNECTING)
        cache_abort(c, "connect timed out");
}

/* Open a connection and queue the handshake (hiredis sends it once the
 * socket connects). */
static void cache_connect(struct cache *c)
{
    struct cache_target *t = &c->target;
    redisAsyncContext *ac;
    char dbtxt[16];

    if (c->stopping)
        return;
    ac = t->path[0] != '\0' ? redisAsyncConnectUnix(t->path) : redisAsyncConnect(t->host, t->port);
    c->state = CACHE_CONNECTING;
    if (ac == NULL || ac->err) {
        c->ac = NULL;
        cache_set_down(c, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return;
    }
    ac->data = c;
    c->ac = ac;
    if (redisLibeventAttach(ac, c->base) != REDIS_OK ||
        redisAsyncSetConnectCallback(ac, cache_on_connect) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, cache_on_disconnect) != REDIS_OK) {
        cache_abort(c, "cannot attach to the event loop");
        return;
    }
    cache_timer(c, CACHE_CONNECT_TIMEOUT_MS);
    if (t->pass[0] != '\0') {
        const char *argv[3] = {"AUTH", t->user, t->pass};
        size_t lens[3] = {4, strlen(t->user), strlen(t->pass)};
        int argc = 3;
        if (t->user[0] == '\0') {
            argv[1] = t->pass;
            lens[1] = lens[2];
            argc = 2;
        }
        if (cache_send(c, argc, argv, lens, cache_on_setup, c) != 0) {
            cache_abort(c, "cannot send AUTH");
            return;
        }
    }
    if (t->db != 0) {
        const char *argv[2] = {"SELECT", dbtxt};
        size_t lens[2];
        snprintf(dbtxt, sizeof(dbtxt), "%d", t->db);
        lens[0] = 6;
        lens[1] = strlen(dbtxt);
        if (cache_send(c, 2, argv, lens, cache_on_setup, c) != 0) {
            cache_abort(c, "cannot send SELECT");
            return;
        }
    }
    {
        const char *argv[1] = {"PING"};
        size_t lens[1] = {4};
        if (cache_send(c, 1, argv, lens, cache_on_ping, c) != 0)
            cache_abort(c, "cannot send PING");
    }
}

/* Copy at most n bytes of [s, e) into out (size n + 1); -1 if too long. */
static int cache_copy(char *out, size_t n, const char *s, const char *e)
{
    if ((size_t)(e - s) > n)
        return -1;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return 0;
}

int cache_parse_url(const char *url, struct cache_target *t, char *errbuf, size_t errlen)
{
    const char *p, *at, *hostend, *end;

    memset(t, 0, sizeof(*t));
    t->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *q = strchr(url + 7, '?');
        end = q != NULL ? q : url + strlen(url);
        if (url[7] != '/' || cache_copy(t->path, sizeof(t->path) - 1, url + 7, end) != 0)
            goto bad;
        if (q != NULL) {
            char *e;
            if (strncmp(q, "?db=", 4) != 0)
                goto bad;
            errno = 0;
            long db = strtol(q + 4, &e, 10);
            if (errno != 0 || *e != '\0' || e == q + 4 || db < 0 || db > 1000000)
                goto bad;
            t->db = (int)db;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        goto bad;
    p = url + 8;
    end = p + strcspn(p, "/?#");
    at = memchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL) {
            /* redis://password@host, as some clients accept */
            if (cache_copy(t->pass, sizeof(t->pass) - 1, p, at) != 0)
                goto bad;
        } else if (cache_copy(t->user, sizeof(t->user) - 1, p, colon) != 0 ||
                   cache_copy(t->pass, sizeof(t->pass) - 1, colon + 1, at) != 0) {
            goto bad;
        }
        p = at + 1;
    }
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL || cache_copy(t->host, sizeof(t->host) - 1, p + 1, rb) != 0)
            goto bad;
        hostend = rb + 1;
    } else {
        hostend = memchr(p, ':', (size_t)(end - p));
        if (hostend == NULL)
            hostend = end;
        if (cache_copy(t->host, sizeof(t->host) - 1, p, hostend) != 0)
            goto bad;
    }
    if (t->host[0] == '\0')
        goto bad;
    if (hostend < end) {
        char *e;
        long port;
        if (*hostend != ':')
            goto bad;
        errno = 0;
        port = strtol(hostend + 1, &e, 10);
        if (errno != 0 || e != end || e == hostend + 1 || port < 1 || port > 65535)
            goto bad;
        t->port = (int)port;
    }
    if (*end == '/' && end[1] != '\0') {
        char *e;
        long db;
        errno = 0;
        db = strtol(end + 1, &e, 10);
        if (errno != 0 || *e != '\0' || db < 0 || db > 1000000)
            goto bad;
        t->db = (int)db;
    } else if (*end != '\0' && strcmp(end, "/") != 0) {
        goto bad;
    }
    return 0;
bad:
    snprintf(errbuf, errlen,
             "REDIS_URL: expected redis://[[user]:password@]host[:port][/db] or unix:///path");
    return -1;
}

struct cache *cache_new(struct event_base *base, const char *url, int ttl_s, struct sb_slot *slot,
                        char *errbuf, size_t errlen)
{
    struct cache *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (cache_parse_url(url, &c->target, errbuf, errlen) != 0) {
        free(c);
        return NULL;
    }
    c->base = base;
    c->slot = slot;
    c->ttl_s = ttl_s;
    c->state = CACHE_DOWN;
    if (evtimer_assign(&c->ev_timer, base, cache_on_timer, c) != 0) {
        snprintf(errbuf, errlen, "cannot set up a timer");
        free(c);
        return NULL;
    }
    cache_publish(c);
    cache_connect(c);
    return c;
}

/* Reply to a cache GET. */
static void cache_on_get(const redisReply *reply, void *arg)
{
    struct cache_get_op *op = arg;
    struct sb_slot *slot = op->c->slot;
    cache_get_fn fn = op->fn;
    void *fnarg = op->arg;

    free(op);
    if (reply != NULL && reply->type == REDIS_REPLY_STRING &&
        !(reply->len == 1 && reply->str[0] == CACHE_TOMBSTONE[0])) {
        if (slot != NULL)
            sb_inc(&slot->c.cache_hits, 1);
        fn(reply->str, (size_t)reply->len, fnarg);
        return;
    }
    if (slot != NULL)
        sb_inc(&slot->c.cache_misses, 1);
    fn(NULL, 0, fnarg);
}

int cache_get(struct cache *c, const char *key, size_t klen, cache_get_fn fn, void *arg)
{
    struct cache_get_op *op;
    const char *argv[2] = {"GET", key};
    size_t lens[2] = {3, klen};

    if (c == NULL || c->ttl_s <= 0 || c->state != CACHE_UP)
        return -1;
    op = malloc(sizeof(*op));
    if (op == NULL)
        return -1;
    op->c = c;
    op->fn = fn;
    op->arg = arg;
    if (cache_command(c, 2, argv, lens, cache_on_get, op) != 0) {
        free(op);
        return -1;
    }
    return 0;
}

void cache_put(struct cache *c, const char *key, size_t klen, const char *val, size_t len,
               const struct timespec *read_started)
{
    char ttl[16];
    const char *argv[6] = {"SET", key, val, "EX", ttl, "NX"};
    size_t lens[6];
    struct timespec now;
    int64_t ms;

    if (c == NULL || c->ttl_s <= 0 || c->state != CACHE_UP)
        return;
    /* A slow read might have seen a row older than a tombstone that has
     * expired meanwhile: do not store it (see cache.h). */
    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(now.tv_sec - read_started->tv_sec) * 1000 +
         (now.tv_nsec - read_started->tv_nsec) / 1000000;
    if (ms > CACHE_FILL_WINDOW_MS)
        return;
    snprintf(ttl, sizeof(ttl), "%d", c->ttl_s);
    lens[0] = 3;
    lens[1] = klen;
    lens[2] = len;
    lens[3] = 2;
    lens[4] = strlen(ttl);
    lens[5] = 2;
    /* Fire and forget: a lost fill only costs a later miss. */
    if (cache_command(c, 6, argv, lens, NULL, NULL) != 0)
        return;
}

/* Reply to one tombstone SET. */
static void cache_on_tombstone(const redisReply *reply, void *arg)
{
    struct cache_inval_op *op = arg;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        op->c->dirty = true;
    if (--op->left > 0)
        return;
    op->fn(op->arg);
    free(op);
}

int cache_invalidate(struct cache *c, const char *const *keys, const size_t *klens, int n,
                     cache_done_fn fn, void *arg)
{
    struct cache_inval_op *op;
    char ttl[16];

    if (c == NULL || c->ttl_s <= 0 || n <= 0)
        return -1;
    if (c->state != CACHE_UP) {
        c->dirty = true;
        return -1;
    }
    op = malloc(sizeof(*op));
    if (op == NULL) {
        c->dirty = true;
        return -1;
    }
    op->c = c;
    op->left = 0;
    op->fn = fn;
    op->arg = arg;
    snprintf(ttl, sizeof(ttl), "%d", CACHE_TOMBSTONE_S);
    /* Count every command up front so replies cannot finish the op early. */
    op->left = n + 1;
    for (int i = 0; i < n; i++) {
        const char *argv[5] = {"SET", keys[i], CACHE_TOMBSTONE, "EX", ttl};
        size_t lens[5] = {3, klens[i], 1, 2, strlen(ttl)};
        if (cache_command(c, 5, argv, lens, cache_on_tombstone, op) != 0) {
            c->dirty = true;
            op->left--;
        }
    }
    if (--op->left == 0) {
        /* Nothing went out (the connection broke meanwhile). */
        free(op);
        return -1;
    }
    return 0;
}

void cache_free(struct cache *c)
{
    redisAsyncContext *ac;

    if (c == NULL)
        return;
    c->stopping = true;
    (void)evtimer_del(&c->ev_timer);
    ac = c->ac;
    c->ac = NULL;
    c->state = CACHE_DOWN;
    if (ac != NULL)
        redisAsyncFree(ac);
    free(c);
}
