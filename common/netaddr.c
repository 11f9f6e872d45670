/*
 * netaddr.c: CIDR lists, the client address behind trusted proxies and the
 * rate-limit group of an address (see netaddr.h). Relies on inet_pton and
 * inet_ntop only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"

/* Longest address text inet_pton is given (an IPv6 address with an
 * embedded IPv4 part is 45 bytes). */
#define NETADDR_PARSE_MAX 46

int netaddr_parse(const char *text, size_t len, struct netaddr *out)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[NETADDR_PARSE_MAX];

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->b) != 1)
        return -1;
    out->family = AF_INET6;
    if (memcmp(out->b, mapped, sizeof(mapped)) == 0) {
        memmove(out->b, out->b + 12, 4);
        memset(out->b + 4, 0, 12);
        out->family = AF_INET;
    }
    return 0;
}

/* Parse one "addr[/bits]" entry of len bytes. 0, or -1. */
static int netaddr_cidr_parse(const char *text, size_t len, struct netaddr_cidr *out)
{
    const char *slash = memchr(text, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - text) : len;
    int max;

    if (netaddr_parse(text, alen, &out->addr) != 0)
        return -1;
    max = out->addr.family == AF_INET ? 32 : 128;
    out->bits = max;
    if (slash != NULL) {
        const char *p = slash + 1, *end = text + len;
        int bits = 0;
        if (p == end || end - p > 3)
            return -1;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            bits = bits * 10 + (*p - '0');
        }
        /* An IPv4-mapped block (::ffff:10.0.0.0/104) is the IPv4 block. */
        if (out->addr.family == AF_INET && memchr(text, ':', alen) != NULL)
            bits -= 96;
        if (bits < 0 || bits > max)
            return -1;
        out->bits = bits;
    }
    return 0;
}

int netaddr_cidrs_parse(const char *text, struct netaddr_cidrs *out, char *err, size_t errlen)
{
    const char *p = text;

    out->n = 0;
    while (*p != '\0') {
        const char *start, *end;
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        start = p;
        while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        end = p;
        if (out->n == NETADDR_MAX_CIDRS) {
            snprintf(err, errlen, "more than %d CIDR blocks", NETADDR_MAX_CIDRS);
            return -1;
        }
        if (netaddr_cidr_parse(start, (size_t)(end - start), &out->v[out->n]) != 0) {
            int shown = end - start > 64 ? 64 : (int)(end - start);
            snprintf(err, errlen,
                     "invalid CIDR block \"%.*s\": expected an IPv4 or IPv6 address with an "
                     "optional /prefix length",
                     shown, start);
            return -1;
        }
        out->n++;
    }
    return 0;
}

/* Do the first bits of a and b agree? */
static bool netaddr_prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool netaddr_cidrs_match(const struct netaddr_cidrs *list, const struct netaddr *a)
{
    for (int i = 0; i < list->n; i++) {
        const struct netaddr_cidr *c = &list->v[i];
        if (c->addr.family == a->family && netaddr_prefix_equal(c->addr.b, a->b, c->bits))
            return true;
    }
    return false;
}

/* Write a as text into out (NETADDR_TEXT_MAX bytes). */
static void netaddr_format(const struct netaddr *a, char *out)
{
    if (inet_ntop(a->family, a->b, out, NETADDR_TEXT_MAX) == NULL)
        snprintf(out, NETADDR_TEXT_MAX, "-");
}

/* Trim spaces and tabs around [*s, *e). */
static void netaddr_trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

const char *netaddr_client(const char *peer, const char *xff, const struct netaddr_cidrs *trusted,
                           char *out)
{
    struct netaddr cur, hop;
    const char *end;

    snprintf(out, NETADDR_TEXT_MAX, "%s", peer);
    if (trusted->n == 0 || xff == NULL || netaddr_parse(peer, strlen(peer), &cur) != 0 ||
        !netaddr_cidrs_match(trusted, &cur))
        return out;
    /* cur is trusted: step left through the header while it stays so. */
    end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        const char *e = end;
        while (start > xff && start[-1] != ',')
            start--;
        end = start > xff ? start - 1 : xff;
        netaddr_trim(&start, &e);
        if (start == e)
            continue; /* an empty list element ("a,,b") */
        if (netaddr_parse(start, (size_t)(e - start), &hop) != 0)
            break; /* garbage: keep the trusted hop right of it */
        cur = hop;
        if (!netaddr_cidrs_match(trusted, &cur))
            break;
    }
    netaddr_format(&cur, out);
    return out;
}

const char *netaddr_bucket(const char *addr, char *out)
{
    struct netaddr a;

    if (netaddr_parse(addr, strlen(addr), &a) != 0) {
        snprintf(out, NETADDR_TEXT_MAX, "%s", addr);
        return out;
    }
    if (a.family == AF_INET) {
        netaddr_format(&a, out);
        return out;
    }
    memset(a.b + 8, 0, 8);
    netaddr_format(&a, out);
    /* inet_ntop writes "...::" for a zeroed tail; the suffix says /64. */
    strncat(out, "/64", NETADDR_TEXT_MAX - strlen(out) - 1);
    return out;
}
