/*
 * backoff.h: the respawn delay of one worker slot.
 *
 * A worker that dies after running stably (at least stable_ms) is replaced
 * at once and its slot's history is forgotten. Quick successive deaths back
 * off exponentially: the first is replaced at once, the next after base_ms,
 * then 2 * base_ms, 4 * base_ms, ... up to cap_ms. A worker that says it
 * cannot start (exit status 2: configuration) waits cap_ms straight away,
 * since retrying sooner cannot help.
 *
 * Pure arithmetic on a small struct, so the unit test drives it directly.
 */
#ifndef CONDUIT_BACKOFF_H
#define CONDUIT_BACKOFF_H

#include <stdint.h>

struct backoff {
    int64_t base_ms;   /* delay after the second quick death */
    int64_t cap_ms;    /* longest delay */
    int64_t stable_ms; /* a run this long resets the history */
    unsigned failures; /* quick deaths in a row */
};

/* Set the parameters and clear the history. */
void backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms, int64_t stable_ms);

/* A worker of this slot died after running ran_ms; returns how long to wait
 * before starting its replacement. config: it exited with status 2. */
int64_t backoff_next(struct backoff *b, int64_t ran_ms, int config);

/* True while the slot's history holds quick deaths (it is crash-looping). */
int backoff_looping(const struct backoff *b);

#endif
