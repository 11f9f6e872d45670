/*
 * worker.c: one worker process (see worker.h).
 *
 * Life: the supervisor forks us with every signal blocked and the child's
 * inherited descriptors already trimmed to the listening socket and our end
 * of the control socketpair. We build a fresh event_base (the parent's is
 * never touched again), install our signal events, start the Conduit API,
 * serve HTTP on the shared socket and stamp a heartbeat in our scoreboard
 * slot from a timer (once a second, or every quarter of --worker-timeout
 * when that is shorter, so a healthy worker is never mistaken for a hung
 * one).
 *
 * Recycling: with --max-requests N (+ a random part of --max-requests-jitter
 * J, drawn once at start), the worker counts answered requests in memory;
 * at N it sets `recycle` in its slot, once. The supervisor sees the flag on
 * its next tick, starts a replacement and retires this worker once the
 * replacement is ready; until then this worker keeps serving.
 *
 * Stopping: TERM, INT or QUIT, or CONTROL_DRAIN on the control channel,
 * drains the HTTP core (http_server_drain): it stops accepting first
 * (nothing new comes in: the other workers accept from the shared queue),
 * in-flight requests finish (answered with Connection: close), and idle
 * connections get a short grace (see http.h) in which a request that
 * arrives, on a keep-alive connection or one accepted a moment ago, is
 * still answered with Connection: close. The worker exits 0 once no
 * connection and no request is left. The supervisor enforces the
 * deadline. CONTROL_STOP, or end of file on the control channel (the
 * supervisor is gone), exits at once.
 *
 * Hot path: worker_on_request and worker_on_done run for every request;
 * they make no system call and allocate nothing (the access log, when on,
 * is one write per request). The heartbeat is a timer, and max-requests is
 * one compare in memory.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api.h"
#include "control.h"
#include "log.h"
#include "proc.h"
#include "worker.h"

#define WORKER_HEARTBEAT_MS     1000 /* heartbeat period, unless the timeout asks for more */
#define WORKER_HEARTBEAT_MIN_MS 100  /* never stamp more often than this */
#define WORKER_DRAIN_CHECK_MS   20

/* Add delta to a gauge of our own slot (single writer: a plain relaxed
 * load and store, no locked instruction). */
static inline void worker_gauge_add(volatile int64_t *g, int64_t delta)
{
    __atomic_store_n(g, __atomic_load_n(g, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
}

/* Publish the HTTP core's in-flight count in our slot. */
static inline void worker_publish_in_flight(struct worker *w)
{
    __atomic_store_n(&w->slot->in_flight, (int64_t)http_server_in_flight(w->http),
                     __ATOMIC_RELAXED);
}

int worker_respond_error(struct http_request *req, int status, const char *field,
                         const char *message)
{
    char f[128], m[512], body[700];
    int n;

    log_json_escape(f, sizeof(f), field);
    log_json_escape(m, sizeof(m), message);
    n = snprintf(body, sizeof(body), "{\"errors\":{\"%s\":[\"%s\"]}}", f, m);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = snprintf(body, sizeof(body), "{\"errors\":{\"request\":[\"error\"]}}");
    return http_respond(req, status, "application/json", body, (size_t)n);
}

/* GET /healthz on the API port: the worker's loop answers. */
static void worker_handle_healthz(struct http_request *req, const struct route_params *params,
                                  void *ctx)
{
    static const char body[] = "{\"status\":\"ok\"}";

    (void)params;
    (void)ctx;
    (void)http_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

int worker_register_routes(struct router *r)
{
    /* HEAD falls back to the GET handler in the router. */
    return router_add(r, HTTP_M_GET, "/healthz", worker_handle_healthz) < 0 ? -1 : 0;
}

/* A complete request: route it to its handler or answer 404/405/400. */
static void worker_on_request(struct http_request *req, void *arg)
{
    struct worker *w = arg;
    route_handler_fn fn = NULL;
    struct route_params params;
    int route = ROUTER_UNMATCHED;
    enum router_result res;

    params.count = 0;
    res = router_match(w->router, http_request_method(req), http_request_path(req), &fn, &params,
                       &route);
    http_request_set_route(req, route);
    switch (res) {
    case ROUTER_FOUND:
        fn(req, &params, w->api);
        break;
    case ROUTER_NOT_FOUND:
        (void)worker_respond_error(req, 404, "path", "not found");
        break;
    case ROUTER_BAD_METHOD:
        if (http_response_header(req, "Allow", router_allowed_methods(w->router, route)) != 0) {
            (void)worker_respond_error(req, 500, "server", "internal error");
            break;
        }
        (void)worker_respond_error(req, 405, "method", "method not allowed");
        break;
    case ROUTER_BAD_PATH:
    default:
        (void)worker_respond_error(req, 400, "path", "malformed path");
        break;
    }
    worker_publish_in_flight(w);
}

/* Served max-requests: ask the supervisor, once, for a replacement (it
 * retires us gracefully once the replacement is ready). */
static void worker_ask_recycle(struct worker *w)
{
    log_info("worker served its max requests, asking for a replacement",
             "\"slot\":%u,\"generation\":%u,\"requests\":%llu", w->slot_index, w->generation,
             (unsigned long long)w->served);
    __atomic_store_n(&w->slot->recycle, 1, __ATOMIC_RELEASE);
}

/* A response went out (or its connection died): metrics and access log. */
static void worker_on_done(const struct http_request *req, int status, double seconds, void *arg)
{
    struct worker *w = arg;
    int route = http_request_route(req);

    sb_record_request(w->slot, route, http_request_method(req), status, seconds);
    worker_publish_in_flight(w);
    if (w->max_requests != 0 && ++w->served == w->max_requests)
        worker_ask_recycle(w);
    if (w->settings->access_log && LOG_LEVEL_INFO >= log_get_level()) {
        char id[160], method[48];
        const char *label =
            route >= 0 && route < w->sb->nroutes ? w->sb->route_labels[route] : "unmatched";
        log_json_escape(id, sizeof(id), http_request_id(req));
        log_json_escape(method, sizeof(method), http_request_method_name(req));
        log_write(LOG_LEVEL_INFO, "request",
                  "\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,\"duration_ms\":%.3f,"
                  "\"request_id\":\"%s\",\"slot\":%u,\"generation\":%u",
                  method, label, status, seconds * 1e3, id, w->slot_index, w->generation);
    }
}

/* A connection opened (+1) or closed (-1). */
static void worker_on_conn(int delta, void *arg)
{
    struct worker *w = arg;

    worker_gauge_add(&w->slot->connections_open, delta);
    if (delta > 0)
        __atomic_store_n(&w->slot->c.connections_accepted,
                         __atomic_load_n(&w->slot->c.connections_accepted, __ATOMIC_RELAXED) + 1,
                         __ATOMIC_RELAXED);
}

/* Stamp the heartbeat and refresh our memory and CPU figures. */
static void worker_heartbeat(struct worker *w)
{
    struct proc_usage u;
    struct rusage ru;

    __atomic_store_n(&w->slot->heartbeat_ms, proc_mono_ms(), __ATOMIC_RELAXED);
    if (proc_usage_read(0, &u) == 0)
        __atomic_store_n(&w->slot->rss_bytes, u.rss_bytes, __ATOMIC_RELAXED);
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        uint64_t us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                      (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
        __atomic_store_n(&w->slot->c.cpu_us, us, __ATOMIC_RELAXED);
    }
    if (w->http != NULL)
        worker_publish_in_flight(w);
}

/* Timer: the heartbeat. */
static void worker_on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_heartbeat(arg);
}

/* Timer while draining: exit the loop once nothing is left to finish. */
static void worker_on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    worker_publish_in_flight(w);
    if (http_server_connections(w->http) == 0 && http_server_in_flight(w->http) == 0) {
        if (event_base_loopexit(w->base, NULL) != 0)
            log_error("cannot stop the worker loop", "");
    }
}

/* Begin a graceful drain (idempotent): the core stops accepting, then
 * winds its connections down (see the top of the file); the worker leaves
 * once none is left. */
static void worker_drain(struct worker *w, const char *why)
{
    struct timeval tv = {0, WORKER_DRAIN_CHECK_MS * 1000};

    if (w->draining)
        return;
    w->draining = 1;
    __atomic_store_n(&w->slot->state, SB_DRAINING, __ATOMIC_RELAXED);
    log_info("worker draining", "\"slot\":%u,\"generation\":%u,\"why\":\"%s\"", w->slot_index,
             w->generation, why);
    http_server_drain(w->http);
    api_drain(w->api);
    if (event_add(w->ev_drain_check, &tv) != 0) {
        log_error("cannot arm the drain timer", "");
        if (event_base_loopexit(w->base, NULL) != 0)
            exit(1);
    }
}

/* TERM, INT, QUIT: graceful drain. */
static void worker_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    worker_drain(arg, sig == SIGQUIT ? "SIGQUIT" : sig == SIGINT ? "SIGINT" : "SIGTERM");
}

/* A message from the supervisor, or its death. */
static void worker_on_control(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    enum control_type type;
    int r;

    (void)what;
    while ((r = control_recv(fd, &type)) == 1) {
        if (type == CONTROL_DRAIN) {
            worker_drain(w, "supervisor");
        } else if (type == CONTROL_STOP) {
            log_info("worker stopping now", "\"slot\":%u", w->slot_index);
            exit(0);
        }
    }
    if (r == 0) {
        /* No supervisor: nobody reaps us, watches our heartbeat or holds
         * the port for a successor. Leave at once. */
        log_warn("supervisor gone, worker exiting", "\"slot\":%u", w->slot_index);
        _exit(0);
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log_error("control channel failed, worker exiting", "\"error\":\"%s\"", strerror(errno));
        _exit(1);
    }
}

/* Ignore the signals that mean something only to the supervisor. */
static int worker_ignore_signals(void)
{
    static const int ignored[] = {SIGPIPE, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigemptyset(&sa.sa_mask) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        if (sigaction(ignored[i], &sa, NULL) != 0)
            return -1;
    return 0;
}

/* Create and add an event; 0 or -1. */
static int worker_event(struct worker *w, struct event **ev, evutil_socket_t fd, short what,
                        event_callback_fn cb, const struct timeval *tv, int add)
{
    *ev = event_new(w->base, fd, what, cb, w);
    if (*ev == NULL)
        return -1;
    if (add && event_add(*ev, tv) != 0)
        return -1;
    return 0;
}

/* The heartbeat period: a second, or a quarter of the worker timeout when
 * that is shorter, so that at least three stamps fit in the timeout. */
static int worker_heartbeat_period_ms(const struct settings *s)
{
    int64_t ms = (int64_t)s->worker_timeout_s * 1000 / 4;

    if (ms > WORKER_HEARTBEAT_MS)
        ms = WORKER_HEARTBEAT_MS;
    if (ms < WORKER_HEARTBEAT_MIN_MS)
        ms = WORKER_HEARTBEAT_MIN_MS;
    return (int)ms;
}

/* This worker's request budget: max-requests plus a random part of the
 * jitter (so workers started together do not all recycle together); 0 when
 * recycling is off. */
static uint64_t worker_request_budget(const struct settings *s)
{
    uint64_t r = 0;

    if (s->max_requests <= 0)
        return 0;
    if (s->max_requests_jitter > 0) {
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
            r = (uint64_t)getpid() * 2654435761u ^ (uint64_t)proc_mono_ms();
        r %= (uint64_t)s->max_requests_jitter + 1;
    }
    return (uint64_t)s->max_requests + r;
}

/* Everything up to serving; on failure *status is the exit status. */
static int worker_setup(struct worker *w, int *status, char *err, size_t errlen)
{
    int hb_ms = worker_heartbeat_period_ms(w->settings);
    struct timeval hb = {hb_ms / 1000, (hb_ms % 1000) * 1000};
    struct http_limits limits;
    struct api_host host;
    struct http_callbacks cb = {worker_on_request, worker_on_done, worker_on_conn, w};
    sigset_t none;
    const struct settings *s = w->settings;

    *status = 1;
    w->base = event_base_new();
    if (w->base == NULL) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    if (worker_ignore_signals() != 0 ||
        worker_event(w, &w->ev_sigterm, SIGTERM, EV_SIGNAL | EV_PERSIST, worker_on_signal, NULL,
                     1) != 0 ||
        worker_event(w, &w->ev_sigint, SIGINT, EV_SIGNAL | EV_PERSIST, worker_on_signal, NULL, 1) !=
            0 ||
        worker_event(w, &w->ev_sigquit, SIGQUIT, EV_SIGNAL | EV_PERSIST, worker_on_signal, NULL,
                     1) != 0) {
        snprintf(err, errlen, "cannot install signal events");
        return -1;
    }
    /* The supervisor forked us with every signal blocked; our handlers are
     * in place now. */
    if (sigemptyset(&none) != 0 || sigprocmask(SIG_SETMASK, &none, NULL) != 0) {
        snprintf(err, errlen, "cannot unblock signals: %s", strerror(errno));
        return -1;
    }
    if (worker_event(w, &w->ev_control, w->control_fd, EV_READ | EV_PERSIST, worker_on_control,
                     NULL, 1) != 0 ||
        worker_event(w, &w->ev_heartbeat, -1, EV_PERSIST, worker_on_heartbeat, &hb, 1) != 0 ||
        worker_event(w, &w->ev_drain_check, -1, EV_PERSIST, worker_on_drain_check, NULL, 0) != 0) {
        snprintf(err, errlen, "cannot add loop events");
        return -1;
    }
    worker_heartbeat(w);

    /* The API first: a worker that cannot serve must not accept. */
    host.base = w->base;
    host.settings = s;
    host.slot = w->slot;
    host.cache_trust = &w->sb->cache_trust;
    host.router = w->router;
    w->api = api_start(&host, err, errlen);
    if (w->api == NULL) {
        *status = 2;
        return -1;
    }
    limits.max_request_line = s->max_request_line;
    limits.max_header_bytes = s->max_header_bytes;
    limits.max_headers = s->max_headers;
    limits.max_body = s->max_body;
    limits.header_timeout_ms = s->header_timeout_ms;
    limits.body_timeout_ms = s->body_timeout_ms;
    limits.idle_timeout_ms = s->idle_timeout_ms;
    limits.write_timeout_ms = s->write_timeout_ms;
    limits.accepts_per_wake = s->accepts_per_wake;
    w->http = http_server_new(w->base, w->listen_fd, &limits, &cb);
    if (w->http == NULL) {
        snprintf(err, errlen, "cannot serve the API socket");
        return -1;
    }
    return 0;
}

/* Free what worker_setup made (after the loop has stopped). */
static void worker_teardown(struct worker *w)
{
    struct event **evs[] = {&w->ev_heartbeat, &w->ev_control, &w->ev_sigterm,
                            &w->ev_sigquit,   &w->ev_sigint,  &w->ev_drain_check};

    api_free(w->api);
    w->api = NULL;
    if (w->http != NULL) {
        http_server_free(w->http);
        w->http = NULL;
    }
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        if (*evs[i] != NULL) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    }
    if (w->base != NULL) {
        event_base_free(w->base);
        w->base = NULL;
    }
}

void worker_main(const struct settings *s, struct scoreboard *sb, uint32_t slot_index,
                 uint32_t generation, const struct router *router, int listen_fd, int control_fd)
{
    struct worker w;
    char err[512];
    int status, expected = SB_STARTING;

    memset(&w, 0, sizeof(w));
    w.settings = s;
    w.sb = sb;
    w.slot = &sb->slots[slot_index];
    w.slot_index = slot_index;
    w.generation = generation;
    w.router = router;
    w.listen_fd = listen_fd;
    w.control_fd = control_fd;
    w.max_requests = worker_request_budget(s);
    log_init(s->log_level, "worker");
    __atomic_store_n(&w.slot->pid, getpid(), __ATOMIC_RELAXED);

    if (worker_setup(&w, &status, err, sizeof(err)) != 0) {
        char esc[600];
        log_json_escape(esc, sizeof(esc), err);
        log_error("worker cannot start", "\"slot\":%u,\"error\":\"%s\",\"exit_status\":%d",
                  slot_index, esc, status);
        exit(status);
    }
    /* STARTING -> READY, unless a drain already began. */
    (void)__atomic_compare_exchange_n(&w.slot->state, &expected, SB_READY, false, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED);
    log_debug("worker ready", "\"slot\":%u,\"generation\":%u", slot_index, generation);

    if (event_base_dispatch(w.base) < 0) {
        log_error("worker loop failed", "\"slot\":%u", slot_index);
        worker_teardown(&w);
        exit(1);
    }
    log_info("worker exiting", "\"slot\":%u,\"generation\":%u", slot_index, generation);
    worker_teardown(&w);
    exit(0);
}
