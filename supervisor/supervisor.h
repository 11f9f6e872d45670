/*
 * supervisor.h: the supervisor process: its context and the functions its
 * files share (supervisor.c: set-up, loop, signals and stopping; spawn.c:
 * fork, reap and respawn; admin.c: the admin HTTP endpoints; listen.c: the
 * listening sockets).
 *
 * A worker slot's life, as the scoreboard's state (conduitd_workers{state})
 * shows it; the supervisor moves it along except where noted:
 *
 *   FREE --fork--> STARTING --worker serves--> READY      (READY: set by the worker)
 *   STARTING/READY --retire (drain asked)--> DRAINING     (the worker sets it too)
 *   any live state --process reaped--> folded, FREE --> (respawn now) STARTING
 *                                                   --> (delay) BACKOFF --tick--> STARTING
 *
 * The supervisor keeps its own view of each slot in struct sv_slot: the
 * pid, the control channel, whether the slot should have a worker at all
 * (`wanted`), whether its worker was asked to leave (`retiring`, so its
 * exit is no failure) or was killed by us for a reason (`kill_reason`), and
 * the slot's back-off history. Generations: every worker records the
 * generation it was started in; a reload (later) starts a new generation in
 * free slots and retires the old one with sv_retire().
 */
#ifndef CONDUIT_SUPERVISOR_H
#define CONDUIT_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backoff.h"
#include "scoreboard.h"
#include "settings.h"

struct event;
struct event_base;
struct http_server;
struct router;

#define SV_TICK_MS           250   /* respawn scheduling and deadlines */
#define SV_BACKOFF_BASE_MS   100   /* delay after the second quick death */
#define SV_BACKOFF_CAP_MS    30000 /* longest respawn delay */
#define SV_BACKOFF_STABLE_MS 10000 /* a run this long forgets earlier deaths */
#define SV_FAST_STOP_WAIT_MS 3000  /* how long a fast stop waits to reap */
#define SV_NSIGNALS          9

/* What the supervisor is doing overall. */
enum sv_phase {
    SV_SERVING,       /* normal operation: respawn what dies */
    SV_STOP_GRACEFUL, /* draining workers; SIGKILL at the deadline */
    SV_STOP_FAST,     /* workers killed; exit as soon as they are reaped */
};

/* The supervisor's own view of one slot (the scoreboard has the shared one). */
struct sv_slot {
    pid_t pid;               /* live worker, or 0 */
    int control_fd;          /* our end of its control socketpair, or -1 */
    uint32_t generation;     /* generation of the live worker */
    bool wanted;             /* this slot should run a worker */
    bool retiring;           /* its worker was asked to drain and leave */
    int kill_reason;         /* enum sb_restart_reason we killed it for, or -1 */
    int64_t started_mono_ms; /* fork time, monotonic */
    int64_t respawn_at_ms;   /* monotonic; meaningful in SB_BACKOFF */
    uint64_t last_cpu_us;    /* highest CPU time seen for the live worker */
    struct backoff backoff;
};

struct supervisor {
    struct settings *settings; /* owned by main(); HUP may replace it later */
    struct event_base *base;
    struct scoreboard *sb;
    struct router *router;       /* API routes; built before forking, inherited */
    struct router *admin_router; /* admin routes; supervisor only */
    struct http_server *admin;
    int api_fd;   /* the shared listening socket; open for our whole life */
    int admin_fd; /* ours alone; workers close it */
    pid_t pid;
    uint32_t generation; /* generation of workers started now */
    uint32_t nwanted;    /* slots that should run a worker */
    enum sv_phase phase;
    int64_t stop_deadline_ms; /* monotonic */
    bool stop_killed;         /* the graceful deadline passed and we sent SIGKILL */
    bool exit_requested;      /* event_base_loopexit() was called */
    int64_t start_wall_ms;
    uint64_t cpu_floor_us; /* highest process CPU reported, so it never dips */
    struct event *ev_signals[SV_NSIGNALS];
    struct event *ev_tick;
    struct sv_slot slots[SB_MAX_SLOTS];
};

/* ---- supervisor.c ---- */
/* Open the sockets, build routes, scoreboard, loop and admin server.
 * 0, or -1 with errbuf set (nothing is left open). */
int sv_init(struct supervisor *sv, struct settings *s, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
/* Start the workers and run the loop until stopped; returns the exit status. */
int sv_run(struct supervisor *sv);
/* Release everything sv_init made. */
void sv_free(struct supervisor *sv);
/* Begin a graceful stop, or a fast stop if fast or already stopping. */
void sv_stop(struct supervisor *sv, bool fast, const char *why);
/* True when /readyz answers 200; else *reason says why not. */
bool sv_ready(const struct supervisor *sv, const char **reason);
/* During a stop, leave the loop once no worker is left. */
void sv_check_done(struct supervisor *sv);

/* ---- spawn.c ---- */
/* Fork a worker into slot i. 0, or -1 (logged; the slot backs off). */
int sv_spawn(struct supervisor *sv, uint32_t i);
/* Reap every exited child, fold its slot and respawn or schedule. */
void sv_reap(struct supervisor *sv);
/* Ask slot i's worker to drain and leave (graceful); its exit is expected. */
void sv_retire(struct supervisor *sv, uint32_t i, const char *why);
/* Send sig to slot i's worker and count its death as reason (e.g. hung). */
void sv_kill(struct supervisor *sv, uint32_t i, int sig, enum sb_restart_reason reason);
/* Start the slots whose back-off delay has passed. */
void sv_respawn_due(struct supervisor *sv, int64_t now_ms);
/* Send sig to every live worker. */
void sv_signal_all(struct supervisor *sv, int sig);
/* Live worker processes. */
uint32_t sv_live_workers(const struct supervisor *sv);

/* ---- admin.c ---- */
/* Serve the admin endpoints on sv->admin_fd. 0, or -1 with errbuf set. */
int admin_start(struct supervisor *sv, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
void admin_stop(struct supervisor *sv);

/* ---- listen.c ---- */
/* A non-blocking, close-on-exec TCP socket listening on addr ("host:port")
 * with SO_REUSEADDR. fd, or -1 with errbuf naming the setting. */
int listen_open(const char *setting, const char *addr, int backlog, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
/* Connections waiting in a listening socket's accept queue, or -1. */
int64_t listen_queue_depth(int fd);

#endif
