/*
 * scoreboard.h: metrics and worker state shared across processes.
 *
 * One mmap(MAP_SHARED|MAP_ANONYMOUS) region, created by the supervisor before
 * the first fork. Each worker writes only its own slot, with relaxed atomic
 * adds (and, through store/cache.c, the header's cache_trust); the
 * supervisor reads every slot to render /metrics and /status.
 *
 * Counters never go backwards: when a worker exits, the supervisor folds its
 * slot's counters into `retired` (sb_fold_retired) before the slot is reused,
 * and its gauges drop to zero. Everything rendered is retired + live slots.
 *
 * The only global in conduitd besides signal flags is the mapping's address,
 * held by the process that created or inherited it; functions here take the
 * scoreboard pointer explicitly.
 */
#ifndef CONDUIT_SCOREBOARD_H
#define CONDUIT_SCOREBOARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"
#include "router.h"

#define SB_VERSION   1
#define SB_MAX_SLOTS 256
#define SB_ROUTES    ROUTER_MAX_ROUTES
#define SB_LABEL_MAX 64

/* Status codes counted by exact value; anything else lands in its class
 * bucket ("2xx" etc. are not emitted: unlisted codes map to the nearest
 * listed one of the same hundred, see sb_code_index). */
#define SB_CODES 24
extern const int sb_code_values[SB_CODES];

/* Latency buckets (seconds), shared by request and query histograms. */
#define SB_BUCKETS 14
extern const double sb_bucket_bounds[SB_BUCKETS]; /* +Inf is implicit */

/* A slot's life; each state is a value of conduitd_workers{state}. */
enum sb_state {
    SB_FREE,     /* never used, or reaped and folded */
    SB_STARTING, /* forked, not yet accepting */
    SB_READY,    /* accepting and serving */
    SB_DRAINING, /* stopped accepting, finishing in-flight requests */
    SB_BACKOFF,  /* dead; respawn scheduled after a back-off delay */
    SB__STATES
};

/* Why a worker was replaced: conduitd_worker_restarts_total{reason}. */
enum sb_restart_reason {
    SB_RESTART_CRASH,   /* exited non-zero, or died of a fault (SEGV, BUS, ABRT, FPE, ILL) */
    SB_RESTART_SIGNAL,  /* killed by another signal we did not send (e.g. KILL) */
    SB_RESTART_HUNG,    /* heartbeat too old: SIGABRT then SIGKILL */
    SB_RESTART_CONFIG,  /* exited 2: cannot start, configuration */
    SB_RESTART_RECYCLE, /* served max-requests and retired */
    SB_RESTART_EXIT,    /* exited 0 without being asked */
    SB_RESTART__COUNT
};

/* Why a request was shed (answered 503 + Retry-After, or its connection
 * closed, without its handler's work): conduitd_requests_shed_total{reason}. */
enum sb_shed_reason {
    SB_SHED_IN_FLIGHT,   /* the worker had --max-in-flight requests already */
    SB_SHED_CONNECTIONS, /* the worker was over --max-connections: 503 and close */
    SB_SHED_DB_QUEUE,    /* waited longer than --db-queue-timeout-ms for a database connection */
    SB_SHED__COUNT
};

/* Dependencies reported by conduitd_dependency_up{dependency}. */
enum sb_dependency { SB_DEP_POSTGRES, SB_DEP_REDIS, SB_DEP__COUNT };

/* Counters: everything here is monotonic and gets folded on exit. */
struct sb_counters {
    uint64_t requests[SB_ROUTES][HTTP_M__COUNT][SB_CODES];
    uint64_t duration_bucket[SB_ROUTES][SB_BUCKETS]; /* non-cumulative; rendered cumulative */
    uint64_t duration_count[SB_ROUTES];
    uint64_t duration_sum_us[SB_ROUTES];
    uint64_t db_query_bucket[SB_BUCKETS];
    uint64_t db_query_count;
    uint64_t db_query_sum_us;
    uint64_t db_errors;
    uint64_t redis_errors;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t cache_distrust_episodes; /* the pod stopped trusting the cache (cache.h) */
    uint64_t rate_limited;
    uint64_t rate_limit_fail_open; /* checks let through unchecked: Redis down or erring */
    uint64_t shed[SB_SHED__COUNT];
    uint64_t db_wait_bucket[SB_BUCKETS]; /* time queued for a database connection */
    uint64_t db_wait_count;
    uint64_t db_wait_sum_us;
    uint64_t connections_accepted;
    uint64_t accept_pauses; /* times a worker stopped accepting: its fair share or its ceiling */
    uint64_t refusal_pacing_waits; /* held refusals due together: the rest left for the next ms */
    uint64_t cpu_us;               /* this worker's CPU time, refreshed with the heartbeat */
};

/* One worker's slot. Written by that worker (gauges, counters, heartbeat)
 * and by the supervisor (pid, generation, state at fork/reap). */
struct sb_slot {
    pid_t pid;
    uint32_t generation;
    int state;                 /* enum sb_state */
    int64_t started_ms;        /* wall clock, ms since epoch */
    int64_t heartbeat_ms;      /* monotonic ms, stamped by the worker's loop */
    int64_t in_flight;         /* gauge */
    int64_t connections_open;  /* gauge */
    int64_t rss_bytes;         /* gauge, refreshed with the heartbeat */
    int64_t db_pool_busy;      /* gauge */
    int64_t db_pool_idle;      /* gauge */
    int dep_up[SB_DEP__COUNT]; /* gauge: 1 up, 0 down, -1 not configured */
    uint64_t requests_served;  /* for /status and max-requests */
    int recycle;               /* set once by the worker when it has served
                                  --max-requests (+ jitter): replace me */
    struct sb_counters c;
};

/* Whether the Redis cache may be used, agreed by every worker of this
 * process tree (store/cache.h): trusted while trusted > distrusted. A
 * worker that sees an invalidation fail (or the connection drop) adds one
 * to distrusted, before the write is answered; a worker whose epoch bump
 * succeeded raises trusted to one past the distrusted value it read before
 * sending the bump. Both start at 0: distrusted until the first bump. The
 * one part of the header that workers write (atomics only). */
struct sb_cache_trust {
    uint64_t distrusted;
    uint64_t trusted;
};

struct scoreboard {
    uint32_t version;
    uint32_t nslots;
    int nroutes;
    char route_labels[SB_ROUTES][SB_LABEL_MAX];
    /* supervisor-owned totals */
    struct sb_counters retired;
    uint64_t retired_requests_served;
    uint64_t retired_cpu_us;
    uint64_t restarts[SB_RESTART__COUNT];
    uint64_t readiness_checks[2]; /* [0] ok, [1] fail */
    struct sb_cache_trust cache_trust;
    struct sb_slot slots[];
};

/* Map a new zeroed scoreboard with nslots slots (<= SB_MAX_SLOTS); NULL on error. */
struct scoreboard *sb_create(uint32_t nslots);
void sb_destroy(struct scoreboard *sb);

/* Copy route labels from the router into the header (before forking). */
void sb_set_routes(struct scoreboard *sb, const struct router *r);

/* Index of status in sb_code_values. */
int sb_code_index(int status);
/* Bucket index for a duration in seconds (SB_BUCKETS means +Inf only). */
int sb_bucket_index(double seconds);

/* Worker side: record one finished request (relaxed atomics). */
void sb_record_request(struct sb_slot *slot, int route, enum http_method_id method, int status,
                       double seconds);
void sb_record_query(struct sb_slot *slot, double seconds, bool failed);
/* Worker side: one query's wait in the pool's queue (0 when it went out at once). */
void sb_record_db_wait(struct sb_slot *slot, double seconds);
/* Relaxed atomic add on any counter or gauge of a slot. */
void sb_add(volatile int64_t *gauge, int64_t delta);
void sb_inc(volatile uint64_t *counter, uint64_t delta);

/* Supervisor side: fold a dead worker's counters into retired, zero the
 * slot's gauges and counters, and set it to SB_FREE. */
void sb_fold_retired(struct scoreboard *sb, uint32_t slot);

/* Sum retired + all slots into *out (a consistent-enough snapshot). */
void sb_snapshot(const struct scoreboard *sb, struct sb_counters *out);

#endif
