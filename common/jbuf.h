/*
 * jbuf.h: a growable byte buffer for writing JSON by hand. Faster than
 * building a cJSON tree for responses, and the output is exactly what we
 * write. Allocation failure is sticky: every later append is a no-op and
 * jbuf_take() returns NULL, so callers check once at the end.
 *
 * Ownership: the buffer owns its memory until jbuf_take() hands it to the
 * caller (who frees it, or passes it to http_respond_json_owned()), or
 * jbuf_free() releases it.
 */
#ifndef CONDUIT_JBUF_H
#define CONDUIT_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

/* Start empty with room for about hint bytes (allocated lazily if 0). */
void jbuf_init(struct jbuf *b, size_t hint);
void jbuf_free(struct jbuf *b);

/* Raw bytes, as given (the caller guarantees they are valid JSON here). */
void jbuf_put(struct jbuf *b, const char *s, size_t n);
void jbuf_puts(struct jbuf *b, const char *s);
void jbuf_putc(struct jbuf *b, char c);

/* A JSON string literal: quotes added, ", \ and control characters escaped. */
void jbuf_str(struct jbuf *b, const char *s);
void jbuf_strn(struct jbuf *b, const char *s, size_t n);
/* Same, or the literal null when s is NULL. */
void jbuf_str_or_null(struct jbuf *b, const char *s);
void jbuf_int(struct jbuf *b, int64_t v);
void jbuf_bool(struct jbuf *b, bool v);

/* Hand the NUL-terminated buffer to the caller; NULL if an allocation
 * failed (then the buffer is freed). The jbuf is empty afterwards. */
char *jbuf_take(struct jbuf *b, size_t *len);

#endif
