/*
 * db.h: a small pool of asynchronous PostgreSQL connections for one worker.
 *
 * Every call is non-blocking: connections are opened with PQconnectStart /
 * PQconnectPoll, statements are prepared on each new connection before it
 * takes work, and queries go out with PQsendQueryPrepared, driven by the
 * worker's libevent loop (PQconsumeInput on read events, PQflush on write
 * events). Connections run in pipeline mode: up to pipeline_depth queries
 * in flight each, every one followed by its own Sync (so each is its own
 * implicit transaction). A query goes to the connection with the fewest in
 * flight; beyond that it waits in a bounded FIFO queue.
 *
 * Failure handling: a lost or failed connection is closed and reopened
 * after a back-off (50 ms doubling to 2 s, with jitter). A query that
 * outlives statement_timeout plus a grace period on the client side counts
 * as a lost connection (covers a hung server). When no connection is up and
 * the last attempt failed the pool is "down": db_query() refuses at once so
 * the caller answers 503 instead of waiting. A query that waits in the
 * queue longer than queue_timeout_ms is answered DB_OVERLOADED unsent
 * (admission control: the caller answers 503 + Retry-After).
 *
 * Metrics go into the worker's scoreboard slot: query durations, errors,
 * busy/idle gauges, and dep_up[SB_DEP_POSTGRES].
 */
#ifndef CONDUIT_DB_H
#define CONDUIT_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

struct event_base;
struct sb_slot;
struct db_pool;

#define DB_MAX_PARAMS 10

/* A statement prepared on every connection; nparams types (OIDs, 0 = let
 * the server infer) let a statement ignore some of its parameters. */
struct db_stmt {
    const char *name;
    const char *sql;
    int nparams;
    Oid types[DB_MAX_PARAMS];
};

struct db_config {
    const char *url;          /* libpq URI or key=value conninfo */
    int size;                 /* connections (>= 1) */
    int statement_timeout_ms; /* server-side limit, set per session; 0 = none */
    int queue_max;            /* queries waiting for a connection */
    int queue_timeout_ms;     /* a query queued longer: DB_OVERLOADED, not sent; 0 = no limit */
    int pipeline_depth;       /* queries in flight per connection, 1..16 */
    const struct db_stmt *stmts;
    int nstmts;
    struct sb_slot *slot; /* metrics; may be NULL (tests) */
};

enum db_status {
    DB_OK,          /* res is PGRES_TUPLES_OK or PGRES_COMMAND_OK */
    DB_SQL_ERROR,   /* the server refused the statement; res has the SQLSTATE */
    DB_UNAVAILABLE, /* no connection, lost connection, timeout or shutdown; res may be NULL */
    DB_OVERLOADED,  /* waited past queue_timeout_ms for a connection; never sent; res NULL */
};

/* Called once per accepted query, on the loop thread. res belongs to the
 * pool and is cleared after the callback returns: copy what you keep. */
typedef void (*db_done_fn)(enum db_status st, const PGresult *res, void *arg);

/* Check the URL and start connecting. NULL with errbuf set if the URL does
 * not parse or memory runs out (the caller treats that as bad config). */
struct db_pool *db_pool_new(struct event_base *base, const struct db_config *cfg, char *errbuf,
                            size_t errlen);

/* Run prepared statement number stmt (an index into cfg->stmts) with text
 * parameters (NULL entries are SQL NULL; values are copied if the query has
 * to wait). 0: fn will be called exactly once. -1: refused (pool down,
 * queue full or shutting down), fn will not be called. */
int db_query(struct db_pool *p, int stmt, const char *const *values, db_done_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* At least one connection is ready. */
bool db_pool_up(const struct db_pool *p);

/* SQLSTATE of a failed result ("23505"), or "" if none. */
const char *db_sqlstate(const PGresult *res);
/* Constraint named in a failed result, or "". */
const char *db_constraint(const PGresult *res);

/* Close every connection; queued and running queries get DB_UNAVAILABLE. */
void db_pool_free(struct db_pool *p);

#endif
