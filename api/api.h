/*
 * api.h: the Conduit API (RealWorld v2) as seen by the worker process.
 *
 * api_register_routes() runs once in the supervisor, before forking, so
 * route ids agree across workers. api_start() runs in each worker after
 * fork and returns the API's per-worker state (database pool, Redis, JWT,
 * hashing threads); the worker passes that state as the ctx of every route
 * handler. The API knows nothing of the worker beyond struct api_host.
 */
#ifndef CONDUIT_API_H
#define CONDUIT_API_H

#include <stddef.h>

#include "router.h"
#include "scoreboard.h"
#include "settings.h"

struct event_base;
struct api;

/* What the hosting worker lends the API for its lifetime. */
struct api_host {
    struct event_base *base;
    const struct settings *settings;
    struct sb_slot *slot;               /* the worker's scoreboard slot, or NULL */
    struct sb_cache_trust *cache_trust; /* shared by all workers, or NULL (cache.h) */
    const struct router *router;
};

/* Add every API route to the router. 0, or -1 if the table is full. */
int api_register_routes(struct router *r) __attribute__((warn_unused_result));

/* Start the API's per-worker state; the caller frees it with api_free().
 * NULL with errbuf set (the worker then exits with status 2: cannot start). */
struct api *api_start(const struct api_host *host, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* The worker is draining: finish what is pending, open nothing new. */
void api_drain(struct api *api);

/* Free the API's state (after the event loop has stopped). NULL is ignored. */
void api_free(struct api *api);

#endif
