/*
 * db.c: asynchronous libpq connection pool driven by libevent (see db.h).
 *
 * Each connection is a small state machine:
 *
 *   DOWN --timer--> CONNECTING --PQconnectPoll OK--> PREPARING --all prepared--> IDLE
 *   IDLE <--result--> BUSY          any failure --> DOWN (retry after back-off)
 *
 * Two persistent events per connection watch libpq's socket: read (always
 * armed once the socket exists, so a server closing an idle connection is
 * noticed at once) and write (armed only while libpq has unsent bytes or
 * PQconnectPoll asks for it). One timer per connection serves, by state, as
 * the connect timeout, the client-side query timeout or the retry back-off.
 *
 * Ownership: queued jobs own copies of their parameters; a running query's
 * callback and argument live in its connection; PGresults are cleared here
 * after the callback returns.
 *
 * Relies on libpq (non-blocking API), libevent, scoreboard.h, log.h.
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

/* A connection's life; see the diagram at the top. */
enum db_conn_state {
    DB_CONN_DOWN,       /* no PGconn; a retry may be scheduled */
    DB_CONN_CONNECTING, /* PQconnectPoll in progress */
    DB_CONN_PREPARING,  /* connected, preparing statement number `prep_next` */
    DB_CONN_IDLE,       /* ready for a query */
    DB_CONN_BUSY,       /* running one query */
};

struct db_job {
    TAILQ_ENTRY(db_job) link;
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
    bool failing; /* already logged this failure streak */
    /* the running query */
    db_done_fn fn;
    void *arg;
    struct timespec started;
    PGresult *result;
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
    bool down; /* nothing up and the last attempt failed: refuse queries */
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
    if (!was_up && is_up)
        p->nup++;
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

/* Finish the running query: hand its result to the callback. */
static void db_conn_complete(struct db_conn *c, enum db_status st, PGresult *res)
{
    struct db_pool *p = c->pool;
    db_done_fn fn = c->fn;
    void *arg = c->arg;
    struct timespec now;
    bool failed = st == DB_UNAVAILABLE;

    c->fn = NULL;
    c->arg = NULL;
    c->result = NULL;
    (void)evtimer_del(&c->ev_timer);
    clock_gettime(CLOCK_MONOTONIC, &now);
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
        sb_record_query(p->slot, db_elapsed(&c->started, &now), failed);
    if (fn != NULL)
        fn(st, res, arg);
    PQclear(res);
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

/* The connection is ready: mark it up, maybe un-down the pool, take work. */
static void db_conn_ready(struct db_conn *c)
{
    struct db_pool *p = c->pool;

    (void)evtimer_del(&c->ev_timer);
    c->backoff_ms = 0;
    if (c->failing || p->down)
        log_info("postgres: connected", "\"conn\":%d", c->index);
    c->failing = false;
    db_conn_set_state(c, DB_CONN_IDLE);
    p->down = false;
    db_publish(p);
    db_conn_dispatch(c);
}

/* Start running a query on an IDLE connection. 0, or -1 if sending failed:
 * then the connection is closed and fn has NOT been called. */
static int db_conn_run(struct db_conn *c, int stmt, const char *const *values, db_done_fn fn,
                       void *arg)
{
    const struct db_stmt *s = &c->pool->cfg.stmts[stmt];
    int ms = c->pool->cfg.statement_timeout_ms > 0
                 ? c->pool->cfg.statement_timeout_ms + DB_QUERY_GRACE_MS
                 : DB_QUERY_TIMEOUT_DEFAULT_MS;

    c->fn = fn;
    c->arg = arg;
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    db_conn_set_state(c, DB_CONN_BUSY);
    if (!PQsendQueryPrepared(c->pg, s->name, s->nparams, values, NULL, NULL, 0) ||
        db_conn_flush(c) != 0 || db_conn_timer(c, ms) != 0) {
        c->fn = NULL;
        c->arg = NULL;
        db_conn_fail(c, "send");
        return -1;
    }
    return 0;
}

/* An IDLE connection takes the oldest queued job, if any. */
static void db_conn_dispatch(struct db_conn *c)
{
    struct db_pool *p = c->pool;
    struct db_job *j;

    if (c->state != DB_CONN_IDLE || (j = TAILQ_FIRST(&p->queue)) == NULL)
        return;
    TAILQ_REMOVE(&p->queue, j, link);
    p->queued--;
    if (db_conn_run(c, j->stmt, j->values, j->fn, j->arg) != 0)
        j->fn(DB_UNAVAILABLE, NULL, j->arg);
    free(j);
}

/* Close the connection, fail its query, schedule a retry. */
static void db_conn_fail(struct db_conn *c, const char *why)
{
    struct db_pool *p = c->pool;
    char msg[512];
    bool had_query = c->state == DB_CONN_BUSY;

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
    db_conn_set_state(c, DB_CONN_DOWN);
    if (p->nup == 0) {
        if (!p->down)
            log_error("postgres: unavailable, answering 503 until it returns", "");
        p->down = true;
        db_publish(p);
    }
    if (had_query) {
        PGresult *r = c->result;
        c->result = NULL;
        db_conn_complete(c, DB_UNAVAILABLE, r);
    } else {
        db_count_error(p);
    }
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

/* Collect results in PREPARING or BUSY once libpq has a whole one. */
static void db_conn_collect(struct db_conn *c)
{
    while (c->pg != NULL && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (res != NULL) {
            if (c->result == NULL)
                c->result = res;
            else
                PQclear(res);
            continue;
        }
        /* NULL: the statement is complete. */
        if (c->state == DB_CONN_PREPARING) {
            PGresult *r = c->result;
            c->result = NULL;
            if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
                char msg[512];
                log_json_escape(msg, sizeof(msg),
                                r != NULL ? PQresultErrorMessage(r) : "no result");
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
            continue;
        }
        if (c->state == DB_CONN_BUSY) {
            PGresult *r = c->result;
            enum db_status st = r != NULL ? db_result_status(r) : DB_UNAVAILABLE;
            if (st == DB_UNAVAILABLE && PQstatus(c->pg) == CONNECTION_BAD) {
                c->result = r;
                db_conn_fail(c, "query");
                return;
            }
            db_conn_set_state(c, DB_CONN_IDLE);
            db_conn_complete(c, st, r);
            /* The callback may have started another query on c. */
            db_conn_dispatch(c);
        }
        return;
    }
}

/* Socket readable: connection progress, results, or the server hanging up. */
static void db_conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == DB_CONN_CONNECTING) {
        db_conn_poll(c);
        return;
    }
    if (!PQconsumeInput(c->pg)) {
        db_conn_fail(c, "read");
        return;
    }
    if (c->state == DB_CONN_IDLE) {
        /* Nothing is expected: a NOTICE, or an error before the close. */
        PGresult *res;
        while (!PQisBusy(c->pg) && (res = PQgetResult(c->pg)) != NULL)
            PQclear(res);
        if (PQstatus(c->pg) == CONNECTION_BAD)
            db_conn_fail(c, "server closed the connection");
        return;
    }
    db_conn_collect(c);
}

/* Socket writable: connection progress or pending output. */
static void db_conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct db_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == DB_CONN_CONNECTING) {
        db_conn_poll(c);
        return;
    }
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

int db_query(struct db_pool *p, int stmt, const char *const *values, db_done_fn fn, void *arg)
{
    struct db_job *j;

    if (p == NULL || p->stopping || stmt < 0 || stmt >= p->cfg.nstmts)
        return -1;
    for (int i = 0; i < p->nconns && !p->down; i++) {
        if (p->conns[i].state == DB_CONN_IDLE &&
            db_conn_run(&p->conns[i], stmt, values, fn, arg) == 0)
            return 0;
    }
    if (p->down || p->queued >= p->cfg.queue_max)
        return -1;
    j = db_job_new(p->cfg.stmts[stmt].nparams, values);
    if (j == NULL)
        return -1;
    j->stmt = stmt;
    j->fn = fn;
    j->arg = arg;
    TAILQ_INSERT_TAIL(&p->queue, j, link);
    p->queued++;
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
        if (c->state == DB_CONN_BUSY) {
            db_conn_clear_events(c);
            PQfinish(c->pg);
            c->pg = NULL;
            db_conn_set_state(c, DB_CONN_DOWN);
            db_conn_complete(c, DB_UNAVAILABLE, c->result);
            c->result = NULL;
        }
    }
    db_fail_queue(p);
    for (int i = 0; i < p->nconns; i++) {
        struct db_conn *c = &p->conns[i];
        db_conn_clear_events(c);
        if (c->pg != NULL)
            PQfinish(c->pg);
        c->pg = NULL;
        PQclear(c->result);
        db_conn_set_state(c, DB_CONN_DOWN);
    }
    free(p->url);
    free(p);
}
