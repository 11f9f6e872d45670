/*
 * log.c: one JSON object per line on stderr (see log.h).
 *
 * Each line is built in a stack buffer and written with a single write(2),
 * so lines from the supervisor and its workers, which share stderr, never
 * interleave (writes up to PIPE_BUF are atomic on a pipe). A line whose
 * extra fields do not fit is written without them and marked "truncated".
 *
 * State: the level, the process role and its pid, set by log_init() once
 * per process (the worker calls it again after fork). This is the one
 * module-level state besides signal flags and the scoreboard mapping,
 * because every caller needs it without a context pointer.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096

static struct {
    enum log_level level;
    char proc[16];
    int pid;
} log_state = {LOG_LEVEL_INFO, "conduitd", 0};

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_init(enum log_level level, const char *proc)
{
    log_state.level = level;
    snprintf(log_state.proc, sizeof(log_state.proc), "%s", proc);
    log_state.pid = (int)getpid();
}

void log_set_level(enum log_level level)
{
    log_state.level = level;
}

enum log_level log_get_level(void)
{
    return log_state.level;
}

/* Write all of buf to stderr; errors are dropped (nowhere to report them). */
static void log_emit(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void log_write(enum log_level level, const char *msg, const char *fields_fmt, ...)
{
    char line[LOG_LINE_MAX];
    char ts[64];
    struct timespec now;
    struct tm tm;
    size_t n;
    int r;
    int saved_errno = errno;

    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || gmtime_r(&now.tv_sec, &tm) == NULL) {
        memset(&tm, 0, sizeof(tm));
        now.tv_nsec = 0;
    }
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    if ((unsigned)level > LOG_LEVEL_ERROR)
        level = LOG_LEVEL_ERROR;
    r = snprintf(line, sizeof(line),
                 "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"proc\":\"%s\",\"msg\":\"%s\"", ts,
                 log_level_names[level], log_state.pid ? log_state.pid : (int)getpid(),
                 log_state.proc, msg);
    if (r < 0 || (size_t)r >= sizeof(line) - 32)
        r = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(too long)\"",
                     ts, log_level_names[level]);
    n = (size_t)r;
    if (fields_fmt != NULL && fields_fmt[0] != '\0') {
        va_list ap;
        line[n] = ',';
        va_start(ap, fields_fmt);
        r = vsnprintf(line + n + 1, sizeof(line) - n - 1 - 3, fields_fmt, ap);
        va_end(ap);
        if (r >= 0 && (size_t)r < sizeof(line) - n - 1 - 3)
            n += 1 + (size_t)r;
        else
            n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"truncated\":true");
    }
    line[n++] = '}';
    line[n++] = '\n';
    log_emit(line, n);
    errno = saved_errno;
}

void log_json_escape(char *buf, size_t len, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (len == 0)
        return;
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[6];
        size_t k = 0;

        if (c == '"' || c == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)c;
        } else if (c == '\n') {
            tmp[k++] = '\\';
            tmp[k++] = 'n';
        } else if (c == '\r') {
            tmp[k++] = '\\';
            tmp[k++] = 'r';
        } else if (c == '\t') {
            tmp[k++] = '\\';
            tmp[k++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            tmp[k++] = '\\';
            tmp[k++] = 'u';
            tmp[k++] = '0';
            tmp[k++] = '0';
            tmp[k++] = hex[c >> 4];
            tmp[k++] = hex[c & 15];
        } else {
            tmp[k++] = (char)c;
        }
        if (o + k >= len)
            break;
        memcpy(buf + o, tmp, k);
        o += k;
    }
    buf[o] = '\0';
}
