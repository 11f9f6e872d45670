/*
 * check_netaddr.c: unit tests for common/netaddr.c: CIDR lists, the client
 * address behind trusted proxies (X-Forwarded-For read from the right) and
 * the /64 grouping of IPv6 addresses for rate limits.
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "netaddr.h"
#include "suite_main.h"

static struct netaddr_cidrs list(const char *text)
{
    struct netaddr_cidrs l;
    char err[200];

    ck_assert_msg(netaddr_cidrs_parse(text, &l, err, sizeof(err)) == 0, "%s: %s", text, err);
    return l;
}

static bool in(const struct netaddr_cidrs *l, const char *addr)
{
    struct netaddr a;

    ck_assert_int_eq(netaddr_parse(addr, strlen(addr), &a), 0);
    return netaddr_cidrs_match(l, &a);
}

START_TEST(test_cidrs)
{
    struct netaddr_cidrs l = list("10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::ffff:172.16.0.0/108");
    char err[200];

    ck_assert_int_eq(l.n, 4);
    ck_assert(in(&l, "10.255.1.2"));
    ck_assert(!in(&l, "11.0.0.1"));
    ck_assert(in(&l, "192.0.2.7"));
    ck_assert(!in(&l, "192.0.2.8"));
    ck_assert(in(&l, "2001:db8:ffff::1"));
    ck_assert(!in(&l, "2001:db9::1"));
    ck_assert(in(&l, "172.16.3.4"));      /* the mapped block is the IPv4 /12 */
    ck_assert(in(&l, "::ffff:10.1.1.1")); /* a mapped peer is its IPv4 address */
    ck_assert_int_eq(list("").n, 0);
    ck_assert_int_eq(list("0.0.0.0/0").n, 1);
    ck_assert(in(&(struct netaddr_cidrs){0}, "10.0.0.1") == false);
    {
        const char *bad[] = {"10.0.0.0/33", "10.0.0.0/",   "10.0.0/8",  "example.com",
                             "::/129",      "10.0.0.0/8x", "1.2.3.4/-1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct netaddr_cidrs b;
            ck_assert_msg(netaddr_cidrs_parse(bad[i], &b, err, sizeof(err)) == -1, "took %s",
                          bad[i]);
            ck_assert_ptr_nonnull(strstr(err, "invalid CIDR"));
        }
    }
}
END_TEST

/* The client behind proxies: the rightmost untrusted address. */
START_TEST(test_client)
{
    struct netaddr_cidrs t = list("10.0.0.0/8,fd00::/8");
    struct netaddr_cidrs none = list("");
    char out[NETADDR_TEXT_MAX];

    /* Untrusted peer: the header is ignored, whatever it says. */
    ck_assert_str_eq(netaddr_client("203.0.113.9", "1.1.1.1", &t, out), "203.0.113.9");
    ck_assert_str_eq(netaddr_client("10.0.0.1", "1.1.1.1", &none, out), "10.0.0.1");
    /* Trusted peer, one hop. */
    ck_assert_str_eq(netaddr_client("10.0.0.1", "198.51.100.4", &t, out), "198.51.100.4");
    /* A client-written entry left of the real one is not believed. */
    ck_assert_str_eq(netaddr_client("10.0.0.1", "6.6.6.6, 198.51.100.4", &t, out), "198.51.100.4");
    /* Trusted hops are skipped from the right. */
    ck_assert_str_eq(
        netaddr_client("10.0.0.1", "6.6.6.6,198.51.100.4, 10.2.3.4 ,10.9.9.9", &t, out),
        "198.51.100.4");
    /* Every hop trusted: the leftmost. */
    ck_assert_str_eq(netaddr_client("10.0.0.1", "10.1.1.1, 10.2.2.2", &t, out), "10.1.1.1");
    /* Garbage stops the walk at the trusted hop right of it. */
    ck_assert_str_eq(netaddr_client("10.0.0.1", "198.51.100.4, unknown, 10.3.3.3", &t, out),
                     "10.3.3.3");
    ck_assert_str_eq(netaddr_client("10.0.0.1", "bogus", &t, out), "10.0.0.1");
    /* Empty elements, empty header, no header. */
    ck_assert_str_eq(netaddr_client("10.0.0.1", "198.51.100.4,,", &t, out), "198.51.100.4");
    ck_assert_str_eq(netaddr_client("10.0.0.1", "", &t, out), "10.0.0.1");
    ck_assert_str_eq(netaddr_client("10.0.0.1", NULL, &t, out), "10.0.0.1");
    /* IPv6 and mapped peers. */
    ck_assert_str_eq(netaddr_client("fd00::1", "2001:db8::5", &t, out), "2001:db8::5");
    ck_assert_str_eq(netaddr_client("::ffff:10.0.0.1", "198.51.100.4", &t, out), "198.51.100.4");
    ck_assert_str_eq(netaddr_client("10.0.0.1", "::ffff:198.51.100.4", &t, out), "198.51.100.4");
    /* A long header of trusted hops still ends. */
    {
        char h[4096] = "";
        for (int i = 0; i < 200; i++)
            strcat(h, "10.0.0.7,");
        strcat(h, "10.0.0.8");
        ck_assert_str_eq(netaddr_client("10.0.0.1", h, &t, out), "10.0.0.7");
    }
}
END_TEST

/* Rate-limit groups: IPv4 as is, IPv6 per /64. */
START_TEST(test_bucket)
{
    char out[NETADDR_TEXT_MAX], other[NETADDR_TEXT_MAX];

    ck_assert_str_eq(netaddr_bucket("198.51.100.4", out), "198.51.100.4");
    ck_assert_str_eq(netaddr_bucket("::ffff:198.51.100.4", out), "198.51.100.4");
    ck_assert_str_eq(netaddr_bucket("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out), "2001:db8:1:2::/64");
    ck_assert_str_eq(netaddr_bucket("2001:db8:1:2::1", other), out);
    ck_assert_str_ne(netaddr_bucket("2001:db8:1:3::1", other), out);
    ck_assert_str_eq(netaddr_bucket("local", out), "local");
}
END_TEST

int main(void)
{
    const TTest *tests[] = {test_cidrs, test_client, test_bucket};

    return suite_main_run("netaddr", tests, sizeof(tests) / sizeof(tests[0]), 0);
}
