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
 * Trust (cache.h) is two counters shared by every worker; cache_distrust()
 * and cache_on_bump() are the only places that move them. A timer per
 * worker (CACHE_PROBE_MS) retries the epoch bump while the cache is not
 * trusted and otherwise sends a one-key write probe, so a Redis that starts
 * refusing writes is noticed even by a process that never invalidates.
 *
 * Relies on hiredis 0.14 (async.h, adapters/libevent.h), libevent,
 * scoreboard.h, log.h, cache_scripts.h.
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
#include "cache_scripts.h"
#include "log.h"
#include "scoreboard.h"

#define CACHE_CONNECT_TIMEOUT_MS 1000
#define CACHE_BACKOFF_MIN_MS     100
#define CACHE_BACKOFF_MAX_MS     2000
#define CACHE_TOMBSTONE          "-"

/* The connection's life. */
enum cache_state {
    CACHE_DOWN,       /* no context; a reconnect is scheduled */
    CACHE_CONNECTING, /* context made, waiting for the handshake (PING, SCRIPT LOAD) */
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
    bool failing;                 /* the current outage has been logged */
    bool stopping;                /* cache_free in progress */
    struct sb_cache_trust *trust; /* shared, or &own_trust */
    struct sb_cache_trust own_trust;
    struct event ev_tick; /* CACHE_PROBE_MS: bump retry or write probe */
    bool bumping;         /* an epoch bump is in flight */
    bool initing;         /* a counter init is in flight */
    int scripts_loaded;   /* handshake: SCRIPT LOAD answers so far */
    char sha[CACHE_SCRIPT__COUNT][41];
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
    struct cache_lookup *lk;
    cache_get_fn fn;
    void *arg;
};

/* Context for one cache_invalidate. */
struct cache_inval_op {
    struct cache *c;
    cache_done_fn fn;
    void *arg;
};

/* Context for one epoch bump: the distrusted count it answers for. */
struct cache_bump_op {
    struct cache *c;
    uint64_t seen;
};

static void cache_connect(struct cache *c);
static void cache_try_bump(struct cache *c);

/* Count a Redis failure. */
static void cache_count_error(struct cache *c)
{
    if (c->slot != NULL)
        sb_inc(&c->slot->c.redis_errors, 1);
}

/* The cache may be used: trusted past the latest loss. */
static bool cache_trust_ok(const struct sb_cache_trust *t)
{
    return __atomic_load_n(&t->trusted, __ATOMIC_ACQUIRE) >
           __atomic_load_n(&t->distrusted, __ATOMIC_ACQUIRE);
}

bool cache_trusted(const struct cache *c)
{
    return c != NULL && cache_trust_ok(c->trust);
}

/* Stop trusting the cache, for every worker: counted and logged by the
 * worker that ends a trusted streak. */
static void cache_distrust(struct cache *c, const char *why)
{
    uint64_t before = __atomic_fetch_add(&c->trust->distrusted, 1, __ATOMIC_ACQ_REL);

    if (c->ttl_s <= 0)
        return;
    if (__atomic_load_n(&c->trust->trusted, __ATOMIC_ACQUIRE) > before) {
        if (c->slot != NULL)
            sb_inc(&c->slot->c.cache_distrust_episodes, 1);
        char msg[256];
        log_json_escape(msg, sizeof(msg), why);
        log_warn("redis: cache no longer trusted; reading PostgreSQL until the epoch is bumped",
                 "\"why\":\"%s\"", msg);
    }
    /* Often the bump works at once (a missing epoch, a lost reply); if not,
     * the timer tries again. */
    cache_try_bump(c);
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
static int cache_eval(struct cache *c, enum cache_script i, int argc, const char **argv,
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

/* Reply to an epoch bump: trust what was distrusted when it was sent. */
static void cache_on_bump(const redisReply *reply, void *arg)
{
    struct cache_bump_op *op = arg;
    struct cache *c = op->c;
    uint64_t seen = op->seen, t;

    free(op);
    c->bumping = false;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
        return; /* the timer tries again */
    t = __atomic_load_n(&c->trust->trusted, __ATOMIC_ACQUIRE);
    while (t < seen + 1 && !__atomic_compare_exchange_n(&c->trust->trusted, &t, seen + 1, false,
                                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
    if (t < seen + 1 && cache_trust_ok(c->trust))
        log_info("redis: cache epoch bumped; cache trusted again", "\"epoch\":%lld",
                 reply->integer);
}

/* The counters' TTL as text into buf. */
static const char *cache_counter_ttl(char buf[16])
{
    snprintf(buf, 16, "%d", CACHE_COUNTER_TTL_S);
    return buf;
}

/* Reply to a counter init. */
static void cache_on_init(const redisReply *reply, void *arg)
{
    struct cache *c = arg;

    (void)reply;
    c->initing = false;
}

/* A reader found the epoch or the lists generation missing: recreate it
 * (one init of ours in flight at most). */
static void cache_init_counters(struct cache *c)
{
    char ttl[16];
    const char *argv[3] = {cache_counter_ttl(ttl), CACHE_EPOCH_KEY, CACHE_GEN_LISTS};
    size_t lens[3] = {strlen(ttl), strlen(CACHE_EPOCH_KEY), strlen(CACHE_GEN_LISTS)};

    if (c->initing || c->state != CACHE_UP)
        return;
    if (cache_eval(c, CACHE_SCRIPT_INIT, 3, argv, lens, cache_on_init, c) == 0)
        c->initing = true;
}

/* Bump the epoch (and the generations) if the cache is not trusted and no
 * bump of ours is in flight. */
static void cache_try_bump(struct cache *c)
{
    struct cache_bump_op *op;
    char ttl[16];
    const char *argv[3] = {cache_counter_ttl(ttl), CACHE_EPOCH_KEY, CACHE_GEN_LISTS};
    size_t lens[3] = {strlen(ttl), strlen(CACHE_EPOCH_KEY), strlen(CACHE_GEN_LISTS)};

    if (c->ttl_s <= 0 || c->state != CACHE_UP || c->bumping || cache_trust_ok(c->trust))
        return;
    op = malloc(sizeof(*op));
    if (op == NULL)
        return;
    op->c = c;
    op->seen = __atomic_load_n(&c->trust->distrusted, __ATOMIC_ACQUIRE);
    if (cache_eval(c, CACHE_SCRIPT_BUMP, 3, argv, lens, cache_on_bump, op) != 0) {
        free(op);
        return;
    }
    c->bumping = true;
}

/* Reply to the write probe: an error means Redis refuses writes. */
static void cache_on_probe(const redisReply *reply, void *arg)
{
    struct cache *c = arg;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        cache_distrust(c, reply->str != NULL ? reply->str : "write probe refused");
}

/* Timer: bump while distrusted, else probe that writes still work. */
static void cache_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct cache *c = arg;
    const char *argv[5] = {"SET", CACHE_PROBE_KEY, "1", "EX", "10"};
    size_t lens[5] = {3, strlen(CACHE_PROBE_KEY), 1, 2, 2};

    (void)fd;
    (void)what;
    if (c->ttl_s <= 0 || c->state != CACHE_UP)
        return;
    if (!cache_trust_ok(c->trust)) {
        cache_try_bump(c);
        return;
    }
    if (cache_command(c, 5, argv, lens, cache_on_probe, c) != 0)
        return; /* the connection is going down: its loss is counted there */
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

/* Copy a reply string into out (size n) if it fits; else out = "". */
static void cache_copy_reply(char *out, size_t n, const redisReply *e)
{
    if (e != NULL && e->type == REDIS_REPLY_STRING && (size_t)e->len < n) {
        memcpy(out, e->str, (size_t)e->len);
        out[e->len] = '\0';
    } else {
        out[0] = '\0';
    }
}

/* A value that is there and not a tombstone. */
static bool cache_is_value(const redisReply *e)
{
    return e != NULL && e->type == REDIS_REPLY_STRING &&
           !(e->len == 1 && e->str[0] == CACHE_TOMBSTONE[0]);
}

/* Split a read script's answer into a hit (true) or a miss. */
static bool cache_parse_read(struct cache *c, const redisReply *reply, struct cache_lookup *lk,
                             struct cache_hit *hit)
{
    const redisReply *v;
    const char *nl1, *nl2, *end;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
        return false;
    if (reply->element[0]->type != REDIS_REPLY_STRING) {
        cache_init_counters(c); /* the epoch is missing */
        return false;
    }
    cache_copy_reply(lk->ns, sizeof(lk->ns), reply->element[0]);
    if (reply->elements < 2 || lk->ns[0] == '\0')
        return false;
    if (reply->element[1]->type != REDIS_REPLY_STRING) {
        cache_init_counters(c); /* the generation is missing */
        return false;
    }
    cache_copy_reply(lk->key, sizeof(lk->key), reply->element[1]);
    if (reply->elements < 3 || !cache_is_value(reply->element[2]))
        return false;
    v = reply->element[2];
    if (v->str[0] != '@') {
        hit->part[0] = v->str;
        hit->len[0] = (size_t)v->len;
        hit->nparts = 1;
        return true;
    }
    end = v->str + v->len;
    nl1 = memchr(v->str, '\n', (size_t)v->len);
    nl2 = nl1 != NULL ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    if (nl2 == NULL || reply->elements < 4 || !cache_is_value(reply->element[3]))
        return false;
    hit->part[0] = nl1 + 1;
    hit->len[0] = (size_t)(nl2 - nl1 - 1);
    hit->part[1] = reply->element[3]->str;
    hit->len[1] = (size_t)reply->element[3]->len;
    hit->part[2] = nl2 + 1;
    hit->len[2] = (size_t)(end - nl2 - 1);
    hit->nparts = 3;
    return true;
}

/* Reply to a cache read. */
static void cache_on_get(const redisReply *reply, void *arg)
{
    struct cache_get_op *op = arg;
    struct cache *c = op->c;
    struct sb_slot *slot = c->slot;
    cache_get_fn fn = op->fn;
    void *fnarg = op->arg;
    struct cache_hit hit;
    bool found = cache_parse_read(c, reply, op->lk, &hit);

    free(op);
    /* Trust may have gone while the read was in flight. */
    if (found && cache_trust_ok(c->trust)) {
        if (slot != NULL)
            sb_inc(&slot->c.cache_hits, 1);
        fn(&hit, fnarg);
        return;
    }
    if (slot != NULL)
        sb_inc(&slot->c.cache_misses, 1);
    fn(NULL, fnarg);
}

int cache_get(struct cache *c, const char *gen, const char *name, size_t nlen,
              struct cache_lookup *lk, cache_get_fn fn, void *arg)
{
    struct cache_get_op *op;
    const char *argv[4] = {CACHE_KEY_PREFIX, CACHE_EPOCH_KEY, name, gen != NULL ? gen : ""};
    size_t lens[4] = {strlen(CACHE_KEY_PREFIX), strlen(CACHE_EPOCH_KEY), nlen, strlen(argv[3])};

    lk->ns[0] = '\0';
    lk->key[0] = '\0';
    if (c == NULL || c->ttl_s <= 0 || c->state != CACHE_UP || !cache_trust_ok(c->trust))
        return -1;
    op = malloc(sizeof(*op));
    if (op == NULL)
        return -1;
    op->c = c;
    op->lk = lk;
    op->fn = fn;
    op->arg = arg;
    if (cache_eval(c, CACHE_SCRIPT_READ, 4, argv, lens, cache_on_get, op) != 0) {
        free(op);
        return -1;
    }
    return 0;
}

/* Reply to a fill: an error (not a NULL: the connection's loss is counted
 * on its own) means Redis refuses writes. */
static void cache_on_fill(const redisReply *reply, void *arg)
{
    struct cache *c = arg;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        cache_distrust(c, reply->str != NULL ? reply->str : "fill refused");
}

/* May a fill for lk, whose read started at read_started, go out now? */
static bool cache_may_fill(const struct cache *c, const struct cache_lookup *lk,
                           const struct timespec *read_started)
{
    struct timespec now;
    int64_t ms;

    if (c == NULL || c->ttl_s <= 0 || c->state != CACHE_UP || lk->key[0] == '\0' ||
        !cache_trust_ok(c->trust))
        return false;
    /* A slow read might have seen a row older than a tombstone that has
     * expired meanwhile: do not store it (see cache.h). */
    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(now.tv_sec - read_started->tv_sec) * 1000 +
         (now.tv_nsec - read_started->tv_nsec) / 1000000;
    return ms <= CACHE_FILL_WINDOW_MS;
}

/* SET key val EX ttl NX, fire and forget: a lost fill only costs a later miss. */
static void cache_set_nx(struct cache *c, const char *key, size_t klen, const char *val, size_t len)
{
    char ttl[16];
    const char *argv[6] = {"SET", key, val, "EX", ttl, "NX"};
    size_t lens[6];

    snprintf(ttl, sizeof(ttl), "%d", c->ttl_s);
    lens[0] = 3;
    lens[1] = klen;
    lens[2] = len;
    lens[3] = 2;
    lens[4] = strlen(ttl);
    lens[5] = 2;
    if (cache_command(c, 6, argv, lens, cache_on_fill, c) != 0)
        return;
}

void cache_put(struct cache *c, const struct cache_lookup *lk, const char *val, size_t len,
               const struct timespec *read_started)
{
    if (!cache_may_fill(c, lk, read_started))
        return;
    cache_set_nx(c, lk->key, strlen(lk->key), val, len);
}

void cache_put_linked(struct cache *c, const struct cache_lookup *lk, const char *ref,
                      const char *val, size_t len, size_t hole_at, size_t hole_len,
                      const struct timespec *read_started)
{
    char refkey[CACHE_KEY_MAX];
    size_t rlen = strlen(ref), klen;
    char *main;
    int n;

    if (hole_at + hole_len > len || !cache_may_fill(c, lk, read_started))
        return;
    n = snprintf(refkey, sizeof(refkey), "%s%s", lk->ns, ref);
    if (n < 0 || (size_t)n >= sizeof(refkey))
        return;
    klen = 1 + rlen + 1 + hole_at + 1 + (len - hole_at - hole_len);
    main = malloc(klen);
    if (main == NULL)
        return;
    main[0] = '@';
    memcpy(main + 1, ref, rlen);
    main[1 + rlen] = '\n';
    memcpy(main + 2 + rlen, val, hole_at);
    main[2 + rlen + hole_at] = '\n';
    memcpy(main + 3 + rlen + hole_at, val + hole_at + hole_len, len - hole_at - hole_len);
    /* The part first: a reader that finds the entry finds its part, or a
     * miss if the part is tombstoned or not stored. */
    cache_set_nx(c, refkey, (size_t)n, val + hole_at, hole_len);
    cache_set_nx(c, lk->key, strlen(lk->key), main, klen);
    free(main);
}

/* Reply to an invalidation script. */
static void cache_on_invalidated(const redisReply *reply, void *arg)
{
    struct cache_inval_op *op = arg;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
        cache_distrust(op->c, reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str
                                  ? reply->str
                                  : "invalidation lost");
    op->fn(op->arg);
    free(op);
}

int cache_invalidate(struct cache *c, const char *const *names, const size_t *nlens, int n,
                     const char *const *gens, int ngens, cache_done_fn fn, void *arg)
{
    struct cache_inval_op *op;
    char ttl[16], count[16], counter_ttl[16];
    const char *argv[5 + CACHE_INVALIDATE_MAX + 2];
    size_t lens[5 + CACHE_INVALIDATE_MAX + 2];
    int argc = 0;

    if (c == NULL || c->ttl_s <= 0 || n < 0 || ngens < 0 || n + ngens == 0)
        return -1;
    if (n > CACHE_INVALIDATE_MAX || ngens > 2) {
        cache_distrust(c, "too many keys to invalidate");
        return -1;
    }
    if (c->state != CACHE_UP) {
        cache_distrust(c, "invalidation while Redis is down");
        return -1;
    }
    op = malloc(sizeof(*op));
    if (op == NULL) {
        cache_distrust(c, "out of memory");
        return -1;
    }
    op->c = c;
    op->fn = fn;
    op->arg = arg;
    snprintf(ttl, sizeof(ttl), "%d", CACHE_TOMBSTONE_S);
    snprintf(count, sizeof(count), "%d", n);
    argv[argc++] = cache_counter_ttl(counter_ttl);
    argv[argc++] = CACHE_KEY_PREFIX;
    argv[argc++] = CACHE_EPOCH_KEY;
    argv[argc++] = ttl;
    argv[argc++] = count;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    for (int i = 0; i < n; i++) {
        argv[argc] = names[i];
        lens[argc++] = nlens[i];
    }
    for (int i = 0; i < ngens; i++) {
        argv[argc] = gens[i];
        lens[argc++] = strlen(gens[i]);
    }
    if (cache_eval(c, CACHE_SCRIPT_INVALIDATE, argc, argv, lens, cache_on_invalidated, op) != 0) {
        free(op);
        cache_distrust(c, "cannot send the invalidation");
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
    (void)event_del(&c->ev_tick);
    ac = c->ac;
    c->ac = NULL;
    c->state = CACHE_DOWN;
    if (ac != NULL)
        redisAsyncFree(ac);
    free(c);
}
