/*
 * admission.h: a worker's admission control: how many connections it
 * takes from the shared accept queue, and which requests it refuses
 * before any work is done.
 *
 * - Fair accepting: after every accept the worker compares its open
 *   connections with the fair share of all live workers' (from the
 *   scoreboard). Above it, it stops accepting for a moment so that the
 *   others take the next connections from the one shared queue; it takes
 *   them itself when nobody does (the others stopped or busy) for
 *   ADMISSION_HOLD_MAX_MS.
 * - --max-connections: at the ceiling the worker stops accepting so that
 *   the others take the connections; when none does within
 *   ADMISSION_HOLD_MAX_MS it accepts them and answers each request on a
 *   connection above the ceiling 503 + Retry-After with Connection: close
 *   (a graceful close: the client reads the answer, no reset).
 * - --max-in-flight: a request arriving while the worker already has that
 *   many with their handlers is answered 503 + Retry-After from the event
 *   loop, without routing it or touching PostgreSQL or Redis.
 * - --shed-repeat-ms (default 1000, the Retry-After interval): the first
 *   refusal on a connection is answered at once; a refusal on a connection
 *   that was answered 503 less than that ago (its client retried at once,
 *   ignoring Retry-After) is held until that interval has passed (a timer,
 *   no work meanwhile), so that such clients cannot turn refusals into most
 *   of the worker's work while clients that wait lose nothing.
 * - --shed-delay-ms: every refusal's 503 is held at least that long.
 * Held refusals do not count against --max-in-flight, and are answered at
 * most ADMISSION_RELEASE_PER_MS a millisecond, so refusals that came
 * together do not come back together.
 * Refusals are counted in the slot's shed counters by reason
 * (conduitd_requests_shed_total{reason}); the database queue's own timeout
 * (store/db.c) counts reason db_queue.
 */
#ifndef CONDUIT_ADMISSION_H
#define CONDUIT_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "scoreboard.h"
#include "settings.h"

struct event_base;
struct admission;

#define ADMISSION_HOLD_TICK_MS   2  /* re-check a held accept this often */
#define ADMISSION_HOLD_MAX_MS    25 /* take waiting connections if nobody else did by then */
#define ADMISSION_RELEASE_PER_MS 16 /* held refusals answered a millisecond, at most */

/* Admission for the worker in sb->slots[slot_index], with the settings'
 * ceilings; heartbeat_ms is the workers' heartbeat period (a worker
 * silent for longer than twice that is not counted as live). NULL on
 * allocation failure. */
struct admission *admission_new(struct event_base *base, const struct settings *s,
                                struct scoreboard *sb, uint32_t slot_index, int heartbeat_ms);

/* The HTTP server whose accepting admission pauses (set once, after
 * http_server_new) and its listening socket. */
void admission_attach(struct admission *a, struct http_server *http, int listen_fd);

/* A connection was accepted (after the slot's gauge counts it). */
void admission_on_accept(struct admission *a);
/* A connection closed. */
void admission_on_close(struct admission *a);

/* Before routing: true when the request was refused (answered, or held and
 * answered later); the caller must not touch it. */
bool admission_refuse(struct admission *a, struct http_request *req);

/* The worker drains: answer held refusals now and stop pausing accepts. */
void admission_drain(struct admission *a);

/* Answer every held refusal and free (before http_server_free). */
void admission_free(struct admission *a);

#endif
