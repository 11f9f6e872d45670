/*
 * backoff.c: per-slot respawn delays (see backoff.h).
 */
#include "config.h"

#include "backoff.h"

void backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms, int64_t stable_ms)
{
    b->base_ms = base_ms;
    b->cap_ms = cap_ms;
    b->stable_ms = stable_ms;
    b->failures = 0;
}

int64_t backoff_next(struct backoff *b, int64_t ran_ms, int config)
{
    int64_t delay;

    if (ran_ms >= b->stable_ms)
        b->failures = 0;
    if (b->failures < 64)
        b->failures++;
    if (config)
        return b->cap_ms;
    if (b->failures <= 1)
        return 0;
    delay = b->base_ms;
    for (unsigned i = 2; i < b->failures && delay < b->cap_ms; i++)
        delay *= 2;
    return delay < b->cap_ms ? delay : b->cap_ms;
}

int backoff_looping(const struct backoff *b)
{
    return b->failures > 1;
}
