/*
 * ratelimit.c: fixed-window counters in Redis (see ratelimit.h).
 *
 * The window number is part of the key, so EXPIRE can be sent with every
 * INCR without ever extending a window: the key dies a little after its
 * window ends. Relies on cache.c for the connection and on hiredis replies.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "cache.h"
#include "ratelimit.h"
#include "scoreboard.h"

struct ratelimit_op {
    struct sb_slot *slot;
    int limit;
    int retry_after;
    ratelimit_fn fn;
    void *arg;
};

/* Reply to INCR: compare the count with the limit. */
static void ratelimit_on_incr(const redisReply *reply, void *arg)
{
    struct ratelimit_op *op = arg;
    bool allowed = true;

    /* Anything but a count (error, timeout) fails open. */
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer > op->limit) {
        allowed = false;
        if (op->slot != NULL)
            sb_inc(&op->slot->c.rate_limited, 1);
    }
    op->fn(allowed, op->retry_after, op->arg);
    free(op);
}

int ratelimit_check(struct cache *c, struct sb_slot *slot, const char *bucket, const char *client,
                    int limit, int window_s, ratelimit_fn fn, void *arg)
{
    char key[256], ttl[16];
    struct ratelimit_op *op;
    time_t now = time(NULL);
    long long window;
    int n;

    if (limit <= 0 || window_s <= 0 || !cache_up(c))
        return -1;
    window = (long long)now / window_s;
    n = snprintf(key, sizeof(key), "conduit:v1:rl:%s:%s:%lld", bucket, client, window);
    if (n < 0 || (size_t)n >= sizeof(key))
        return -1;
    snprintf(ttl, sizeof(ttl), "%d", window_s + 1);
    op = malloc(sizeof(*op));
    if (op == NULL)
        return -1;
    op->slot = slot;
    op->limit = limit;
    op->retry_after = (int)((window + 1) * window_s - (long long)now);
    if (op->retry_after < 1)
        op->retry_after = 1;
    op->fn = fn;
    op->arg = arg;
    {
        const char *argv[2] = {"INCR", key};
        size_t lens[2] = {4, (size_t)n};
        if (cache_command(c, 2, argv, lens, ratelimit_on_incr, op) != 0) {
            free(op);
            return -1;
        }
    }
    {
        const char *argv[3] = {"EXPIRE", key, ttl};
        size_t lens[3] = {6, (size_t)n, strlen(ttl)};
        /* Lost only if the connection broke just now; INCR's reply then
         * fails open anyway, and the key is per-window. */
        if (cache_command(c, 3, argv, lens, NULL, NULL) != 0)
            return 0;
    }
    return 0;
}
