/*
 * listen.c: the listening sockets. The API socket is opened once, before
 * the first fork, and every worker accepts from its one kernel queue
 * (SO_REUSEADDR so a restart can bind while old connections linger in
 * TIME_WAIT; never SO_REUSEPORT, whose per-socket queues lose connections
 * when a socket closes). Close-on-exec is fine: workers inherit it by fork,
 * not exec; a binary upgrade moves it across exec deliberately.
 *
 * Inherited sockets (the systemd convention, sd_listen_fds(3)): when
 * LISTEN_PID is our pid, LISTEN_FDS=n descriptors from 3 are listening
 * sockets passed to us, by systemd socket activation or by the conduitd we
 * upgrade from. LISTEN_FDNAMES (colon-separated, e.g. "api:admin") names
 * them; an unnamed one is matched to --listen or --admin-listen by its
 * address, and a single unnamed socket that matches neither is taken as
 * the API socket. Sockets that fit no role are closed. The three variables
 * are removed from the environment either way.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "supervisor.h"

int listen_open(const char *setting, const char *addr, int backlog, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;
    const char *step;

    if (settings_addr_parse(addr, &ss, &len) != 0) {
        snprintf(errbuf, errlen, "%s: invalid address \"%s\"", setting, addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errbuf, errlen, "%s %s: cannot create a socket: %s", setting, addr,
                 strerror(errno));
        return -1;
    }
    step = "set SO_REUSEADDR";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        goto fail;
    step = "bind";
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        goto fail;
    step = "listen";
    if (listen(fd, backlog) != 0)
        goto fail;
    return fd;
fail:
    snprintf(errbuf, errlen, "%s %s: cannot %s: %s", setting, addr, step, strerror(errno));
    if (close(fd) != 0) {
        /* The error above is the one worth reporting. */
    }
    return -1;
}

int64_t listen_queue_depth(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    /* For a listening socket Linux reports the accept queue's current
     * length in tcpi_unacked (and the backlog in tcpi_sacked). */
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return -1;
    return (int64_t)ti.tcpi_unacked;
}

/* True when two socket addresses are the same family, address and port. */
static bool listen_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

/* True when fd is bound to the address the setting text names. */
static bool listen_fd_matches(int fd, const char *addr)
{
    struct sockaddr_storage want, have;
    socklen_t wlen, hlen = sizeof(have);

    memset(&have, 0, sizeof(have));
    if (settings_addr_parse(addr, &want, &wlen) != 0 ||
        getsockname(fd, (struct sockaddr *)&have, &hlen) != 0)
        return false;
    return listen_same_addr(&want, &have);
}

/* The i-th colon-separated field of names into buf ("" if absent). */
static void listen_name_at(const char *names, int i, char *buf, size_t len)
{
    buf[0] = '\0';
    for (; names != NULL && i > 0; i--) {
        names = strchr(names, ':');
        if (names != NULL)
            names++;
    }
    if (names == NULL)
        return;
    size_t n = strcspn(names, ":");
    snprintf(buf, len, "%.*s", (int)n, names);
}

/* Read a decimal environment value; 0, or -1 if absent or malformed. */
static int listen_env_long(const char *name, long *out)
{
    const char *v = getenv(name);
    char *end;

    if (v == NULL || *v == '\0')
        return -1;
    errno = 0;
    *out = strtol(v, &end, 10);
    return errno == 0 && *end == '\0' ? 0 : -1;
}

int listen_adopt(const struct settings *s, int *api_fd, int *admin_fd, char *errbuf, size_t errlen)
{
    char names[256] = "";
    const char *nv = getenv("LISTEN_FDNAMES");
    long pid = 0, n = 0;
    bool for_us;

    *api_fd = *admin_fd = -1;
    if (getenv("LISTEN_FDS") == NULL)
        return 0;
    for_us = listen_env_long("LISTEN_PID", &pid) == 0 && pid == (long)getpid();
    if (for_us && (listen_env_long("LISTEN_FDS", &n) != 0 || n < 1 || n > 64)) {
        snprintf(errbuf, errlen, "LISTEN_FDS: \"%.32s\" is not a count from 1 to 64",
                 getenv("LISTEN_FDS"));
        return -1;
    }
    if (nv != NULL)
        snprintf(names, sizeof(names), "%s", nv);
    if (unsetenv("LISTEN_FDS") != 0 || unsetenv("LISTEN_PID") != 0 ||
        unsetenv("LISTEN_FDNAMES") != 0) {
        snprintf(errbuf, errlen, "LISTEN_FDS: cannot remove it from the environment");
        return -1;
    }
    if (!for_us)
        return 0; /* meant for another process (sd_listen_fds(3)) */
    for (int k = 0; k < (int)n; k++) {
        int fd = 3 + k, listening = 0;
        socklen_t olen = sizeof(listening);
        char name[64];
        int *role = NULL;

        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0 || !listening) {
            snprintf(errbuf, errlen, "LISTEN_FDS: descriptor %d is not a listening socket", fd);
            return -1;
        }
        listen_name_at(nv != NULL ? names : NULL, k, name, sizeof(name));
        if (strcmp(name, "api") == 0)
            role = api_fd;
        else if (strcmp(name, "admin") == 0)
            role = admin_fd;
        else if (listen_fd_matches(fd, s->listen))
            role = api_fd;
        else if (listen_fd_matches(fd, s->admin_listen))
            role = admin_fd;
        else if (n == 1)
            role = api_fd;
        if (role == NULL || *role >= 0) {
            log_warn("closing an inherited socket that fits no role", "\"fd\":%d,\"name\":\"%s\"",
                     fd, name);
            if (close(fd) != 0)
                log_warn("cannot close an inherited socket", "\"fd\":%d", fd);
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
            snprintf(errbuf, errlen, "LISTEN_FDS: descriptor %d: cannot set its flags: %s", fd,
                     strerror(errno));
            return -1;
        }
        *role = fd;
        const char *setting = role == api_fd ? s->listen : s->admin_listen;
        log_info("adopted an inherited listening socket",
                 "\"fd\":%d,\"role\":\"%s\",\"matches_setting\":%s", fd,
                 role == api_fd ? "api" : "admin",
                 listen_fd_matches(fd, setting) ? "true" : "false");
    }
    return 0;
}
