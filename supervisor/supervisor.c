/*
 * supervisor.c: the supervisor's set-up, event loop, signals and stopping.
 *
 * Everything happens in one libevent loop: signals arrive as evsignal
 * events (never work in a handler), SIGCHLD reaps, a periodic tick starts
 * slots whose back-off has passed and enforces the stop deadline, and the
 * admin HTTP server answers from the same loop, so health and metrics keep
 * answering while workers are busy, dead or draining.
 *
 * Signals: TERM, INT, QUIT begin a graceful stop (a second one: fast stop);
 * CHLD reaps; TTIN/TTOU add or retire one worker; HUP reloads the settings
 * into a new generation (generation.c); USR2 execs the binary again with
 * the listening sockets (upgrade.c); USR1 is acknowledged (logs go to
 * stderr, nothing to reopen).
 *
 * Readiness (/readyz) reconciles the foundation's rule (every configured
 * slot up) with the crash-loop breaker's (fail only when nobody serves):
 * not ready until every wanted slot of the current generation has had a
 * ready worker once since start (a reload only commits once its whole new
 * generation is ready, so it keeps that); then ready as long as at least
 * one worker serves and no stop has begun.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "log.h"
#include "proc.h"
#include "router.h"
#include "supervisor.h"
#include "worker.h"

static const int sv_signal_list[SV_NSIGNALS] = {SIGTERM, SIGINT,  SIGQUIT, SIGCHLD, SIGHUP,
                                                SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU};

/* Slots to map: room for a whole second generation beside the first (a
 * reload) and for TTIN. */
static uint32_t sv_slot_count(int workers)
{
    uint32_t n = (uint32_t)workers * 2;

    if (n < (uint32_t)workers + 4)
        n = (uint32_t)workers + 4;
    return n > SB_MAX_SLOTS ? SB_MAX_SLOTS : n;
}

void sv_update_warm(struct supervisor *sv)
{
    uint32_t n = 0;

    if (sv->warm)
        return;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        const struct sv_slot *ws = &sv->slots[i];
        if (!ws->wanted || ws->generation != sv->generation)
            continue;
        if (ws->pid == 0 || __atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE) != SB_READY)
            return;
        n++;
    }
    if (n == 0)
        return;
    sv->warm = true;
    log_info("every worker is ready", "\"generation\":%u,\"workers\":%u", sv->generation, n);
    if (sv->notify_fd >= 0)
        sv_upgrade_notify_ready(sv);
}

bool sv_ready(struct supervisor *sv, const char **reason)
{
    if (sv->phase != SV_SERVING) {
        *reason = "draining";
        return false;
    }
    if (sv->nwanted == 0) {
        *reason = "no workers configured";
        return false;
    }
    sv_update_warm(sv);
    if (!sv->warm) {
        *reason = "starting: a worker slot has not had a ready worker yet";
        return false;
    }
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        if (sv->slots[i].pid > 0 && !sv->slots[i].retiring &&
            __atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE) == SB_READY) {
            *reason = NULL;
            return true;
        }
    }
    *reason = "no worker is serving";
    return false;
}

void sv_check_done(struct supervisor *sv)
{
    if (sv->phase == SV_SERVING || sv->exit_requested || sv_live_workers(sv) > 0)
        return;
    sv->exit_requested = true;
    log_info("all workers gone, supervisor exiting", "");
    if (event_base_loopexit(sv->base, NULL) != 0) {
        log_error("cannot leave the event loop", "");
        exit(1);
    }
}

void sv_stop(struct supervisor *sv, bool fast, const char *why)
{
    int64_t now = proc_mono_ms();

    if (sv->reload.active) {
        /* Every worker is retired below, the new generation's too. */
        log_info("reload called off by the stop", "\"generation\":%u", sv->reload.generation);
        free(sv->reload.settings);
        sv->reload.settings = NULL;
        sv->reload.active = sv->reload.again = false;
    }
    sv_upgrade_cancel(sv);
    sv->missing = 0;
    if (sv->phase == SV_SERVING && !fast) {
        sv->phase = SV_STOP_GRACEFUL;
        sv->stop_deadline_ms = now + (int64_t)sv->settings->shutdown_timeout_s * 1000;
        log_info("graceful stop", "\"why\":\"%s\",\"workers\":%u,\"timeout_s\":%d", why,
                 sv_live_workers(sv), sv->settings->shutdown_timeout_s);
        for (uint32_t i = 0; i < sv->sb->nslots; i++) {
            struct sv_slot *ws = &sv->slots[i];
            ws->wanted = false;
            if (ws->pid > 0)
                sv_retire(sv, i, why);
            else if (sv->sb->slots[i].state == SB_BACKOFF)
                __atomic_store_n(&sv->sb->slots[i].state, SB_FREE, __ATOMIC_RELEASE);
        }
        sv->nwanted = 0;
    } else if (sv->phase != SV_STOP_FAST) {
        sv->phase = SV_STOP_FAST;
        sv->stop_deadline_ms = now + SV_FAST_STOP_WAIT_MS;
        log_info("fast stop", "\"why\":\"%s\",\"workers\":%u", why, sv_live_workers(sv));
        for (uint32_t i = 0; i < sv->sb->nslots; i++) {
            sv->slots[i].wanted = false;
            if (sv->slots[i].pid == 0 && sv->sb->slots[i].state == SB_BACKOFF)
                __atomic_store_n(&sv->sb->slots[i].state, SB_FREE, __ATOMIC_RELEASE);
        }
        sv->nwanted = 0;
        sv_signal_all(sv, SIGKILL);
    }
    sv_check_done(sv);
}

/* One signal, delivered by the loop. */
static void sv_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct supervisor *sv = arg;

    (void)what;
    switch (sig) {
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        sv_stop(sv, sv->phase != SV_SERVING,
                sig == SIGTERM  ? "SIGTERM"
                : sig == SIGINT ? "SIGINT"
                                : "SIGQUIT");
        break;
    case SIGCHLD:
        sv_reap(sv);
        break;
    case SIGTTIN:
        if (sv->phase == SV_SERVING)
            sv_scale_up(sv);
        break;
    case SIGTTOU:
        if (sv->phase == SV_SERVING)
            sv_scale_down(sv);
        break;
    case SIGHUP:
        if (sv->phase == SV_SERVING)
            sv_reload_begin(sv, "SIGHUP");
        break;
    case SIGUSR1:
        log_info("SIGUSR1: logs go to stderr; nothing to reopen", "");
        break;
    case SIGUSR2:
        if (sv->phase == SV_SERVING)
            sv_upgrade_begin(sv);
        break;
    default:
        break;
    }
}

/* The periodic tick: respawns after back-off, hung workers, reload and
 * recycling steps, the upgrade's deadline, and the stop deadlines. */
static void sv_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *sv = arg;
    int64_t now = proc_mono_ms();

    (void)fd;
    (void)what;
    /* A SIGCHLD may have been merged with another; reaping is cheap. */
    sv_reap(sv);
    sv_respawn_due(sv, now);
    sv_check_heartbeats(sv, now);
    if (sv->phase == SV_SERVING) {
        sv_update_warm(sv);
        sv_fill_missing(sv);
        sv_reload_progress(sv, now);
        sv_recycle_progress(sv);
    }
    sv_upgrade_tick(sv, now);
    if (sv->phase == SV_STOP_GRACEFUL && !sv->stop_killed && now >= sv->stop_deadline_ms) {
        sv->stop_killed = true;
        log_warn("shutdown timeout: killing the workers left", "\"workers\":%u,\"timeout_s\":%d",
                 sv_live_workers(sv), sv->settings->shutdown_timeout_s);
        sv_signal_all(sv, SIGKILL);
    } else if (sv->phase == SV_STOP_FAST && !sv->exit_requested && now >= sv->stop_deadline_ms) {
        log_error("workers did not exit after SIGKILL; leaving anyway", "\"workers\":%u",
                  sv_live_workers(sv));
        sv->exit_requested = true;
        if (event_base_loopexit(sv->base, NULL) != 0)
            exit(1);
    }
}

/* Build the API router: the worker's own routes, then the Conduit API's. */
static int sv_build_router(struct supervisor *sv, char *errbuf, size_t errlen)
{
    sv->router = router_new();
    if (sv->router == NULL) {
        snprintf(errbuf, errlen, "cannot create the API router");
        return -1;
    }
    if (worker_register_routes(sv->router) != 0 || api_register_routes(sv->router) != 0) {
        snprintf(errbuf, errlen, "cannot register the API routes (route table full?)");
        return -1;
    }
    return 0;
}

/* Install the signal events and the tick. */
static int sv_add_events(struct supervisor *sv, char *errbuf, size_t errlen)
{
    struct timeval tick = {0, SV_TICK_MS * 1000};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGPIPE, &sa, NULL) != 0) {
        snprintf(errbuf, errlen, "cannot ignore SIGPIPE: %s", strerror(errno));
        return -1;
    }
    for (int k = 0; k < SV_NSIGNALS; k++) {
        sv->ev_signals[k] = evsignal_new(sv->base, sv_signal_list[k], sv_on_signal, sv);
        if (sv->ev_signals[k] == NULL || evsignal_add(sv->ev_signals[k], NULL) != 0) {
            snprintf(errbuf, errlen, "cannot install the handler of signal %d", sv_signal_list[k]);
            return -1;
        }
    }
    sv->ev_tick = event_new(sv->base, -1, EV_PERSIST, sv_on_tick, sv);
    if (sv->ev_tick == NULL || event_add(sv->ev_tick, &tick) != 0) {
        snprintf(errbuf, errlen, "cannot add the supervisor's timer");
        return -1;
    }
    return 0;
}

/* The API and admin sockets: adopted from LISTEN_FDS when passed (socket
 * activation, or an upgrading conduitd), else bound now. */
static int sv_open_sockets(struct supervisor *sv, char *errbuf, size_t errlen)
{
    const struct settings *s = sv->settings;

    if (listen_adopt(s, &sv->api_fd, &sv->admin_fd, errbuf, errlen) != 0)
        return -1;
    sv->api_inherited = sv->api_fd >= 0;
    sv->admin_inherited = sv->admin_fd >= 0;
    if (sv->api_fd < 0) {
        sv->api_fd =
            listen_open("CONDUIT_LISTEN (--listen)", s->listen, s->backlog, errbuf, errlen);
        if (sv->api_fd < 0)
            return -1;
    }
    if (sv->admin_fd < 0) {
        sv->admin_fd = listen_open("CONDUIT_ADMIN_LISTEN (--admin-listen)", s->admin_listen,
                                   s->backlog, errbuf, errlen);
        if (sv->admin_fd < 0)
            return -1;
    }
    return 0;
}

int sv_init(struct supervisor *sv, struct settings *s, int argc, char **argv, char *errbuf,
            size_t errlen)
{
    memset(sv, 0, sizeof(*sv));
    sv->settings = s;
    sv->argc = argc;
    sv->argv = argv;
    sv->api_fd = -1;
    sv->admin_fd = -1;
    sv->notify_fd = -1;
    sv->upgrade.fd = -1;
    sv->pid = getpid();
    sv->generation = 1;
    sv->last_generation = 1;
    sv->phase = SV_SERVING;
    sv->start_wall_ms = proc_wall_ms();
    for (uint32_t i = 0; i < SB_MAX_SLOTS; i++) {
        sv->slots[i].control_fd = -1;
        sv->slots[i].kill_reason = -1;
        sv->slots[i].replaced_by = -1;
        backoff_init(&sv->slots[i].backoff, SV_BACKOFF_BASE_MS, SV_BACKOFF_CAP_MS,
                     SV_BACKOFF_STABLE_MS);
    }

    proc_route_libevent_log();
    sv->base = event_base_new();
    if (sv->base == NULL) {
        snprintf(errbuf, errlen, "cannot create the event loop");
        goto fail;
    }
    if (sv_build_router(sv, errbuf, errlen) != 0)
        goto fail;
    sv->sb = sb_create(sv_slot_count(s->workers));
    if (sv->sb == NULL) {
        snprintf(errbuf, errlen, "cannot map the scoreboard: %s", strerror(errno));
        goto fail;
    }
    sb_set_routes(sv->sb, sv->router);
    if (sv_upgrade_init(sv, argc > 0 ? argv[0] : "conduitd", errbuf, errlen) != 0)
        goto fail;
    if (sv_open_sockets(sv, errbuf, errlen) != 0)
        goto fail;
    /* The new binary of an upgrade shares the admin socket with the old
     * supervisor: it answers only once its workers are ready. */
    sv->admin_paused = sv->notify_fd >= 0;
    if (admin_start(sv, errbuf, errlen) != 0)
        goto fail;
    if (sv_add_events(sv, errbuf, errlen) != 0)
        goto fail;
    return 0;
fail:
    sv_free(sv);
    return -1;
}

int sv_run(struct supervisor *sv)
{
    const struct settings *s = sv->settings;

    log_info("conduitd starting",
             "\"version\":\"%s\",\"revision\":\"%s\",\"listen\":\"%s\",\"admin_listen\":\"%s\","
             "\"workers\":%d,\"api_socket\":\"%s\",\"admin_socket\":\"%s\",\"upgrade\":%s",
             PACKAGE_VERSION, CONDUIT_REVISION, s->listen, s->admin_listen, s->workers,
             sv->api_inherited ? "inherited" : "bound", sv->admin_inherited ? "inherited" : "bound",
             sv->notify_fd >= 0 ? "true" : "false");
    for (uint32_t i = 0; i < (uint32_t)s->workers && i < sv->sb->nslots; i++) {
        sv_want_slot(sv, i, sv->generation);
        (void)sv_spawn(sv, i);
    }
    if (event_base_dispatch(sv->base) < 0) {
        log_error("the supervisor's loop failed", "");
        sv_signal_all(sv, SIGKILL);
        return 1;
    }
    log_info("conduitd stopped", "\"graceful\":%s,\"exit_status\":%d",
             sv->phase == SV_STOP_GRACEFUL && !sv->stop_killed ? "true" : "false", sv->exit_status);
    return sv->exit_status;
}

void sv_free(struct supervisor *sv)
{
    admin_stop(sv);
    sv_upgrade_free(sv);
    if (sv->reload.settings != NULL) {
        free(sv->reload.settings);
        sv->reload.settings = NULL;
    }
    for (int k = 0; k < SV_NSIGNALS; k++) {
        if (sv->ev_signals[k] != NULL) {
            event_free(sv->ev_signals[k]);
            sv->ev_signals[k] = NULL;
        }
    }
    if (sv->ev_tick != NULL) {
        event_free(sv->ev_tick);
        sv->ev_tick = NULL;
    }
    for (uint32_t i = 0; i < SB_MAX_SLOTS; i++) {
        if (sv->slots[i].control_fd >= 0 && close(sv->slots[i].control_fd) != 0)
            log_warn("cannot close a control channel", "\"error\":\"%s\"", strerror(errno));
        sv->slots[i].control_fd = -1;
    }
    if (sv->api_fd >= 0 && close(sv->api_fd) != 0)
        log_warn("cannot close the API socket", "\"error\":\"%s\"", strerror(errno));
    if (sv->admin_fd >= 0 && close(sv->admin_fd) != 0)
        log_warn("cannot close the admin socket", "\"error\":\"%s\"", strerror(errno));
    sv->api_fd = sv->admin_fd = -1;
    if (sv->sb != NULL) {
        sb_destroy(sv->sb);
        sv->sb = NULL;
    }
    if (sv->router != NULL) {
        router_free(sv->router);
        sv->router = NULL;
    }
    if (sv->base != NULL) {
        event_base_free(sv->base);
        sv->base = NULL;
    }
}
