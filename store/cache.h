/*
 * cache.h: the worker's Redis connection (hiredis async API on the worker's
 * libevent loop) and the read-through cache built on it.
 *
 * Connection: one per worker. A new connection counts as up only after
 * AUTH/SELECT (if the URL asks) and a PING have been answered, so a hung
 * server is not mistaken for a live one. Every command has a client-side
 * timeout (CACHE_CMD_TIMEOUT_MS); a timeout or error drops the connection,
 * and a reconnect follows after a back-off (100 ms doubling to 2 s).
 * While Redis is down every call here refuses at once, so callers fall
 * back to PostgreSQL (cache) or let the request through (rate limits).
 *
 * Cache protocol (keys "conduit:v1:..."): readers GET; on a miss they read
 * PostgreSQL and SET the value with NX and the TTL. Writers, after their
 * transaction commits and before they answer, overwrite each affected key
 * with a short-lived tombstone. A reader that raced the write (read the old
 * row before the commit, stores it after) finds the tombstone and its SET NX
 * does nothing, so no reader sees the old value once the write has been
 * answered. For that to hold, a reader fills only if its read took less
 * than CACHE_FILL_WINDOW_MS from the start of its database query to the
 * SET, and tombstones live CACHE_TOMBSTONE_S, well beyond that window (a
 * slower reader simply does not fill). A write thus keeps its keys out of
 * the cache for about two seconds. If an invalidation could not be delivered (Redis down or
 * failing), the worker remembers it and, on reconnecting, deletes every cache key (a Lua script
 * over "conduit:v1:c:*") before using the cache again.
 */
#ifndef CONDUIT_CACHE_H
#define CONDUIT_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct sb_slot;
struct cache;
struct redisReply;

#define CACHE_CMD_TIMEOUT_MS 500
#define CACHE_FILL_WINDOW_MS 500
#define CACHE_TOMBSTONE_S    2
#define CACHE_KEY_PREFIX     "conduit:v1:c:" /* cache entries; rate limits use conduit:v1:rl: */
#define CACHE_KEY_MAX        320

/* Where a REDIS_URL points. */
struct cache_target {
    char host[256]; /* empty for a Unix socket */
    int port;       /* default 6379 */
    char path[256]; /* Unix socket path, for unix:///path */
    char user[128]; /* ACL user, "" for the default */
    char pass[256]; /* "" for no AUTH */
    int db;         /* SELECT index, 0 by default */
};

/* Parse redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N].
 * 0, or -1 with errbuf set. */
int cache_parse_url(const char *url, struct cache_target *t, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Start connecting to url. ttl_s = 0 turns the cache off (the connection
 * still serves rate limits). NULL with errbuf set if the URL is bad. */
struct cache *cache_new(struct event_base *base, const char *url, int ttl_s, struct sb_slot *slot,
                        char *errbuf, size_t errlen);

/* Redis is connected and answered its PING. */
bool cache_up(const struct cache *c);

/* A reply (NULL on timeout, disconnect or shutdown), owned by hiredis and
 * valid only during the call. */
typedef void (*cache_reply_fn)(const struct redisReply *reply, void *arg);

/* Send a command (arguments are copied). 0: fn (if not NULL) will be called
 * exactly once. -1: not sent (Redis down), fn will not be called. */
int cache_command(struct cache *c, int argc, const char **argv, const size_t *argvlen,
                  cache_reply_fn fn, void *arg) __attribute__((warn_unused_result));

/* Cache read: fn gets the value (valid during the call) or NULL for a miss
 * or a failure. -1 if the cache is off or down: treat as a miss without
 * waiting. */
typedef void (*cache_get_fn)(const char *val, size_t len, void *arg);
int cache_get(struct cache *c, const char *key, size_t klen, cache_get_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* Fill after a miss: SET key val EX ttl NX, not waited for; skipped if
 * read_started (CLOCK_MONOTONIC, taken before the database query that
 * produced val) is more than CACHE_FILL_WINDOW_MS ago. */
struct timespec;
void cache_put(struct cache *c, const char *key, size_t klen, const char *val, size_t len,
               const struct timespec *read_started);

/* Tombstone keys (see above); fn runs once all are acknowledged or failed.
 * -1 if the cache is off or down: fn will not be called. */
typedef void (*cache_done_fn)(void *arg);
int cache_invalidate(struct cache *c, const char *const *keys, const size_t *klens, int n,
                     cache_done_fn fn, void *arg) __attribute__((warn_unused_result));

/* Disconnect; pending callbacks run with failures. */
void cache_free(struct cache *c);

#endif
