/*
 * proc.h: small process-level helpers both processes use: clocks in
 * milliseconds, CPU and memory figures of a process from /proc, and routing
 * libevent's own diagnostics into our JSON log.
 *
 * Nothing here allocates or keeps state.
 */
#ifndef CONDUIT_PROC_H
#define CONDUIT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CPU time and resident memory of one process. */
struct proc_usage {
    uint64_t cpu_us;   /* user + system time, microseconds */
    int64_t rss_bytes; /* resident set size */
};

/* Monotonic clock in milliseconds (for deadlines and heartbeats). */
int64_t proc_mono_ms(void);

/* Wall clock in milliseconds since the epoch (for start times). */
int64_t proc_wall_ms(void);

/* Format a wall-clock time (ms since epoch) as ISO 8601 UTC with
 * milliseconds ("2026-11-29T14:27:00.123Z") into buf (>= 25 bytes). */
void proc_format_iso8601(char *buf, size_t len, int64_t wall_ms);

/* Read /proc/<pid>/stat and statm (pid 0: this process). 0, or -1 with
 * errno set (the process is gone, or /proc is not mounted). */
int proc_usage_read(pid_t pid, struct proc_usage *out) __attribute__((warn_unused_result));

/* Send libevent's warnings and errors to our log instead of bare stderr. */
void proc_route_libevent_log(void);

#endif
