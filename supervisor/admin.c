/*
 * admin.c: the admin endpoints, served by the supervisor on its own socket
 * with the same HTTP core the workers use:
 *
 *   GET /healthz  liveness: the supervisor's loop answers
 *   GET /readyz   200 {"status":"ready"} once every configured slot has
 *                 had a ready worker (the warm-up), then while at least one
 *                 worker serves and no stop is under way; else 503 with the
 *                 reason (sv_ready); every answer is counted
 *   GET /status   JSON: workers, restarts by cause, generation, reload and
 *                 upgrade state, dependencies, version
 *   GET /metrics  Prometheus text 0.0.4 (common/metrics.c)
 *
 * Process figures for /metrics are read at scrape time from /proc for the
 * supervisor and each live worker. A dead worker's CPU time comes from
 * wait4() and is kept in the scoreboard's retired_cpu_us, so
 * process_cpu_seconds_total never goes down.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "router.h"
#include "supervisor.h"

static const char *const admin_state_names[SB__STATES] = {
    "free", "starting", "ready", "draining", "backoff",
};

static const char *const admin_reason_names[SB_RESTART__COUNT] = {
    "crash", "signal", "hung", "config", "recycle", "exit",
};

/* Answer with a static JSON body. */
static void admin_respond(struct http_request *req, int status, const char *body)
{
    if (http_respond(req, status, "application/json", body, strlen(body)) != 0)
        log_warn("admin response failed", "\"status\":%d", status);
}

/* GET /healthz */
static void admin_healthz(struct http_request *req, const struct route_params *p, void *ctx)
{
    (void)p;
    (void)ctx;
    admin_respond(req, 200, "{\"status\":\"ok\"}");
}

/* GET /readyz */
static void admin_readyz(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct supervisor *sv = ctx;
    const char *reason = NULL;
    char body[256];

    (void)p;
    if (sv_ready(sv, &reason)) {
        sv->sb->readiness_checks[0]++;
        admin_respond(req, 200, "{\"status\":\"ready\"}");
        return;
    }
    sv->sb->readiness_checks[1]++;
    snprintf(body, sizeof(body), "{\"status\":\"not ready\",\"reason\":\"%s\"}", reason);
    admin_respond(req, 503, body);
}

/* Sum CPU and memory over the supervisor and its live workers. */
static void admin_process_figures(struct supervisor *sv, struct metrics_extra *x)
{
    struct proc_usage u;
    struct rusage ru;
    uint64_t cpu_us = sv->sb->retired_cpu_us;
    int64_t rss = 0;

    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu_us += (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                  (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
    if (proc_usage_read(0, &u) == 0)
        rss += u.rss_bytes;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        struct sv_slot *ws = &sv->slots[i];
        if (ws->pid <= 0)
            continue;
        if (proc_usage_read(ws->pid, &u) == 0) {
            rss += u.rss_bytes;
            if (u.cpu_us > ws->last_cpu_us)
                ws->last_cpu_us = u.cpu_us;
        } else {
            /* Gone or unreadable: fall back on its last heartbeat figures. */
            uint64_t hb = __atomic_load_n(&sv->sb->slots[i].c.cpu_us, __ATOMIC_RELAXED);
            rss += __atomic_load_n(&sv->sb->slots[i].rss_bytes, __ATOMIC_RELAXED);
            if (hb > ws->last_cpu_us)
                ws->last_cpu_us = hb;
        }
        cpu_us += ws->last_cpu_us;
    }
    /* A counter: clock-tick rounding in /proc must never make it dip. */
    if (cpu_us < sv->cpu_floor_us)
        cpu_us = sv->cpu_floor_us;
    sv->cpu_floor_us = cpu_us;
    x->cpu_seconds = (double)cpu_us / 1e6;
    x->rss_bytes = rss;
}

/* GET /metrics */
static void admin_metrics(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct supervisor *sv = ctx;
    struct metrics_extra x;
    const char *reason;
    char *text;
    size_t len = 0;

    (void)p;
    memset(&x, 0, sizeof(x));
    x.version = sv->settings->release;
    x.revision = CONDUIT_REVISION;
    x.generation = sv->generation;
    x.ready = sv_ready(sv, &reason);
    x.reloads_ok = sv->reloads[0];
    x.reloads_failed = sv->reloads[1];
    x.upgrades_ok = sv->upgrades[0];
    x.upgrades_failed = sv->upgrades[1];
    x.listen_queue_depth = listen_queue_depth(sv->api_fd);
    x.start_time_seconds = (double)sv->start_wall_ms / 1000.0;
    admin_process_figures(sv, &x);
    text = metrics_render(sv->sb, &x, &len);
    if (text == NULL) {
        admin_respond(req, 500, "{\"errors\":{\"metrics\":[\"out of memory\"]}}");
        return;
    }
    if (http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len) != 0)
        log_warn("admin response failed", "\"status\":200");
    free(text);
}

/* Add a worker slot's object to the /status array; 0 or -1. */
static int admin_status_worker(const struct supervisor *sv, uint32_t i, cJSON *arr,
                               int64_t now_mono, int64_t now_wall)
{
    const struct sv_slot *ws = &sv->slots[i];
    const struct sb_slot *slot = &sv->sb->slots[i];
    int state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
    cJSON *o = cJSON_CreateObject();
    char started[40];
    bool ok;

    if (o == NULL)
        return -1;
    if (!cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return -1;
    }
    if (state < 0 || state >= SB__STATES)
        state = SB_FREE;
    ok = cJSON_AddNumberToObject(o, "slot", i) != NULL &&
         cJSON_AddNumberToObject(o, "pid", ws->pid) != NULL &&
         cJSON_AddNumberToObject(o, "generation", ws->pid > 0 ? ws->generation : 0) != NULL &&
         cJSON_AddStringToObject(o, "state", admin_state_names[state]) != NULL;
    if (ok && ws->pid > 0) {
        int64_t hb = __atomic_load_n(&slot->heartbeat_ms, __ATOMIC_RELAXED);
        proc_format_iso8601(started, sizeof(started), slot->started_ms);
        ok = cJSON_AddStringToObject(o, "started_at", started) != NULL &&
             cJSON_AddNumberToObject(o, "uptime_s",
                                     (double)(now_wall - slot->started_ms) / 1000.0) != NULL &&
             cJSON_AddNumberToObject(
                 o, "requests",
                 (double)__atomic_load_n(&slot->requests_served, __ATOMIC_RELAXED)) != NULL &&
             cJSON_AddNumberToObject(
                 o, "connections",
                 (double)__atomic_load_n(&slot->connections_open, __ATOMIC_RELAXED)) != NULL &&
             cJSON_AddNumberToObject(o, "connections_accepted",
                                     (double)__atomic_load_n(&slot->c.connections_accepted,
                                                             __ATOMIC_RELAXED)) != NULL &&
             cJSON_AddNumberToObject(o, "heartbeat_age_ms", (double)(now_mono - hb)) != NULL &&
             cJSON_AddNumberToObject(o, "rss_bytes",
                                     (double)__atomic_load_n(&slot->rss_bytes, __ATOMIC_RELAXED)) !=
                 NULL;
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "started_at") != NULL &&
             cJSON_AddNumberToObject(o, "uptime_s", 0) != NULL &&
             cJSON_AddNumberToObject(o, "requests", 0) != NULL;
    }
    ok = ok && cJSON_AddBoolToObject(o, "retiring", ws->retiring) != NULL &&
         cJSON_AddBoolToObject(o, "wanted", ws->wanted) != NULL &&
         cJSON_AddBoolToObject(o, "hung", ws->pid > 0 && ws->hung_since_ms != 0) != NULL &&
         cJSON_AddBoolToObject(o, "recycling",
                               ws->pid > 0 && __atomic_load_n(&slot->recycle, __ATOMIC_RELAXED)) !=
             NULL &&
         cJSON_AddNumberToObject(o, "quick_deaths", ws->backoff.failures) != NULL;
    if (ok && state == SB_BACKOFF)
        ok = cJSON_AddNumberToObject(
                 o, "respawn_in_ms",
                 (double)(ws->respawn_at_ms > now_mono ? ws->respawn_at_ms - now_mono : 0)) != NULL;
    return ok ? 0 : -1;
}

/* The dependency word for /status from the live workers' reports. */
static const char *admin_dependency_state(const struct supervisor *sv, int dep)
{
    int seen = 0, up = 1;

    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        if (sv->slots[i].pid <= 0)
            continue;
        int v = __atomic_load_n(&sv->sb->slots[i].dep_up[dep], __ATOMIC_RELAXED);
        if (v < 0)
            continue;
        seen = 1;
        if (v == 0)
            up = 0;
    }
    return !seen ? "not configured" : up ? "up" : "down";
}

/* The reload and upgrade objects of /status; 0 or -1. */
static int admin_status_changes(const struct supervisor *sv, cJSON *root)
{
    static const char *const upgrade_states[] = {"none", "pending", "done"};
    uint32_t crash_loop = 0;
    cJSON *r, *u, *sock;

    for (uint32_t i = 0; i < sv->sb->nslots; i++)
        if (__atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE) == SB_BACKOFF)
            crash_loop++;
    if (cJSON_AddNumberToObject(root, "crash_loop", crash_loop) == NULL ||
        cJSON_AddBoolToObject(root, "warm", sv->warm) == NULL ||
        (r = cJSON_AddObjectToObject(root, "reload")) == NULL ||
        cJSON_AddBoolToObject(r, "in_progress", sv->reload.active) == NULL ||
        cJSON_AddNumberToObject(r, "ok", (double)sv->reloads[0]) == NULL ||
        cJSON_AddNumberToObject(r, "failed", (double)sv->reloads[1]) == NULL)
        return -1;
    if (sv->reload.active &&
        (cJSON_AddNumberToObject(r, "generation", sv->reload.generation) == NULL ||
         cJSON_AddNumberToObject(r, "workers", sv->reload.target) == NULL))
        return -1;
    if ((u = cJSON_AddObjectToObject(root, "upgrade")) == NULL ||
        cJSON_AddStringToObject(u, "state", upgrade_states[sv->upgrade.state]) == NULL ||
        cJSON_AddNumberToObject(u, "new_pid", sv->upgrade.pid) == NULL ||
        cJSON_AddNumberToObject(u, "ok", (double)sv->upgrades[0]) == NULL ||
        cJSON_AddNumberToObject(u, "failed", (double)sv->upgrades[1]) == NULL ||
        cJSON_AddStringToObject(u, "binary", sv->exe_path) == NULL ||
        (sock = cJSON_AddObjectToObject(root, "sockets")) == NULL ||
        cJSON_AddStringToObject(sock, "api", sv->api_inherited ? "inherited" : "bound") == NULL ||
        cJSON_AddStringToObject(sock, "admin", sv->admin_inherited ? "inherited" : "bound") == NULL)
        return -1;
    return 0;
}

/* GET /status */
static void admin_status(struct http_request *req, const struct route_params *p, void *ctx)
{
    struct supervisor *sv = ctx;
    cJSON *root = cJSON_CreateObject(), *workers, *restarts, *deps;
    int64_t now_mono = proc_mono_ms(), now_wall = proc_wall_ms();
    const char *reason = NULL;
    char started[40];
    char *text;
    bool ok = root != NULL;

    (void)p;
    if (ok) {
        bool ready = sv_ready(sv, &reason);
        proc_format_iso8601(started, sizeof(started), sv->start_wall_ms);
        ok = cJSON_AddStringToObject(root, "version", PACKAGE_VERSION) != NULL &&
             cJSON_AddStringToObject(root, "revision", CONDUIT_REVISION) != NULL &&
             cJSON_AddStringToObject(root, "release", sv->settings->release) != NULL &&
             cJSON_AddNumberToObject(root, "pid", sv->pid) != NULL &&
             cJSON_AddStringToObject(root, "started_at", started) != NULL &&
             cJSON_AddNumberToObject(root, "uptime_s",
                                     (double)(now_wall - sv->start_wall_ms) / 1000.0) != NULL &&
             cJSON_AddNumberToObject(root, "generation", sv->generation) != NULL &&
             cJSON_AddBoolToObject(root, "draining", sv->phase != SV_SERVING) != NULL &&
             cJSON_AddBoolToObject(root, "ready", ready) != NULL &&
             cJSON_AddNumberToObject(root, "workers_configured", sv->nwanted) != NULL &&
             (workers = cJSON_AddArrayToObject(root, "workers")) != NULL &&
             (restarts = cJSON_AddObjectToObject(root, "restarts")) != NULL &&
             (deps = cJSON_AddObjectToObject(root, "dependencies")) != NULL &&
             admin_status_changes(sv, root) == 0;
        if (ok && !ready)
            ok = cJSON_AddStringToObject(root, "not_ready_reason", reason) != NULL;
    }
    for (uint32_t i = 0; ok && i < sv->sb->nslots; i++) {
        int state = __atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE);
        if (sv->slots[i].wanted || sv->slots[i].pid > 0 || state != SB_FREE)
            ok = admin_status_worker(sv, i, workers, now_mono, now_wall) == 0;
    }
    for (int r = 0; ok && r < SB_RESTART__COUNT; r++)
        ok = cJSON_AddNumberToObject(restarts, admin_reason_names[r],
                                     (double)sv->sb->restarts[r]) != NULL;
    if (ok)
        ok = cJSON_AddStringToObject(deps, "postgres",
                                     admin_dependency_state(sv, SB_DEP_POSTGRES)) != NULL &&
             cJSON_AddStringToObject(deps, "redis", admin_dependency_state(sv, SB_DEP_REDIS)) !=
                 NULL;
    text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL) {
        admin_respond(req, 500, "{\"errors\":{\"status\":[\"out of memory\"]}}");
        return;
    }
    if (http_respond_json_owned(req, 200, text, strlen(text)) != 0)
        log_warn("admin response failed", "\"status\":200");
}

/* Route an admin request. */
static void admin_on_request(struct http_request *req, void *arg)
{
    struct supervisor *sv = arg;
    route_handler_fn fn = NULL;
    struct route_params params;
    int route = ROUTER_UNMATCHED;

    params.count = 0;
    switch (router_match(sv->admin_router, http_request_method(req), http_request_path(req), &fn,
                         &params, &route)) {
    case ROUTER_FOUND:
        fn(req, &params, sv);
        return;
    case ROUTER_BAD_METHOD:
        if (http_response_header(req, "Allow", router_allowed_methods(sv->admin_router, route)) !=
            0)
            log_warn("cannot add the Allow header", "");
        admin_respond(req, 405, "{\"errors\":{\"method\":[\"method not allowed\"]}}");
        return;
    case ROUTER_NOT_FOUND:
        admin_respond(req, 404, "{\"errors\":{\"path\":[\"not found\"]}}");
        return;
    default:
        admin_respond(req, 400, "{\"errors\":{\"path\":[\"malformed path\"]}}");
        return;
    }
}

/* Admin requests are not API traffic: nothing to count. */
static void admin_on_done(const struct http_request *req, int status, double seconds, void *arg)
{
    (void)req;
    (void)status;
    (void)seconds;
    (void)arg;
}

int admin_start(struct supervisor *sv, char *errbuf, size_t errlen)
{
    static const struct {
        const char *path;
        route_handler_fn fn;
    } routes[] = {
        {"/healthz", admin_healthz},
        {"/readyz", admin_readyz},
        {"/status", admin_status},
        {"/metrics", admin_metrics},
    };
    const struct settings *s = sv->settings;
    struct http_limits limits = {
        .max_request_line = s->max_request_line,
        .max_header_bytes = s->max_header_bytes,
        .max_headers = s->max_headers,
        .max_body = 4096,
        .header_timeout_ms = s->header_timeout_ms,
        .body_timeout_ms = s->body_timeout_ms,
        .idle_timeout_ms = s->idle_timeout_ms,
        .write_timeout_ms = s->write_timeout_ms,
        .accepts_per_wake = s->accepts_per_wake,
    };
    struct http_callbacks cb = {
        .on_request = admin_on_request, .on_done = admin_on_done, .on_conn = NULL, .arg = sv};

    sv->admin_router = router_new();
    if (sv->admin_router == NULL) {
        snprintf(errbuf, errlen, "cannot create the admin router");
        return -1;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        /* HEAD falls back to the GET handler in the router. */
        if (router_add(sv->admin_router, HTTP_M_GET, routes[i].path, routes[i].fn) < 0) {
            snprintf(errbuf, errlen, "cannot add the admin route %s", routes[i].path);
            return -1;
        }
    }
    sv->admin = http_server_new(sv->base, sv->admin_fd, &limits, &cb);
    if (sv->admin == NULL) {
        snprintf(errbuf, errlen, "cannot serve the admin socket");
        return -1;
    }
    if (sv->admin_paused && http_server_pause_accept(sv->admin, true) != 0) {
        snprintf(errbuf, errlen, "cannot pause the admin socket");
        return -1;
    }
    return 0;
}

void admin_pause(struct supervisor *sv, bool paused)
{
    if (sv->admin != NULL && http_server_pause_accept(sv->admin, paused) != 0)
        log_error("cannot change admin accepting", "\"paused\":%s", paused ? "true" : "false");
}

void admin_drain(struct supervisor *sv)
{
    if (sv->admin != NULL)
        http_server_drain(sv->admin);
}

void admin_stop(struct supervisor *sv)
{
    if (sv->admin != NULL) {
        http_server_free(sv->admin);
        sv->admin = NULL;
    }
    if (sv->admin_router != NULL) {
        router_free(sv->admin_router);
        sv->admin_router = NULL;
    }
}
