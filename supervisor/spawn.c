/*
 * spawn.c: forking, reaping and replacing workers.
 *
 * Fork: every signal is blocked around fork() so that no handler of ours
 * runs in the child before it has its own. The child resets the signals
 * the supervisor handles to their defaults, closes every descriptor it
 * inherited except the API socket, its control channel end and stdio (the
 * admin socket, the parent's event_base internals, other workers' control
 * ends), asks the kernel for SIGKILL when the supervisor dies and checks
 * that it has not died already, then runs worker_main() with signals still
 * blocked (worker_main unblocks them once its handlers are in place).
 *
 * Reap: on SIGCHLD, a waitpid(-1, WNOHANG) loop (wait4, for the child's CPU
 * time). Each exit is classified (enum sb_restart_reason), logged, its
 * counters folded into the scoreboard's retired totals before the slot can
 * be reused, and the slot respawned now or after its back-off delay. A
 * child that is no worker is the new binary of an upgrade (upgrade.c).
 *
 * Hung workers are found and replaced by hung.c.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "proc.h"
#include "supervisor.h"
#include "worker.h"

/* The signals the supervisor handles; the child puts them back to default. */
static const int spawn_reset_signals[] = {SIGTERM, SIGINT,  SIGQUIT, SIGCHLD, SIGHUP,
                                          SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE};

static const char *const spawn_reason_names[SB_RESTART__COUNT] = {
    "crash", "signal", "hung", "config", "recycle", "exit",
};

/* Close every descriptor >= 3 except keep_a and keep_b. */
static void spawn_close_inherited(int keep_a, int keep_b)
{
    int lo = keep_a < keep_b ? keep_a : keep_b;
    int hi = keep_a < keep_b ? keep_b : keep_a;
    unsigned ranges[3][2] = {
        {3, (unsigned)lo - 1}, {(unsigned)lo + 1, (unsigned)hi - 1}, {(unsigned)hi + 1, ~0U}};

    for (int r = 0; r < 3; r++) {
        if (ranges[r][0] > ranges[r][1])
            continue;
        if (close_range(ranges[r][0], ranges[r][1], 0) != 0) {
            /* Old kernel: close one by one up to a sane bound. */
            unsigned end = ranges[r][1] < 65536 ? ranges[r][1] : 65536;
            for (unsigned fd = ranges[r][0]; fd <= end; fd++)
                (void)close((int)fd); /* EBADF for unused numbers is expected */
        }
    }
}

/* The settings a worker of generation gen runs with: a reload's new ones
 * for its generation, else the current ones. */
static const struct settings *spawn_settings_for(const struct supervisor *sv, uint32_t gen)
{
    if (sv->reload.active && gen == sv->reload.generation && sv->reload.settings != NULL)
        return sv->reload.settings;
    return sv->settings;
}

/* The child's side of the fork; never returns. */
static void __attribute__((noreturn))
spawn_child(struct supervisor *sv, uint32_t i, uint32_t generation, int control_fd)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    if (sigemptyset(&sa.sa_mask) != 0)
        _exit(1);
    for (size_t k = 0; k < sizeof(spawn_reset_signals) / sizeof(spawn_reset_signals[0]); k++)
        if (sigaction(spawn_reset_signals[k], &sa, NULL) != 0)
            _exit(1);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        _exit(1);
    /* The supervisor may have died between fork() and prctl(). */
    if (getppid() != sv->pid)
        _exit(1);
    spawn_close_inherited(sv->api_fd, control_fd);
    worker_main(spawn_settings_for(sv, generation), sv->sb, i, generation, sv->router, sv->api_fd,
                control_fd);
}

int sv_spawn(struct supervisor *sv, uint32_t i)
{
    struct sv_slot *ws = &sv->slots[i];
    struct sb_slot *slot = &sv->sb->slots[i];
    sigset_t all, old;
    int fds[2];
    pid_t pid;

    if (control_pair(fds) != 0) {
        log_error("cannot create a control channel", "\"slot\":%u,\"error\":\"%s\"", i,
                  strerror(errno));
        goto backoff;
    }
    slot->generation = ws->generation;
    slot->started_ms = proc_wall_ms();
    slot->heartbeat_ms = proc_mono_ms();
    slot->pid = 0;
    __atomic_store_n(&slot->state, SB_STARTING, __ATOMIC_RELEASE);

    if (sigfillset(&all) != 0 || sigprocmask(SIG_BLOCK, &all, &old) != 0) {
        log_error("cannot block signals for fork", "\"error\":\"%s\"", strerror(errno));
        goto close_pair;
    }
    pid = fork();
    if (pid == 0) {
        /* The child: our end of the pair is fds[1]. */
        spawn_child(sv, i, ws->generation, fds[1]);
    }
    if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
        log_error("cannot restore the signal mask", "\"error\":\"%s\"", strerror(errno));
    if (pid < 0) {
        log_error("cannot fork a worker", "\"slot\":%u,\"error\":\"%s\"", i, strerror(errno));
        goto close_pair;
    }
    if (close(fds[1]) != 0)
        log_warn("cannot close the worker's control end", "\"error\":\"%s\"", strerror(errno));
    slot->pid = pid;
    ws->pid = pid;
    ws->control_fd = fds[0];
    ws->retiring = false;
    ws->hung_killed = false;
    ws->abandoned = false;
    ws->kill_reason = -1;
    ws->replaced_by = -1;
    ws->started_mono_ms = proc_mono_ms();
    ws->hung_since_ms = 0;
    ws->last_cpu_us = 0;
    log_info("worker started", "\"slot\":%u,\"pid\":%d,\"generation\":%u", i, (int)pid,
             ws->generation);
    return 0;

close_pair:
    if (close(fds[0]) != 0 || close(fds[1]) != 0)
        log_warn("cannot close a control channel", "\"error\":\"%s\"", strerror(errno));
backoff:
    /* Try again later, as if the worker had died at once. */
    __atomic_store_n(&slot->state, SB_BACKOFF, __ATOMIC_RELEASE);
    ws->respawn_at_ms = proc_mono_ms() + 1000;
    return -1;
}

/* The slot whose worker has this pid, or -1. */
static int spawn_find_slot(const struct supervisor *sv, pid_t pid)
{
    for (uint32_t i = 0; i < sv->sb->nslots; i++)
        if (sv->slots[i].pid == pid)
            return (int)i;
    return -1;
}

/* Why the worker in ws ended with this wait status: a restart reason, or -1
 * when its exit was asked for (retired, or killed by a stop). */
static int spawn_classify(const struct sv_slot *ws, int status)
{
    if (ws->kill_reason >= 0)
        return ws->kill_reason;
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == 0)
            return ws->retiring ? -1 : SB_RESTART_EXIT;
        return code == 2 ? SB_RESTART_CONFIG : SB_RESTART_CRASH;
    }
    if (WIFSIGNALED(status)) {
        switch (WTERMSIG(status)) {
        case SIGSEGV:
        case SIGBUS:
        case SIGABRT:
        case SIGFPE:
        case SIGILL:
        case SIGSYS:
        case SIGTRAP:
            return SB_RESTART_CRASH;
        default:
            return SB_RESTART_SIGNAL;
        }
    }
    return SB_RESTART_CRASH;
}

/* One reaped worker: log, fold, and respawn or schedule its slot. */
static void spawn_handle_exit(struct supervisor *sv, uint32_t i, int status,
                              const struct rusage *ru)
{
    struct sv_slot *ws = &sv->slots[i];
    int64_t now = proc_mono_ms();
    int64_t ran_ms = now - ws->started_mono_ms;
    uint64_t cpu_us = (uint64_t)ru->ru_utime.tv_sec * 1000000 + (uint64_t)ru->ru_utime.tv_usec +
                      (uint64_t)ru->ru_stime.tv_sec * 1000000 + (uint64_t)ru->ru_stime.tv_usec;
    int reason = spawn_classify(ws, status);
    const char *rname = reason >= 0 ? spawn_reason_names[reason] : "asked";
    bool expected = reason < 0 || reason == SB_RESTART_RECYCLE || sv->phase != SV_SERVING;
    enum log_level lvl = expected ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;

    if (WIFEXITED(status))
        log_at(lvl, "worker exited",
               "\"slot\":%u,\"pid\":%d,\"generation\":%u,\"status\":%d,\"reason\":\"%s\","
               "\"ran_ms\":%lld",
               i, (int)ws->pid, ws->generation, WEXITSTATUS(status), rname, (long long)ran_ms);
    else
        log_at(lvl, "worker exited",
               "\"slot\":%u,\"pid\":%d,\"generation\":%u,\"signal\":\"SIG%s\",\"reason\":\"%s\","
               "\"ran_ms\":%lld",
               i, (int)ws->pid, ws->generation,
               WIFSIGNALED(status) && sigabbrev_np(WTERMSIG(status)) != NULL
                   ? sigabbrev_np(WTERMSIG(status))
                   : "?",
               rname, (long long)ran_ms);

    /* Fold before anything can reuse the slot: counters never go back. */
    sv->sb->retired_cpu_us += cpu_us > ws->last_cpu_us ? cpu_us : ws->last_cpu_us;
    sb_fold_retired(sv->sb, i);
    if (ws->control_fd >= 0 && close(ws->control_fd) != 0)
        log_warn("cannot close a control channel", "\"error\":\"%s\"", strerror(errno));
    ws->control_fd = -1;
    ws->pid = 0;
    ws->retiring = false;
    ws->hung_killed = false;
    ws->kill_reason = -1;
    ws->replaced_by = -1;
    ws->hung_since_ms = 0;
    ws->last_cpu_us = 0;

    if (sv->phase != SV_SERVING)
        return;
    /* Counted even when the slot is not to be refilled (a recycled worker
     * whose replacement already serves, a worker of a retired generation),
     * but not for the workers of a reload that was given up: the reload's
     * failure is counted once, in conduitd_reloads_total. */
    if (reason >= 0 && !ws->abandoned)
        sv->sb->restarts[reason]++;
    ws->abandoned = false;
    if (!ws->wanted)
        return;
    int64_t delay = 0;
    if (reason >= 0 && reason != SB_RESTART_RECYCLE)
        delay = backoff_next(&ws->backoff, ran_ms, reason == SB_RESTART_CONFIG);
    if (delay == 0) {
        (void)sv_spawn(sv, i);
        return;
    }
    __atomic_store_n(&sv->sb->slots[i].state, SB_BACKOFF, __ATOMIC_RELEASE);
    ws->respawn_at_ms = now + delay;
    log_warn("worker respawn delayed",
             "\"slot\":%u,\"generation\":%u,\"delay_ms\":%lld,\"quick_deaths\":%u,"
             "\"reason\":\"%s\"",
             i, ws->generation, (long long)delay, ws->backoff.failures, rname);
    /* A reload's new worker that has to back off ends the reload now,
     * before the exits of its siblings are reaped and counted. */
    if (sv->reload.active && ws->generation == sv->reload.generation)
        sv_reload_progress(sv, now);
}

void sv_reap(struct supervisor *sv)
{
    bool reaped = false;

    for (;;) {
        struct rusage ru;
        int status;
        pid_t pid = wait4(-1, &status, WNOHANG, &ru);
        if (pid == 0)
            break;
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECHILD)
                log_error("waitpid failed", "\"error\":\"%s\"", strerror(errno));
            break;
        }
        int i = spawn_find_slot(sv, pid);
        if (i < 0) {
            if (!sv_upgrade_reaped(sv, pid, status))
                log_warn("reaped an unknown child", "\"pid\":%d", (int)pid);
            continue;
        }
        spawn_handle_exit(sv, (uint32_t)i, status, &ru);
        reaped = true;
    }
    if (reaped && sv->phase == SV_SERVING) {
        /* A slot may have freed up or failed: reloads and an upgrade's
         * start-up decide at once rather than on the next tick. */
        int64_t now = proc_mono_ms();
        sv_fill_missing(sv);
        sv_reload_progress(sv, now);
        sv_recycle_progress(sv);
        sv_upgrade_tick(sv, now);
    }
    sv_check_done(sv);
}

void sv_retire(struct supervisor *sv, uint32_t i, const char *why)
{
    struct sv_slot *ws = &sv->slots[i];

    if (ws->pid == 0 || ws->retiring)
        return;
    ws->retiring = true;
    __atomic_store_n(&sv->sb->slots[i].state, SB_DRAINING, __ATOMIC_RELEASE);
    if (control_send(ws->control_fd, CONTROL_DRAIN) != 0) {
        /* The channel is full or broken: the signal says the same. */
        log_warn("control channel failed, sending SIGTERM",
                 "\"slot\":%u,\"pid\":%d,\"error\":\"%s\"", i, (int)ws->pid, strerror(errno));
        if (kill(ws->pid, SIGTERM) != 0 && errno != ESRCH)
            log_error("cannot signal a worker", "\"pid\":%d,\"error\":\"%s\"", (int)ws->pid,
                      strerror(errno));
    }
    log_info("worker retiring", "\"slot\":%u,\"pid\":%d,\"generation\":%u,\"why\":\"%s\"", i,
             (int)ws->pid, ws->generation, why);
}

void sv_kill(struct supervisor *sv, uint32_t i, int sig, enum sb_restart_reason reason)
{
    struct sv_slot *ws = &sv->slots[i];

    if (ws->pid <= 0)
        return;
    ws->kill_reason = (int)reason;
    if (kill(ws->pid, sig) != 0 && errno != ESRCH)
        log_error("cannot signal a worker", "\"pid\":%d,\"error\":\"%s\"", (int)ws->pid,
                  strerror(errno));
}

int sv_free_slot(const struct supervisor *sv)
{
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        const struct sv_slot *ws = &sv->slots[i];
        if (!ws->wanted && ws->pid == 0 &&
            __atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE) == SB_FREE)
            return (int)i;
    }
    return -1;
}

void sv_want_slot(struct supervisor *sv, uint32_t i, uint32_t gen)
{
    struct sv_slot *ws = &sv->slots[i];

    if (!ws->wanted)
        sv->nwanted++;
    ws->wanted = true;
    ws->generation = gen;
    ws->replaced_by = -1;
    backoff_init(&ws->backoff, SV_BACKOFF_BASE_MS, SV_BACKOFF_CAP_MS, SV_BACKOFF_STABLE_MS);
}

void sv_respawn_due(struct supervisor *sv, int64_t now_ms)
{
    if (sv->phase != SV_SERVING)
        return;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        struct sv_slot *ws = &sv->slots[i];
        if (ws->wanted && ws->pid == 0 &&
            __atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE) == SB_BACKOFF &&
            now_ms >= ws->respawn_at_ms)
            (void)sv_spawn(sv, i);
    }
}

void sv_signal_all(struct supervisor *sv, int sig)
{
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        pid_t pid = sv->slots[i].pid;
        if (pid > 0 && kill(pid, sig) != 0 && errno != ESRCH)
            log_error("cannot signal a worker", "\"pid\":%d,\"error\":\"%s\"", (int)pid,
                      strerror(errno));
    }
}

uint32_t sv_live_workers(const struct supervisor *sv)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < sv->sb->nslots; i++)
        if (sv->slots[i].pid > 0)
            n++;
    return n;
}
