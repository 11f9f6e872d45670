/*
 * ratelimit.c: fixed-window counters in Redis (see ratelimit.h).
 *
 * The window number is part of the key, so EXPIRE can be sent with every
 * INCR without ever extending a window: the key dies a little after its
 * window ends. Relies on cache.c for the connection and on hiredis replies.
 * The one piece of state is whether the limiter is failing open, so that a
 * streak is logged once, not once per request.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "cache.h"
#include "log.h"
#include "ratelimit.h"
#include "scoreboard.h"

struct ratelimit {
    struct cache *cache;
    struct sb_slot *slot;
    bool failing_open; /* the last check passed unchecked */
};

/* One pending check or peek. */
struct ratelimit_op {
    struct ratelimit *rl;
    int limit;
    int retry_after;
    bool peek; /* allowed while count < limit, instead of count <= limit */
    ratelimit_fn fn;
    void *arg;
};

/* A key's name and its window's timing. */
struct ratelimit_key {
    char name[256];
    size_t len;
    char ttl[16];
    int retry_after;
};

struct ratelimit *ratelimit_new(struct cache *c, struct sb_slot *slot)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));

    if (rl == NULL)
        return NULL;
    rl->cache = c;
    rl->slot = slot;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    free(rl);
}

/* A check passed unchecked: count it, and log the start of a streak. */
static void ratelimit_note_fail_open(struct ratelimit *rl, const char *why)
{
    if (rl->slot != NULL)
        sb_inc(&rl->slot->c.rate_limit_fail_open, 1);
    if (!rl->failing_open) {
        rl->failing_open = true;
        log_warn("rate limits failing open: requests pass unchecked until Redis answers",
                 "\"why\":\"%s\"", why);
    }
}

/* A check was answered by Redis: end a streak of failing open. */
static void ratelimit_note_enforced(struct ratelimit *rl)
{
    if (rl->failing_open) {
        rl->failing_open = false;
        log_info("rate limits enforced again", "");
    }
}

/* Name the key of (bucket, subject) in the current window. 0, or -1 if it
 * does not fit. */
static int ratelimit_key_make(struct ratelimit_key *k, const char *bucket, const char *subject,
                              int window_s)
{
    time_t now = time(NULL);
    long long window = (long long)now / window_s;
    int n = snprintf(k->name, sizeof(k->name), "conduit:v1:rl:%s:%s:%lld", bucket, subject, window);

    if (n < 0 || (size_t)n >= sizeof(k->name))
        return -1;
    k->len = (size_t)n;
    snprintf(k->ttl, sizeof(k->ttl), "%d", window_s + 1);
    k->retry_after = (int)((window + 1) * window_s - (long long)now);
    if (k->retry_after < 1)
        k->retry_after = 1;
    return 0;
}

/* Reply to INCR or GET: compare the count with the limit. */
static void ratelimit_on_count(const redisReply *reply, void *arg)
{
    struct ratelimit_op *op = arg;
    bool allowed = true;
    long long count = -1;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        count = reply->integer;
    else if (reply != NULL && reply->type == REDIS_REPLY_NIL)
        count = 0;
    else if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        count = strtoll(reply->str, NULL, 10);
    if (count < 0) {
        /* An error or a timeout: fail open. */
        ratelimit_note_fail_open(op->rl, reply == NULL ? "no reply" : "error reply");
    } else {
        ratelimit_note_enforced(op->rl);
        allowed = op->peek ? count < op->limit : count <= op->limit;
        if (!allowed && op->rl->slot != NULL)
            sb_inc(&op->rl->slot->c.rate_limited, 1);
    }
    op->fn(allowed, op->retry_after, op->arg);
    free(op);
}

/* Send INCR+EXPIRE (count) or GET (peek) and call fn with the verdict. */
static int ratelimit_ask(struct ratelimit *rl, bool peek, const char *bucket, const char *subject,
                         int limit, int window_s, ratelimit_fn fn, void *arg)
{
    struct ratelimit_key k;
    struct ratelimit_op *op;

    if (limit <= 0 || window_s <= 0)
        return -1;
    if (rl->cache == NULL || !cache_up(rl->cache)) {
        ratelimit_note_fail_open(rl, "redis down");
        return -1;
    }
    if (ratelimit_key_make(&k, bucket, subject, window_s) != 0) {
        ratelimit_note_fail_open(rl, "key too long");
        return -1;
    }
    op = malloc(sizeof(*op));
    if (op == NULL) {
        ratelimit_note_fail_open(rl, "out of memory");
        return -1;
    }
    op->rl = rl;
    op->limit = limit;
    op->retry_after = k.retry_after;
    op->peek = peek;
    op->fn = fn;
    op->arg = arg;
    {
        const char *argv[2] = {peek ? "GET" : "INCR", k.name};
        size_t lens[2] = {peek ? 3 : 4, k.len};
        if (cache_command(rl->cache, 2, argv, lens, ratelimit_on_count, op) != 0) {
            free(op);
            ratelimit_note_fail_open(rl, "cannot send");
            return -1;
        }
    }
    if (!peek) {
        const char *argv[3] = {"EXPIRE", k.name, k.ttl};
        size_t lens[3] = {6, k.len, strlen(k.ttl)};
        /* Lost only if the connection broke just now; INCR's reply then
         * fails open anyway, and the key is per-window. */
        if (cache_command(rl->cache, 3, argv, lens, NULL, NULL) != 0)
            return 0;
    }
    return 0;
}

int ratelimit_check(struct ratelimit *rl, const char *bucket, const char *subject, int limit,
                    int window_s, ratelimit_fn fn, void *arg)
{
    return ratelimit_ask(rl, false, bucket, subject, limit, window_s, fn, arg);
}

int ratelimit_peek(struct ratelimit *rl, const char *bucket, const char *subject, int limit,
                   int window_s, ratelimit_fn fn, void *arg)
{
    return ratelimit_ask(rl, true, bucket, subject, limit, window_s, fn, arg);
}

/* A pending ratelimit_add(). */
struct ratelimit_add_op {
    void (*done)(void *arg);
    void *arg;
};

/* Reply to an added event's INCR: whatever it says, the caller goes on. */
static void ratelimit_on_added(const redisReply *reply, void *arg)
{
    struct ratelimit_add_op *op = arg;

    (void)reply;
    op->done(op->arg);
    free(op);
}

int ratelimit_add(struct ratelimit *rl, const char *bucket, const char *subject, int limit,
                  int window_s, void (*done)(void *arg), void *arg)
{
    struct ratelimit_key k = {0};
    struct ratelimit_add_op *op;

    if (limit <= 0 || window_s <= 0 || rl->cache == NULL || !cache_up(rl->cache) ||
        ratelimit_key_make(&k, bucket, subject, window_s) != 0)
        return -1;
    op = malloc(sizeof(*op));
    if (op == NULL)
        return -1;
    op->done = done;
    op->arg = arg;
    {
        const char *argv[2] = {"INCR", k.name};
        size_t lens[2] = {4, k.len};
        if (cache_command(rl->cache, 2, argv, lens, ratelimit_on_added, op) != 0) {
            free(op);
            return -1;
        }
    }
    {
        const char *argv[3] = {"EXPIRE", k.name, k.ttl};
        size_t lens[3] = {6, k.len, strlen(k.ttl)};
        /* Lost only if the connection broke just now; the key is per-window. */
        if (cache_command(rl->cache, 3, argv, lens, NULL, NULL) != 0)
            return 0;
    }
    return 0;
}
