/*
 * admission.c: a worker's admission control (see admission.h).
 *
 * Fair share: with L live workers (READY, heartbeat younger than twice the
 * heartbeat period) holding T connections in all and Q more waiting in the
 * accept queue (the listening socket's TCP_INFO tcpi_unacked), a worker
 * that has just accepted holds on to accepting while one more would put it
 * above ceil((T + Q + 1) / L). Counting the queue lets a worker take its
 * share of a burst in one go (up to --accepts-per-wake per wake-up) instead
 * of one connection per hand-over: with the queue left out, two busy
 * workers alternated one accept per event-loop pass, about 400 a second,
 * and the last of 4,096 connections waited seconds for its first answer.
 * Accepting moves connections from Q to T, so T + Q stays the burst's size
 * and nobody passes its share of it. The check reads every slot's
 * connections_open gauge (relaxed loads, no lock); two workers reading at
 * the same moment can each take one more, so a burst ends within
 * ceil(total / L) + 1 per worker. Holding removes the accept event
 * (http_server_pause_accept), so the kernel wakes the other workers for
 * the next connections; a 2 ms timer resumes once the share allows, or
 * after ADMISSION_HOLD_MAX_MS when connections still wait in the queue and
 * nobody took them: then this worker accepts as many as were waiting, and
 * holds again. Keep-alive traffic makes no accept and costs nothing.
 *
 * Ceiling: at --max-connections the worker holds the same way, so that
 * workers below theirs take the connections; if nobody has for
 * ADMISSION_HOLD_MAX_MS it accepts them anyway and answers each request
 * on a connection above the ceiling 503 + Retry-After with
 * Connection: close: the client is told at once instead of waiting in the
 * kernel's queue.
 *
 * Refusals: 503 {"errors":{"server":["overloaded"]}} with Retry-After: 1,
 * written by the HTTP core from the event loop. The first refusal on a
 * connection is answered at once. A repeat (the connection was answered a
 * 503 less than --shed-repeat-ms ago: its client retried without waiting
 * the Retry-After) is held until --shed-repeat-ms after that 503, so a
 * client that ignores Retry-After gets one refusal per interval instead of
 * as many as the worker can write. --shed-delay-ms, when set, holds every
 * refusal at least that long. A held refusal costs no work: it waits in a
 * list ordered by due time (nearly FIFO: inserted from the tail) with one
 * timer for the head, and does not count against --max-in-flight. Due
 * refusals are answered at most ADMISSION_RELEASE_PER_MS a millisecond:
 * refusals that came together (a burst of new connections all refused at
 * once) would otherwise be answered together every --shed-repeat-ms, their
 * clients' retries would arrive together, and each such wave of parsing and
 * refusing stalled the answers being served (the 2xx p99 went from about
 * 10 ms to 70-140 ms in the second of each wave, at 4,096 connections).
 * Paced, a wave spreads out over its first cycle and stays spread. Each
 * time more were due, the slot's refusal_pacing_waits counts one
 * (conduitd_refusal_pacing_waits_total).
 *
 * Relies on: http.h (pause_accept, connections, in_flight, close_after),
 * the scoreboard, proc.h's monotonic clock, libevent.
 */
#include "config.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "admission.h"
#include "log.h"
#include "proc.h"

/* A refusal held for --shed-repeat-ms or --shed-delay-ms. */
struct admission_held {
    TAILQ_ENTRY(admission_held) link;
    struct http_request *req;
    int64_t due_ms; /* monotonic */
    bool close;     /* answer with Connection: close */
};

TAILQ_HEAD(admission_held_list, admission_held);

struct admission {
    struct event_base *base;
    struct scoreboard *sb;
    struct sb_slot *slot;
    uint32_t slot_index;
    struct http_server *http;
    int listen_fd;
    int max_connections;
    int max_in_flight;
    int shed_delay_ms;
    int shed_repeat_ms;
    int64_t live_age_ms; /* a heartbeat older than this: not live */
    bool holding;        /* accepting paused by us */
    int overflow;        /* connections nobody else took: accept this many regardless */
    bool draining;
    int64_t hold_since_ms;
    size_t nheld; /* refusals held: in the core's in-flight count, not in our budget */
    struct event *ev_hold;
    struct event *ev_held;
    struct admission_held_list held;
};

static void admission_on_held(evutil_socket_t fd, short what, void *arg);

static const char admission_body[] = "{\"errors\":{\"server\":[\"overloaded\"]}}";

/* Connections waiting in the listening socket's accept queue, or 0. */
static int64_t admission_queue_depth(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return 0;
    return (int64_t)ti.tcpi_unacked;
}

/* True when this worker holds more than its fair share of the live
 * workers' connections and those waiting to be accepted (see the top of
 * the file). */
static bool admission_over_share(const struct admission *a)
{
    int64_t now = proc_mono_ms();
    int64_t total = 0, mine, waiting;
    int64_t live = 0;

    mine = __atomic_load_n(&a->slot->connections_open, __ATOMIC_RELAXED);
    for (uint32_t i = 0; i < a->sb->nslots; i++) {
        const struct sb_slot *s = &a->sb->slots[i];
        if (i != a->slot_index) {
            if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != SB_READY)
                continue;
            if (now - __atomic_load_n(&s->heartbeat_ms, __ATOMIC_RELAXED) > a->live_age_ms)
                continue;
        }
        live++;
        total += __atomic_load_n(&s->connections_open, __ATOMIC_RELAXED);
    }
    if (live <= 1)
        return false;
    /* The next connection is the queue's first, or one still to come. */
    waiting = admission_queue_depth(a->listen_fd);
    total += waiting > 0 ? waiting : 1;
    /* taking it would exceed ceil(total / live) */
    return (mine + 1) * live > total + live - 1;
}

/* True when accepting one more is refused by the ceiling or the share
 * (neither applies in overflow: nobody else takes what waits). */
static bool admission_should_hold(const struct admission *a)
{
    if (a->overflow > 0)
        return false;
    if (http_server_connections(a->http) >= (size_t)a->max_connections)
        return true;
    return admission_over_share(a);
}

/* Pause or resume accepting. */
static void admission_set_hold(struct admission *a, bool hold)
{
    struct timeval tick = {0, ADMISSION_HOLD_TICK_MS * 1000};

    if (hold == a->holding || a->draining)
        return;
    if (http_server_pause_accept(a->http, hold) != 0) {
        log_error("admission: cannot change accepting", "\"hold\":%d", hold);
        return;
    }
    a->holding = hold;
    if (hold) {
        sb_inc(&a->slot->c.accept_pauses, 1);
        a->hold_since_ms = proc_mono_ms();
        if (event_add(a->ev_hold, &tick) != 0)
            log_error("admission: cannot arm the hold timer", "");
    } else if (event_del(a->ev_hold) != 0) {
        log_error("admission: cannot stop the hold timer", "");
    }
}

/* libevent: re-check a held accept (persistent timer while holding). */
static void admission_on_hold_tick(evutil_socket_t fd, short what, void *arg)
{
    struct admission *a = arg;

    (void)fd;
    (void)what;
    if (!a->holding)
        return;
    if (!admission_should_hold(a)) {
        admission_set_hold(a, false);
        return;
    }
    if (proc_mono_ms() - a->hold_since_ms >= ADMISSION_HOLD_MAX_MS) {
        /* Nobody else took what waits now: take that many ourselves,
         * then hold again (admission_on_accept). */
        int64_t waiting = admission_queue_depth(a->listen_fd);
        if (waiting > 0) {
            a->overflow = waiting > INT32_MAX ? INT32_MAX : (int)waiting;
            admission_set_hold(a, false);
        } else {
            a->hold_since_ms = proc_mono_ms();
        }
    }
}

struct admission *admission_new(struct event_base *base, const struct settings *s,
                                struct scoreboard *sb, uint32_t slot_index, int heartbeat_ms)
{
    struct admission *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->base = base;
    a->sb = sb;
    a->slot = &sb->slots[slot_index];
    a->slot_index = slot_index;
    a->listen_fd = -1;
    a->max_connections = s->max_connections > 0 ? s->max_connections : 1;
    a->max_in_flight = s->max_in_flight > 0 ? s->max_in_flight : 1;
    a->shed_delay_ms = s->shed_delay_ms;
    a->shed_repeat_ms = s->shed_repeat_ms;
    a->live_age_ms = (int64_t)heartbeat_ms * 2 + 100;
    TAILQ_INIT(&a->held);
    a->ev_hold = event_new(base, -1, EV_PERSIST, admission_on_hold_tick, a);
    a->ev_held = evtimer_new(base, admission_on_held, a);
    if (a->ev_hold == NULL || a->ev_held == NULL) {
        admission_free(a);
        return NULL;
    }
    return a;
}

void admission_attach(struct admission *a, struct http_server *http, int listen_fd)
{
    a->http = http;
    a->listen_fd = listen_fd;
}

void admission_on_accept(struct admission *a)
{
    if (a == NULL || a->http == NULL || a->draining)
        return;
    if (a->overflow > 0)
        a->overflow--;
    if (admission_should_hold(a))
        admission_set_hold(a, true);
}

void admission_on_close(struct admission *a)
{
    if (a != NULL && a->http != NULL && a->holding && !admission_should_hold(a))
        admission_set_hold(a, false);
}

/* Answer one refusal: 503, Retry-After, optionally Connection: close. */
static void admission_answer(struct http_request *req, bool close)
{
    if (close)
        http_request_close_after(req);
    if (http_response_header(req, "Retry-After", "1") != 0)
        log_warn("admission: cannot add Retry-After", "");
    (void)http_respond(req, 503, "application/json", admission_body, sizeof(admission_body) - 1);
}

/* Arm the held-refusal timer for the head of the list, at least min_ms
 * from now. */
static void admission_arm_held(struct admission *a, int64_t min_ms)
{
    struct admission_held *h = TAILQ_FIRST(&a->held);
    int64_t left;
    struct timeval tv;

    if (h == NULL)
        return;
    left = h->due_ms - proc_mono_ms();
    if (left < min_ms)
        left = min_ms;
    tv.tv_sec = left / 1000;
    tv.tv_usec = (left % 1000) * 1000;
    if (evtimer_add(a->ev_held, &tv) != 0)
        log_error("admission: cannot arm the refusal timer", "");
}

/* Answer the held refusals that are due, at most ADMISSION_RELEASE_PER_MS
 * now and the rest a millisecond later (all of them at once when all is
 * set). */
static void admission_release_held(struct admission *a, bool all)
{
    struct admission_held *h;
    int64_t now = proc_mono_ms();
    int released = 0;

    while ((h = TAILQ_FIRST(&a->held)) != NULL && (all || h->due_ms <= now)) {
        if (!all && released == ADMISSION_RELEASE_PER_MS) {
            sb_inc(&a->slot->c.refusal_pacing_waits, 1);
            admission_arm_held(a, 1);
            return;
        }
        TAILQ_REMOVE(&a->held, h, link);
        a->nheld--;
        admission_answer(h->req, h->close);
        free(h);
        released++;
    }
    admission_arm_held(a, 0);
}

/* libevent: held refusals are due. */
static void admission_on_held(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    admission_release_held(arg, false);
}

/* When req's refusal is due: now_ms, or later for a repeat refusal
 * (--shed-repeat-ms after the connection's last 503) or --shed-delay-ms. */
static int64_t admission_due_ms(const struct admission *a, const struct http_request *req,
                                int64_t now_ms)
{
    int64_t due = now_ms + (a->shed_delay_ms > 0 ? a->shed_delay_ms : 0);
    int64_t last = http_request_last_503_ms(req);

    if (a->shed_repeat_ms > 0 && last > 0 && now_ms - last < a->shed_repeat_ms &&
        last + a->shed_repeat_ms > due)
        due = last + a->shed_repeat_ms;
    return due;
}

/* Hold h until its due time: insert in due order, searching from the tail
 * (refusals mostly arrive in due order), and re-arm the timer if it is
 * the new head. */
static void admission_hold(struct admission *a, struct admission_held *h)
{
    struct admission_held *after = TAILQ_LAST(&a->held, admission_held_list);

    while (after != NULL && after->due_ms > h->due_ms)
        after = TAILQ_PREV(after, admission_held_list, link);
    if (after == NULL)
        TAILQ_INSERT_HEAD(&a->held, h, link);
    else
        TAILQ_INSERT_AFTER(&a->held, after, h, link);
    a->nheld++;
    if (TAILQ_FIRST(&a->held) == h)
        admission_arm_held(a, 0);
}

/* Refuse req for reason: now, or held until admission_due_ms(). A refusal
 * with close is never a repeat (its connection closes after it). */
static void admission_shed(struct admission *a, struct http_request *req, enum sb_shed_reason why,
                           bool close)
{
    struct admission_held *h;
    int64_t now = proc_mono_ms();
    int64_t due = admission_due_ms(a, req, now);

    sb_inc(&a->slot->c.shed[why], 1);
    if (due <= now || a->draining || (h = malloc(sizeof(*h))) == NULL) {
        admission_answer(req, close);
        return;
    }
    h->req = req;
    h->close = close;
    h->due_ms = due;
    admission_hold(a, h);
}

bool admission_refuse(struct admission *a, struct http_request *req)
{
    if (a == NULL || a->http == NULL)
        return false;
    if (http_server_connections(a->http) > (size_t)a->max_connections) {
        admission_shed(a, req, SB_SHED_CONNECTIONS, true);
        return true;
    }
    /* The core's in-flight count includes this request and the refusals
     * held; the budget is for requests being worked on. */
    if (http_server_in_flight(a->http) - a->nheld > (size_t)a->max_in_flight) {
        admission_shed(a, req, SB_SHED_IN_FLIGHT, false);
        return true;
    }
    return false;
}

void admission_drain(struct admission *a)
{
    if (a->holding && event_del(a->ev_hold) != 0)
        log_error("admission: cannot stop the hold timer", "");
    a->holding = false;
    a->draining = true;
    admission_release_held(a, true);
}

void admission_free(struct admission *a)
{
    if (a == NULL)
        return;
    admission_release_held(a, true);
    if (a->ev_hold != NULL)
        event_free(a->ev_hold);
    if (a->ev_held != NULL)
        event_free(a->ev_held);
    free(a);
}
