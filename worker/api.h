/*
 * api.h: the Conduit API (RealWorld v2) as seen by the rest of conduitd.
 *
 * api_register_routes() runs once in the supervisor, before forking, so
 * route ids agree across workers. api_worker_start() runs in each worker
 * after fork and sets w->api (database pool, Redis, JWT, hashing threads).
 */
#ifndef CONDUIT_API_H
#define CONDUIT_API_H

#include "router.h"
#include "settings.h"

struct worker;

/* Add every API route to the router. 0, or -1 if the table is full. */
int api_register_routes(struct router *r) __attribute__((warn_unused_result));

/* Start the API's per-worker state. 0, or -1 with errbuf set (the worker
 * then exits with status 2: cannot start). */
int api_worker_start(struct worker *w, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* The worker is draining: finish what is pending, open nothing new. */
void api_worker_drain(struct worker *w);

/* Free the API's state (after the event loop has stopped). */
void api_worker_stop(struct worker *w);

/* `conduitd migrate`: apply migrations (blocking libpq; never on the
 * request path). Returns the process exit status. */
int api_migrate(const struct settings *s);

#endif
