/*
 * hung.c: finding hung workers, replacing them at once, and ending them.
 *
 * Every tick compares each live worker's heartbeat (stamped by its loop's
 * timer, at least four times per --worker-timeout) with --worker-timeout.
 * A silent worker is handled in three steps:
 *
 *  1. Detection: it gets SIGABRT, so that a worker that is alive but stuck
 *     (a loop that never returns, a blocking call) writes a core dump
 *     where the system allows one, and its replacement is started in a
 *     free slot at the same moment (the hung worker's slot stops being
 *     wanted), so capacity comes back after the timeout, not after the
 *     hung worker is gone. With no free slot the replacement comes when
 *     the hung worker is reaped, as for any death.
 *  2. A stopped process (state T or t in /proc/PID/stat: SIGSTOP, a
 *     debugger) cannot act on SIGABRT: it gets SIGKILL on the same tick.
 *  3. Otherwise, SV_HUNG_GRACE_MS after SIGABRT a worker still there gets
 *     SIGKILL, unless the kernel reports it writing its core dump
 *     (CoreDumping: 1 in /proc/PID/status): the dump is let finish for up
 *     to SV_HUNG_CORE_MAX_MS, then SIGKILL.
 *
 * Its death counts as reason "hung" (kill_reason). Relies on /proc.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "supervisor.h"

/* What /proc says about a hung worker. */
enum hung_proc_state {
    HUNG_PROC_UNKNOWN, /* gone, or /proc unreadable */
    HUNG_PROC_RUNNING, /* running or sleeping: it can act on a signal */
    HUNG_PROC_STOPPED, /* stopped or traced: a pending SIGABRT does nothing */
    HUNG_PROC_DUMPING, /* writing its core dump */
};

/* The process state letter of pid from /proc/PID/stat, or 0. */
static char hung_stat_letter(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    size_t n;
    const char *paren;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    if (fclose(f) != 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) S ...": comm may hold spaces and parentheses. */
    paren = strrchr(buf, ')');
    if (paren == NULL || paren[1] != ' ')
        return 0;
    return paren[2];
}

/* True when /proc/PID/status says the process is writing a core dump. */
static bool hung_core_dumping(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    bool dumping = false;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return false;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "CoreDumping:", 12) == 0) {
            dumping = strtol(line + 12, NULL, 10) == 1;
            break;
        }
    }
    if (fclose(f) != 0)
        return false;
    return dumping;
}

/* Classify pid for the steps at the top of the file. */
static enum hung_proc_state hung_proc_state(pid_t pid)
{
    char s = hung_stat_letter(pid);

    if (s == 0 || s == 'Z' || s == 'X')
        return HUNG_PROC_UNKNOWN;
    if (hung_core_dumping(pid))
        return HUNG_PROC_DUMPING;
    if (s == 'T' || s == 't')
        return HUNG_PROC_STOPPED;
    return HUNG_PROC_RUNNING;
}

/* Start the replacement of hung slot i in a free slot now (step 1). */
static void hung_replace(struct supervisor *sv, uint32_t i)
{
    struct sv_slot *ws = &sv->slots[i];
    int j;

    if (sv->phase != SV_SERVING || !ws->wanted || ws->retiring)
        return; /* nothing to refill, or reaping will refill it */
    j = sv_free_slot(sv);
    if (j < 0) {
        log_warn("no free slot for a hung worker's replacement: it starts once the worker is "
                 "reaped",
                 "\"slot\":%u,\"pid\":%d", i, (int)ws->pid);
        return;
    }
    sv_want_slot(sv, (uint32_t)j, ws->generation);
    ws->wanted = false;
    sv->nwanted--;
    log_info("starting a hung worker's replacement",
             "\"slot\":%u,\"pid\":%d,\"replacement_slot\":%d", i, (int)ws->pid, j);
    (void)sv_spawn(sv, (uint32_t)j);
}

/* SIGKILL for a hung worker, once. */
static void hung_kill(struct supervisor *sv, uint32_t i, const char *msg, int64_t waited_ms)
{
    struct sv_slot *ws = &sv->slots[i];

    ws->hung_killed = true;
    log_warn(msg, "\"slot\":%u,\"pid\":%d,\"after_abrt_ms\":%lld", i, (int)ws->pid,
             (long long)waited_ms);
    sv_kill(sv, i, SIGKILL, SB_RESTART_HUNG);
}

/* Steps 2 and 3 for a worker that already got SIGABRT. */
static void hung_follow_up(struct supervisor *sv, uint32_t i, int64_t now_ms)
{
    struct sv_slot *ws = &sv->slots[i];
    int64_t waited = now_ms - ws->hung_since_ms;

    if (ws->hung_killed)
        return;
    switch (hung_proc_state(ws->pid)) {
    case HUNG_PROC_STOPPED:
        hung_kill(sv, i, "hung worker is stopped and cannot take SIGABRT, sending SIGKILL", waited);
        break;
    case HUNG_PROC_DUMPING:
        if (waited >= SV_HUNG_CORE_MAX_MS)
            hung_kill(sv, i, "hung worker still writing its core dump, sending SIGKILL", waited);
        break;
    case HUNG_PROC_RUNNING:
    case HUNG_PROC_UNKNOWN:
        if (waited >= SV_HUNG_GRACE_MS)
            hung_kill(sv, i, "hung worker still there after SIGABRT, sending SIGKILL", waited);
        break;
    }
}

void sv_check_heartbeats(struct supervisor *sv, int64_t now_ms)
{
    int64_t timeout_ms = (int64_t)sv->settings->worker_timeout_s * 1000;

    if (sv->phase == SV_STOP_FAST)
        return;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        struct sv_slot *ws = &sv->slots[i];
        if (ws->pid <= 0)
            continue;
        if (ws->hung_since_ms != 0) {
            hung_follow_up(sv, i, now_ms);
            continue;
        }
        int64_t hb = __atomic_load_n(&sv->sb->slots[i].heartbeat_ms, __ATOMIC_RELAXED);
        int64_t silent = now_ms - hb;
        if (silent <= timeout_ms)
            continue;
        log_warn("worker hung: no heartbeat, sending SIGABRT",
                 "\"slot\":%u,\"pid\":%d,\"generation\":%u,\"silent_ms\":%lld,"
                 "\"timeout_s\":%d",
                 i, (int)ws->pid, ws->generation, (long long)silent,
                 sv->settings->worker_timeout_s);
        ws->hung_since_ms = now_ms;
        sv_kill(sv, i, SIGABRT, SB_RESTART_HUNG);
        hung_replace(sv, i);
        hung_follow_up(sv, i, now_ms);
    }
}
