/*
 * cache_trust.c: whether the cache may be used, shared by every worker
 * (struct sb_cache_trust, see cache.h), and the two things that restore or
 * test it: the epoch bump and the once-a-second write probe.
 *
 * cache_distrust() and cache_on_bump() are the only places that move the
 * two counters: trusted while trusted > distrusted. A loss adds one to
 * distrusted; a bump sent when distrusted was n raises trusted to n + 1
 * once it succeeds, so a loss that happened after the bump was sent still
 * counts. A timer per worker (CACHE_PROBE_MS) retries the bump while the
 * cache is not trusted and otherwise sends a one-key write probe, so a
 * Redis that starts refusing writes is noticed even by a process that never
 * invalidates.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"
#include "log.h"

/* Context for one epoch bump: the distrusted count it answers for. */
struct cache_bump_op {
    struct cache *c;
    uint64_t seen;
};

/* The cache may be used: trusted past the latest loss. */
bool cache_trust_ok(const struct sb_cache_trust *t)
{
    return __atomic_load_n(&t->trusted, __ATOMIC_ACQUIRE) >
           __atomic_load_n(&t->distrusted, __ATOMIC_ACQUIRE);
}

/* Stop trusting the cache, for every worker: counted and logged by the
 * worker that ends a trusted streak. */
void cache_distrust(struct cache *c, const char *why)
{
    uint64_t before;
    char msg[256];

    if (c->ttl_s <= 0)
        return; /* the cache is off: nothing to trust */
    before = __atomic_fetch_add(&c->trust->distrusted, 1, __ATOMIC_ACQ_REL);
    if (__atomic_load_n(&c->trust->trusted, __ATOMIC_ACQUIRE) > before) {
        if (c->slot != NULL)
            sb_inc(&c->slot->c.cache_distrust_episodes, 1);
        log_json_escape(msg, sizeof(msg), why);
        log_warn("redis: cache no longer trusted; reading PostgreSQL until the epoch is bumped",
                 "\"why\":\"%s\"", msg);
    }
    /* The bump often works at once (a lost reply, a refused fill that was a
     * one-off); if not, the timer tries again. */
    cache_try_bump(c);
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
const char *cache_counter_ttl(char buf[16])
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
void cache_init_counters(struct cache *c)
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
void cache_try_bump(struct cache *c)
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
void cache_on_tick(evutil_socket_t fd, short what, void *arg)
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
