/*
 * control.h: the supervisor <-> worker control channel.
 *
 * Protocol: one AF_UNIX SOCK_SEQPACKET socketpair per worker, created by the
 * supervisor before the fork. Each message is a fixed-size struct
 * control_msg (8 bytes) carrying a protocol version and a type; a message of
 * another size or version is ignored by the receiver. The supervisor keeps
 * one end, the worker the other.
 *
 *   supervisor -> worker  CONTROL_DRAIN  stop accepting, finish in-flight
 *                                         requests, exit 0
 *                         CONTROL_STOP   exit now (fast stop)
 *   end of file on either side           the peer is gone: a worker whose
 *                                         supervisor died exits at once
 */
#ifndef CONDUIT_CONTROL_H
#define CONDUIT_CONTROL_H

#include <stdint.h>

#define CONTROL_VERSION 1

enum control_type {
    CONTROL_DRAIN = 1, /* graceful: finish what is in flight, then exit 0 */
    CONTROL_STOP = 2,  /* fast: exit now */
};

struct control_msg {
    uint32_t version; /* CONTROL_VERSION */
    uint32_t type;    /* enum control_type */
};

/* Create the socketpair: fds[0] for the supervisor, fds[1] for the worker
 * (both close-on-exec and non-blocking). 0, or -1 with errno set. */
int control_pair(int fds[2]) __attribute__((warn_unused_result));

/* Send one message without blocking. 0, or -1 with errno set. */
int control_send(int fd, enum control_type type) __attribute__((warn_unused_result));

/* Receive one message: 1 with *type set, 0 at end of file, -1 on error
 * (errno EAGAIN: nothing to read). Malformed messages are skipped. */
int control_recv(int fd, enum control_type *type) __attribute__((warn_unused_result));

#endif
