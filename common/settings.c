/*
 * settings.c: conduitd's configuration (see settings.h).
 *
 * One table describes every setting: its environment name, its type, where
 * it lives in struct settings and its valid range. The flag is derived from
 * the environment name (CONDUIT_SHUTDOWN_TIMEOUT -> --shutdown-timeout,
 * DATABASE_URL -> --database-url), so the two can never disagree. The same
 * table parses the environment, the config file and the flags, and every
 * error message names the setting the way its source spelled it.
 *
 * Nothing here logs or exits; errors are one line in the caller's errbuf.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scoreboard.h"
#include "settings.h"

#ifndef CONDUIT_MIGRATIONS_DIR
#define CONDUIT_MIGRATIONS_DIR "/usr/local/share/conduitd/migrations"
#endif

/* Most workers allowed: half the scoreboard, so that a whole new generation
 * can start beside the old one during a reload. */
#define SETTINGS_MAX_WORKERS (SB_MAX_SLOTS / 2)

enum setting_type {
    ST_ADDR,  /* char[SETTINGS_ADDR_MAX], host:port */
    ST_STR,   /* char[N], any text that fits */
    ST_INT,   /* int within [min, max] */
    ST_LONG,  /* long within [min, max] */
    ST_SIZE,  /* size_t within [min, max] */
    ST_BOOL,  /* bool: on|off, true|false, yes|no, 1|0 */
    ST_LEVEL, /* enum log_level: debug|info|warn|error */
    ST_CIDRS, /* struct netaddr_cidrs: comma list of CIDR blocks */
};

struct setting_def {
    const char *env; /* environment / config file name */
    enum setting_type type;
    size_t off;  /* offset in struct settings */
    size_t size; /* sizeof the field (buffer size for strings) */
    long long min, max;
    bool secret; /* never echo the value in an error */
};

#define SDEF(env, type, field, min, max)                                                           \
    {                                                                                              \
        env, type, offsetof(struct settings, field), sizeof(((struct settings *)0)->field), min,   \
            max, false                                                                             \
    }
#define SDEF_SECRET(env, field)                                                                    \
    {                                                                                              \
        env, ST_STR, offsetof(struct settings, field), sizeof(((struct settings *)0)->field), 0,   \
            0, true                                                                                \
    }

static const struct setting_def settings_table[] = {
    SDEF("CONDUIT_LISTEN", ST_ADDR, listen, 0, 0),
    SDEF("CONDUIT_ADMIN_LISTEN", ST_ADDR, admin_listen, 0, 0),
    SDEF("CONDUIT_WORKERS", ST_INT, workers, 1, SETTINGS_MAX_WORKERS),
    SDEF("CONDUIT_SHUTDOWN_TIMEOUT", ST_INT, shutdown_timeout_s, 0, 86400),
    SDEF("CONDUIT_WORKER_TIMEOUT", ST_INT, worker_timeout_s, 1, 86400),
    SDEF("CONDUIT_MAX_REQUESTS", ST_LONG, max_requests, 0, LONG_MAX),
    SDEF("CONDUIT_MAX_REQUESTS_JITTER", ST_LONG, max_requests_jitter, 0, LONG_MAX),
    SDEF("CONDUIT_ACCEPTS_PER_WAKE", ST_INT, accepts_per_wake, 1, 1024),
    SDEF("CONDUIT_BACKLOG", ST_INT, backlog, 1, 65535),
    SDEF("CONDUIT_MAX_CONNECTIONS", ST_INT, max_connections, 1, 1048576),
    SDEF("CONDUIT_MAX_IN_FLIGHT", ST_INT, max_in_flight, 1, 1048576),
    SDEF("CONDUIT_DB_QUEUE_TIMEOUT_MS", ST_INT, db_queue_timeout_ms, 0, 3600000),
    SDEF("CONDUIT_SHED_DELAY_MS", ST_INT, shed_delay_ms, 0, 10000),
    SDEF("CONDUIT_SHED_REPEAT_MS", ST_INT, shed_repeat_ms, 0, 10000),
    SDEF("CONDUIT_CONFIG", ST_STR, config_file, 0, 0),
    SDEF("CONDUIT_LOG_LEVEL", ST_LEVEL, log_level, 0, 0),
    SDEF("CONDUIT_ACCESS_LOG", ST_BOOL, access_log, 0, 0),
    SDEF("CONDUIT_MAX_REQUEST_LINE", ST_SIZE, max_request_line, 64, 1048576),
    SDEF("CONDUIT_MAX_HEADER_BYTES", ST_SIZE, max_header_bytes, 256, 16777216),
    SDEF("CONDUIT_MAX_HEADERS", ST_INT, max_headers, 1, 1000),
    SDEF("CONDUIT_MAX_BODY", ST_SIZE, max_body, 0, 1073741824),
    SDEF("CONDUIT_HEADER_TIMEOUT_MS", ST_INT, header_timeout_ms, 1, 3600000),
    SDEF("CONDUIT_BODY_TIMEOUT_MS", ST_INT, body_timeout_ms, 1, 3600000),
    SDEF("CONDUIT_IDLE_TIMEOUT_MS", ST_INT, idle_timeout_ms, 1, 3600000),
    SDEF("CONDUIT_WRITE_TIMEOUT_MS", ST_INT, write_timeout_ms, 1, 3600000),
    SDEF_SECRET("DATABASE_URL", database_url),
    SDEF_SECRET("REDIS_URL", redis_url),
    SDEF_SECRET("JWT_SECRET", jwt_secret),
    SDEF("CONDUIT_DEV", ST_BOOL, dev_mode, 0, 0),
    SDEF("CONDUIT_JWT_TTL", ST_INT, jwt_ttl_s, 1, 315360000),
    SDEF("CONDUIT_DB_POOL", ST_INT, db_pool, 1, 64),
    SDEF("CONDUIT_STATEMENT_TIMEOUT_MS", ST_INT, statement_timeout_ms, 0, 3600000),
    SDEF("CONDUIT_CACHE_TTL", ST_INT, cache_ttl_s, 0, 86400),
    SDEF("CONDUIT_RATE_LIMIT_AUTH", ST_INT, rate_limit_auth, 0, 1000000),
    SDEF("CONDUIT_RATE_LIMIT_WINDOW", ST_INT, rate_limit_window_s, 1, 86400),
    SDEF("CONDUIT_RATE_LIMIT_ACCOUNT", ST_INT, rate_limit_account, 0, 1000000),
    SDEF("CONDUIT_TRUSTED_PROXIES", ST_CIDRS, trusted_proxies, 0, 0),
    SDEF("CONDUIT_CORS_ORIGINS", ST_STR, cors_origins, 0, 0),
    SDEF("CONDUIT_MIGRATIONS_DIR", ST_STR, migrations_dir, 0, 0),
    SDEF("CONDUIT_HASH_THREADS", ST_INT, hash_threads, 1, 64),
    SDEF("CONDUIT_RELEASE", ST_STR, release, 1, 0),
};

#define SETTINGS_COUNT (sizeof(settings_table) / sizeof(settings_table[0]))

static const char *const settings_level_names[] = {"debug", "info", "warn", "error"};

void settings_defaults(struct settings *s)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    memset(s, 0, sizeof(*s));
    s->command = SETTINGS_CMD_SERVE;
    snprintf(s->listen, sizeof(s->listen), "0.0.0.0:8080");
    snprintf(s->admin_listen, sizeof(s->admin_listen), "127.0.0.1:9090");
    if (cpus < 1)
        cpus = 1;
    if (cpus > SETTINGS_MAX_WORKERS)
        cpus = SETTINGS_MAX_WORKERS;
    s->workers = (int)cpus;
    s->shutdown_timeout_s = 25;
    s->worker_timeout_s = 30;
    s->max_requests = 0;
    s->max_requests_jitter = 0;
    s->accepts_per_wake = 8;
    s->backlog = 1024;
    s->max_connections = 4096;
    s->max_in_flight = 32;
    s->db_queue_timeout_ms = 100;
    s->shed_delay_ms = 0;
    s->shed_repeat_ms = 1000;
    s->log_level = LOG_LEVEL_INFO;
    s->access_log = true;
    s->max_request_line = 8192;
    s->max_header_bytes = 16384;
    s->max_headers = 64;
    s->max_body = 1048576;
    s->header_timeout_ms = 10000;
    s->body_timeout_ms = 30000;
    s->idle_timeout_ms = 60000;
    s->write_timeout_ms = 30000;
    s->dev_mode = false;
    s->jwt_ttl_s = 86400;
    s->db_pool = 4;
    s->statement_timeout_ms = 5000;
    s->cache_ttl_s = 60;
    s->rate_limit_auth = 20;
    s->rate_limit_window_s = 60;
    s->rate_limit_account = 10;
    snprintf(s->cors_origins, sizeof(s->cors_origins), "*");
    snprintf(s->migrations_dir, sizeof(s->migrations_dir), "%s", CONDUIT_MIGRATIONS_DIR);
    snprintf(s->release, sizeof(s->release), "%s", PACKAGE_VERSION);
}

/* The flag spelling of an environment name: --kebab-case without CONDUIT_. */
static void settings_flag_name(const char *env, char *buf, size_t len)
{
    size_t o = 0;

    if (strncmp(env, "CONDUIT_", 8) == 0)
        env += 8;
    if (len < 3)
        return;
    buf[o++] = '-';
    buf[o++] = '-';
    for (; *env != '\0' && o + 1 < len; env++)
        buf[o++] = *env == '_' ? '-' : (char)tolower((unsigned char)*env);
    buf[o] = '\0';
}

/* Copy a value for an error message: at most 64 bytes, unprintables as '?'. */
static void settings_quote_value(char *buf, size_t len, const char *v)
{
    size_t o = 0;

    for (; *v != '\0' && o + 4 < len && o < 64; v++)
        buf[o++] = isprint((unsigned char)*v) ? *v : '?';
    if (*v != '\0' && o + 4 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

/* Parse a whole decimal integer; 0, or -1 if v is not one. */
static int settings_parse_ll(const char *v, long long *out)
{
    char *end;

    if (*v == '\0' || isspace((unsigned char)*v))
        return -1;
    errno = 0;
    *out = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    return 0;
}

/* Parse a boolean word; 0, or -1. */
static int settings_parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int settings_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[SETTINGS_ADDR_MAX];
    const char *colon = strrchr(text, ':');
    size_t hlen;
    long long port;

    if (colon == NULL || strlen(text) >= sizeof(host))
        return -1;
    hlen = (size_t)(colon - text);
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (settings_parse_ll(colon + 1, &port) != 0 || port < 1 || port > 65535)
        return -1;
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (hlen < 3 || host[hlen - 1] != ']')
            return -1;
        host[hlen - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(*a6);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *sslen = sizeof(*a4);
    if (hlen == 0 || strcmp(host, "*") == 0) {
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (strcmp(host, "localhost") == 0) {
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return 0;
    }
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
}

/* Store value into the setting def of *s; name is how the source spelled it. */
static int settings_apply(struct settings *s, const struct setting_def *d, const char *name,
                          const char *value, char *errbuf, size_t errlen)
{
    char *field = (char *)s + d->off;
    char shown[80];
    long long n;

    settings_quote_value(shown, sizeof(shown), value);
    switch (d->type) {
    case ST_ADDR: {
        struct sockaddr_storage ss;
        socklen_t len;
        if (strlen(value) >= d->size || settings_addr_parse(value, &ss, &len) != 0) {
            snprintf(errbuf, errlen,
                     "%s: invalid address \"%s\": expected host:port with an IPv4 address, "
                     "[IPv6] address, localhost or * and a port from 1 to 65535",
                     name, shown);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    case ST_STR:
        if (strlen(value) >= d->size) {
            snprintf(errbuf, errlen, "%s: value too long (%zu bytes, at most %zu)", name,
                     strlen(value), d->size - 1);
            return -1;
        }
        if (d->min > 0 && value[0] == '\0') {
            snprintf(errbuf, errlen, "%s: must not be empty", name);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case ST_INT:
    case ST_LONG:
    case ST_SIZE:
        if (settings_parse_ll(value, &n) != 0 || n < d->min || n > d->max) {
            snprintf(errbuf, errlen,
                     "%s: invalid value \"%s\": expected an integer from %lld to %lld", name, shown,
                     d->min, d->max);
            return -1;
        }
        if (d->type == ST_INT)
            *(int *)(void *)field = (int)n;
        else if (d->type == ST_LONG)
            *(long *)(void *)field = (long)n;
        else
            *(size_t *)(void *)field = (size_t)n;
        return 0;
    case ST_BOOL:
        if (settings_parse_bool(value, (bool *)field) != 0) {
            snprintf(errbuf, errlen, "%s: invalid value \"%s\": expected on or off", name, shown);
            return -1;
        }
        return 0;
    case ST_CIDRS: {
        char why[160];
        if (netaddr_cidrs_parse(value, (struct netaddr_cidrs *)(void *)field, why, sizeof(why)) !=
            0) {
            snprintf(errbuf, errlen, "%s: %s", name, why);
            return -1;
        }
        return 0;
    }
    case ST_LEVEL:
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(value, settings_level_names[i]) == 0) {
                *(enum log_level *)(void *)field = (enum log_level)i;
                return 0;
            }
        }
        snprintf(errbuf, errlen, "%s: invalid value \"%s\": expected debug, info, warn or error",
                 name, shown);
        return -1;
    }
    snprintf(errbuf, errlen, "%s: unknown setting type", name);
    return -1;
}

/* The table entry for an environment name, or NULL. */
static const struct setting_def *settings_find_env(const char *env)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++)
        if (strcmp(settings_table[i].env, env) == 0)
            return &settings_table[i];
    return NULL;
}

/* The table entry for a flag name ("--workers", without any "=value"). */
static const struct setting_def *settings_find_flag(const char *flag, size_t len)
{
    char name[64];

    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        settings_flag_name(settings_table[i].env, name, sizeof(name));
        if (strlen(name) == len && strncmp(name, flag, len) == 0)
            return &settings_table[i];
    }
    return NULL;
}

int settings_from_env(struct settings *s, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting_def *d = &settings_table[i];
        const char *v = getenv(d->env);
        if (v == NULL)
            continue;
        if (settings_apply(s, d, d->env, v, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Trim leading and trailing white space in place; returns the new start. */
static char *settings_trim(char *p)
{
    size_t n;

    while (isspace((unsigned char)*p))
        p++;
    n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        p[--n] = '\0';
    return p;
}

int settings_from_file(struct settings *s, const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char line[SETTINGS_STR_MAX + 128];
    int lineno = 0;
    int rc = -1;

    if (f == NULL) {
        snprintf(errbuf, errlen, "CONDUIT_CONFIG (--config): cannot read %s: %s", path,
                 strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *key, *value, *eq;
        char name[SETTINGS_STR_MAX + 64];
        const struct setting_def *d;
        size_t vlen;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(errbuf, errlen, "%s:%d: line too long", path, lineno);
            goto out;
        }
        key = settings_trim(line);
        if (*key == '\0' || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(errbuf, errlen, "%s:%d: expected KEY=VALUE", path, lineno);
            goto out;
        }
        *eq = '\0';
        key = settings_trim(key);
        value = settings_trim(eq + 1);
        vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        d = settings_find_env(key);
        if (d == NULL) {
            snprintf(errbuf, errlen, "%s:%d: unknown setting %.64s", path, lineno, key);
            goto out;
        }
        if (strcmp(key, "CONDUIT_CONFIG") == 0) {
            snprintf(errbuf, errlen, "%s:%d: CONDUIT_CONFIG cannot be set in a config file", path,
                     lineno);
            goto out;
        }
        snprintf(name, sizeof(name), "%s:%d: %s", path, lineno, key);
        if (settings_apply(s, d, name, value, errbuf, errlen) != 0)
            goto out;
    }
    if (ferror(f)) {
        snprintf(errbuf, errlen, "CONDUIT_CONFIG (--config): cannot read %s", path);
        goto out;
    }
    rc = 0;
out:
    if (fclose(f) != 0 && rc == 0) {
        snprintf(errbuf, errlen, "CONDUIT_CONFIG (--config): cannot read %s", path);
        rc = -1;
    }
    return rc;
}

int settings_from_args(struct settings *s, int argc, char **argv, char *errbuf, size_t errlen)
{
    bool have_command = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq, *value;
        const struct setting_def *d;
        size_t nlen;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            s->command = SETTINGS_CMD_HELP;
            continue;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            s->command = SETTINGS_CMD_VERSION;
            continue;
        }
        if (strcmp(a, "--check-config") == 0) {
            s->command = SETTINGS_CMD_CHECK_CONFIG;
            continue;
        }
        if (strcmp(a, "--dev") == 0) {
            s->dev_mode = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (!have_command && (strcmp(a, "migrate") == 0 || strcmp(a, "serve") == 0)) {
                have_command = true;
                if (s->command == SETTINGS_CMD_SERVE || s->command == SETTINGS_CMD_MIGRATE)
                    s->command = a[0] == 'm' ? SETTINGS_CMD_MIGRATE : SETTINGS_CMD_SERVE;
                continue;
            }
            snprintf(errbuf, errlen, "unexpected argument \"%.64s\" (see --help)", a);
            return -1;
        }
        eq = strchr(a, '=');
        nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        d = settings_find_flag(a, nlen);
        if (d == NULL) {
            snprintf(errbuf, errlen, "unknown option %.*s (see --help)",
                     (int)(nlen > 64 ? 64 : nlen), a);
            return -1;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(errbuf, errlen, "%.*s: missing value", (int)nlen, a);
            return -1;
        }
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(nlen > 64 ? 64 : nlen), a);
        if (settings_apply(s, d, name, value, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

int settings_validate(const struct settings *s, char *errbuf, size_t errlen)
{
    struct sockaddr_storage a, b;
    socklen_t alen, blen;

    if (settings_addr_parse(s->listen, &a, &alen) != 0) {
        snprintf(errbuf, errlen, "CONDUIT_LISTEN (--listen): invalid address");
        return -1;
    }
    if (settings_addr_parse(s->admin_listen, &b, &blen) != 0) {
        snprintf(errbuf, errlen, "CONDUIT_ADMIN_LISTEN (--admin-listen): invalid address");
        return -1;
    }
    if (alen == blen && memcmp(&a, &b, alen) == 0) {
        snprintf(errbuf, errlen,
                 "CONDUIT_ADMIN_LISTEN (--admin-listen): must differ from CONDUIT_LISTEN "
                 "(--listen), both are %s",
                 s->listen);
        return -1;
    }
    if ((s->command == SETTINGS_CMD_SERVE || s->command == SETTINGS_CMD_CHECK_CONFIG) &&
        s->jwt_secret[0] == '\0' && !s->dev_mode) {
        snprintf(errbuf, errlen,
                 "JWT_SECRET (--jwt-secret): required to serve; set it, or use --dev "
                 "(CONDUIT_DEV=1) to run with a generated secret");
        return -1;
    }
    if ((s->command == SETTINGS_CMD_SERVE || s->command == SETTINGS_CMD_CHECK_CONFIG) &&
        !s->dev_mode && strlen(s->jwt_secret) < SETTINGS_JWT_SECRET_MIN) {
        snprintf(errbuf, errlen,
                 "JWT_SECRET (--jwt-secret): too short (%zu bytes): use at least %d random "
                 "bytes, e.g. `openssl rand -hex 32` (--dev accepts a shorter one)",
                 strlen(s->jwt_secret), SETTINGS_JWT_SECRET_MIN);
        return -1;
    }
    if (s->max_requests_jitter > 0 && s->max_requests == 0) {
        snprintf(errbuf, errlen,
                 "CONDUIT_MAX_REQUESTS_JITTER (--max-requests-jitter): needs "
                 "CONDUIT_MAX_REQUESTS (--max-requests) above 0");
        return -1;
    }
    return 0;
}

/* True when argv asks only for --help or --version, which need no valid
 * configuration; *cmd says which (the last one wins). */
static bool settings_info_only(int argc, char **argv, enum settings_command *cmd)
{
    bool found = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *cmd = SETTINGS_CMD_HELP;
            found = true;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            *cmd = SETTINGS_CMD_VERSION;
            found = true;
        }
    }
    return found;
}

int settings_load(struct settings *s, int argc, char **argv, char *errbuf, size_t errlen)
{
    struct settings *scratch;
    enum settings_command info;

    settings_defaults(s);
    if (settings_info_only(argc, argv, &info)) {
        s->command = info;
        return 0;
    }
    if (settings_from_env(s, errbuf, errlen) != 0)
        return -1;
    /* The file comes before the flags, but a flag may name the file: read
     * the flags once into a scratch copy to learn it. */
    scratch = malloc(sizeof(*scratch));
    if (scratch == NULL) {
        snprintf(errbuf, errlen, "out of memory reading settings");
        return -1;
    }
    *scratch = *s;
    if (settings_from_args(scratch, argc, argv, errbuf, errlen) != 0) {
        free(scratch);
        return -1;
    }
    if (scratch->config_file[0] != '\0' &&
        settings_from_file(s, scratch->config_file, errbuf, errlen) != 0) {
        free(scratch);
        return -1;
    }
    free(scratch);
    if (settings_from_args(s, argc, argv, errbuf, errlen) != 0)
        return -1;
    return settings_validate(s, errbuf, errlen);
}

const char *settings_usage(void)
{
    return "Usage: conduitd [serve|migrate] [options]\n"
           "       conduitd --check-config [options]\n"
           "       conduitd --help | --version\n"
           "\n"
           "Every option can also be set by an environment variable (in brackets) or a\n"
           "KEY=VALUE line of the --config file. Flags override the file, the file\n"
           "overrides the environment.\n"
           "\n"
           "Process model:\n"
           "  --listen HOST:PORT          API address [CONDUIT_LISTEN] (0.0.0.0:8080)\n"
           "  --admin-listen HOST:PORT    admin address [CONDUIT_ADMIN_LISTEN] (127.0.0.1:9090)\n"
           "  --workers N                 worker processes, 1-128 [CONDUIT_WORKERS] (online CPUs)\n"
           "  --shutdown-timeout S        graceful stop deadline [CONDUIT_SHUTDOWN_TIMEOUT] (25)\n"
           "  --worker-timeout S          heartbeat age that marks a worker hung: SIGABRT,\n"
           "                              a replacement at once, SIGKILL when it cannot act\n"
           "                              on SIGABRT [CONDUIT_WORKER_TIMEOUT] (30)\n"
           "  --max-requests N            recycle a worker after N requests, 0 = off\n"
           "                              [CONDUIT_MAX_REQUESTS] (0)\n"
           "  --max-requests-jitter N     random extra requests before recycling\n"
           "                              [CONDUIT_MAX_REQUESTS_JITTER] (0)\n"
           "  --accepts-per-wake N        accept() calls per wake-up [CONDUIT_ACCEPTS_PER_WAKE] "
           "(8)\n"
           "  --backlog N                 listen queue length [CONDUIT_BACKLOG] (1024)\n"
           "  --config FILE               KEY=VALUE settings file [CONDUIT_CONFIG]\n"
           "\n"
           "Admission control (per worker):\n"
           "  --max-connections N         above: 503 + Retry-After and close\n"
           "                              [CONDUIT_MAX_CONNECTIONS] (4096)\n"
           "  --max-in-flight N           requests at once; above: 503 + Retry-After\n"
           "                              [CONDUIT_MAX_IN_FLIGHT] (32)\n"
           "  --db-queue-timeout-ms MS    longest wait for a database connection, then 503\n"
           "                              + Retry-After, 0 = none [CONDUIT_DB_QUEUE_TIMEOUT_MS] "
           "(100)\n"
           "  --shed-delay-ms MS          hold every refusal's 503 this long, 0 = off\n"
           "                              [CONDUIT_SHED_DELAY_MS] (0)\n"
           "  --shed-repeat-ms MS         a refusal on a connection answered 503 less than\n"
           "                              MS ago is held until MS after that 503 (clients\n"
           "                              ignoring Retry-After), 0 = off\n"
           "                              [CONDUIT_SHED_REPEAT_MS] (1000)\n"
           "\n"
           "Logging:\n"
           "  --log-level LEVEL           debug, info, warn, error [CONDUIT_LOG_LEVEL] (info)\n"
           "  --access-log on|off         one line per request [CONDUIT_ACCESS_LOG] (on)\n"
           "\n"
           "HTTP limits and timeouts:\n"
           "  --max-request-line BYTES    [CONDUIT_MAX_REQUEST_LINE] (8192)\n"
           "  --max-header-bytes BYTES    [CONDUIT_MAX_HEADER_BYTES] (16384)\n"
           "  --max-headers N             [CONDUIT_MAX_HEADERS] (64)\n"
           "  --max-body BYTES            [CONDUIT_MAX_BODY] (1048576)\n"
           "  --header-timeout-ms MS      [CONDUIT_HEADER_TIMEOUT_MS] (10000)\n"
           "  --body-timeout-ms MS        [CONDUIT_BODY_TIMEOUT_MS] (30000)\n"
           "  --idle-timeout-ms MS        keep-alive idle [CONDUIT_IDLE_TIMEOUT_MS] (60000)\n"
           "  --write-timeout-ms MS       [CONDUIT_WRITE_TIMEOUT_MS] (30000)\n"
           "\n"
           "Conduit API:\n"
           "  --database-url URL          PostgreSQL [DATABASE_URL]\n"
           "  --redis-url URL             Redis [REDIS_URL]\n"
           "  --jwt-secret SECRET         token signing key, at least 32 bytes, required\n"
           "                              [JWT_SECRET]\n"
           "  --dev                       allow a generated JWT secret [CONDUIT_DEV]\n"
           "  --jwt-ttl S                 token lifetime [CONDUIT_JWT_TTL] (86400)\n"
           "  --db-pool N                 connections per worker [CONDUIT_DB_POOL] (4)\n"
           "  --statement-timeout-ms MS   [CONDUIT_STATEMENT_TIMEOUT_MS] (5000)\n"
           "  --cache-ttl S               Redis cache lifetime, 0 = off [CONDUIT_CACHE_TTL] (60)\n"
           "  --rate-limit-auth N         auth attempts per window [CONDUIT_RATE_LIMIT_AUTH] (20)\n"
           "  --rate-limit-window S       [CONDUIT_RATE_LIMIT_WINDOW] (60)\n"
           "  --rate-limit-account N      failed logins per email per window, 0 = off\n"
           "                              [CONDUIT_RATE_LIMIT_ACCOUNT] (10)\n"
           "  --trusted-proxies LIST      CIDR blocks whose X-Forwarded-For is believed\n"
           "                              [CONDUIT_TRUSTED_PROXIES] (none)\n"
           "  --cors-origins LIST         comma list or * [CONDUIT_CORS_ORIGINS] (*)\n"
           "  --migrations-dir DIR        [CONDUIT_MIGRATIONS_DIR]\n"
           "  --hash-threads N            password hashing threads [CONDUIT_HASH_THREADS] (2)\n"
           "  --release NAME              release reported in metrics [CONDUIT_RELEASE]\n"
           "\n"
           "Commands:\n"
           "  serve                       run the server (the default)\n"
           "  migrate                     apply database migrations and exit\n"
           "  --check-config              validate the settings and exit\n"
           "  --version, --help\n"
           "\n"
           "Signals: TERM, INT, QUIT graceful stop (a second one: fast stop); HUP reload\n"
           "the config file into a new generation of workers; USR2 binary upgrade (exec the\n"
           "binary again with the listening sockets); TTIN/TTOU one worker more/fewer.\n"
           "Sockets passed with LISTEN_FDS (systemd socket activation) are adopted.\n"
           "See conduitd(8).\n";
}
