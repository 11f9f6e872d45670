/*
 * cache.c: the worker's Redis connection through hiredis's async API and
 * libevent adapter: handshake (AUTH, SELECT, PING, SCRIPT LOAD), commands
 * with client-side timeouts, reconnects with back-off (see cache.h). The
 * protocol on top is in cache_entries.c, trust in cache_trust.c.
 *
 * hiredis calls a command's callback exactly once: with the reply, or with
 * NULL when the context is freed or disconnects. Each command carries a
 * struct cache_cmd holding our timer; whichever comes first (reply or timer)
 * answers the caller, and the command memory is freed only in hiredis's
 * callback, when nothing can refer to it any more.
 *
 * A connection lost while up withdraws trust (cache_distrust): the server
 * may come back with data older than writes it never saw.
 *
 * Relies on hiredis 0.14 (async.h, adapters/libevent.h), libevent,
 * scoreboard.h, log.h, cache_internal.h.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/adapters/libevent.h>

#include "cache_internal.h"
#include "log.h"

#define CACHE_CONNECT_TIMEOUT_MS 1000
#define CACHE_BACKOFF_MIN_MS     100
#define CACHE_BACKOFF_MAX_MS     2000

struct cache_cmd {
    struct cache *c;
    cache_reply_fn fn;
    void *arg;
    struct event timer;
    bool answered;
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
    c->bumping = false;
    c->initing = false;
    cache_publish(c);
    cache_count_error(c);
    /* The server may come back restarted, with data older than writes
     * whose invalidations it never saw. */
    if (was_up)
        cache_distrust(c, "connection lost");
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
        /* The scripts were flushed: a new connection loads them again. */
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
            strncmp(reply->str, "NOSCRIPT", 8) == 0 && cmd->c->state == CACHE_UP)
            cache_abort(cmd->c, "scripts flushed");
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

/* Run script i with argc arguments (after EVALSHA sha 0). */
int cache_eval(struct cache *c, enum cache_script i, int argc, const char **argv,
               const size_t *lens, cache_reply_fn fn, void *arg)
{
    const char *av[24];
    size_t al[24];

    if (argc + 3 > (int)(sizeof(av) / sizeof(av[0])))
        return -1;
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = c->sha[i];
    al[1] = strlen(c->sha[i]);
    av[2] = "0";
    al[2] = 1;
    for (int k = 0; k < argc; k++) {
        av[k + 3] = argv[k];
        al[k + 3] = lens[k];
    }
    return cache_command(c, argc + 3, av, al, fn, arg);
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
    cache_try_bump(c);
}

/* Reply to one SCRIPT LOAD of the handshake; the last one brings us up. */
static void cache_on_script_load(const redisReply *reply, void *arg)
{
    struct cache *c = arg;
    int i = c->scripts_loaded;

    if (c->state != CACHE_CONNECTING)
        return;
    if (reply == NULL || reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        cache_abort(c, reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL
                           ? reply->str
                           : "SCRIPT LOAD failed");
        return;
    }
    memcpy(c->sha[i], reply->str, 40);
    c->sha[i][40] = '\0';
    if (++c->scripts_loaded == CACHE_SCRIPT__COUNT)
        cache_set_up(c);
}

/* Reply to the handshake's PING (AUTH/SELECT errors also end up here:
 * their failure drops the connection first). */
static void cache_on_ping(const redisReply *reply, void *arg)
{
    struct cache *c = arg;

    if (c->state != CACHE_CONNECTING)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        cache_abort(c, reply != NULL && reply->str != NULL ? reply->str : "PING failed");
        return;
    }
    if (c->ttl_s <= 0) {
        cache_set_up(c); /* rate limits only: no scripts */
        return;
    }
    c->scripts_loaded = 0;
    for (int i = 0; i < CACHE_SCRIPT__COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", cache_scripts[i]};
        size_t lens[3] = {6, 4, strlen(cache_scripts[i])};
        if (cache_send(c, 3, argv, lens, cache_on_script_load, c) != 0) {
            cache_abort(c, "cannot send SCRIPT LOAD");
            return;
        }
    }
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
                        struct sb_cache_trust *trust, char *errbuf, size_t errlen)
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
    c->trust = trust != NULL ? trust : &c->own_trust;
    if (evtimer_assign(&c->ev_timer, base, cache_on_timer, c) != 0 ||
        event_assign(&c->ev_tick, base, -1, EV_PERSIST, cache_on_tick, c) != 0) {
        snprintf(errbuf, errlen, "cannot set up a timer");
        free(c);
        return NULL;
    }
    {
        struct timeval tv = {CACHE_PROBE_MS / 1000, (CACHE_PROBE_MS % 1000) * 1000};
        if (ttl_s > 0 && event_add(&c->ev_tick, &tv) != 0) {
            snprintf(errbuf, errlen, "cannot set up a timer");
            free(c);
            return NULL;
        }
    }
    cache_publish(c);
    cache_connect(c);
    return c;
}

void cache_free(struct cache *c)
{
    redisAsyncContext *ac;

    if (c == NULL)
        return;
    c->stopping = true;
    (void)evtimer_del(&c->ev_timer);
    (void)event_del(&c->ev_tick);
    ac = c->ac;
    c->ac = NULL;
    c->state = CACHE_DOWN;
    if (ac != NULL)
        redisAsyncFree(ac);
    free(c);
}
