/*
 * upgrade.c: the binary upgrade (USR2), nginx-style: the running supervisor
 * forks and execs the binary again, handing it the listening sockets; the
 * old supervisor drains its workers and exits once the new one is ready, or
 * keeps serving if it is not.
 *
 * Protocol between the old supervisor (O) and the new one (N, O's child):
 *
 *   O: pipe2(); fork(); in the child: fd 3 = API socket, fd 4 = admin
 *      socket, fd 5 = the pipe's write end, every other descriptor closed,
 *      LISTEN_FDS=2, LISTEN_PID=<child pid>, LISTEN_FDNAMES=api:admin,
 *      CONDUIT_UPGRADE_FD=5, CONDUIT_UPGRADE_GENERATION=<O's highest
 *      generation>, signals back to default; execv(exe_path, argv).
 *   N: numbers its first generation one above O's (so conduitd_generation
 *      keeps growing), reads its settings as any start does, adopts fds 3 and 4 instead of
 *      binding (listen.c), keeps fd 5 (close-on-exec, so its workers never
 *      hold it) and does not answer on the shared admin socket yet. Once
 *      every worker slot has had a ready worker, N writes "ready\n" on
 *      fd 5, closes it and opens its admin port.
 *   O: on "ready": stops accepting admin connections and begins a graceful
 *      stop (its workers finish in-flight requests and exit; the sockets
 *      stay open in N, so nothing queued is lost), then exits 0.
 *      On end of file without "ready" (N exited: bad settings, exec failed,
 *      or N gave up), on N's exit, or past SV_UPGRADE_TIMEOUT_MS (then N
 *      gets SIGTERM): the upgrade failed, O logs why and keeps serving.
 *   N gives up by itself when, before it was ready, one of its worker slots
 *      has to back off (a worker exited 2, or died twice quickly): it kills
 *      its workers and exits 1.
 *
 * N is O's child only until O exits; it is then re-parented (to init or a
 * subreaper). It never sets PR_SET_PDEATHSIG, so O's exit does not end it.
 *
 * The binary: argv[0] made absolute at start (looked up in PATH if it has
 * no slash), so that a new binary installed at that path is what USR2
 * runs; /proc/self/exe only when neither works (it names the old, possibly
 * deleted, file).
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "supervisor.h"

#define UPGRADE_FD_ENV  "CONDUIT_UPGRADE_FD"
#define UPGRADE_GEN_ENV "CONDUIT_UPGRADE_GENERATION"
#define UPGRADE_FD      5 /* the readiness pipe in the new binary */

/* Make path absolute against the current directory into out; 0 or -1. */
static int upgrade_absolute(const char *path, char *out, size_t len)
{
    char cwd[PATH_MAX];
    int n;

    if (path[0] == '/')
        n = snprintf(out, len, "%s", path);
    else if (getcwd(cwd, sizeof(cwd)) != NULL)
        n = snprintf(out, len, "%s/%s", cwd, path);
    else
        return -1;
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The binary USR2 will run (see the top of this file); 0 or -1. */
static int upgrade_resolve_exe(const char *argv0, char *out, size_t len)
{
    const char *path = getenv("PATH");
    ssize_t n;

    if (strchr(argv0, '/') != NULL)
        return upgrade_absolute(argv0, out, len);
    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - path) : strlen(path);
        char cand[PATH_MAX];
        int k =
            snprintf(cand, sizeof(cand), "%.*s%s%s", (int)dlen, path, dlen > 0 ? "/" : "", argv0);
        if (k > 0 && (size_t)k < sizeof(cand) && access(cand, X_OK) == 0)
            return upgrade_absolute(cand, out, len);
        path = colon != NULL ? colon + 1 : NULL;
    }
    n = readlink("/proc/self/exe", out, len - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    return 0;
}

int sv_upgrade_init(struct supervisor *sv, const char *argv0, char *errbuf, size_t errlen)
{
    const char *v = getenv(UPGRADE_FD_ENV);
    const char *g = getenv(UPGRADE_GEN_ENV);
    char *end;
    long fd;

    if (upgrade_resolve_exe(argv0, sv->exe_path, sizeof(sv->exe_path)) != 0) {
        /* Not fatal: only USR2 needs it, and it says so then. */
        sv->exe_path[0] = '\0';
    }
    if (g != NULL) {
        unsigned long gen;
        errno = 0;
        gen = strtoul(g, &end, 10);
        if (errno == 0 && *end == '\0' && gen > 0 && gen < UINT32_MAX)
            sv->generation = sv->last_generation = (uint32_t)gen + 1;
        if (unsetenv(UPGRADE_GEN_ENV) != 0) {
            snprintf(errbuf, errlen, "%s: cannot remove it from the environment", UPGRADE_GEN_ENV);
            return -1;
        }
    }
    if (v == NULL)
        return 0;
    errno = 0;
    fd = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || fd < 3 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0) {
        snprintf(errbuf, errlen, "%s: \"%.32s\" is not an open descriptor", UPGRADE_FD_ENV, v);
        return -1;
    }
    if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0) {
        snprintf(errbuf, errlen, "%s: cannot set close-on-exec: %s", UPGRADE_FD_ENV,
                 strerror(errno));
        return -1;
    }
    if (unsetenv(UPGRADE_FD_ENV) != 0) {
        snprintf(errbuf, errlen, "%s: cannot remove it from the environment", UPGRADE_FD_ENV);
        return -1;
    }
    sv->notify_fd = (int)fd;
    return 0;
}

/* The forked child: put the sockets and the pipe in place and exec the
 * binary; never returns. */
static void __attribute__((noreturn)) upgrade_child(struct supervisor *sv, int pipe_w)
{
    static const int sigs[] = {SIGTERM, SIGINT,  SIGQUIT, SIGCHLD, SIGHUP,
                               SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE};
    struct sigaction sa;
    sigset_t none;
    char pid[24], gen[24];
    int a, b, c;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    if (sigemptyset(&sa.sa_mask) != 0)
        _exit(127);
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
        if (sigaction(sigs[k], &sa, NULL) != 0)
            _exit(127);
    /* Copies above the targets first, so that no dup2 clobbers a source. */
    a = fcntl(sv->api_fd, F_DUPFD, 10);
    b = fcntl(sv->admin_fd, F_DUPFD, 10);
    c = fcntl(pipe_w, F_DUPFD, 10);
    /* dup2 clears close-on-exec on the new descriptor. */
    if (a < 0 || b < 0 || c < 0 || dup2(a, 3) != 3 || dup2(b, 4) != 4 ||
        dup2(c, UPGRADE_FD) != UPGRADE_FD)
        _exit(127);
    if (close_range(UPGRADE_FD + 1, ~0U, 0) != 0) {
        for (int fd = UPGRADE_FD + 1; fd < 65536; fd++)
            (void)close(fd); /* EBADF for unused numbers is expected */
    }
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    snprintf(gen, sizeof(gen), "%u", sv->last_generation);
    if (setenv("LISTEN_FDS", "2", 1) != 0 || setenv("LISTEN_PID", pid, 1) != 0 ||
        setenv("LISTEN_FDNAMES", "api:admin", 1) != 0 || setenv(UPGRADE_FD_ENV, "5", 1) != 0 ||
        setenv(UPGRADE_GEN_ENV, gen, 1) != 0)
        _exit(127);
    if (sigemptyset(&none) != 0 || sigprocmask(SIG_SETMASK, &none, NULL) != 0)
        _exit(127);
    execv(sv->exe_path, sv->argv);
    log_error("binary upgrade: cannot run the new binary", "\"path\":\"%s\",\"error\":\"%s\"",
              sv->exe_path, strerror(errno));
    _exit(127);
}

/* Forget the pipe and its event. */
static void upgrade_close_pipe(struct supervisor *sv)
{
    struct sv_upgrade *u = &sv->upgrade;

    if (u->ev != NULL) {
        event_free(u->ev);
        u->ev = NULL;
    }
    if (u->fd >= 0 && close(u->fd) != 0)
        log_warn("cannot close the upgrade pipe", "\"error\":\"%s\"", strerror(errno));
    u->fd = -1;
}

/* The upgrade failed: keep serving. term: also ask the new binary to stop. */
static void upgrade_fail(struct supervisor *sv, const char *why, bool term)
{
    struct sv_upgrade *u = &sv->upgrade;

    if (u->state != SV_UPGRADE_PENDING)
        return;
    upgrade_close_pipe(sv);
    u->state = SV_UPGRADE_NONE;
    sv->upgrades[1]++;
    log_error("binary upgrade failed; this supervisor keeps serving",
              "\"why\":\"%s\",\"new_pid\":%d,\"path\":\"%s\"", why, (int)u->pid, sv->exe_path);
    if (term && u->pid > 0 && kill(u->pid, SIGTERM) != 0 && errno != ESRCH)
        log_error("cannot signal the new binary", "\"pid\":%d,\"error\":\"%s\"", (int)u->pid,
                  strerror(errno));
}

/* The new binary is ready: hand over and stop. */
static void upgrade_succeed(struct supervisor *sv)
{
    struct sv_upgrade *u = &sv->upgrade;

    upgrade_close_pipe(sv);
    u->state = SV_UPGRADE_DONE;
    sv->upgrades[0]++;
    log_info("binary upgrade: the new supervisor is ready; this one drains its workers and exits",
             "\"new_pid\":%d,\"workers\":%u", (int)u->pid, sv_live_workers(sv));
    admin_drain(sv);
    sv_stop(sv, false, "binary upgrade");
}

/* Readable: the new binary wrote to its pipe, or closed it. */
static void upgrade_on_pipe(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *sv = arg;
    struct sv_upgrade *u = &sv->upgrade;
    ssize_t n;

    (void)what;
    for (;;) {
        n = read(fd, u->msg + u->msg_len, sizeof(u->msg) - 1 - u->msg_len);
        if (n > 0) {
            u->msg_len += (size_t)n;
            u->msg[u->msg_len] = '\0';
            if (strstr(u->msg, "ready") != NULL) {
                upgrade_succeed(sv);
                return;
            }
            if (u->msg_len + 1 >= sizeof(u->msg)) {
                upgrade_fail(sv, "unexpected message from the new binary", true);
                return;
            }
            continue;
        }
        if (n == 0) {
            upgrade_fail(sv, "the new binary exited (or closed its pipe) before it was ready",
                         false);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            upgrade_fail(sv, "cannot read the new binary's pipe", true);
        return;
    }
}

void sv_upgrade_begin(struct supervisor *sv)
{
    struct sv_upgrade *u = &sv->upgrade;
    sigset_t all, old;
    int p[2];
    pid_t pid;

    if (u->state != SV_UPGRADE_NONE || u->pid > 0) {
        log_warn("SIGUSR2 ignored: a binary upgrade is already under way", "\"new_pid\":%d",
                 (int)u->pid);
        return;
    }
    if (sv->reload.active || sv->notify_fd >= 0) {
        log_warn("SIGUSR2 ignored: a reload or our own start-up is under way", "");
        return;
    }
    if (sv->exe_path[0] == '\0') {
        log_error("SIGUSR2 ignored: the path of the binary could not be found at start", "");
        return;
    }
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("binary upgrade: cannot create a pipe", "\"error\":\"%s\"", strerror(errno));
        return;
    }
    if (sigfillset(&all) != 0 || sigprocmask(SIG_BLOCK, &all, &old) != 0) {
        log_error("binary upgrade: cannot block signals", "\"error\":\"%s\"", strerror(errno));
        goto close_both;
    }
    pid = fork();
    if (pid == 0)
        upgrade_child(sv, p[1]);
    if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
        log_error("cannot restore the signal mask", "\"error\":\"%s\"", strerror(errno));
    if (pid < 0) {
        log_error("binary upgrade: cannot fork", "\"error\":\"%s\"", strerror(errno));
        goto close_both;
    }
    if (close(p[1]) != 0)
        log_warn("cannot close the upgrade pipe's write end", "\"error\":\"%s\"", strerror(errno));
    memset(u, 0, sizeof(*u));
    u->pid = pid;
    u->fd = p[0];
    u->state = SV_UPGRADE_PENDING;
    u->deadline_ms = proc_mono_ms() + SV_UPGRADE_TIMEOUT_MS;
    u->ev = event_new(sv->base, u->fd, EV_READ | EV_PERSIST, upgrade_on_pipe, sv);
    if (u->ev == NULL || event_add(u->ev, NULL) != 0) {
        upgrade_fail(sv, "cannot watch the new binary's pipe", true);
        return;
    }
    log_info("binary upgrade: started the new binary", "\"new_pid\":%d,\"path\":\"%s\"", (int)pid,
             sv->exe_path);
    return;

close_both:
    if (close(p[0]) != 0 || close(p[1]) != 0)
        log_warn("cannot close the upgrade pipe", "\"error\":\"%s\"", strerror(errno));
}

/* In the new binary: give up when a worker slot has to back off before
 * every slot was ready once (the old supervisor keeps serving). */
static void upgrade_child_check(struct supervisor *sv)
{
    if (sv->notify_fd < 0 || sv->warm || sv->phase != SV_SERVING)
        return;
    for (uint32_t i = 0; i < sv->sb->nslots; i++) {
        if (sv->slots[i].wanted && sv->slots[i].pid == 0 &&
            __atomic_load_n(&sv->sb->slots[i].state, __ATOMIC_ACQUIRE) == SB_BACKOFF) {
            log_error("binary upgrade: the new binary's workers cannot start; giving up, the "
                      "old supervisor keeps serving",
                      "\"slot\":%u,\"old_pid\":%d", i, (int)getppid());
            if (close(sv->notify_fd) != 0)
                log_warn("cannot close the upgrade pipe", "\"error\":\"%s\"", strerror(errno));
            sv->notify_fd = -1;
            sv->exit_status = 1;
            sv_stop(sv, true, "binary upgrade failed");
            return;
        }
    }
}

void sv_upgrade_tick(struct supervisor *sv, int64_t now_ms)
{
    struct sv_upgrade *u = &sv->upgrade;

    upgrade_child_check(sv);
    if (u->state == SV_UPGRADE_PENDING && now_ms >= u->deadline_ms) {
        char why[96];
        snprintf(why, sizeof(why), "the new binary was not ready within %d s",
                 SV_UPGRADE_TIMEOUT_MS / 1000);
        upgrade_fail(sv, why, true);
    }
}

bool sv_upgrade_reaped(struct supervisor *sv, pid_t pid, int status)
{
    struct sv_upgrade *u = &sv->upgrade;
    char why[96];

    if (pid <= 0 || pid != u->pid)
        return false;
    if (WIFEXITED(status))
        snprintf(why, sizeof(why), "the new binary exited with status %d", WEXITSTATUS(status));
    else
        snprintf(why, sizeof(why), "the new binary was killed by signal %d",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    log_at(u->state == SV_UPGRADE_DONE ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
           "binary upgrade: the new supervisor exited", "\"pid\":%d,\"why\":\"%s\"", (int)pid, why);
    u->pid = 0;
    upgrade_fail(sv, why, false);
    return true;
}

void sv_upgrade_cancel(struct supervisor *sv)
{
    if (sv->upgrade.state == SV_UPGRADE_PENDING)
        upgrade_fail(sv, "this supervisor is stopping", true);
}

void sv_upgrade_notify_ready(struct supervisor *sv)
{
    static const char msg[] = "ready\n";
    ssize_t n;

    if (sv->notify_fd < 0)
        return;
    do {
        n = write(sv->notify_fd, msg, sizeof(msg) - 1);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(msg) - 1)
        log_warn("binary upgrade: cannot tell the old supervisor we are ready", "\"error\":\"%s\"",
                 n < 0 ? strerror(errno) : "short write");
    else
        log_info("binary upgrade: ready; told the old supervisor", "\"old_pid\":%d",
                 (int)getppid());
    if (close(sv->notify_fd) != 0)
        log_warn("cannot close the upgrade pipe", "\"error\":\"%s\"", strerror(errno));
    sv->notify_fd = -1;
    if (sv->admin_paused) {
        sv->admin_paused = false;
        admin_pause(sv, false);
    }
}

void sv_upgrade_free(struct supervisor *sv)
{
    upgrade_close_pipe(sv);
    if (sv->notify_fd >= 0 && close(sv->notify_fd) != 0)
        log_warn("cannot close the upgrade pipe", "\"error\":\"%s\"", strerror(errno));
    sv->notify_fd = -1;
}
