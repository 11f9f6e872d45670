/*
 * db.c: asynchronous libpq connection pool driven by libevent (see db.h).
 *
 * Each connection is a small state machine:
 *
 *   DOWN --timer--> CONNECTING --PQconnectPoll OK--> PREPARING --all prepared--> UP
 *   any failure --> DOWN (retry after back-off)
 *
 * An UP connection runs in libpq's pipeline mode: up to cfg.pipeline_depth
 * queries are in flight at once, each followed by its own Sync, so each is
 * its own implicit transaction and an error in one never aborts another.
 * Results come back in order; the connection's ring of in-flight operations
 * says whose each is. A new query goes to the UP connection with the fewest
 * in flight; when all are full it waits in the pool's FIFO. Pipelining lets
 * the server take several queries per wake-up instead of one, which on a
 * loaded machine is most of the cost of a short query.
 *
 * Two persistent events per connection watch libpq's socket: read (always
 * armed once the socket exists, so a server closing an idle connection is
 * noticed at once) and write (armed only while libpq has unsent bytes or
 * PQconnectPoll asks for it). One timer per connection serves, by state, as
 * the connect timeout, the client-side timeout of the oldest query in
 * flight, or the retry back-off.
 *
 * Queue timeout: a job that waited longer than cfg.queue_timeout_ms for a
 * connection is answered DB_OVERLOADED without being sent (the server did
 * no work for it), and counted as shed (reason db_queue); the wait counts
 * from when a connection was up (a query queued while the pool connects is
 * not shed for the connect's time); the check runs
 * when a connection takes the job and, for the head of the queue, on every
 * new query, so a standing queue sheds its stale jobs at once. Every query
 * records its wait (0 when it went out at once) in the scoreboard's
 * conduitd_db_queue_wait_seconds histogram.
 *
 * Ownership: queued jobs own copies of their parameters (libpq copies them
 * into its buffer when a query is sent); PGresults are cleared here after
 * the callback returns.
 *
 * Relies on libpq >= 14 (pipeline mode, non-blocking API), libevent,
 * scoreboard.h, log.h.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "db.h"
#include "log.h"
#include "scoreboard.h"

#define DB_CONNECT_TIMEOUT_MS       5000
#define DB_BACKOFF_MIN_MS           50
#define DB_BACKOFF_MAX_MS           2000
#define DB_QUERY_GRACE_MS           2000
#define DB_QUERY_TIMEOUT_DEFAULT_MS 30000
#define DB_PIPELINE_MAX             16

/* A connection's life; see the diagram at the top. IDLE and BUSY are both
 * "up": BUSY has queries in flight (what the busy/idle gauges show). */
enum db_conn_state {
    DB_CONN_DOWN,       /* no PGconn; a retry may be scheduled */
    DB_CONN_CONNECTING, /* PQconnectPoll in progress */
    DB_CONN_PREPARING,  /* connected, preparing statement number `prep_next` */
    DB_CONN_IDLE,       /* pipeline empty */
    DB_CONN_BUSY,       /* 1..pipeline_depth queries in flight */
};

/* One query in flight on a connection. */
struct db_op {
    db_done_fn fn;
    void *arg;
    struct timespec started;
    PGresult *result; /* first result of the statement, once it arrives */
};

struct db_job {
    TAILQ_ENTRY(db_job) link;
    struct timespec queued_at; /* monotonic: for the wait histogram and the queue timeout */
    int stmt;
    const char *values[DB_MAX_PARAMS]; /* point into data, or NULL */
    db_done_fn fn;
    void *arg;
    char data[]; /* the parameter strings, NUL-separated */
};

TAILQ_HEAD(db_job_queue, db_job);

struct db_conn {
    struct db_pool *pool;
    int index;
    enum db_conn_state state;
    PGconn *pg;
    int fd;
    struct event ev_read;
    struct event ev_write;
    struct event ev_timer;
    bool events_set; /* ev_read/ev_write assigned for fd */
    bool write_armed;
    int prep_next;
    int backoff_ms;
    bool failing;          /* already logged this failure streak */
    PGresult *prep_result; /* PREPARING: the prepare's result */
    /* queries in flight, oldest at head */
    struct db_op ops[DB_PIPELINE_MAX];
    int head;
    int inflight;
    int syncs; /* Sync results still to come */
};

struct db_pool {
    struct event_base *base;
    struct db_config cfg;
    char *url;
    char options[128];
    struct sb_slot *slot;
    struct db_job_queue queue;
    int queued;
    int nup; /* connections IDLE or BUSY */
    int nidle;
    int nbusy;
    bool down;                /* nothing up and the last attempt failed: refuse queries */
    struct timespec up_since; /* monotonic: when the first connection of this streak came up */
    bool stopping;
    unsigned rng;
    int nconns;
    struct db_conn conns[];
};

static void db_conn_start(struct db_conn *c);
static void db_conn_fail(struct db_conn *c, const char *why);
static void db_conn_dispatch(struct db_conn *c);
static void db_conn_on_read(evutil_socket_t fd, short what, void *arg);
static void db_conn_on_write(evutil_socket_t fd, short what, void *arg);

/* Seconds between two monotonic times. */
static double db_elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Milliseconds as a timeval. */
static struct timeval db_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Publish the pool's up/down state and gauges to the scoreboard. */
static void db_publish(struct db_pool *p)
{
    if (p->slot == NULL)
        return;
    if (p->nup > 0)
        p->slot->dep_up[SB_DEP_POSTGRES] = 1;
    else if (p->down)
        p->slot->dep_up[SB_DEP_POSTGRES] = 0;
}

/* Move c to state s, keeping the pool's counters and gauges in step. */
static void db_conn_set_state(struct db_conn *c, enum db_conn_state s)
{
    struct db_pool *p = c->pool;
    bool was_up = c->state == DB_CONN_IDLE || c->state == DB_CONN_BUSY;
    bool is_up = s == DB_CONN_IDLE || s == DB_CONN_BUSY;

    if (c->state == DB_CONN_IDLE) {
        p->nidle--;
        if (p->slot)
            sb_add(&p->slot->db_pool_idle, -1);
    } else if (c->state == DB_CONN_BUSY) {
        p->nbusy--;
        if (p->slot)
            sb_add(&p->slot->db_pool_busy, -1);
    }
    if (s == DB_CONN_IDLE) {
        p->nidle++;
        if (p->slot)
            sb_add(&p->slot->db_pool_idle, 1);
    } else if (s == DB_CONN_BUSY) {
        p->nbusy++;
        if (p->slot)
            sb_add(&p->slot->db_pool_busy, 1);
    }
    if (was_up && !is_up)
        p->nup--;
    if (!was_up && is_up && p->nup++ == 0)
        (void)clock_gettime(CLOCK_MONOTONIC, &p->up_since);
    c->state = s;
}

/* Count a failed query or connection. */
static void db_count_error(struct db_pool *p)
{
    if (p->slot != NULL)
        sb_inc(&p->slot->c.db_errors, 1);
}

/* Arm or disarm the write event. */
static int db_conn_want_write(struct db_conn *c, bool on)
{
    if (on == c->write_armed)
        return 0;
    if (on ? event_add(&c->ev_write, NULL) != 0 : event_del(&c->ev_write) != 0)
        return -1;
    c->write_armed = on;
    return 0;
}

/* Drop the socket events (before PQfinish or a socket change). */
static void db_conn_clear_events(struct db_conn *c)
{
    if (!c->events_set)
        return;
    (void)event_del(&c->ev_read);
    (void)event_del(&c->ev_write);
    c->events_set = false;
    c->write_armed = false;
    c->fd = -1;
}

/* Watch libpq's current socket; re-assign the events if it changed. */
static int db_conn_watch(struct db_conn *c)
{
    int fd = PQsocket(c->pg);

    if (fd < 0)
        return -1;
    if (c->events_set && fd == c->fd)
        return 0;
    db_conn_clear_events(c);
    c->fd = fd;
    if (event_assign(&c->ev_read, c->pool->base, fd, EV_READ | EV_PERSIST, db_conn_on_read, c) !=
            0 ||
        event_assign(&c->ev_write, c->pool->base, fd, EV_WRITE | EV_PERSIST, db_conn_on_write, c) !=
            0)
        return -1;
    /* With priorities on the base (the worker sets two), results come
     * before clients: a loop busy with thousands of client sockets still
     * hands each finished query back at once, so the pool's throughput does
     * not shrink to its depth per loop iteration under overload. */
    if (event_base_get_npriorities(c->pool->base) > 1 &&
        (event_priority_set(&c->ev_read, 0) != 0 || event_priority_set(&c->ev_write, 0) != 0))
        return -1;
    c->events_set = true;
    if (event_add(&c->ev_read, NULL) != 0)
        return -1;
    return 0;
}

/* (Re)arm the connection's timer. */
static int db_conn_timer(struct db_conn *c, int ms)
{
    struct timeval tv = db_tv(ms);

    return evtimer_add(&c->ev_timer, &tv);
}

/* Fail every queued job: nothing can run them soon. */
static void db_fail_queue(struct db_pool *p)
{
    struct db_job *j;

    while ((j = TAILQ_FIRST(&p->queue)) != NULL) {
        TAILQ_REMOVE(&p->queue, j, link);
        p->queued--;
        j->fn(DB_UNAVAILABLE, NULL, j->arg);
        free(j);
    }
}

/* Client-side limit on how long the oldest query in flight may take. */
static int db_query_timeout_ms(const struct db_pool *p)
{
    return p->cfg.statement_timeout_ms > 0 ? p->cfg.statement_timeout_ms + DB_QUERY_GRACE_MS
                                           : DB_QUERY_TIMEOUT_DEFAULT_MS;
}

/* Hand a finished query's result to its callback (op already removed). */
static void db_op_complete(struct db_pool *p, struct db_op *op, enum db_status st, PGresult *res)
{
    struct timespec now;
    bool failed = st == DB_UNAVAILABLE;

    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    /* Integrity violations (class 23) are the request's fault (a taken
     * username, say) and are answered 409/422; anything else is logged. */
    if (st != DB_OK && res != NULL && strncmp(db_sqlstate(res), "23", 2) != 0) {
        char msg[512];
        log_json_escape(msg, sizeof(msg), PQresultErrorMessage(res));
        log_warn("postgres: query failed", "\"sqlstate\":\"%s\",\"error\":\"%s\"", db_sqlstate(res),
                 msg);
        failed = true;
    }
    /* sb_record_query counts db_errors for failed queries. */
    if (p->slot != NULL)
        sb_record_query(p->slot, db_elapsed(&op->started, &now), failed);
    if (op->fn != NULL)
        op->fn(st, res, op->arg);
    PQclear(res);
}

/* Remove the oldest in-flight op into *out; adjust state and timer. */
static void db_conn_pop(struct db_conn *c, struct db_op *out)
{
    *out = c->ops[c->head];
    c->ops[c->head].result = NULL;
    c->head = (c->head + 1) % DB_PIPELINE_MAX;
    c->inflight--;
    if (c->inflight == 0) {
        (void)evtimer_del(&c->ev_timer);
        if (c->state == DB_CONN_BUSY)
            db_conn_set_state(c, DB_CONN_IDLE);
    } else if (db_conn_timer(c, db_query_timeout_ms(c->pool)) != 0) {
        log_warn("postgres: cannot re-arm a query timeout", "");
    }
}

/* Classify a finished statement's result. */
static enum db_status db_result_status(const PGresult *res)
{
    const char *state;

    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        return DB_OK;
    case PGRES_FATAL_ERROR:
        state = db_sqlstate(res);
        /* Connection trouble, shutdown, timeouts, deadlocks or
         * serialisation failures (retryable), resources, internal errors:
         * the database is unavailable, not the request wrong. */
        if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
            strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 ||
            strncmp(state, "58", 2) == 0 || strncmp(state, "XX", 2) == 0 || state[0] == '\0')
            return DB_UNAVAILABLE;
        return DB_SQL_ERROR;
    default:
        return DB_UNAVAILABLE;
    }
}

/* Try to push libpq's output; arm the write event if some is left. */
static int db_conn_flush(struct db_conn *c)
{
    int r = PQflush(c->pg);

    if (r < 0)
        return -1;
    return db_conn_want_write(c, r == 1);
}

/* Send one prepare (PREPARING state). */
static int db_conn_send_prepare(struct db_conn *c)
{
    const struct db_stmt *s = &c->pool->cfg.stmts[c->prep_next];

    if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, s->types))
        return -1;
    return db_conn_flush(c);
}

/* The connection is ready: pipeline mode on, mark it up, take work. */
static void db_conn_ready(struct db_conn *c)
{
    struct db_pool *p = c->pool;

    if (PQenterPipelineMode(c->pg) != 1) {
        db_conn_fail(c, "pipeline mode");
        return;
    }
    (void)evtimer_del(&c->ev_timer);
    c->backoff_ms = 0;
    c->head = 0;
    c->inflight = 0;
    c->syncs = 0;
    if (c->failing || p->down)
        log_info("postgres: connected", "\"conn\":%d", c->index);
    c->failing = false;
    db_conn_set_state(c, DB_CONN_IDLE);
    p->down = false;
    db_publish(p);
    db_conn_dispatch(c);
}

/* Send a query (and its Sync) on an up connection with room in its
 * pipeline. 0, or -1 if sending failed: then the connection has been
 * failed and fn has NOT been called. */
static int db_conn_run(struct db_conn *c, int stmt, const char *const *values, db_done_fn fn,
                       void *arg)
{
    const struct db_stmt *s = &c->pool->cfg.stmts[stmt];
    struct db_op *op;

    if (!PQsendQueryPrepared(c->pg, s->name, s->nparams, values, NULL, NULL, 0) ||
        !PQpipelineSync(c->pg) || db_conn_flush(c) != 0) {
        db_conn_fail(c, "send");
        return -1;
    }
    op = &c->ops[(c->head + c->inflight) % DB_PIPELINE_MAX];
    op->fn = fn;
    op->arg = arg;
    op->result = NULL;
    (void)clock_gettime(CLOCK_MONOTONIC, &op->started);
    c->inflight++;
    c->syncs++;
    if (c->inflight == 1) {
        db_conn_set_state(c, DB_CONN_BUSY);
        if (db_conn_timer(c, db_query_timeout_ms(c->pool)) != 0)
            log_warn("postgres: cannot arm a query timeout", "");
    }
    return 0;
}

/* True when job j, seen at now, is past the queue timeout. The wait counts
 * from when a connection was up to take it: queries queued while the pool
 * was still connecting wait for it (a start, not an overload). */
static bool db_job_expired(const struct db_pool *p, const struct db_job *j,
                           const struct timespec *now)
{
    double waited;

    if (p->cfg.queue_timeout_ms <= 0 || p->nup == 0)
        return false;
    waited = db_elapsed(&j->queued_at, now);
    if (db_elapsed(&p->up_since, now) < waited)
        waited = db_elapsed(&p->up_since, now);
    return waited * 1000.0 > (double)p->cfg.queue_timeout_ms;
}

/* Answer a job DB_OVERLOADED without running it (the caller frees it). */
static void db_job_shed(struct db_pool *p, struct db_job *j)
{
    if (p->slot != NULL)
        sb_inc(&p->slot->c.shed[SB_SHED_DB_QUEUE], 1);
    j->fn(DB_OVERLOADED, NULL, j->arg);
}

/* Shed the jobs at the head of the queue that are past the timeout: the
 * queue is FIFO, so the first one still in time ends the sweep. */
static void db_shed_stale(struct db_pool *p)
{
    struct db_job *j;
    struct timespec now;

    if (p->cfg.queue_timeout_ms <= 0 || TAILQ_EMPTY(&p->queue))
        return;
    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    while ((j = TAILQ_FIRST(&p->queue)) != NULL) {
        double waited = db_elapsed(&j->queued_at, &now);
        if (!db_job_expired(p, j, &now))
            break;
        TAILQ_REMOVE(&p->queue, j, link);
        p->queued--;
        if (p->slot != NULL)
            sb_record_db_wait(p->slot, waited);
        db_job_shed(p, j);
        free(j);
    }
}

/* Fill c's pipeline from the pool's queue. */
static void db_conn_dispatch(struct db_conn *c)
{
    struct db_pool *p = c->pool;
    struct db_job *j;

    while ((c->state == DB_CONN_IDLE || c->state == DB_CONN_BUSY) &&
           c->inflight < p->cfg.pipeline_depth && (j = TAILQ_FIRST(&p->queue)) != NULL) {
        struct timespec now;
        double waited;
        TAILQ_REMOVE(&p->queue, j, link);
        p->queued--;
        (void)clock_gettime(CLOCK_MONOTONIC, &now);
        waited = db_elapsed(&j->queued_at, &now);
        if (p->slot != NULL)
            sb_record_db_wait(p->slot, waited);
        if (db_job_expired(p, j, &now))
            db_job_shed(p, j);
        else if (db_conn_run(c, j->stmt, j->values, j->fn, j->arg) != 0)
            j->fn(DB_UNAVAILABLE, NULL, j->arg);
        free(j);
    }
}

/* Close the connection, fail the queries in flight, schedule a retry. */
static void db_conn_fail(struct db_conn *c, const char *why)
{
    struct db_pool *p = c->pool;
    char msg[512];

    log_json_escape(msg, sizeof(msg), c->pg != NULL ? PQerrorMessage(c->pg) : "");
    if (!c->failing) {
        log_warn("postgres: connection failed", "\"conn\":%d,\"step\":\"%s\",\"error\":\"%s\"",
                 c->index, why, msg);
        c->failing = true;
    } else {
        log_debug("postgres: connection failed", "\"conn\":%d,\"step\":\"%s\",\"error\":\"%s\"",
                  c->index, why, msg);
    }
    db_conn_clear_events(c);
    (void)evtimer_del(&c->ev_timer);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    PQclear(c->prep_result);
    c->prep_result = NULL;
    db_conn_set_state(c, DB_CONN_DOWN);
    if (p->nup == 0) {
        if (!p->down)
            log_error("postgres: unavailable, answering 503 until it returns", "");
        p->down = true;
        db_publish(p);
    }
    if (c->inflight == 0)
        db_count_error(p);
    while (c->inflight > 0) {
        struct db_op op;
        db_conn_pop(c, &op);
        db_op_complete(p, &op, DB_UNAVAILABLE, op.result);
    }
    c->syncs = 0;
    if (p->down)
        db_fail_queue(p);
    if (p->stopping || c->state != DB_CONN_DOWN)
        return;
    /* Back-off with +-25% jitter so workers do not reconnect in lockstep. */
    c->backoff_ms = c->backoff_ms == 0 ? DB_BACKOFF_MIN_MS : c->backoff_ms * 2;
    if (c->backoff_ms > DB_BACKOFF_MAX_MS)
        c->backoff_ms = DB_BACKOFF_MAX_MS;
    p->rng = p->rng * 1103515245u + 12345u;
    {
        int jitter = c->backoff_ms / 4;
        int ms = c->backoff_ms - jitter + (int)((p->rng >> 8) % (unsigned)(2 * jitter + 1));
        if (db_conn_timer(c, ms) != 0)
            log_error("postgres: cannot schedule a reconnect", "\"conn\":%d", c->index);
    }
}

/* Drive PQconnectPoll one step. */
static void db_conn_poll(struct db_conn *c)
{
    PostgresPollingStatusType r = PQconnectPoll(c->pg);

    if (r == PGRES_POLLING_FAILED) {
        db_conn_fail(c, "connect");
        return;
    }
    if (db_conn_watch(c) != 0) {
        db_conn_fail(c, "watch socket");
        return;
    }
    if (r == PGRES_POLLING_OK) {
        if (PQsetnonblocking(c->pg, 1) != 0) {
            db_conn_fail(c, "set non-blocking");
            return;
        }
        (void)db_conn_want_write(c, false);
        if (c->pool->cfg.nstmts == 0) {
            db_conn_ready(c);
            return;
        }
        c->prep_next = 0;
        db_conn_set_state(c, DB_CONN_PREPARING);
        if (db_conn_send_prepare(c) != 0)
            db_conn_fail(c, "prepare");
        return;
    }
    /* READING: the read event is always armed; WRITING: arm write too. */
    if (db_conn_want_write(c, r == PGRES_POLLING_WRITING) != 0)
        db_conn_fail(c, "arm events");
}

/* PREPARING: collect the prepare's result; at its end send the next one,
 * or go up after the last. */
static void db_conn_collect_prepare(struct db_conn *c)
{
    while (c->pg != NULL && c->state == DB_CONN_PREPARING && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        PGresult *r;
        if (res != NULL) {
            if (c->prep_result == NULL)
                c->prep_result = res;
            else
                PQclear(res);
            continue;
        }
        r = c->prep_result;
        c->prep_result = NULL;
        if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
            char msg[512];
            log_json_escape(msg, sizeof(msg), r != NULL ? PQresultErrorMessage(r) : "no result");
            /* Once per failure streak: retries follow every 2 s. */
            if (!c->failing)
                log_error("postgres: cannot prepare a statement (has `conduitd migrate` run?)",
                          "\"statement\":\"%s\",\"error\":\"%s\"",
                          c->pool->cfg.stmts[c->prep_next].name, msg);
            PQclear(r);
            db_conn_fail(c, "prepare");
            return;
        }
        PQclear(r);
        if (++c->prep_next == c->pool->cfg.nstmts) {
            db_conn_ready(c);
            return;
        }
        if (db_conn_send_prepare(c) != 0) {
            db_conn_fail(c, "prepare");
            return;
        }
    }
}

/* UP: take every complete result libpq has. Per query the sequence is its
 * result(s), a NULL, then the PGRES_PIPELINE_SYNC of its Sync. */
static void db_conn_collect(struct db_conn *c)
{
    struct db_pool *p = c->pool;

    while (c->pg != NULL && (c->inflight > 0 || c->syncs > 0) && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (res == NULL) {
            struct db_op op;
            enum db_status st;
            if (c->inflight == 0 || c->ops[c->head].result == NULL)
                break; /* nothing complete yet */
            db_conn_pop(c, &op);
            st = db_result_status(op.result);
            if (st == DB_UNAVAILABLE && PQstatus(c->pg) == CONNECTION_BAD) {
                db_op_complete(p, &op, st, op.result);
                db_conn_fail(c, "query");
                return;
            }
            db_op_complete(p, &op, st, op.result);
            continue;
        }
        switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_SYNC:
            c->syncs--;
            PQclear(res);
            break;
        case PGRES_PIPELINE_ABORTED:
            /* Cannot happen with a Sync after every query; treat as lost. */
            PQclear(res);
            db_conn_fail(c, "pipeline aborted");
            return;
        default:
            if (c->inflight > 0 && c->ops[c->head].result == NULL)
                c->ops[c->head].result = res;
            else
                PQclear(res);
        }
    }
    /* Callbacks may have queued work this connection can take. */
    db_conn_dispatch(c);
}

/* While connecting, either socket event drives PQconnectPoll: true if this
 * one did (the event is then used up). */
static bool db_conn_connect_step(struct db_conn *c)
{
    if (c->state != DB_CONN_CONNECTING)
        return false;
    db_conn_poll(c);
    return true;
}

/* Socket readable: connection progress, results, or the server hanging up. */
static void db_conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;

    (void)fd;
    (void)what;
    if (db_conn_connect_step(c))
        return;
    if (!PQconsumeInput(c->pg)) {
        db_conn_fail(c, "read");
        return;
    }
    if (c->state == DB_CONN_PREPARING) {
        db_conn_collect_prepare(c);
        return;
    }
    db_conn_collect(c);
    /* An idle connection has nothing to read but a NOTICE or the error
     * that precedes the server closing it. */
    if (c->pg != NULL && c->state == DB_CONN_IDLE && PQstatus(c->pg) == CONNECTION_BAD)
        db_conn_fail(c, "server closed the connection");
}

/* Socket writable: connection progress or pending output. */
static void db_conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;

    (void)fd;
    (void)what;
    if (db_conn_connect_step(c))
        return;
    if (db_conn_flush(c) != 0)
        db_conn_fail(c, "write");
}

/* The connection's timer: retry (DOWN), connect timeout, query timeout. */
static void db_conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;

    (void)fd;
    (void)what;
    switch (c->state) {
    case DB_CONN_DOWN:
        db_conn_start(c);
        break;
    case DB_CONN_CONNECTING:
    case DB_CONN_PREPARING:
        db_conn_fail(c, "connect timeout");
        break;
    case DB_CONN_BUSY:
        db_conn_fail(c, "query timeout");
        break;
    case DB_CONN_IDLE:
        break;
    }
}

/* Open a connection (non-blocking). */
static void db_conn_start(struct db_conn *c)
{
    struct db_pool *p = c->pool;
    const char *keys[] = {"application_name", "dbname", "options", NULL};
    const char *vals[] = {"conduitd", p->url, p->options, NULL};

    if (p->stopping)
        return;
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
        db_conn_fail(c, "connect start");
        return;
    }
    db_conn_set_state(c, DB_CONN_CONNECTING);
    if (db_conn_timer(c, DB_CONNECT_TIMEOUT_MS) != 0) {
        db_conn_fail(c, "timer");
        return;
    }
    /* libpq: behave as if PQconnectPoll had returned PGRES_POLLING_WRITING. */
    if (db_conn_watch(c) != 0 || db_conn_want_write(c, true) != 0)
        db_conn_fail(c, "watch socket");
}

struct db_pool *db_pool_new(struct event_base *base, const struct db_config *cfg, char *errbuf,
                            size_t errlen)
{
    struct db_pool *p;
    char *err = NULL;
    PQconninfoOption *opts;
    int n = cfg->size < 1 ? 1 : cfg->size;

    opts = PQconninfoParse(cfg->url, &err);
    if (opts == NULL) {
        snprintf(errbuf, errlen, "DATABASE_URL does not parse: %s",
                 err != NULL ? err : "out of memory");
        PQfreemem(err);
        return NULL;
    }
    PQconninfoFree(opts);
    for (int i = 0; i < cfg->nstmts; i++) {
        if (cfg->stmts[i].nparams > DB_MAX_PARAMS) {
            snprintf(errbuf, errlen, "statement %s has too many parameters", cfg->stmts[i].name);
            return NULL;
        }
    }
    p = calloc(1, sizeof(*p) + (size_t)n * sizeof(struct db_conn));
    if (p == NULL || (p->url = strdup(cfg->url)) == NULL) {
        free(p);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    p->base = base;
    p->cfg = *cfg;
    p->cfg.url = p->url;
    p->slot = cfg->slot;
    p->nconns = n;
    if (p->cfg.pipeline_depth < 1)
        p->cfg.pipeline_depth = 1;
    if (p->cfg.pipeline_depth > DB_PIPELINE_MAX)
        p->cfg.pipeline_depth = DB_PIPELINE_MAX;
    p->rng = (unsigned)getpid() ^ (unsigned)time(NULL);
    TAILQ_INIT(&p->queue);
    /* Generic plans always: the statements are written for them (one per
     * filter combination), and "auto" would keep re-planning statements
     * whose NULL viewer makes a custom plan look cheaper, on every call.
     * UTC and ISO dates: timestamps are read in their text form. */
    snprintf(p->options, sizeof(p->options),
             "-c statement_timeout=%d -c plan_cache_mode=force_generic_plan "
             "-c TimeZone=UTC -c DateStyle=ISO",
             cfg->statement_timeout_ms > 0 ? cfg->statement_timeout_ms : 0);
    for (int i = 0; i < n; i++) {
        struct db_conn *c = &p->conns[i];
        c->pool = p;
        c->index = i;
        c->fd = -1;
        c->state = DB_CONN_DOWN;
        if (evtimer_assign(&c->ev_timer, base, db_conn_on_timer, c) != 0) {
            snprintf(errbuf, errlen, "cannot set up a timer");
            free(p->url);
            free(p);
            return NULL;
        }
    }
    if (p->slot != NULL)
        p->slot->dep_up[SB_DEP_POSTGRES] = 0;
    for (int i = 0; i < n; i++)
        db_conn_start(&p->conns[i]);
    return p;
}

/* A job holding copies of the parameters; NULL on allocation failure. */
static struct db_job *db_job_new(int nparams, const char *const *values)
{
    size_t total = 0;
    struct db_job *j;
    char *o;

    for (int i = 0; i < nparams; i++)
        if (values[i] != NULL)
            total += strlen(values[i]) + 1;
    j = malloc(sizeof(*j) + total);
    if (j == NULL)
        return NULL;
    o = j->data;
    for (int i = 0; i < DB_MAX_PARAMS; i++) {
        if (i >= nparams || values[i] == NULL) {
            j->values[i] = NULL;
            continue;
        }
        size_t len = strlen(values[i]) + 1;
        memcpy(o, values[i], len);
        j->values[i] = o;
        o += len;
    }
    return j;
}

/* Let every up connection with room take queued work. A connection takes
 * from the queue when it finishes a query; this makes sure that one with
 * room never stays idle while queries wait (a safeguard: it costs a pass
 * over the pool only when a query has to queue). */
static void db_kick(struct db_pool *p)
{
    for (int i = 0; i < p->nconns && !TAILQ_EMPTY(&p->queue); i++) {
        struct db_conn *c = &p->conns[i];
        if ((c->state == DB_CONN_IDLE || c->state == DB_CONN_BUSY) &&
            c->inflight < p->cfg.pipeline_depth)
            db_conn_dispatch(c);
    }
}

int db_query(struct db_pool *p, int stmt, const char *const *values, db_done_fn fn, void *arg)
{
    struct db_job *j;

    if (p == NULL || p->stopping || stmt < 0 || stmt >= p->cfg.nstmts)
        return -1;
    db_shed_stale(p);
    /* The up connection with the fewest queries in flight, if one has room;
     * a failed send closes that connection, so look again. */
    while (!p->down && TAILQ_EMPTY(&p->queue)) {
        struct db_conn *best = NULL;
        for (int i = 0; i < p->nconns; i++) {
            struct db_conn *c = &p->conns[i];
            if ((c->state == DB_CONN_IDLE || c->state == DB_CONN_BUSY) &&
                c->inflight < p->cfg.pipeline_depth &&
                (best == NULL || c->inflight < best->inflight))
                best = c;
        }
        if (best == NULL)
            break;
        if (db_conn_run(best, stmt, values, fn, arg) == 0) {
            if (p->slot != NULL)
                sb_record_db_wait(p->slot, 0.0);
            return 0;
        }
    }
    if (p->down || p->queued >= p->cfg.queue_max)
        return -1;
    j = db_job_new(p->cfg.stmts[stmt].nparams, values);
    if (j == NULL)
        return -1;
    j->stmt = stmt;
    j->fn = fn;
    j->arg = arg;
    (void)clock_gettime(CLOCK_MONOTONIC, &j->queued_at);
    TAILQ_INSERT_TAIL(&p->queue, j, link);
    p->queued++;
    db_kick(p);
    return 0;
}

bool db_pool_up(const struct db_pool *p)
{
    return p != NULL && p->nup > 0;
}

const char *db_sqlstate(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s != NULL ? s : "";
}

const char *db_constraint(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    return s != NULL ? s : "";
}

void db_pool_free(struct db_pool *p)
{
    if (p == NULL)
        return;
    p->stopping = true;
    for (int i = 0; i < p->nconns; i++) {
        struct db_conn *c = &p->conns[i];
        (void)evtimer_del(&c->ev_timer);
        db_conn_clear_events(c);
        if (c->pg != NULL)
            PQfinish(c->pg);
        c->pg = NULL;
        PQclear(c->prep_result);
        c->prep_result = NULL;
        db_conn_set_state(c, DB_CONN_DOWN);
        while (c->inflight > 0) {
            struct db_op op;
            db_conn_pop(c, &op);
            db_op_complete(p, &op, DB_UNAVAILABLE, op.result);
        }
    }
    db_fail_queue(p);
    free(p->url);
    free(p);
}
