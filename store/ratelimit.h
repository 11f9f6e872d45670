/*
 * ratelimit.h: fixed-window request limits per client address, in Redis.
 *
 * Each (bucket, client, window) has a counter key
 * "conduit:v1:rl:<bucket>:<client>:<window number>": INCR then EXPIRE,
 * pipelined in one round trip. A request over the limit gets 429 with
 * Retry-After = seconds left in the window. With Redis down, or the limit
 * set to 0, every request passes (fail open): a cache outage must not lock
 * users out.
 */
#ifndef CONDUIT_RATELIMIT_H
#define CONDUIT_RATELIMIT_H

#include <stdbool.h>

struct cache;
struct sb_slot;

/* allowed false: answer 429 with Retry-After retry_after_s. */
typedef void (*ratelimit_fn)(bool allowed, int retry_after_s, void *arg);

/* Count one request of client in bucket against limit per window_s. 0: fn
 * will be called once. -1: not checked (limit off or Redis down): let the
 * request through now; fn will not be called. */
int ratelimit_check(struct cache *c, struct sb_slot *slot, const char *bucket, const char *client,
                    int limit, int window_s, ratelimit_fn fn, void *arg)
    __attribute__((warn_unused_result));

#endif
