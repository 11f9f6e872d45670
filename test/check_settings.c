/*
 * check_settings.c: unit tests of the settings parser (common/settings.c):
 * defaults, the environment, a config file, flags overriding both, the
 * commands, and one error line naming the setting for each bad value.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"
#include "suite_main.h"

/* A JWT_SECRET long enough to serve with (SETTINGS_JWT_SECRET_MIN). */
#define GOOD_SECRET "0123456789abcdef0123456789abcdef"

static char errbuf[1024];

/* Clear every variable a test may have set. */
static void clear_env(void)
{
    static const char *const names[] = {
        "CONDUIT_LISTEN",       "CONDUIT_ADMIN_LISTEN",
        "CONDUIT_WORKERS",      "CONDUIT_SHUTDOWN_TIMEOUT",
        "CONDUIT_LOG_LEVEL",    "CONDUIT_ACCESS_LOG",
        "CONDUIT_CONFIG",       "JWT_SECRET",
        "CONDUIT_DEV",          "CONDUIT_MAX_BODY",
        "DATABASE_URL",         "CONDUIT_RELEASE",
        "CONDUIT_BACKLOG",      "CONDUIT_MAX_REQUESTS_JITTER",
        "CONDUIT_MAX_REQUESTS", "CONDUIT_TRUSTED_PROXIES",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

static void setup(void)
{
    clear_env();
    errbuf[0] = '\0';
}

/* Write text to a new temporary file; returns its path (static buffer). */
static const char *write_tmp(const char *text)
{
    static char path[64];
    int fd;
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/check_settings_XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* settings_load over a NULL-terminated argument list. */
static int load(struct settings *s, const char *const *args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"conduitd";
    for (; args != NULL && *args != NULL; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return settings_load(s, argc, argv, errbuf, sizeof(errbuf));
}

START_TEST(test_defaults)
{
    struct settings s;

    settings_defaults(&s);
    ck_assert_str_eq(s.listen, "0.0.0.0:8080");
    ck_assert_str_eq(s.admin_listen, "127.0.0.1:9090");
    ck_assert_int_eq(s.workers, (int)sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_int_eq(s.shutdown_timeout_s, 25);
    ck_assert_int_eq(s.worker_timeout_s, 30);
    ck_assert_int_eq(s.log_level, LOG_LEVEL_INFO);
    ck_assert(s.access_log);
    ck_assert_int_eq(s.backlog, 1024);
    ck_assert_uint_eq(s.max_body, 1048576);
    ck_assert_str_eq(s.release, PACKAGE_VERSION);
    ck_assert_int_eq(s.command, SETTINGS_CMD_SERVE);
}
END_TEST

START_TEST(test_env)
{
    struct settings s;

    setenv("CONDUIT_LISTEN", "127.0.0.1:18080", 1);
    setenv("CONDUIT_WORKERS", "3", 1);
    setenv("CONDUIT_SHUTDOWN_TIMEOUT", "5", 1);
    setenv("CONDUIT_LOG_LEVEL", "debug", 1);
    setenv("CONDUIT_ACCESS_LOG", "off", 1);
    setenv("JWT_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret", 1);
    setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/db", 1);
    ck_assert_int_eq(load(&s, NULL), 0);
    ck_assert_str_eq(s.listen, "127.0.0.1:18080");
    ck_assert_int_eq(s.workers, 3);
    ck_assert_int_eq(s.shutdown_timeout_s, 5);
    ck_assert_int_eq(s.log_level, LOG_LEVEL_DEBUG);
    ck_assert(!s.access_log);
    ck_assert_str_eq(s.jwt_secret, "s3cret-s3cret-s3cret-s3cret-s3cret");
    ck_assert_str_eq(s.database_url, "postgresql://u:p@127.0.0.1:1/db");
}
END_TEST

START_TEST(test_flags_override_env)
{
    struct settings s;
    const char *args[] = {"--workers",           "5", "--log-level=warn", "--access-log", "on",
                          "--listen=[::1]:8081", NULL};

    setenv("CONDUIT_WORKERS", "3", 1);
    setenv("CONDUIT_LOG_LEVEL", "debug", 1);
    setenv("CONDUIT_ACCESS_LOG", "off", 1);
    setenv("JWT_SECRET", GOOD_SECRET, 1);
    ck_assert_int_eq(load(&s, args), 0);
    ck_assert_int_eq(s.workers, 5);
    ck_assert_int_eq(s.log_level, LOG_LEVEL_WARN);
    ck_assert(s.access_log);
    ck_assert_str_eq(s.listen, "[::1]:8081");
}
END_TEST

START_TEST(test_file)
{
    struct settings s;
    const char *path = write_tmp("# a comment\n"
                                 "\n"
                                 "CONDUIT_WORKERS = 7\n"
                                 "CONDUIT_RELEASE=\"r-42\"\n"
                                 "JWT_SECRET=fromfile-fromfile-fromfile-fromfile\n"
                                 "CONDUIT_SHUTDOWN_TIMEOUT=9\n");
    const char *args[] = {"--config", path, "--shutdown-timeout", "11", NULL};

    /* The file overrides the environment; flags override the file. */
    setenv("CONDUIT_WORKERS", "3", 1);
    ck_assert_int_eq(load(&s, args), 0);
    ck_assert_int_eq(s.workers, 7);
    ck_assert_str_eq(s.release, "r-42");
    ck_assert_str_eq(s.jwt_secret, "fromfile-fromfile-fromfile-fromfile");
    ck_assert_int_eq(s.shutdown_timeout_s, 11);
    ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(test_file_errors)
{
    struct settings s;
    const char *path = write_tmp("CONDUIT_WORKERS=2\nCONDUIT_WORKERS=many\n");
    const char *args[] = {"--config", path, NULL};

    setenv("JWT_SECRET", GOOD_SECRET, 1);
    ck_assert_int_eq(load(&s, args), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, ":2: CONDUIT_WORKERS"));
    ck_assert_ptr_nonnull(strstr(errbuf, "\"many\""));
    ck_assert_int_eq(unlink(path), 0);

    path = write_tmp("NOT_A_SETTING=1\n");
    args[1] = path;
    ck_assert_int_eq(load(&s, args), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "unknown setting NOT_A_SETTING"));
    ck_assert_int_eq(unlink(path), 0);

    args[1] = "/nonexistent/conduitd.conf";
    ck_assert_int_eq(load(&s, args), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "CONDUIT_CONFIG"));
}
END_TEST

START_TEST(test_commands)
{
    struct settings s;
    const char *help[] = {"--help", NULL};
    const char *version[] = {"--workers", "bogus", "--version", NULL};
    const char *check[] = {"--check-config", NULL};
    const char *migrate[] = {"migrate", NULL};

    ck_assert_int_eq(load(&s, help), 0);
    ck_assert_int_eq(s.command, SETTINGS_CMD_HELP);
    /* --version needs no valid configuration. */
    ck_assert_int_eq(load(&s, version), 0);
    ck_assert_int_eq(s.command, SETTINGS_CMD_VERSION);
    setenv("JWT_SECRET", GOOD_SECRET, 1);
    ck_assert_int_eq(load(&s, check), 0);
    ck_assert_int_eq(s.command, SETTINGS_CMD_CHECK_CONFIG);
    /* migrate needs no JWT secret. */
    unsetenv("JWT_SECRET");
    ck_assert_int_eq(load(&s, migrate), 0);
    ck_assert_int_eq(s.command, SETTINGS_CMD_MIGRATE);
    ck_assert_ptr_nonnull(strstr(settings_usage(), "--shutdown-timeout"));
}
END_TEST

START_TEST(test_jwt_secret_required)
{
    struct settings s;
    const char *dev[] = {"--dev", NULL};

    ck_assert_int_eq(load(&s, NULL), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "JWT_SECRET"));
    ck_assert_int_eq(load(&s, dev), 0);
    ck_assert(s.dev_mode);
    setenv("CONDUIT_DEV", "1", 1);
    ck_assert_int_eq(load(&s, NULL), 0);
    ck_assert(s.dev_mode);
}
END_TEST

/* Each bad value: settings_load fails with one line naming the setting. */
static const struct {
    const char *env, *value, *flag, *named;
} bad_values[] = {
    {"CONDUIT_WORKERS", "0", "--workers", "CONDUIT_WORKERS"},
    {"CONDUIT_WORKERS", "abc", "--workers", "CONDUIT_WORKERS"},
    {"CONDUIT_WORKERS", "4x", "--workers", "CONDUIT_WORKERS"},
    {"CONDUIT_WORKERS", "100000", "--workers", "CONDUIT_WORKERS"},
    {"CONDUIT_LISTEN", "nowhere", "--listen", "CONDUIT_LISTEN"},
    {"CONDUIT_LISTEN", "127.0.0.1:0", "--listen", "CONDUIT_LISTEN"},
    {"CONDUIT_LISTEN", "127.0.0.1:70000", "--listen", "CONDUIT_LISTEN"},
    {"CONDUIT_LISTEN", "300.1.1.1:80", "--listen", "CONDUIT_LISTEN"},
    {"CONDUIT_ADMIN_LISTEN", "[::1:9090", "--admin-listen", "CONDUIT_ADMIN_LISTEN"},
    {"CONDUIT_SHUTDOWN_TIMEOUT", "-1", "--shutdown-timeout", "CONDUIT_SHUTDOWN_TIMEOUT"},
    {"CONDUIT_LOG_LEVEL", "loud", "--log-level", "CONDUIT_LOG_LEVEL"},
    {"CONDUIT_ACCESS_LOG", "maybe", "--access-log", "CONDUIT_ACCESS_LOG"},
    {"CONDUIT_MAX_BODY", "", "--max-body", "CONDUIT_MAX_BODY"},
    {"CONDUIT_BACKLOG", " 5", "--backlog", "CONDUIT_BACKLOG"},
    {"CONDUIT_RELEASE", "", "--release", "CONDUIT_RELEASE"},
};

START_TEST(test_bad_value_env)
{
    struct settings s;

    setenv("JWT_SECRET", GOOD_SECRET, 1);
    setenv(bad_values[_i].env, bad_values[_i].value, 1);
    ck_assert_int_eq(load(&s, NULL), -1);
    ck_assert_msg(strstr(errbuf, bad_values[_i].named) != NULL, "error \"%s\" does not name %s",
                  errbuf, bad_values[_i].named);
    ck_assert_ptr_null(strchr(errbuf, '\n'));
}
END_TEST

START_TEST(test_bad_value_flag)
{
    struct settings s;
    const char *args[] = {bad_values[_i].flag, bad_values[_i].value, NULL};

    setenv("JWT_SECRET", GOOD_SECRET, 1);
    ck_assert_int_eq(load(&s, args), -1);
    ck_assert_msg(strstr(errbuf, bad_values[_i].flag) != NULL, "error \"%s\" does not name %s",
                  errbuf, bad_values[_i].flag);
    ck_assert_ptr_null(strchr(errbuf, '\n'));
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct settings s;
    const char *unknown[] = {"--no-such-flag", NULL};
    const char *missing[] = {"--workers", NULL};
    const char *stray[] = {"serve", "extra", NULL};
    const char *same[] = {"--listen", "127.0.0.1:9090", NULL};
    const char *jitter[] = {"--max-requests-jitter", "10", NULL};

    setenv("JWT_SECRET", GOOD_SECRET, 1);
    ck_assert_int_eq(load(&s, unknown), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "--no-such-flag"));
    ck_assert_int_eq(load(&s, missing), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "--workers: missing value"));
    ck_assert_int_eq(load(&s, stray), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "extra"));
    ck_assert_int_eq(load(&s, same), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "CONDUIT_ADMIN_LISTEN"));
    ck_assert_int_eq(load(&s, jitter), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "CONDUIT_MAX_REQUESTS_JITTER"));
}
END_TEST

START_TEST(test_secret_not_echoed)
{
    struct settings s;
    char big[SETTINGS_STR_MAX + 10];

    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    setenv("JWT_SECRET", big, 1);
    ck_assert_int_eq(load(&s, NULL), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "JWT_SECRET"));
    ck_assert_ptr_null(strstr(errbuf, "kkkk"));
}
END_TEST

/* A secret shorter than 32 bytes is a configuration error naming the
 * setting and the minimum, for serve and --check-config; --dev accepts it. */
START_TEST(test_jwt_secret_min_length)
{
    struct settings s;
    const char *check[] = {"--check-config", NULL};
    const char *dev[] = {"--dev", NULL};

    setenv("JWT_SECRET", "0123456789abcdef0123456789abcde", 1); /* 31 bytes */
    ck_assert_int_eq(load(&s, NULL), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "JWT_SECRET"));
    ck_assert_ptr_nonnull(strstr(errbuf, "at least 32"));
    ck_assert_ptr_null(strstr(errbuf, "0123456789abcdef")); /* never echoed */
    ck_assert_int_eq(load(&s, check), -1);
    ck_assert_int_eq(load(&s, dev), 0);
    setenv("JWT_SECRET", GOOD_SECRET, 1);
    ck_assert_int_eq(load(&s, NULL), 0);
}
END_TEST

/* --trusted-proxies parses CIDR lists and names the bad entry. */
START_TEST(test_trusted_proxies)
{
    struct settings s;
    const char *args[] = {"--trusted-proxies", "10.0.0.0/8, 192.0.2.7,fd00::/8", NULL};
    const char *bad[] = {"--trusted-proxies", "10.0.0.0/8,10.0.0.0/33", NULL};

    setenv("JWT_SECRET", GOOD_SECRET, 1);
    ck_assert_int_eq(load(&s, NULL), 0);
    ck_assert_int_eq(s.trusted_proxies.n, 0);
    ck_assert_int_eq(s.rate_limit_account, 10);
    ck_assert_int_eq(load(&s, args), 0);
    ck_assert_int_eq(s.trusted_proxies.n, 3);
    ck_assert_int_eq(s.trusted_proxies.v[1].bits, 32);
    ck_assert_int_eq(s.trusted_proxies.v[2].bits, 8);
    ck_assert_int_eq(load(&s, bad), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "--trusted-proxies"));
    ck_assert_ptr_nonnull(strstr(errbuf, "10.0.0.0/33"));
    setenv("CONDUIT_TRUSTED_PROXIES", "not-an-address", 1);
    ck_assert_int_eq(load(&s, NULL), -1);
    ck_assert_ptr_nonnull(strstr(errbuf, "CONDUIT_TRUSTED_PROXIES"));
}
END_TEST

START_TEST(test_addr_parse)
{
    struct sockaddr_storage ss;
    socklen_t len;

    ck_assert_int_eq(settings_addr_parse("127.0.0.1:80", &ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_int_eq(settings_addr_parse("*:80", &ss, &len), 0);
    ck_assert_int_eq(settings_addr_parse(":80", &ss, &len), 0);
    ck_assert_int_eq(settings_addr_parse("localhost:80", &ss, &len), 0);
    ck_assert_int_eq(settings_addr_parse("[::]:80", &ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_int_eq(settings_addr_parse("example.com:80", &ss, &len), -1);
    ck_assert_int_eq(settings_addr_parse("127.0.0.1", &ss, &len), -1);
    ck_assert_int_eq(settings_addr_parse("127.0.0.1:", &ss, &len), -1);
}
END_TEST

static Suite *settings_suite(void)
{
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("core");
    int nbad = (int)(sizeof(bad_values) / sizeof(bad_values[0]));

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_flags_override_env);
    tcase_add_test(tc, test_file);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_commands);
    tcase_add_test(tc, test_jwt_secret_required);
    tcase_add_loop_test(tc, test_bad_value_env, 0, nbad);
    tcase_add_loop_test(tc, test_bad_value_flag, 0, nbad);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_secret_not_echoed);
    tcase_add_test(tc, test_addr_parse);
    tcase_add_test(tc, test_jwt_secret_min_length);
    tcase_add_test(tc, test_trusted_proxies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return suite_main_run_suite(settings_suite());
}
