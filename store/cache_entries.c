/*
 * cache_entries.c: the cache protocol's reads (MGET of an entry and of the
 * counters its key was built with; a second MGET for a linked entry's
 * part), fills (SET NX within the fill window) and invalidations (one
 * script per write), as described in cache.h.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache_internal.h"

/* Context for one cache_get. */
struct cache_get_op {
    struct cache *c;
    struct cache_lookup *lk;
    cache_get_fn fn;
    void *arg;
    bool lists; /* under the lists generation (its counter is in the reply) */
    char *name; /* the entry's name, stored after this struct */
    size_t nlen;
    char *val; /* a linked entry's own value, kept for its part's read */
    size_t vlen;
    uint64_t hash;             /* of name, for c->guess */
    char guess[CACHE_REF_MAX]; /* the part asked for with the entry, or "" */
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

/* Build the namespace for epoch and the key for name (under generation
 * gen when not NULL) into lk; false if they do not fit. */
static bool cache_build_key(struct cache_lookup *lk, const char *epoch, const char *gen,
                            const char *name, size_t nlen)
{
    int n = snprintf(lk->ns, sizeof(lk->ns), "%s%s:", CACHE_KEY_PREFIX, epoch);
    int k;

    if (n < 0 || (size_t)n >= sizeof(lk->ns))
        goto none;
    k = snprintf(lk->key, sizeof(lk->key), "%s%s%s%.*s", lk->ns, gen != NULL ? gen : "",
                 gen != NULL ? ":" : "", (int)nlen, name);
    if (k < 0 || (size_t)k >= sizeof(lk->key))
        goto none;
    return true;
none:
    lk->ns[0] = '\0';
    lk->key[0] = '\0';
    return false;
}

/* The counters in an MGET reply (elements 1 and, for a list, 2) against the
 * values this worker used to build the key. Updates them and rebuilds lk
 * from what the server said when they differ. true: they matched, the
 * value read is in the current namespace. */
static bool cache_check_counters(struct cache *c, const redisReply *reply, struct cache_get_op *op)
{
    const redisReply *e = reply->element[1];
    const redisReply *g = op->lists ? reply->element[2] : NULL;
    bool same;

    if (e->type != REDIS_REPLY_STRING || (op->lists && g->type != REDIS_REPLY_STRING)) {
        /* Missing (expired, evicted, a new server): recreated; fill nothing. */
        cache_init_counters(c);
        op->lk->ns[0] = '\0';
        op->lk->key[0] = '\0';
        return false;
    }
    same = (size_t)e->len == strlen(c->epoch) && memcmp(e->str, c->epoch, (size_t)e->len) == 0 &&
           (!op->lists ||
            ((size_t)g->len == strlen(c->gen) && memcmp(g->str, c->gen, (size_t)g->len) == 0));
    if (same)
        return true;
    cache_copy_reply(c->epoch, sizeof(c->epoch), e);
    if (op->lists)
        cache_copy_reply(c->gen, sizeof(c->gen), g);
    /* The database read that follows starts after this answer: filling the
     * namespace the server named is safe (tombstones are checked by NX). */
    (void)cache_build_key(op->lk, c->epoch, op->lists ? c->gen : NULL, op->name, op->nlen);
    return false;
}

/* Finish a read: a hit if trust still holds, else a miss. */
static void cache_get_done(struct cache_get_op *op, const struct cache_hit *hit)
{
    struct cache *c = op->c;
    cache_get_fn fn = op->fn;
    void *fnarg = op->arg;

    if (hit != NULL && !cache_trust_ok(c->trust))
        hit = NULL; /* trust went while the read was in flight */
    if (c->slot != NULL)
        sb_inc(hit != NULL ? &c->slot->c.cache_hits : &c->slot->c.cache_misses, 1);
    fn(hit, fnarg); /* hit may point into op->val */
    free(op->val);
    free(op);
}

/* Reply to the second read of a linked entry: MGET part epoch. */
static void cache_on_get_part(const redisReply *reply, void *arg)
{
    struct cache_get_op *op = arg;
    struct cache_hit hit;
    const char *nl1, *nl2, *end = op->val + op->vlen;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        !cache_check_counters(op->c, reply, op) || !cache_is_value(reply->element[0])) {
        cache_get_done(op, NULL);
        return;
    }
    nl1 = memchr(op->val, '\n', op->vlen);
    nl2 = nl1 != NULL ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    if (nl2 == NULL) {
        cache_get_done(op, NULL);
        return;
    }
    hit.part[0] = nl1 + 1;
    hit.len[0] = (size_t)(nl2 - nl1 - 1);
    hit.part[1] = reply->element[0]->str;
    hit.len[1] = (size_t)reply->element[0]->len;
    hit.part[2] = nl2 + 1;
    hit.len[2] = (size_t)(end - nl2 - 1);
    hit.nparts = 3;
    cache_get_done(op, &hit);
}

/* A linked entry: keep it and read its part. */
static void cache_get_part(struct cache_get_op *op, const redisReply *v)
{
    struct cache *c = op->c;
    const char *nl = memchr(v->str, '\n', (size_t)v->len);
    char refkey[CACHE_KEY_MAX];
    const char *argv[3] = {"MGET", refkey, CACHE_EPOCH_KEY};
    size_t lens[3] = {4, 0, strlen(CACHE_EPOCH_KEY)};
    int n;

    if (nl == NULL)
        goto miss;
    n = snprintf(refkey, sizeof(refkey), "%s%.*s", op->lk->ns, (int)(nl - v->str - 1), v->str + 1);
    if (n < 0 || (size_t)n >= sizeof(refkey))
        goto miss;
    lens[1] = (size_t)n;
    op->val = malloc((size_t)v->len);
    if (op->val == NULL)
        goto miss;
    memcpy(op->val, v->str, (size_t)v->len);
    op->vlen = (size_t)v->len;
    op->lists = false;
    if (cache_command(c, 3, argv, lens, cache_on_get_part, op) != 0)
        goto miss;
    return;
miss:
    cache_get_done(op, NULL);
}

/* 64-bit FNV-1a of n bytes. */
static uint64_t cache_hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* A linked entry v: remember its part for the next read of the same name,
 * and answer at once if the part came with this reply. true: answered. */
static bool cache_get_guessed(struct cache_get_op *op, const redisReply *reply, const redisReply *v)
{
    struct cache_guess *g = &op->c->guess[op->hash % CACHE_GUESS_SLOTS];
    const char *nl1 = memchr(v->str, '\n', (size_t)v->len), *nl2;
    const char *end = v->str + v->len;
    size_t rlen;
    struct cache_hit hit;

    if (nl1 == NULL)
        return false;
    rlen = (size_t)(nl1 - v->str - 1);
    if (rlen < CACHE_REF_MAX) {
        g->hash = op->hash;
        memcpy(g->ref, v->str + 1, rlen);
        g->ref[rlen] = '\0';
    }
    if (op->guess[0] == '\0' || strlen(op->guess) != rlen ||
        memcmp(op->guess, v->str + 1, rlen) != 0 || !cache_is_value(reply->element[2]))
        return false;
    nl2 = memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1));
    if (nl2 == NULL)
        return false;
    hit.part[0] = nl1 + 1;
    hit.len[0] = (size_t)(nl2 - nl1 - 1);
    hit.part[1] = reply->element[2]->str;
    hit.len[1] = (size_t)reply->element[2]->len;
    hit.part[2] = nl2 + 1;
    hit.len[2] = (size_t)(end - nl2 - 1);
    hit.nparts = 3;
    cache_get_done(op, &hit);
    return true;
}

/* Reply to a read: MGET key epoch [generation | guessed part]. */
static void cache_on_get(const redisReply *reply, void *arg)
{
    struct cache_get_op *op = arg;
    const redisReply *v;
    struct cache_hit hit;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != (op->lists || op->guess[0] != '\0' ? 3u : 2u)) {
        op->lk->ns[0] = '\0';
        op->lk->key[0] = '\0';
        cache_get_done(op, NULL);
        return;
    }
    if (!cache_check_counters(op->c, reply, op) || !cache_is_value(reply->element[0])) {
        cache_get_done(op, NULL);
        return;
    }
    v = reply->element[0];
    if (v->str[0] == '@') {
        if (!cache_get_guessed(op, reply, v))
            cache_get_part(op, v);
        return;
    }
    hit.part[0] = v->str;
    hit.len[0] = (size_t)v->len;
    hit.nparts = 1;
    cache_get_done(op, &hit);
}

int cache_get(struct cache *c, const char *gen, const char *name, size_t nlen,
              struct cache_lookup *lk, cache_get_fn fn, void *arg)
{
    struct cache_get_op *op;
    const struct cache_guess *g;
    char partkey[CACHE_KEY_MAX];
    const char *argv[4] = {"MGET", lk->key, CACHE_EPOCH_KEY, gen};
    size_t lens[4];
    int argc;

    lk->ns[0] = '\0';
    lk->key[0] = '\0';
    if (c == NULL || c->ttl_s <= 0 || c->state != CACHE_UP || !cache_trust_ok(c->trust) ||
        nlen >= CACHE_KEY_MAX)
        return -1;
    /* Built from the counters this worker saw last; the reply says whether
     * they are still current (cache.h). */
    if (!cache_build_key(lk, c->epoch, gen != NULL ? c->gen : NULL, name, nlen))
        return -1;
    op = calloc(1, sizeof(*op) + nlen + 1);
    if (op == NULL)
        return -1;
    op->c = c;
    op->lk = lk;
    op->fn = fn;
    op->arg = arg;
    op->lists = gen != NULL;
    op->name = (char *)(op + 1);
    memcpy(op->name, name, nlen);
    op->nlen = nlen;
    lens[0] = 4;
    lens[1] = strlen(lk->key);
    lens[2] = strlen(CACHE_EPOCH_KEY);
    lens[3] = gen != NULL ? strlen(gen) : 0;
    argc = op->lists ? 4 : 3;
    op->hash = cache_hash(name, nlen);
    g = &c->guess[op->hash % CACHE_GUESS_SLOTS];
    if (!op->lists && g->hash == op->hash && g->ref[0] != '\0') {
        int n = snprintf(partkey, sizeof(partkey), "%s%s", lk->ns, g->ref);
        if (n > 0 && (size_t)n < sizeof(partkey)) {
            memcpy(op->guess, g->ref, sizeof(op->guess));
            argv[3] = partkey;
            lens[3] = (size_t)n;
            argc = 4;
        }
    }
    if (cache_command(c, argc, argv, lens, cache_on_get, op) != 0) {
        free(op);
        lk->ns[0] = '\0';
        lk->key[0] = '\0';
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
