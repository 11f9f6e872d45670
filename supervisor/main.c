/*
 * main.c: conduitd's entry point. Loads the settings (defaults, environment,
 * config file, flags), answers --help, --version, --check-config and the
 * `migrate` subcommand, and otherwise runs the supervisor.
 *
 * A bad setting is one line on stderr naming it, and exit status 2, before
 * anything listens.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "migrate.h"
#include "settings.h"
#include "supervisor.h"

/* Dev mode without JWT_SECRET: a random secret for this run only. */
static int main_generate_secret(struct settings *s)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        s->jwt_secret[2 * i] = hex[raw[i] >> 4];
        s->jwt_secret[2 * i + 1] = hex[raw[i] & 15];
    }
    s->jwt_secret[2 * sizeof(raw)] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    static struct settings s;
    static struct supervisor sv;
    char err[1024];
    int rc;

    if (settings_load(&s, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "conduitd: %s\n", err);
        return 2;
    }
    switch (s.command) {
    case SETTINGS_CMD_HELP:
        fputs(settings_usage(), stdout);
        return 0;
    case SETTINGS_CMD_VERSION:
        printf("conduitd %s (revision %s)\n", PACKAGE_VERSION, CONDUIT_REVISION);
        return 0;
    case SETTINGS_CMD_CHECK_CONFIG:
        printf("conduitd: configuration ok\n");
        return 0;
    case SETTINGS_CMD_MIGRATE:
        log_init(s.log_level, "migrate");
        return migrate_run(&s);
    case SETTINGS_CMD_SERVE:
        break;
    }

    log_init(s.log_level, "supervisor");
    if (s.jwt_secret[0] == '\0') {
        if (main_generate_secret(&s) != 0) {
            fprintf(stderr, "conduitd: JWT_SECRET: cannot generate a dev secret: %s\n",
                    strerror(errno));
            return 1;
        }
        log_warn("dev mode: using a generated JWT_SECRET; tokens end with this process", "");
    }
    if (sv_init(&sv, &s, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "conduitd: %s\n", err);
        return 1;
    }
    rc = sv_run(&sv);
    sv_free(&sv);
    return rc;
}
