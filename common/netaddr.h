/*
 * netaddr.h: client addresses behind proxies, and rate-limit grouping.
 *
 * conduitd learns who a client is from the TCP peer, unless that peer is a
 * trusted proxy (--trusted-proxies, a list of CIDR blocks): then the
 * X-Forwarded-For header is read from the right, skipping trusted hops, and
 * the first untrusted address is the client (the rightmost untrusted one).
 * An address written by the client itself sits to the left of what its
 * proxies appended, so it is never believed unless every hop right of it
 * is trusted. An unparsable entry stops the walk: the hop right of it,
 * which was trusted, is used.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack socket
 * reports for IPv4 clients) are treated as the IPv4 address throughout.
 *
 * Pure functions on text and bytes: no I/O, no allocation, no state.
 */
#ifndef CONDUIT_NETADDR_H
#define CONDUIT_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Most CIDR blocks in one list. */
#define NETADDR_MAX_CIDRS 32
/* Room for any address in text, or a /64 group ("2001:db8:1:2::/64"). */
#define NETADDR_TEXT_MAX 64

/* An address in network byte order: 4 bytes for AF_INET, 16 for AF_INET6. */
struct netaddr {
    int family;
    unsigned char b[16];
};

/* A block: addr with its first bits significant. */
struct netaddr_cidr {
    struct netaddr addr;
    int bits;
};

struct netaddr_cidrs {
    int n;
    struct netaddr_cidr v[NETADDR_MAX_CIDRS];
};

/* Parse an address ("192.0.2.1", "2001:db8::1"; IPv4-mapped IPv6 becomes
 * IPv4). 0, or -1 if text is not one. */
int netaddr_parse(const char *text, size_t len, struct netaddr *out)
    __attribute__((warn_unused_result));

/* Parse "CIDR,CIDR,..." (spaces allowed around commas; a bare address is a
 * /32 or /128; "" is the empty list). 0, or -1 with err set to a sentence
 * naming the bad entry. */
int netaddr_cidrs_parse(const char *text, struct netaddr_cidrs *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Is a inside one of the blocks? */
bool netaddr_cidrs_match(const struct netaddr_cidrs *list, const struct netaddr *a);

/* The client's address as text into out (NETADDR_TEXT_MAX bytes): peer
 * itself unless it is in trusted, then the rightmost untrusted address of
 * xff (NULL: no header). Returns out. */
const char *netaddr_client(const char *peer, const char *xff, const struct netaddr_cidrs *trusted,
                           char *out);

/* The rate-limit group of an address as text into out (NETADDR_TEXT_MAX
 * bytes): an IPv4 address as itself, an IPv6 address as its /64
 * ("2001:db8:1:2::/64"), since one IPv6 host usually holds a whole /64;
 * anything unparsable as itself. Returns out. */
const char *netaddr_bucket(const char *addr, char *out);

#endif
