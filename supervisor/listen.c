/*
 * listen.c: the listening sockets. The API socket is opened once, before
 * the first fork, and every worker accepts from its one kernel queue
 * (SO_REUSEADDR so a restart can bind while old connections linger in
 * TIME_WAIT; never SO_REUSEPORT, whose per-socket queues lose connections
 * when a socket closes). Close-on-exec is fine: workers inherit it by fork,
 * not exec.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
