/*
 * ratelimit.h: fixed-window request limits in Redis, per client group and
 * per account.
 *
 * Each (bucket, subject, window) has a counter key
 * "conduit:v1:rl:<bucket>:<subject>:<window number>". ratelimit_check()
 * counts a request (INCR then EXPIRE, pipelined in one round trip) and
 * refuses it past the limit; ratelimit_peek() only reads the count (for
 * limits on failures, counted afterwards with ratelimit_add()). A request
 * over a limit gets 429 with Retry-After = seconds left in the window.
 * Subjects are what the caller chooses: the client's address group
 * (netaddr_bucket()) or a digest of an account's email.
 *
 * With Redis down or answering errors every request passes (fail open: a
 * cache outage must not lock users out). Each such pass is counted
 * (conduitd_rate_limit_fail_open_total), and a streak of them is logged
 * once when it starts and once when limits are enforced again. A limit
 * set to 0 is off: no count, no log.
 */
#ifndef CONDUIT_RATELIMIT_H
#define CONDUIT_RATELIMIT_H

#include <stdbool.h>

struct cache;
struct sb_slot;
struct ratelimit;

/* allowed false: answer 429 with Retry-After retry_after_s. */
typedef void (*ratelimit_fn)(bool allowed, int retry_after_s, void *arg);

/* A limiter over cache (may be NULL: every check fails open) counting into
 * slot (may be NULL). Free it after the cache, whose teardown may still run
 * reply callbacks. NULL: out of memory. */
struct ratelimit *ratelimit_new(struct cache *c, struct sb_slot *slot);
void ratelimit_free(struct ratelimit *rl);

/* Count one request of subject in bucket against limit per window_s. 0: fn
 * will be called once. -1: not checked (limit off, or failing open): let
 * the request through now; fn will not be called. */
int ratelimit_check(struct ratelimit *rl, const char *bucket, const char *subject, int limit,
                    int window_s, ratelimit_fn fn, void *arg) __attribute__((warn_unused_result));

/* Like ratelimit_check() but without counting: allowed while the count is
 * below limit. */
int ratelimit_peek(struct ratelimit *rl, const char *bucket, const char *subject, int limit,
                   int window_s, ratelimit_fn fn, void *arg) __attribute__((warn_unused_result));

/* Count one event (a failure) of subject in bucket. 0: done(arg) will be
 * called once Redis has counted it (or failed to), so that a request
 * answered after it cannot race its own count. -1: not counted (limit 0,
 * or Redis down); done will not be called. */
int ratelimit_add(struct ratelimit *rl, const char *bucket, const char *subject, int limit,
                  int window_s, void (*done)(void *arg), void *arg)
    __attribute__((warn_unused_result));

#endif
