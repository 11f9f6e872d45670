/*
 * migrate_file.h: reading one migration file's text: the options in its
 * leading comment block and its statements one by one (for files that run
 * outside a transaction). Pure text handling, no I/O, no libpq.
 */
#ifndef CONDUIT_MIGRATE_FILE_H
#define CONDUIT_MIGRATE_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a lock_timeout value such as "300ms" and its NUL. */
#define MIGRATE_TIMEOUT_MAX 16

/* What a file's leading comment block asks for. */
struct migrate_options {
    bool no_transaction;                    /* "-- conduitd:no-transaction" */
    char lock_timeout[MIGRATE_TIMEOUT_MAX]; /* "-- conduitd:lock-timeout=V", "" if absent */
};

/* Read the options from the comment lines at the top of sql (up to the first
 * line that is neither blank nor a "--" comment). 0, or -1 with *err set to
 * a static message for an unknown conduitd: option or a bad value. */
int migrate_file_options(const char *sql, struct migrate_options *out, const char **err)
    __attribute__((warn_unused_result));

/* The next statement of sql at or after *pos: sets *start and *len to its
 * text (without the ending ';') and moves *pos past it. Semicolons inside
 * quotes ('...', "..."), dollar quotes ($$...$$, $tag$...$tag$) and
 * comments do not end a statement. Returns false when only blanks and
 * comments are left. */
bool migrate_file_next(const char *sql, size_t *pos, size_t *start, size_t *len);

/* If stmt (len bytes) is CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS]
 * name ..., copy name (unquoted, lower-cased) into out and return true. */
bool migrate_file_concurrent_index(const char *stmt, size_t len, char *out, size_t outlen);

#endif
