/*
 * api_text.c: slugs, timestamps, query parameters, numbers and the
 * Authorization header for the Conduit API (see api_text.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "api_text.h"
#include "jbuf.h"
#include "json_input.h"

size_t api_text_slugify(const char *title, char *out)
{
    size_t n = 0;
    bool sep = false;

    for (const unsigned char *p = (const unsigned char *)title; *p != '\0'; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (sep && n > 0) {
                if (n + 1 >= API_SLUG_BASE_MAX)
                    break;
                out[n++] = '-';
            }
            sep = false;
            if (n >= API_SLUG_BASE_MAX)
                break;
            out[n++] = (char)c;
        } else {
            sep = true;
        }
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    if (n == 0) {
        memcpy(out, "article", 8);
        return 7;
    }
    out[n] = '\0';
    return n;
}

int api_text_slug_suffix(char *slug)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned char rnd[8];
    size_t n = strlen(slug);
    ssize_t got;

    do {
        got = getrandom(rnd, sizeof(rnd), GRND_NONBLOCK);
    } while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof(rnd) || n + 10 > API_SLUG_MAX)
        return -1;
    slug[n++] = '-';
    for (size_t i = 0; i < sizeof(rnd); i++)
        slug[n++] = digits[rnd[i] % 36];
    slug[n] = '\0';
    return 0;
}

void api_text_format_time(int64_t ms, char out[API_TIME_LEN])
{
    struct tm tm;
    int64_t secs = ms / 1000;
    int msec = (int)(ms % 1000);
    time_t t;

    if (msec < 0) {
        msec += 1000;
        secs -= 1;
    }
    t = (time_t)secs;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        memcpy(out, "1970-01-01T00:00:00.000Z", API_TIME_LEN);
        return;
    }
    /* Hand-rolled: strftime + snprintf cost more on a hot path. */
    int y = tm.tm_year + 1900;
    char *o = out;
    o[0] = (char)('0' + y / 1000);
    o[1] = (char)('0' + y / 100 % 10);
    o[2] = (char)('0' + y / 10 % 10);
    o[3] = (char)('0' + y % 10);
    o[4] = '-';
    o[5] = (char)('0' + (tm.tm_mon + 1) / 10);
    o[6] = (char)('0' + (tm.tm_mon + 1) % 10);
    o[7] = '-';
    o[8] = (char)('0' + tm.tm_mday / 10);
    o[9] = (char)('0' + tm.tm_mday % 10);
    o[10] = 'T';
    o[11] = (char)('0' + tm.tm_hour / 10);
    o[12] = (char)('0' + tm.tm_hour % 10);
    o[13] = ':';
    o[14] = (char)('0' + tm.tm_min / 10);
    o[15] = (char)('0' + tm.tm_min % 10);
    o[16] = ':';
    o[17] = (char)('0' + tm.tm_sec / 10);
    o[18] = (char)('0' + tm.tm_sec % 10);
    o[19] = '.';
    o[20] = (char)('0' + msec / 100);
    o[21] = (char)('0' + msec / 10 % 10);
    o[22] = (char)('0' + msec % 10);
    o[23] = 'Z';
    o[24] = '\0';
}

/* Are the n characters at s all decimal digits? */
static bool api_text_digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int api_text_pg_time(const char *pg, char out[API_TIME_LEN])
{
    const char *p = pg;
    int frac = 0;

    /* YYYY-MM-DD HH:MM:SS */
    if (strlen(pg) < 22 || !api_text_digits(p, 4) || p[4] != '-' || !api_text_digits(p + 5, 2) ||
        p[7] != '-' || !api_text_digits(p + 8, 2) || p[10] != ' ' || !api_text_digits(p + 11, 2) ||
        p[13] != ':' || !api_text_digits(p + 14, 2) || p[16] != ':' || !api_text_digits(p + 17, 2))
        goto bad;
    memcpy(out, p, 19);
    out[10] = 'T';
    out[19] = '.';
    p += 19;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (frac < 3)
                out[20 + frac] = *p;
            frac++;
            p++;
        }
        if (frac == 0)
            goto bad;
    }
    for (int i = frac; i < 3; i++)
        out[20 + i] = '0';
    if (strcmp(p, "+00") != 0 && strcmp(p, "+00:00") != 0)
        goto bad;
    out[23] = 'Z';
    out[24] = '\0';
    return 0;
bad:
    api_text_format_time(0, out);
    return -1;
}

int api_text_pg_array_json(const char *pg, struct jbuf *out)
{
    struct jbuf el;
    const char *p = pg;
    size_t start = out->len;
    int n = 0;

    if (*p++ != '{')
        goto bad;
    jbuf_init(&el, 0);
    jbuf_putc(out, '[');
    if (*p == '}' && p[1] == '\0') {
        jbuf_putc(out, ']');
        return 0;
    }
    for (;;) {
        el.len = 0;
        if (n++ > 0)
            jbuf_putc(out, ',');
        if (*p == '"') {
            /* Quoted: backslash escapes the next character. */
            for (p++; *p != '"'; p++) {
                if (*p == '\0')
                    goto bad_el;
                if (*p == '\\' && *++p == '\0')
                    goto bad_el;
                jbuf_putc(&el, *p);
            }
            p++;
            jbuf_strn(out, el.data != NULL ? el.data : "", el.len);
        } else {
            const char *e = p + strcspn(p, ",}");
            if (e == p || *e == '\0')
                goto bad_el;
            if (e - p == 4 && strncmp(p, "NULL", 4) == 0)
                jbuf_puts(out, "null");
            else
                jbuf_strn(out, p, (size_t)(e - p));
            p = e;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '\0')
            break;
        goto bad_el;
    }
    jbuf_putc(out, ']');
    jbuf_free(&el);
    return 0;
bad_el:
    jbuf_free(&el);
bad:
    out->len = start;
    jbuf_puts(out, "[]");
    return -1;
}

/* Value of a hex digit, or -1. */
static int api_text_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int api_text_query_param(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t seglen = end ? (size_t)(end - p) : strlen(p);
        if (seglen >= nlen && strncmp(p, name, nlen) == 0 && (seglen == nlen || p[nlen] == '=')) {
            const char *v = seglen == nlen ? p + nlen : p + nlen + 1;
            const char *vend = p + seglen;
            size_t o = 0;
            while (v < vend) {
                int c;
                if (*v == '%') {
                    int hi, lo;
                    if (vend - v < 3 || (hi = api_text_hex(v[1])) < 0 ||
                        (lo = api_text_hex(v[2])) < 0)
                        return -1;
                    c = hi * 16 + lo;
                    v += 3;
                } else if (*v == '+') {
                    c = ' ';
                    v++;
                } else {
                    c = (unsigned char)*v++;
                }
                if (c == 0 || o + 1 >= outlen)
                    return -1;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return json_input_utf8_valid(out, o) ? 1 : -1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int api_text_parse_uint(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;

    if (s == NULL || *s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (max - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

const char *api_text_auth_token(const char *header)
{
    const char *p;

    if (header == NULL)
        return NULL;
    if (strncasecmp(header, "Token ", 6) == 0)
        p = header + 6;
    else if (strncasecmp(header, "Bearer ", 7) == 0)
        p = header + 7;
    else
        return NULL;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return NULL;
    for (const char *q = p; *q; q++)
        if (*q == ' ' || *q == '\t')
            return NULL;
    return p;
}
