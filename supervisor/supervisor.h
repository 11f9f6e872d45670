/*
 * supervisor.h: the supervisor process: its context and the functions its
 * files share (supervisor.c: set-up, loop, signals, readiness and stopping;
 * spawn.c: fork, reap and respawn;
 * hung.c: hung workers; generation.c: reloads,
 * scaling and recycling; upgrade.c: the binary upgrade; admin.c: the admin
 * HTTP endpoints; listen.c: the listening sockets, bound or inherited).
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
 * (`wanted`), the generation its worker belongs to, whether its worker was
 * asked to leave (`retiring`, so its exit is no failure) or was killed or
 * retired by us for a counted reason (`kill_reason`: hung, recycle), and
 * the slot's back-off history.
 *
 * Generations: every worker records the generation it was started in. A
 * reload (HUP) starts generation G+1 in free slots with the new settings
 * while generation G keeps serving; once every new worker is ready, G is
 * retired (sv_retire: drain, finish in-flight requests, exit). If the new
 * workers cannot start, they are retired instead and G stays. Recycling
 * (max-requests) replaces one worker the same way: the replacement first,
 * the old one retired once the replacement is ready.
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

#define SV_TICK_MS            250   /* respawns, heartbeats, reload steps, deadlines */
#define SV_BACKOFF_BASE_MS    100   /* delay after the second quick death */
#define SV_BACKOFF_CAP_MS     30000 /* longest respawn delay */
#define SV_BACKOFF_STABLE_MS  10000 /* a run this long forgets earlier deaths */
#define SV_FAST_STOP_WAIT_MS  3000  /* how long a fast stop waits to reap */
#define SV_HUNG_GRACE_MS      500   /* SIGABRT to SIGKILL for a hung worker that runs */
#define SV_HUNG_CORE_MAX_MS   30000 /* longest a hung worker may spend writing its core */
#define SV_RELOAD_TIMEOUT_MS  60000 /* a reload's new workers must all be ready by then */
#define SV_UPGRADE_TIMEOUT_MS 60000 /* the new binary must say "ready" by then */
#define SV_NSIGNALS           9

/* What the supervisor is doing overall. */
enum sv_phase {
    SV_SERVING,       /* normal operation: respawn what dies */
    SV_STOP_GRACEFUL, /* draining workers; SIGKILL at the deadline */
    SV_STOP_FAST,     /* workers killed; exit as soon as they are reaped */
};

/* Where a binary upgrade (USR2) stands, seen from the old supervisor. */
enum sv_upgrade_state {
    SV_UPGRADE_NONE,    /* none under way (or the last one failed) */
    SV_UPGRADE_PENDING, /* the new binary runs; waiting for its "ready" */
    SV_UPGRADE_DONE,    /* it is ready: we stop and leave it the sockets */
};

/* The supervisor's own view of one slot (the scoreboard has the shared one). */
struct sv_slot {
    pid_t pid;               /* live worker, or 0 */
    int control_fd;          /* our end of its control socketpair, or -1 */
    uint32_t generation;     /* generation of its worker (or of the next one, while FREE/BACKOFF) */
    bool wanted;             /* this slot should run a worker */
    bool retiring;           /* its worker was asked to drain and leave */
    bool hung_killed;        /* SIGKILL sent after the SIGABRT grace */
    bool abandoned;          /* its generation's reload was given up: its exit is not counted */
    int kill_reason;         /* enum sb_restart_reason to count at its exit, or -1 */
    int replaced_by;         /* recycling: slot of its replacement, or -1 */
    int64_t started_mono_ms; /* fork time, monotonic */
    int64_t respawn_at_ms;   /* monotonic; meaningful in SB_BACKOFF */
    int64_t hung_since_ms;   /* monotonic time SIGABRT was sent for silence, or 0 */
    uint64_t last_cpu_us;    /* highest CPU time seen for the live worker */
    struct backoff backoff;
};

/* A reload under way (HUP). */
struct sv_reload {
    bool active;
    bool again;                /* another HUP came meanwhile: reload again after */
    uint32_t generation;       /* the generation being started */
    uint32_t target;           /* workers it should have */
    uint32_t early_retired;    /* old workers retired early to make room (no free slot) */
    int64_t deadline_ms;       /* monotonic */
    struct settings *settings; /* the new configuration; owned here until commit or abort */
};

/* A binary upgrade (USR2), seen from the old supervisor. */
struct sv_upgrade {
    enum sv_upgrade_state state;
    pid_t pid;           /* the new supervisor, our child, until reaped; or 0 */
    int fd;              /* read end of its readiness pipe, or -1 */
    struct event *ev;    /* read event on fd */
    int64_t deadline_ms; /* monotonic */
    char msg[16];        /* what it wrote so far */
    size_t msg_len;
};

struct supervisor {
    struct settings *settings; /* owned by main(); a reload copies the new settings in */
    int argc;                  /* main()'s, to read the settings again on HUP */
    char **argv;
    char exe_path[4096]; /* the binary USR2 runs: argv[0] made absolute at start */
    struct event_base *base;
    struct scoreboard *sb;
    struct router *router;       /* API routes; built before forking, inherited */
    struct router *admin_router; /* admin routes; supervisor only */
    struct http_server *admin;
    int api_fd;                          /* the shared listening socket; open for our whole life */
    int admin_fd;                        /* ours alone; workers close it */
    bool api_inherited, admin_inherited; /* adopted from LISTEN_FDS, not bound */
    int notify_fd;     /* new binary of an upgrade: where to say "ready", else -1 */
    bool admin_paused; /* new binary of an upgrade: admin waits until ready */
    pid_t pid;
    uint32_t generation;      /* the current (serving) generation */
    uint32_t last_generation; /* highest generation ever started */
    uint32_t nwanted;         /* slots that should run a worker */
    uint32_t missing;         /* current-generation workers to add once a slot is free */
    bool warm; /* every wanted slot of the current generation has had a ready worker */
    int exit_status;
    enum sv_phase phase;
    int64_t stop_deadline_ms; /* monotonic */
    bool stop_killed;         /* the graceful deadline passed and we sent SIGKILL */
    bool exit_requested;      /* event_base_loopexit() was called */
    int64_t start_wall_ms;
    uint64_t cpu_floor_us; /* highest process CPU reported, so it never dips */
    uint64_t reloads[2];   /* [0] ok, [1] failed */
    uint64_t upgrades[2];  /* [0] ok, [1] failed */
    struct sv_reload reload;
    struct sv_upgrade upgrade;
    struct event *ev_signals[SV_NSIGNALS];
    struct event *ev_tick;
    struct sv_slot slots[SB_MAX_SLOTS];
};

/* ---- supervisor.c ---- */
/* Open (or adopt) the sockets, build routes, scoreboard, loop and admin
 * server. argc/argv are kept for reloads. 0, or -1 with errbuf set
 * (nothing is left open). */
int sv_init(struct supervisor *sv, struct settings *s, int argc, char **argv, char *errbuf,
            size_t errlen) __attribute__((warn_unused_result));
/* Start the workers and run the loop until stopped; returns the exit status. */
int sv_run(struct supervisor *sv);
/* Release everything sv_init made. */
void sv_free(struct supervisor *sv);
/* Begin a graceful stop, or a fast stop if fast or already stopping. */
void sv_stop(struct supervisor *sv, bool fast, const char *why);
/* True when /readyz answers 200; else *reason says why not. Ready: every
 * wanted slot of the current generation has had a ready worker once (the
 * warm-up), then as long as one worker serves and no stop has begun. */
bool sv_ready(struct supervisor *sv, const char **reason);
/* Latch `warm` once every wanted current-generation slot is ready; an
 * upgrade's new binary then tells the old supervisor. */
void sv_update_warm(struct supervisor *sv);
/* During a stop, leave the loop once no worker is left. */
void sv_check_done(struct supervisor *sv);

/* ---- spawn.c ---- */
/* Fork a worker into slot i, in the slot's generation with that
 * generation's settings. 0, or -1 (logged; the slot backs off). */
int sv_spawn(struct supervisor *sv, uint32_t i);
/* Reap every exited child, fold its slot and respawn or schedule. */
void sv_reap(struct supervisor *sv);
/* Ask slot i's worker to drain and leave (graceful); its exit is expected. */
void sv_retire(struct supervisor *sv, uint32_t i, const char *why);
/* Send sig to slot i's worker and count its death as reason (e.g. hung). */
void sv_kill(struct supervisor *sv, uint32_t i, int sig, enum sb_restart_reason reason);
/* Start the slots whose back-off delay has passed. */
void sv_respawn_due(struct supervisor *sv, int64_t now_ms);
/* ---- hung.c ---- */
/* Hung workers: SIGABRT past --worker-timeout of silence and a replacement
 * started at once; SIGKILL at once for a stopped process, after
 * SV_HUNG_GRACE_MS for one that runs, after its core dump (at most
 * SV_HUNG_CORE_MAX_MS) for one writing it. */
void sv_check_heartbeats(struct supervisor *sv, int64_t now_ms);
/* Send sig to every live worker. */
void sv_signal_all(struct supervisor *sv, int sig);
/* Live worker processes. */
uint32_t sv_live_workers(const struct supervisor *sv);
/* A slot with no worker and no wish for one, or -1. */
int sv_free_slot(const struct supervisor *sv);
/* Make slot i wanted for generation gen (fresh back-off history). */
void sv_want_slot(struct supervisor *sv, uint32_t i, uint32_t gen);

/* ---- generation.c ---- */
/* HUP: read the settings again and start a new generation. */
void sv_reload_begin(struct supervisor *sv, const char *why);
/* Move a reload along (spawn, commit, or abort); called by the tick and
 * after every reaped worker. */
void sv_reload_progress(struct supervisor *sv, int64_t now_ms);
/* Give up a reload: retire its workers, keep the current generation. */
void sv_reload_abort(struct supervisor *sv, const char *why);
/* TTIN / TTOU. */
void sv_scale_up(struct supervisor *sv);
void sv_scale_down(struct supervisor *sv);
/* Replace the workers that asked for it (max-requests): replacement
 * first, then the old one retired once the replacement is ready. */
void sv_recycle_progress(struct supervisor *sv);
/* Add the current-generation workers a failed reload took away, as slots
 * free up. */
void sv_fill_missing(struct supervisor *sv);

/* ---- upgrade.c ---- */
/* At start: resolve the binary USR2 will run (argv0 made absolute, or
 * looked up in PATH) into sv->exe_path, and pick up CONDUIT_UPGRADE_FD
 * when we are the new binary of an upgrade. 0, or -1 with errbuf set. */
int sv_upgrade_init(struct supervisor *sv, const char *argv0, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
/* USR2: fork and exec the binary with the listening sockets. */
void sv_upgrade_begin(struct supervisor *sv);
/* Tick: the new binary's deadline; in the new binary, give up when its
 * workers cannot start. */
void sv_upgrade_tick(struct supervisor *sv, int64_t now_ms);
/* Reaping: true when pid was the upgrade's new binary (handled). */
bool sv_upgrade_reaped(struct supervisor *sv, pid_t pid, int status);
/* A stop began: an upgrade still pending is called off. */
void sv_upgrade_cancel(struct supervisor *sv);
/* The new binary is warm: tell the old supervisor and open the admin port. */
void sv_upgrade_notify_ready(struct supervisor *sv);
/* Release the upgrade's pipe and event. */
void sv_upgrade_free(struct supervisor *sv);

/* ---- admin.c ---- */
/* Serve the admin endpoints on sv->admin_fd (paused while sv->admin_paused).
 * 0, or -1 with errbuf set. */
int admin_start(struct supervisor *sv, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
/* Start or stop accepting admin connections (an upgrade's hand-over). */
void admin_pause(struct supervisor *sv, bool paused);
/* Stop accepting admin connections for good; finish those open. */
void admin_drain(struct supervisor *sv);
void admin_stop(struct supervisor *sv);

/* ---- listen.c ---- */
/* A non-blocking, close-on-exec TCP socket listening on addr ("host:port")
 * with SO_REUSEADDR. fd, or -1 with errbuf naming the setting. */
int listen_open(const char *setting, const char *addr, int backlog, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
/* Adopt listening sockets passed with the systemd convention (LISTEN_PID,
 * LISTEN_FDS, fds from 3, optional LISTEN_FDNAMES "api"/"admin"; unnamed
 * ones match the settings' addresses), as socket activation or an
 * upgrading conduitd passes them; the variables are removed from the
 * environment. *api_fd / *admin_fd are -1 where nothing was passed.
 * 0, or -1 with errbuf set. */
int listen_adopt(const struct settings *s, int *api_fd, int *admin_fd, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));
/* Connections waiting in a listening socket's accept queue, or -1. */
int64_t listen_queue_depth(int fd);

#endif
