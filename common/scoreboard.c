/*
 * scoreboard.c: the shared-memory scoreboard (see scoreboard.h).
 *
 * Writers: each worker writes only its own slot. A slot's counters have a
 * single writer (the worker's loop thread), so sb_record_request() updates
 * them with a relaxed load and a relaxed store rather than a locked
 * read-modify-write: readers in the supervisor still see whole 64-bit
 * values that only grow. sb_add()/sb_inc() are true atomic adds for values
 * that more than one thread may touch.
 *
 * The supervisor folds a dead worker's slot into `retired` (single-threaded,
 * and the writer is gone), so the sum retired + live never goes down.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "scoreboard.h"

/* Every field of struct sb_counters is a uint64_t: folding and summing walk
 * it as a flat array. */
_Static_assert(sizeof(struct sb_counters) % sizeof(uint64_t) == 0, "sb_counters is uint64_t[]");

const int sb_code_values[SB_CODES] = {
    200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 411,
    413, 414, 415, 422, 429, 431, 500, 501, 502, 503, 504, 505,
};

const double sb_bucket_bounds[SB_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* Bytes of the mapping for nslots slots. */
static size_t sb_size(uint32_t nslots)
{
    return sizeof(struct scoreboard) + (size_t)nslots * sizeof(struct sb_slot);
}

struct scoreboard *sb_create(uint32_t nslots)
{
    struct scoreboard *sb;

    if (nslots == 0 || nslots > SB_MAX_SLOTS)
        return NULL;
    sb = mmap(NULL, sb_size(nslots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sb == MAP_FAILED)
        return NULL;
    /* Anonymous mappings are zeroed; set what is not zero. */
    sb->version = SB_VERSION;
    sb->nslots = nslots;
    sb->nroutes = 1;
    strcpy(sb->route_labels[0], "unmatched");
    for (uint32_t i = 0; i < nslots; i++)
        for (int d = 0; d < SB_DEP__COUNT; d++)
            sb->slots[i].dep_up[d] = -1;
    return sb;
}

void sb_destroy(struct scoreboard *sb)
{
    if (sb != NULL)
        (void)munmap(sb, sb_size(sb->nslots));
}

void sb_set_routes(struct scoreboard *sb, const struct router *r)
{
    int n = router_route_count(r);

    if (n > SB_ROUTES)
        n = SB_ROUTES;
    for (int i = 0; i < n; i++) {
        const char *label = router_route_label(r, i);
        snprintf(sb->route_labels[i], SB_LABEL_MAX, "%s", label != NULL ? label : "unknown");
    }
    strcpy(sb->route_labels[0], "unmatched");
    sb->nroutes = n > 0 ? n : 1;
}

int sb_code_index(int status)
{
    /* Exact codes first: this is on the hot path and the switch becomes a
     * jump table. */
    switch (status) {
    case 200:
        return 0;
    case 201:
        return 1;
    case 204:
        return 2;
    case 304:
        return 3;
    case 400:
        return 4;
    case 401:
        return 5;
    case 403:
        return 6;
    case 404:
        return 7;
    case 405:
        return 8;
    case 408:
        return 9;
    case 409:
        return 10;
    case 411:
        return 11;
    case 413:
        return 12;
    case 414:
        return 13;
    case 415:
        return 14;
    case 422:
        return 15;
    case 429:
        return 16;
    case 431:
        return 17;
    case 500:
        return 18;
    case 501:
        return 19;
    case 502:
        return 20;
    case 503:
        return 21;
    case 504:
        return 22;
    case 505:
        return 23;
    default:
        break;
    }
    /* Otherwise the nearest listed code of the same hundred (ties go to the
     * lower one); codes outside 200-599 count as 500. */
    if (status < 200 || status > 599)
        return 18;
    int best = -1, bestd = 1000;
    for (int i = 0; i < SB_CODES; i++) {
        int v = sb_code_values[i];
        int d = v > status ? v - status : status - v;
        if (v / 100 == status / 100 && d < bestd) {
            best = i;
            bestd = d;
        }
    }
    return best >= 0 ? best : 18;
}

int sb_bucket_index(double seconds)
{
    int i = 0;

    while (i < SB_BUCKETS && seconds > sb_bucket_bounds[i])
        i++;
    return i;
}

/* Add delta to a counter that only the calling thread writes. */
static inline void sb_bump(uint64_t *c, uint64_t delta)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
}

void sb_record_request(struct sb_slot *slot, int route, enum http_method_id method, int status,
                       double seconds)
{
    struct sb_counters *c = &slot->c;
    uint64_t us;
    int b;

    if (route < 0 || route >= SB_ROUTES)
        route = 0;
    if ((unsigned)method >= HTTP_M__COUNT)
        method = HTTP_M_OTHER;
    if (seconds < 0)
        seconds = 0;
    us = (uint64_t)(seconds * 1e6 + 0.5);
    b = sb_bucket_index(seconds);
    sb_bump(&c->requests[route][method][sb_code_index(status)], 1);
    if (b < SB_BUCKETS)
        sb_bump(&c->duration_bucket[route][b], 1);
    sb_bump(&c->duration_count[route], 1);
    sb_bump(&c->duration_sum_us[route], us);
    sb_bump(&slot->requests_served, 1);
}

void sb_record_query(struct sb_slot *slot, double seconds, bool failed)
{
    struct sb_counters *c = &slot->c;
    int b;

    if (seconds < 0)
        seconds = 0;
    b = sb_bucket_index(seconds);
    if (b < SB_BUCKETS)
        sb_inc(&c->db_query_bucket[b], 1);
    sb_inc(&c->db_query_count, 1);
    sb_inc(&c->db_query_sum_us, (uint64_t)(seconds * 1e6 + 0.5));
    if (failed)
        sb_inc(&c->db_errors, 1);
}

void sb_record_db_wait(struct sb_slot *slot, double seconds)
{
    struct sb_counters *c = &slot->c;
    int b;

    if (seconds < 0)
        seconds = 0;
    b = sb_bucket_index(seconds);
    if (b < SB_BUCKETS)
        sb_inc(&c->db_wait_bucket[b], 1);
    sb_inc(&c->db_wait_count, 1);
    sb_inc(&c->db_wait_sum_us, (uint64_t)(seconds * 1e6 + 0.5));
}

void sb_add(volatile int64_t *gauge, int64_t delta)
{
    __atomic_fetch_add(gauge, delta, __ATOMIC_RELAXED);
}

void sb_inc(volatile uint64_t *counter, uint64_t delta)
{
    __atomic_fetch_add(counter, delta, __ATOMIC_RELAXED);
}

void sb_fold_retired(struct scoreboard *sb, uint32_t slot_index)
{
    struct sb_slot *slot;
    const uint64_t *src;
    uint64_t *dst;

    if (slot_index >= sb->nslots)
        return;
    slot = &sb->slots[slot_index];
    src = (const uint64_t *)&slot->c;
    dst = (uint64_t *)&sb->retired;
    for (size_t i = 0; i < sizeof(struct sb_counters) / sizeof(uint64_t); i++)
        dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    sb->retired_requests_served += slot->requests_served;

    memset(&slot->c, 0, sizeof(slot->c));
    slot->requests_served = 0;
    slot->recycle = 0;
    slot->pid = 0;
    slot->generation = 0;
    slot->started_ms = 0;
    slot->heartbeat_ms = 0;
    slot->in_flight = 0;
    slot->connections_open = 0;
    slot->rss_bytes = 0;
    slot->db_pool_busy = 0;
    slot->db_pool_idle = 0;
    for (int d = 0; d < SB_DEP__COUNT; d++)
        slot->dep_up[d] = -1;
    __atomic_store_n(&slot->state, SB_FREE, __ATOMIC_RELEASE);
}

void sb_snapshot(const struct scoreboard *sb, struct sb_counters *out)
{
    uint64_t *dst = (uint64_t *)out;
    const size_t n = sizeof(struct sb_counters) / sizeof(uint64_t);

    memcpy(out, &sb->retired, sizeof(*out));
    for (uint32_t s = 0; s < sb->nslots; s++) {
        const uint64_t *src = (const uint64_t *)&sb->slots[s].c;
        for (size_t i = 0; i < n; i++)
            dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}
