/*
 * cache_internal.h: what the cache's three files share (store/cache.c: the
 * connection; cache_trust.c: trust, epoch bumps and the write probe;
 * cache_entries.c: reads, fills and invalidations). Not for other modules:
 * they use cache.h.
 */
#ifndef CONDUIT_CACHE_INTERNAL_H
#define CONDUIT_CACHE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "cache_scripts.h"
#include "scoreboard.h"

#define CACHE_TOMBSTONE "-"

/* Linked entries' parts this worker has seen, by a hash of the entry's
 * name: a read then asks for the part in the same MGET (one round trip);
 * a wrong guess (a collision, a reused slug) costs the second read. */
#define CACHE_GUESS_SLOTS 1024
#define CACHE_REF_MAX     32
struct cache_guess {
    uint64_t hash;
    char ref[CACHE_REF_MAX]; /* "" for none */
};

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
    char epoch[24];       /* the epoch and lists generation this worker saw last: */
    char gen[24];         /* reads build keys with them and check them in the reply */
    char sha[CACHE_SCRIPT__COUNT][41];
    struct cache_guess guess[CACHE_GUESS_SLOTS];
};

/* Run script i with argc arguments (after EVALSHA sha 0); as
 * cache_command(). */
int cache_eval(struct cache *c, enum cache_script i, int argc, const char **argv,
               const size_t *lens, cache_reply_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* ---- cache_trust.c ---- */
/* The cache may be used: trusted past the latest loss. */
bool cache_trust_ok(const struct sb_cache_trust *t);
/* Stop trusting the cache, for every worker (see cache.h); why is logged
 * by the worker that ends a trusted streak. */
void cache_distrust(struct cache *c, const char *why);
/* Bump the epoch if the cache is not trusted and no bump of c's is in
 * flight (needs CACHE_UP). */
void cache_try_bump(struct cache *c);
/* Recreate the epoch and lists generation if missing (one init of c's in
 * flight at most). */
void cache_init_counters(struct cache *c);
/* The counters' TTL (CACHE_COUNTER_TTL_S) as text in buf. */
const char *cache_counter_ttl(char buf[16]);
/* The CACHE_PROBE_MS timer (ev_tick): bump while distrusted, else probe
 * that writes still work. */
void cache_on_tick(evutil_socket_t fd, short what, void *arg);

#endif
