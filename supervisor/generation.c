/*
 * generation.c: how many workers run and of which generation: reloads
 * (HUP), scaling (TTIN/TTOU) and recycling (max-requests).
 *
 * Reload: the settings are read again exactly as at start (defaults,
 * environment, --config file, flags; main()'s argv is kept for this). An
 * invalid configuration is logged and changes nothing. Otherwise generation
 * G+1 starts in free slots with the new settings while G keeps serving;
 * once every new worker is ready, G's workers are retired (they finish
 * their in-flight requests) and the new settings become current. If a new
 * worker cannot start (a slot of G+1 has to back off: exit status 2, or a
 * second quick death) or the new generation is not ready within
 * SV_RELOAD_TIMEOUT_MS, the reload is given up: G+1's workers are retired
 * and G goes on with the old settings. A HUP during a reload is remembered
 * and runs once the reload ends.
 *
 * The scoreboard has room for two generations of the configured size
 * (supervisor.c sizes it at start). A reload to more workers than the free
 * slots can hold proceeds in steps: each new worker that is ready lets one
 * old worker be retired early, whose slot then takes the next new worker.
 * More workers than the scoreboard has slots cannot be reached this way:
 * such a reload is refused (a restart or USR2 maps a larger scoreboard).
 *
 * Settings that cannot change without a restart (the listening addresses
 * and the backlog: the sockets stay open for the process's life) keep their
 * running values; the reload says so in the log. USR2 picks them up.
 *
 * Recycling: a worker that has served --max-requests sets `recycle` in its
 * slot. The tick starts a replacement in a free slot (same generation) and
 * retires the old worker once the replacement is ready, so capacity never
 * dips; without a free slot the old worker serves on until a later tick
 * finds one. Its exit counts as reason "recycle".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proc.h"
#include "supervisor.h"

/* The state of slot i in the scoreboard. */
static int gen_state(const struct supervisor *sv, uint32_t i)
{
    return __atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE);
}

/* True when slot i has a live worker that is serving. */
static bool gen_serving(const struct supervisor *sv, uint32_t i)
{
    return sv->slots[i].pid > 0 && !sv->slots[i].retiring && gen_state(sv, i) == SB_READY;
}

/* Stop wanting slot i: retire its worker, or free it if it waits in back-off. */
static void gen_unwant(struct supervisor *sv, uint32_t i, const char *why)
{
    struct sv_slot *ws = &sv->slots[i];

    if (ws->wanted && sv->nwanted > 0)
        sv->nwanted--;
    ws->wanted = false;
    if (ws->pid > 0)
        sv_retire(sv, i, why);
    else if (gen_state(sv, i) == SB_BACKOFF)
        __atomic_store_n(&sv->sb->slots[i].state, SB_FREE, __ATOMIC_RELEASE);
}

/* Keep the running value of a setting that needs a restart; warn if the
 * configuration asked for another. */
static void gen_keep_setting(const char *name, const char *running_value, char *configured,
                             size_t size)
{
    if (strcmp(running_value, configured) == 0)
        return;
    log_warn("reload: this setting needs a restart or a binary upgrade (USR2); keeping it",
             "\"setting\":\"%s\",\"running\":\"%s\",\"configured\":\"%s\"", name, running_value,
             configured);
    snprintf(configured, size, "%s", running_value);
}

/* Read the settings again for a reload; NULL (logged) if they are invalid.
 * The caller owns the result. */
static struct settings *gen_load_settings(struct supervisor *sv)
{
    struct settings *cur = sv->settings;
    struct settings *next = malloc(sizeof(*next));
    char err[1024], esc[1100];
    char running[32], configured[32];

    if (next == NULL) {
        log_error("reload failed: out of memory; the current generation keeps serving", "");
        return NULL;
    }
    if (settings_load(next, sv->argc, sv->argv, err, sizeof(err)) != 0) {
        log_json_escape(esc, sizeof(esc), err);
        log_error("reload failed: invalid configuration; the current generation keeps serving",
                  "\"error\":\"%s\",\"generation\":%u", esc, sv->generation);
        free(next);
        return NULL;
    }
    next->command = SETTINGS_CMD_SERVE;
    gen_keep_setting("CONDUIT_LISTEN", cur->listen, next->listen, sizeof(next->listen));
    gen_keep_setting("CONDUIT_ADMIN_LISTEN", cur->admin_listen, next->admin_listen,
                     sizeof(next->admin_listen));
    snprintf(running, sizeof(running), "%d", cur->backlog);
    snprintf(configured, sizeof(configured), "%d", next->backlog);
    if (strcmp(running, configured) != 0) {
        gen_keep_setting("CONDUIT_BACKLOG", running, configured, sizeof(configured));
        next->backlog = cur->backlog;
    }
    /* Dev mode without JWT_SECRET: keep this run's generated secret, so
     * tokens stay valid across the reload. */
    if (next->jwt_secret[0] == '\0' && next->dev_mode)
        memcpy(next->jwt_secret, cur->jwt_secret, sizeof(next->jwt_secret));
    return next;
}

void sv_reload_begin(struct supervisor *sv, const char *why)
{
    struct sv_reload *r = &sv->reload;
    struct settings *next;

    if (sv->phase != SV_SERVING)
        return;
    if (r->active) {
        r->again = true;
        log_info("reload already under way; another one follows it",
                 "\"why\":\"%s\",\"generation\":%u", why, r->generation);
        return;
    }
    if (sv->upgrade.state != SV_UPGRADE_NONE || sv->notify_fd >= 0) {
        log_warn("reload refused: a binary upgrade is under way", "\"why\":\"%s\"", why);
        return;
    }
    log_info("reload: reading the configuration", "\"why\":\"%s\",\"config\":\"%s\"", why,
             sv->settings->config_file);
    next = gen_load_settings(sv);
    if (next == NULL) {
        sv->reloads[1]++;
        return;
    }
    if ((uint32_t)next->workers > sv->sb->nslots) {
        log_error("reload failed: more workers than the scoreboard has slots; restart (or "
                  "USR2) to grow this far; the current generation keeps serving",
                  "\"workers\":%d,\"slots\":%u,\"generation\":%u", next->workers, sv->sb->nslots,
                  sv->generation);
        free(next);
        sv->reloads[1]++;
        return;
    }
    memset(r, 0, sizeof(*r));
    r->active = true;
    r->generation = ++sv->last_generation;
    r->target = (uint32_t)next->workers;
    r->settings = next;
    r->deadline_ms = proc_mono_ms() + SV_RELOAD_TIMEOUT_MS;
    log_info("reload: starting a new generation",
             "\"generation\":%u,\"workers\":%u,\"previous_generation\":%u", r->generation,
             r->target, sv->generation);
    sv_reload_progress(sv, proc_mono_ms());
}

/* Every new worker is ready: retire the old generation and make the new
 * settings current. */
static void gen_reload_commit(struct supervisor *sv)
{
    struct sv_reload *r = &sv->reload;
    uint32_t previous = sv->generation;

    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        struct sv_slot *ws = &sv->slots[i];
        if (ws->generation == r->generation && ws->wanted)
            continue;
        if (ws->wanted || (ws->pid > 0 && !ws->retiring))
            gen_unwant(sv, i, "reload");
    }
    sv->generation = r->generation;
    *sv->settings = *r->settings;
    free(r->settings);
    r->settings = NULL;
    log_set_level(sv->settings->log_level);
    sv->missing = 0;
    sv->reloads[0]++;
    r->active = false;
    log_info("reload complete: the new generation serves, the old one drains",
             "\"generation\":%u,\"previous_generation\":%u,\"workers\":%u", sv->generation,
             previous, sv->nwanted);
    if (r->again) {
        r->again = false;
        sv_reload_begin(sv, "SIGHUP received during the last reload");
    }
}

void sv_reload_abort(struct supervisor *sv, const char *why)
{
    struct sv_reload *r = &sv->reload;

    if (!r->active)
        return;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        if (sv->slots[i].generation == r->generation && sv->slots[i].wanted) {
            sv->slots[i].abandoned = sv->slots[i].pid > 0;
            gen_unwant(sv, i, "reload failed");
        }
    }
    /* Old workers retired early to make room come back as slots free up. */
    sv->missing += r->early_retired;
    free(r->settings);
    r->settings = NULL;
    r->active = false;
    sv->reloads[1]++;
    log_error("reload failed; the current generation keeps serving",
              "\"why\":\"%s\",\"failed_generation\":%u,\"generation\":%u", why, r->generation,
              sv->generation);
    sv_fill_missing(sv);
    if (r->again) {
        r->again = false;
        sv_reload_begin(sv, "SIGHUP received during the failed reload");
    }
}

void sv_reload_progress(struct supervisor *sv, int64_t now_ms)
{
    struct sv_reload *r = &sv->reload;
    uint32_t nnew = 0, ready = 0;

    if (!r->active || sv->phase != SV_SERVING)
        return;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        const struct sv_slot *ws = &sv->slots[i];
        if (!ws->wanted || ws->generation != r->generation)
            continue;
        if (ws->pid == 0 && gen_state(sv, i) == SB_BACKOFF) {
            sv_reload_abort(sv, "a worker of the new generation cannot start (see its exit above)");
            return;
        }
        nnew++;
        if (gen_serving(sv, i))
            ready++;
    }
    while (nnew < r->target) {
        int j = sv_free_slot(sv);
        if (j < 0)
            break;
        sv_want_slot(sv, (uint32_t)j, r->generation);
        nnew++;
        if (sv_spawn(sv, (uint32_t)j) != 0) {
            sv_reload_abort(sv, "cannot fork a worker of the new generation");
            return;
        }
    }
    if (nnew < r->target && ready > r->early_retired) {
        /* Out of slots: one old worker leaves per new one ready. */
        for (uint32_t i = sv->sb->nslots; i-- > 0;) {
            struct sv_slot *ws = &sv->slots[i];
            if (ws->wanted && ws->generation != r->generation) {
                r->early_retired++;
                gen_unwant(sv, i, "reload: making room for the new generation");
                break;
            }
        }
    }
    if (nnew == r->target && ready == r->target) {
        gen_reload_commit(sv);
        return;
    }
    if (now_ms >= r->deadline_ms) {
        char why[128];
        snprintf(why, sizeof(why), "the new generation was not ready within %d s (%u of %u ready)",
                 SV_RELOAD_TIMEOUT_MS / 1000, ready, r->target);
        sv_reload_abort(sv, why);
    }
}

void sv_fill_missing(struct supervisor *sv)
{
    while (sv->missing > 0 && sv->phase == SV_SERVING) {
        int j = sv_free_slot(sv);
        if (j < 0)
            return;
        sv->missing--;
        sv_want_slot(sv, (uint32_t)j, sv->generation);
        (void)sv_spawn(sv, (uint32_t)j);
    }
}

void sv_scale_up(struct supervisor *sv)
{
    int i;

    if (sv->reload.active) {
        log_warn("TTIN ignored: a reload is under way", "\"generation\":%u", sv->reload.generation);
        return;
    }
    i = sv_free_slot(sv);
    if (i < 0) {
        log_warn("cannot add a worker: every slot is in use", "\"slots\":%u", sv->sb->nslots);
        return;
    }
    sv_want_slot(sv, (uint32_t)i, sv->generation);
    log_info("adding a worker", "\"slot\":%d,\"workers\":%u", i, sv->nwanted);
    (void)sv_spawn(sv, (uint32_t)i);
}

void sv_scale_down(struct supervisor *sv)
{
    if (sv->reload.active) {
        log_warn("TTOU ignored: a reload is under way", "\"generation\":%u", sv->reload.generation);
        return;
    }
    if (sv->nwanted <= 1) {
        log_warn("not retiring the last worker", "");
        return;
    }
    for (uint32_t i = sv->sb->nslots; i-- > 0;) {
        if (!sv->slots[i].wanted)
            continue;
        gen_unwant(sv, i, "SIGTTOU");
        log_info("removing a worker", "\"slot\":%u,\"workers\":%u", i, sv->nwanted);
        return;
    }
}

/* Slot i's worker asked to be recycled: start its replacement. With no
 * free slot (replacements and draining workers fill them), wait for a
 * later tick: the worker serves on meanwhile, capacity never dips. */
static void gen_recycle_start(struct supervisor *sv, uint32_t i)
{
    struct sv_slot *ws = &sv->slots[i];
    uint64_t served = __atomic_load_n(&sv->sb->slots[i].requests_served, __ATOMIC_RELAXED);
    int j = sv_free_slot(sv);

    if (j < 0) {
        log_debug("recycling deferred: no free slot for a replacement",
                  "\"slot\":%u,\"pid\":%d,\"requests\":%llu", i, (int)ws->pid,
                  (unsigned long long)served);
        return;
    }
    log_info("recycling a worker: starting its replacement",
             "\"slot\":%u,\"pid\":%d,\"requests\":%llu,\"replacement_slot\":%d", i, (int)ws->pid,
             (unsigned long long)served, j);
    sv_want_slot(sv, (uint32_t)j, ws->generation);
    /* The old slot is no longer wanted; its worker serves until the
     * replacement is ready. */
    ws->wanted = false;
    sv->nwanted--;
    ws->replaced_by = j;
    (void)sv_spawn(sv, (uint32_t)j);
}

void sv_recycle_progress(struct supervisor *sv)
{
    if (sv->phase != SV_SERVING || sv->reload.active)
        return;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        struct sv_slot *ws = &sv->slots[i];
        if (ws->pid <= 0 || ws->retiring)
            continue;
        if (ws->replaced_by >= 0) {
            const struct sv_slot *rep = &sv->slots[ws->replaced_by];
            /* Retire once the replacement serves, or when it is no longer
             * wanted (TTOU took it). */
            if (!rep->wanted || gen_serving(sv, (uint32_t)ws->replaced_by)) {
                ws->kill_reason = SB_RESTART_RECYCLE;
                sv_retire(sv, i, "recycle: replacement ready");
            }
            continue;
        }
        if (ws->wanted && __atomic_load_n(&sv->sb->slots[i].recycle, __ATOMIC_ACQUIRE) != 0)
            gen_recycle_start(sv, i);
    }
}
