/*
 * api_stub.c: placeholder Conduit API until the real one lands: no routes,
 * nothing to start. Removed when worker/api.c exists.
 */
#include "config.h"

#include <stdio.h>

#include "api.h"
#include "worker.h"

int api_register_routes(struct router *r)
{
    (void)r;
    return 0;
}

int api_worker_start(struct worker *w, char *errbuf, size_t errlen)
{
    (void)w;
    (void)errbuf;
    (void)errlen;
    return 0;
}

void api_worker_drain(struct worker *w)
{
    (void)w;
}

void api_worker_stop(struct worker *w)
{
    (void)w;
}

int api_migrate(const struct settings *s)
{
    (void)s;
    fprintf(stderr, "conduitd: migrate: the Conduit API is not built yet\n");
    return 1;
}
