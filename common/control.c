/*
 * control.c: the supervisor <-> worker control channel (protocol in
 * control.h). SOCK_SEQPACKET keeps message boundaries and reports the
 * peer's death as end of file, which is how a worker learns that its
 * supervisor is gone.
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>

#include "control.h"

int control_pair(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds);
}

int control_send(int fd, enum control_type type)
{
    struct control_msg m = {CONTROL_VERSION, (uint32_t)type};
    ssize_t n;

    do {
        n = send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t)n != sizeof(m)) {
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

int control_recv(int fd, enum control_type *type)
{
    for (;;) {
        struct control_msg m;
        ssize_t n = recv(fd, &m, sizeof(m), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if ((size_t)n != sizeof(m) || m.version != CONTROL_VERSION)
            continue;
        *type = (enum control_type)m.type;
        return 1;
    }
}
