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
 * Cache protocol. Every entry lives under a namespace that carries the
 * current epoch, "conduit:v1:c:<epoch>:". Entries may also carry a
 * generation ("...:<epoch>:<gen>:<name>", CACHE_GEN_LISTS for list pages
 * and the tag list): a write that changes any list does one INCR of the
 * generation instead of one write per cached page. A read is one MGET of
 * the entry, built with the epoch (and generation) this worker saw last,
 * and of the counters themselves: the value counts only if the counters
 * in the same atomic reply are the ones the key was built with, so no
 * reader uses an entry of a namespace that was already left. Otherwise
 * the read is a miss and the worker adopts the server's values.
 *
 * Readers that miss read PostgreSQL and SET the value with NX and the TTL,
 * under the key built from the counters of the reply. Writers, after their
 * transaction commits and before they answer, run one Lua script that
 * overwrites each affected key of the current namespace with a short-lived
 * tombstone and bumps the generations. A reader that raced the write
 * (read the old row before the commit, stores it after) finds the tombstone
 * and its SET NX does nothing, or stores under a generation nobody reads
 * any more, so no reader sees the old value once the write has been
 * answered. For that to hold, a reader fills only if its read took less
 * than CACHE_FILL_WINDOW_MS from the start of its database query to the
 * SET, and tombstones live CACHE_TOMBSTONE_S, well beyond that window (a
 * slower reader simply does not fill). A write thus keeps its keys out of
 * the cache for about two seconds.
 *
 * Linked entries: a value "@<ref>\n<head>\n<tail>" stands for head + the
 * value of "<namespace><ref>" + tail (fetched in the same MGET when the
 * worker has seen the entry before, else by a second MGET with the epoch
 * again). An article's author block is such a part
 * ("u:<author id>"), so a profile change tombstones one key whatever the
 * number of the author's articles.
 *
 * Trust. The cache is used (read, filled) only while it is trusted, and
 * trust is shared by every worker (struct sb_cache_trust in the scoreboard
 * header). It is lost, before the write that saw it is answered, when an
 * invalidation fails in any way (an error reply such as OOM or READONLY, a
 * timeout, a disconnect, not sent because Redis is down), when the
 * connection drops (a restarted server may hold data older than writes it
 * missed), when a fill or the once-a-second write probe gets an error reply
 * (Redis refuses writes: other processes' invalidations fail too), and at
 * start. A worker that finds the cache distrusted bumps the epoch (INCR,
 * one command whatever the size of the keyspace; never KEYS or SCAN); once
 * a bump sent after the latest loss succeeds, every entry any worker or pod
 * could have left stale is unreachable and the cache is trusted again.
 * Counters expire CACHE_COUNTER_TTL_S after the last write that touched
 * them, like everything conduitd stores in Redis; one that is missing
 * (expired, evicted, a new Redis) is recreated from the server's clock in
 * microseconds, above any value used before, by the next write or by a
 * reader that found it missing (that read is a miss and fills nothing).
 */
#ifndef CONDUIT_CACHE_H
#define CONDUIT_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct sb_slot;
struct sb_cache_trust;
struct cache;
struct redisReply;

#define CACHE_CMD_TIMEOUT_MS 500
#define CACHE_FILL_WINDOW_MS 500
#define CACHE_TOMBSTONE_S    2
#define CACHE_KEY_PREFIX     "conduit:v1:c:" /* + epoch: entries; rate limits use conduit:v1:rl: */
#define CACHE_EPOCH_KEY      "conduit:v1:epoch"
#define CACHE_GEN_LISTS      "conduit:v1:gen:lists" /* list pages and the tag list */
#define CACHE_PROBE_KEY      "conduit:v1:probe"
#define CACHE_PROBE_MS       1000        /* write probe and epoch-bump retry period */
#define CACHE_COUNTER_TTL_S  (7 * 86400) /* epoch and generations, refreshed by writes */
#define CACHE_KEY_MAX        400
#define CACHE_NS_MAX         96

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
 * still serves rate limits). trust: shared by the workers (NULL: this cache
 * alone). NULL with errbuf set if the URL is bad. */
struct cache *cache_new(struct event_base *base, const char *url, int ttl_s, struct sb_slot *slot,
                        struct sb_cache_trust *trust, char *errbuf, size_t errlen);

/* Redis is connected and answered its PING. */
bool cache_up(const struct cache *c);

/* A reply (NULL on timeout, disconnect or shutdown), owned by hiredis and
 * valid only during the call. */
typedef void (*cache_reply_fn)(const struct redisReply *reply, void *arg);

/* Send a command (arguments are copied). 0: fn (if not NULL) will be called
 * exactly once. -1: not sent (Redis down), fn will not be called. */
int cache_command(struct cache *c, int argc, const char **argv, const size_t *argvlen,
                  cache_reply_fn fn, void *arg) __attribute__((warn_unused_result));

/* Where a lookup resolved: the namespace (prefix + epoch + ":") and the
 * full key, for the fill after a miss. key is "" when the entry must not
 * be filled (no answer, a missing generation). Owned by the caller. */
struct cache_lookup {
    char ns[CACHE_NS_MAX];
    char key[CACHE_KEY_MAX];
};

/* A hit: the answer is the concatenation of the parts. */
struct cache_hit {
    const char *part[3];
    size_t len[3];
    int nparts;
};

/* Cache read of name (under generation gen, a counter key, or NULL): fn
 * gets the hit (valid during the call) or NULL for a miss or a failure;
 * lk is set before fn runs and must live until then. -1 if the cache is
 * off, down or not trusted: treat as a miss without waiting (lk->key is
 * then ""). */
typedef void (*cache_get_fn)(const struct cache_hit *hit, void *arg);
int cache_get(struct cache *c, const char *gen, const char *name, size_t nlen,
              struct cache_lookup *lk, cache_get_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* Fill after a miss: SET lk->key val EX ttl NX, not waited for; skipped if
 * lk->key is empty, the cache is not trusted, or read_started
 * (CLOCK_MONOTONIC, taken before the database query that produced val) is
 * more than CACHE_FILL_WINDOW_MS ago. */
struct timespec;
void cache_put(struct cache *c, const struct cache_lookup *lk, const char *val, size_t len,
               const struct timespec *read_started);

/* The same for a linked entry: val[hole_at, hole_at + hole_len) is stored
 * on its own under lk->ns + ref, the rest under lk->key (see above). val
 * must not contain a newline (JSON text never does). */
void cache_put_linked(struct cache *c, const struct cache_lookup *lk, const char *ref,
                      const char *val, size_t len, size_t hole_at, size_t hole_len,
                      const struct timespec *read_started);

/* Tombstone names (up to CACHE_INVALIDATE_MAX, in the current epoch's
 * namespace) and bump the generation counters gens (up to 2), in one
 * command; fn runs once it is acknowledged or failed (a failure has then
 * withdrawn the cache's trust). -1 if the cache is off or down (trust is
 * withdrawn): fn will not be called. */
#define CACHE_INVALIDATE_MAX 8
typedef void (*cache_done_fn)(void *arg);
int cache_invalidate(struct cache *c, const char *const *names, const size_t *nlens, int n,
                     const char *const *gens, int ngens, cache_done_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* Disconnect; pending callbacks run with failures. */
void cache_free(struct cache *c);

#endif
