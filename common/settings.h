/*
 * settings.h: conduitd's configuration, from defaults, then the environment
 * (CONDUIT_*, DATABASE_URL, REDIS_URL, JWT_SECRET), then an optional config
 * file (--config / CONDUIT_CONFIG, KEY=VALUE lines using the environment
 * names), then command-line flags. Later sources override earlier ones.
 *
 * Parsing never exits or logs: errors come back as one line in errbuf that
 * names the setting, and the caller prints it and exits with status 2.
 */
#ifndef CONDUIT_SETTINGS_H
#define CONDUIT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "netaddr.h"

#define SETTINGS_ADDR_MAX 128
#define SETTINGS_STR_MAX  1024
/* Shortest JWT_SECRET accepted (bytes) outside --dev: an HS256 key should
 * be as long as the hash (RFC 7518 section 3.2). */
#define SETTINGS_JWT_SECRET_MIN 32

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* What main() was asked to do. */
enum settings_command {
    SETTINGS_CMD_SERVE,        /* run the server (default) */
    SETTINGS_CMD_MIGRATE,      /* apply migrations and exit */
    SETTINGS_CMD_CHECK_CONFIG, /* validate settings and exit */
    SETTINGS_CMD_VERSION,      /* print version and exit */
    SETTINGS_CMD_HELP,         /* print usage and exit */
};

struct settings {
    enum settings_command command;

    /* process model */
    char listen[SETTINGS_ADDR_MAX];       /* CONDUIT_LISTEN, default 0.0.0.0:8080 */
    char admin_listen[SETTINGS_ADDR_MAX]; /* CONDUIT_ADMIN_LISTEN, default 127.0.0.1:9090 */
    int workers;                          /* CONDUIT_WORKERS, default: online CPUs */
    int shutdown_timeout_s;               /* CONDUIT_SHUTDOWN_TIMEOUT, default 25 */
    int worker_timeout_s;                 /* CONDUIT_WORKER_TIMEOUT, default 30 */
    long max_requests;                    /* CONDUIT_MAX_REQUESTS, 0 = off */
    long max_requests_jitter;             /* CONDUIT_MAX_REQUESTS_JITTER, default 0 */
    int accepts_per_wake;                 /* CONDUIT_ACCEPTS_PER_WAKE, default 8 */
    int backlog;                          /* CONDUIT_BACKLOG, default 1024 */
    char config_file[SETTINGS_STR_MAX];   /* CONDUIT_CONFIG, "" = none */

    /* admission control, per worker (worker/admission.c) */
    int max_connections;     /* CONDUIT_MAX_CONNECTIONS, default 4096 */
    int max_in_flight;       /* CONDUIT_MAX_IN_FLIGHT, default 32 */
    int db_queue_timeout_ms; /* CONDUIT_DB_QUEUE_TIMEOUT_MS, default 100, 0 = none */
    int shed_delay_ms;       /* CONDUIT_SHED_DELAY_MS, default 0: hold every 503 this long */
    int shed_repeat_ms;      /* CONDUIT_SHED_REPEAT_MS, default 1000, 0 = off: a refusal on a
                                connection answered 503 less than this ago waits until then */

    /* logging */
    enum log_level log_level; /* CONDUIT_LOG_LEVEL debug|info|warn|error, default info */
    bool access_log;          /* CONDUIT_ACCESS_LOG on|off, default on */

    /* HTTP limits and timeouts */
    size_t max_request_line; /* CONDUIT_MAX_REQUEST_LINE, default 8192 */
    size_t max_header_bytes; /* CONDUIT_MAX_HEADER_BYTES, default 16384 */
    int max_headers;         /* CONDUIT_MAX_HEADERS, default 64 */
    size_t max_body;         /* CONDUIT_MAX_BODY, default 1048576 */
    int header_timeout_ms;   /* CONDUIT_HEADER_TIMEOUT_MS, default 10000 */
    int body_timeout_ms;     /* CONDUIT_BODY_TIMEOUT_MS, default 30000 */
    int idle_timeout_ms;     /* CONDUIT_IDLE_TIMEOUT_MS, default 60000 */
    int write_timeout_ms;    /* CONDUIT_WRITE_TIMEOUT_MS, default 30000 */

    /* the Conduit API's dependencies */
    char database_url[SETTINGS_STR_MAX]; /* DATABASE_URL, default "" (API answers 503) */
    char redis_url[SETTINGS_STR_MAX];    /* REDIS_URL, default "" (no cache, limits off) */
    char jwt_secret[SETTINGS_STR_MAX];   /* JWT_SECRET, required unless dev_mode */
    bool dev_mode;                       /* CONDUIT_DEV / --dev: allow a generated secret */
    int jwt_ttl_s;                       /* CONDUIT_JWT_TTL, default 86400 */
    int db_pool;                         /* CONDUIT_DB_POOL, default 4 per worker */
    int statement_timeout_ms;            /* CONDUIT_STATEMENT_TIMEOUT_MS, default 5000 */
    int cache_ttl_s;                     /* CONDUIT_CACHE_TTL, default 60, 0 = cache off */
    int rate_limit_auth;                 /* CONDUIT_RATE_LIMIT_AUTH per window, default 20 */
    int rate_limit_window_s;             /* CONDUIT_RATE_LIMIT_WINDOW, default 60 */
    int rate_limit_account;              /* CONDUIT_RATE_LIMIT_ACCOUNT failed logins per email
                                            per window, default 10, 0 = off */
    /* CONDUIT_TRUSTED_PROXIES: peers whose X-Forwarded-For is believed,
     * default none */
    struct netaddr_cidrs trusted_proxies;
    char cors_origins[SETTINGS_STR_MAX]; /* CONDUIT_CORS_ORIGINS, comma list or "*", default "*" */
    char migrations_dir[SETTINGS_STR_MAX]; /* CONDUIT_MIGRATIONS_DIR */
    int hash_threads;                      /* CONDUIT_HASH_THREADS, default 2 */

    /* identity, for conduitd_build_info and /status */
    char release[SETTINGS_ADDR_MAX]; /* CONDUIT_RELEASE, default: the build version */
};

/* Fill in every default. */
void settings_defaults(struct settings *s);

/* Apply the environment over *s. Returns 0, or -1 with errbuf set. */
int settings_from_env(struct settings *s, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Apply KEY=VALUE lines of a file (environment names; '#' comments). */
int settings_from_file(struct settings *s, const char *path, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Apply argv flags over *s (and choose the command). */
int settings_from_args(struct settings *s, int argc, char **argv, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Cross-field checks once all sources are applied. */
int settings_validate(const struct settings *s, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Whole load in the documented order: defaults, env, file, args, validate. */
int settings_load(struct settings *s, int argc, char **argv, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Parse an address setting ("host:port"; host an IPv4 address, [IPv6],
 * localhost, or * / empty for any) into *ss. 0, or -1 if malformed. */
int settings_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sslen)
    __attribute__((warn_unused_result));

/* The usage text printed by --help. */
const char *settings_usage(void);

#endif
