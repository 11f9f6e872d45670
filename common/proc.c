/*
 * proc.c: clocks, /proc readings and libevent log routing (see proc.h).
 *
 * /proc/<pid>/stat fields 14 and 15 are utime and stime in clock ticks;
 * the second field (comm) may contain spaces and parentheses, so parsing
 * starts after the last ')'. /proc/<pid>/statm's second field is the
 * resident page count.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

int64_t proc_mono_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t proc_wall_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proc_format_iso8601(char *buf, size_t len, int64_t wall_ms)
{
    time_t sec = (time_t)(wall_ms / 1000);
    struct tm tm;

    if (gmtime_r(&sec, &tm) == NULL) {
        snprintf(buf, len, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

/* Read a small /proc file into buf (NUL-terminated); bytes read or -1. */
static ssize_t proc_read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    int saved;

    if (fd < 0)
        return -1;
    do {
        n = read(fd, buf, len - 1);
    } while (n < 0 && errno == EINTR);
    saved = errno;
    if (close(fd) != 0 && n >= 0)
        return -1;
    if (n < 0) {
        errno = saved;
        return -1;
    }
    buf[n] = '\0';
    return n;
}

int proc_usage_read(pid_t pid, struct proc_usage *out)
{
    char path[64], buf[1024];
    const char *p;
    unsigned long long utime, stime;
    long long pages_total, pages_resident;
    long tick = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);

    if (tick <= 0 || page <= 0) {
        errno = EINVAL;
        return -1;
    }
    if (pid == 0)
        snprintf(path, sizeof(path), "/proc/self/stat");
    else
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (proc_read_file(path, buf, sizeof(buf)) < 0)
        return -1;
    p = strrchr(buf, ')');
    /* After ") " come fields 3.. : state ppid pgrp session tty_nr tpgid
     * flags minflt cminflt majflt cmajflt utime stime. */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime) != 2) {
        errno = EINVAL;
        return -1;
    }
    out->cpu_us = (utime + stime) * 1000000ULL / (unsigned long long)tick;

    if (pid == 0)
        snprintf(path, sizeof(path), "/proc/self/statm");
    else
        snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    if (proc_read_file(path, buf, sizeof(buf)) < 0)
        return -1;
    if (sscanf(buf, "%lld %lld", &pages_total, &pages_resident) != 2) {
        errno = EINVAL;
        return -1;
    }
    out->rss_bytes = (int64_t)pages_resident * page;
    return 0;
}

/* libevent's log callback: its messages become JSON log lines. */
static void proc_libevent_log_cb(int severity, const char *msg)
{
    char esc[512];

    log_json_escape(esc, sizeof(esc), msg);
    /* A forked worker adds signals to a fresh base while the parent's base
     * (which it never touches again) still has some; libevent warns about
     * that once. It is expected, so it is debug noise, not a warning. */
    if (strncmp(msg, "Added a signal to event base", 28) == 0) {
        log_debug("libevent", "\"detail\":\"%s\"", esc);
        return;
    }
    switch (severity) {
    case EVENT_LOG_DEBUG:
    case EVENT_LOG_MSG:
        log_debug("libevent", "\"detail\":\"%s\"", esc);
        break;
    case EVENT_LOG_WARN:
        log_warn("libevent", "\"detail\":\"%s\"", esc);
        break;
    default:
        log_error("libevent", "\"detail\":\"%s\"", esc);
        break;
    }
}

void proc_route_libevent_log(void)
{
    event_set_log_callback(proc_libevent_log_cb);
}
