/*
 * log.h: structured logging, one JSON object per line on stderr.
 *
 * Every line has "ts" (ISO 8601 UTC, milliseconds), "level", "pid", "proc"
 * ("supervisor" or "worker"), "msg"; extra fields come as a preformatted
 * JSON fragment: log_info("worker started", "\"slot\":%d,\"pid\":%d", i, pid).
 * The level check happens in the macro, so a disabled line costs one compare.
 */
#ifndef CONDUIT_LOG_H
#define CONDUIT_LOG_H

#include "settings.h"

/* Set once per process (the worker calls it again after fork with its role). */
void log_init(enum log_level level, const char *proc);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* msg must be a plain string literal; fields_fmt formats the extra fields. */
void log_write(enum log_level level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(lvl, msg, ...)                                                                      \
    do {                                                                                           \
        if ((lvl) >= log_get_level())                                                              \
            log_write((lvl), (msg), __VA_ARGS__);                                                  \
    } while (0)
#define log_debug(msg, ...) log_at(LOG_LEVEL_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_at(LOG_LEVEL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_at(LOG_LEVEL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_at(LOG_LEVEL_ERROR, msg, __VA_ARGS__)

/* Escape s as the inside of a JSON string into buf (always NUL-terminated). */
void log_json_escape(char *buf, size_t len, const char *s);

#endif
