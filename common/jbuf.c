/*
 * jbuf.c: growable buffer for hand-written JSON (see jbuf.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jbuf.h"

void jbuf_init(struct jbuf *b, size_t hint)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
    if (hint > 0) {
        b->data = malloc(hint);
        if (b->data == NULL)
            b->failed = true;
        else
            b->cap = hint;
    }
}

void jbuf_free(struct jbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Make room for n more bytes plus a NUL; false (and sticky failure) if not. */
static bool jbuf_reserve(struct jbuf *b, size_t n)
{
    size_t need, ncap;
    char *nd;

    if (b->failed)
        return false;
    need = b->len + n + 1;
    if (need <= b->cap)
        return true;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    nd = realloc(b->data, ncap);
    if (nd == NULL) {
        b->failed = true;
        return false;
    }
    b->data = nd;
    b->cap = ncap;
    return true;
}

void jbuf_put(struct jbuf *b, const char *s, size_t n)
{
    if (!jbuf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void jbuf_puts(struct jbuf *b, const char *s)
{
    jbuf_put(b, s, strlen(s));
}

void jbuf_putc(struct jbuf *b, char c)
{
    if (!jbuf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
}

void jbuf_strn(struct jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    /* Worst case every byte becomes \u00XX. */
    if (!jbuf_reserve(b, n * 6 + 2))
        return;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char *o;
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        memcpy(b->data + b->len, s + i - run, run);
        b->len += run;
        run = 0;
        o = b->data + b->len;
        switch (c) {
        case '"':
            o[0] = '\\', o[1] = '"', b->len += 2;
            break;
        case '\\':
            o[0] = '\\', o[1] = '\\', b->len += 2;
            break;
        case '\n':
            o[0] = '\\', o[1] = 'n', b->len += 2;
            break;
        case '\r':
            o[0] = '\\', o[1] = 'r', b->len += 2;
            break;
        case '\t':
            o[0] = '\\', o[1] = 't', b->len += 2;
            break;
        default:
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            b->len += 6;
        }
    }
    memcpy(b->data + b->len, s + n - run, run);
    b->len += run;
    b->data[b->len++] = '"';
}

void jbuf_str(struct jbuf *b, const char *s)
{
    jbuf_strn(b, s, strlen(s));
}

void jbuf_str_or_null(struct jbuf *b, const char *s)
{
    if (s == NULL)
        jbuf_put(b, "null", 4);
    else
        jbuf_str(b, s);
}

void jbuf_int(struct jbuf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);

    if (n > 0)
        jbuf_put(b, tmp, (size_t)n);
}

void jbuf_bool(struct jbuf *b, bool v)
{
    if (v)
        jbuf_put(b, "true", 4);
    else
        jbuf_put(b, "false", 5);
}

char *jbuf_take(struct jbuf *b, size_t *len)
{
    char *d;

    if (!jbuf_reserve(b, 0)) {
        jbuf_free(b);
        b->failed = false;
        return NULL;
    }
    b->data[b->len] = '\0';
    d = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
