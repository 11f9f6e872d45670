/*
 * migrate.h: `conduitd migrate`, the schema migrator (blocking libpq; a
 * one-shot command, never on the request path).
 */
#ifndef CONDUIT_MIGRATE_H
#define CONDUIT_MIGRATE_H

#include "settings.h"

/* Apply the migrations in s->migrations_dir. Returns the process exit status. */
int migrate_run(const struct settings *s) __attribute__((warn_unused_result));

#endif
