/*
 * worker.h: one worker process. It inherits the listening socket, the
 * scoreboard and the router from the supervisor, builds a fresh event_base
 * after fork, serves HTTP on the shared socket, stamps its heartbeat, and
 * exits when told to (or when the supervisor dies: EOF on the control
 * socketpair, PR_SET_PDEATHSIG as a backstop).
 *
 * Route handlers receive the API's state (struct api *) as their ctx argument.
 */
#ifndef CONDUIT_WORKER_H
#define CONDUIT_WORKER_H

#include <stdint.h>

#include "http.h"
#include "router.h"
#include "scoreboard.h"
#include "settings.h"

struct admission;
struct api;

struct worker {
    struct event_base *base;
    const struct settings *settings;
    struct scoreboard *sb;
    struct sb_slot *slot;
    uint32_t slot_index;
    uint32_t generation;
    const struct router *router;
    struct http_server *http;
    struct api *api; /* the Conduit API's per-worker state (api/api.h), every handler's ctx */
    struct admission *admission; /* accept share, ceilings, refusals (worker/admission.h) */
    int listen_fd;
    int control_fd; /* our end of the socketpair with the supervisor */
    /* private to worker.c beyond this point */
    struct event *ev_heartbeat;
    struct event *ev_control;
    struct event *ev_sigterm;
    struct event *ev_sigquit;
    struct event *ev_sigint;
    struct event *ev_drain_check;
    uint64_t max_requests; /* 0 = unlimited; includes the jitter */
    uint64_t served;       /* requests answered, counted against max_requests */
    int draining;
};

/* Run a worker in the child right after fork; never returns. The caller
 * (the supervisor's fork code) has blocked every signal, reset their
 * dispositions and closed every inherited descriptor but listen_fd,
 * control_fd and stdio; worker_main unblocks signals once its own signal
 * events are installed. Exit status: 0 after a graceful stop, 2 when it
 * cannot start (bad configuration or a required resource missing), 1 for
 * any other failure. */
void worker_main(const struct settings *s, struct scoreboard *sb, uint32_t slot_index,
                 uint32_t generation, const struct router *router, int listen_fd, int control_fd)
    __attribute__((noreturn));

/* Add the worker's own routes (GET /healthz; HEAD falls back to GET) to the API router;
 * the supervisor calls it before api_register_routes(). 0, or -1. */
int worker_register_routes(struct router *r) __attribute__((warn_unused_result));

/* Answer with a JSON error body {"errors":{field:[message]}}. */
int worker_respond_error(struct http_request *req, int status, const char *field,
                         const char *message);

#endif
