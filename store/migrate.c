/*
 * migrate.c: `conduitd migrate`, applying migrations/NNNN_name.sql in order.
 *
 * Each file runs in its own transaction together with the row that records
 * it in schema_migrations (version = file name without ".sql", plus the
 * SHA-256 of its text), so a failed file leaves nothing behind. A session
 * advisory lock serialises concurrent runs (two pods starting at once): the
 * second waits, then finds everything applied and does nothing. Files already
 * recorded are skipped; a recorded file whose text changed is reported but
 * not re-run.
 *
 * Online safety (docs/deploy.md, "Migrations: expand/contract"): every file
 * runs under lock_timeout (MIGRATE_LOCK_TIMEOUT, or the file's
 * "-- conduitd:lock-timeout=V"), so a DDL lock that cannot be had at once
 * never queues the application's queries behind it for longer than that;
 * a lock timeout, deadlock or serialization failure rolls back and retries
 * with backoff, MIGRATE_ATTEMPTS times at most. A file marked
 * "-- conduitd:no-transaction" runs statement by statement in autocommit
 * (CREATE INDEX CONCURRENTLY, DO blocks that COMMIT per batch); a failed
 * statement is retried alone, and before each try of CREATE INDEX
 * CONCURRENTLY an INVALID index of that name (a failed build's remains) is
 * dropped. Its schema_migrations row is written after the last statement,
 * so such a file must be idempotent: a run that stopped midway runs it again.
 *
 * This is the one place that uses blocking libpq: it runs as a one-shot
 * command, never inside a worker. Relies on libpq, OpenSSL (SHA-256), log.h.
 */
#include "config.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "log.h"
#include "migrate.h"
#include "migrate_file.h"

/* Key of the advisory lock ("conduit" in ASCII); any constant would do. */
#define MIGRATE_LOCK_KEY "28548172589935988"
#define MIGRATE_MAX_FILE (16 * 1024 * 1024)
#define MIGRATE_NAME_MAX 128
/* lock_timeout of files that set none: well under the 1 s the API may
 * wait for a lock before a request counts as blocked. */
#define MIGRATE_LOCK_TIMEOUT "500ms"
/* Tries of a file (or of one statement of a no-transaction file): about
 * 2.5 minutes of retries at the 5 s cap, each blocking writers at most the
 * lock_timeout (10 tries gave up under a steady write load). */
#define MIGRATE_ATTEMPTS 30
/* Backoff between tries: first wait, cap (ms); each wait doubles, plus up
 * to a half of jitter so two migrators do not retry in step. */
#define MIGRATE_BACKOFF_MS     100
#define MIGRATE_BACKOFF_MAX_MS 5000
/* How often a waiting migrator tries the lock again. */
#define MIGRATE_LOCK_POLL_MS 200

/* How a statement ended. */
enum migrate_result {
    MIGRATE_OK,
    MIGRATE_RETRY, /* lock timeout, deadlock, serialization failure: try again */
    MIGRATE_FAIL   /* anything else */
};

/* True if name looks like NNNN_something.sql (digits, underscore, .sql). */
static int migrate_is_migration_name(const char *name)
{
    size_t n = strlen(name);
    size_t i = 0;

    if (n < 6 || n >= MIGRATE_NAME_MAX || strcmp(name + n - 4, ".sql") != 0)
        return 0;
    while (i < n && name[i] >= '0' && name[i] <= '9')
        i++;
    if (i == 0 || name[i] != '_')
        return 0;
    for (; i < n - 4; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* scandir filter for migration files. */
static int migrate_filter(const struct dirent *d)
{
    return migrate_is_migration_name(d->d_name);
}

/* Is path an existing directory? */
static int migrate_is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Choose the migrations directory: the setting if given, else the compiled-in
 * install path, else ./migrations (running from a source tree). */
static const char *migrate_pick_dir(const struct settings *s)
{
    if (s->migrations_dir[0] != '\0')
        return s->migrations_dir;
    if (migrate_is_dir(CONDUIT_MIGRATIONS_DIR))
        return CONDUIT_MIGRATIONS_DIR;
    if (migrate_is_dir("migrations"))
        return "migrations";
    return CONDUIT_MIGRATIONS_DIR;
}

/* Read a whole file into a NUL-terminated malloc'ed buffer (caller frees). */
static char *migrate_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t got;
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb;
            if (ncap > MIGRATE_MAX_FILE + 1) {
                errno = EFBIG;
                goto fail;
            }
            nb = realloc(buf, ncap);
            if (nb == NULL)
                goto fail;
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
fail:
    if (f != NULL)
        (void)fclose(f);
    free(buf);
    return NULL;
}

/* Hex SHA-256 of data into out (65 bytes). 0, or -1. */
static int migrate_sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* Run sql (no result rows wanted); failures are logged with step. */
static enum migrate_result migrate_exec_result(PGconn *pg, const char *sql, const char *step)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    enum migrate_result rc = MIGRATE_OK;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        char msg[512];
        bool retry = state != NULL && (strcmp(state, "55P03") == 0 || /* lock_not_available */
                                       strcmp(state, "40P01") == 0 || /* deadlock_detected */
                                       strcmp(state, "40001") == 0);  /* serialization_failure */
        log_json_escape(msg, sizeof(msg), PQresultErrorMessage(res));
        if (retry)
            log_warn("migrate: statement must wait, will retry", "\"step\":\"%s\",\"error\":\"%s\"",
                     step, msg);
        else
            log_error("migrate: statement failed", "\"step\":\"%s\",\"error\":\"%s\"", step, msg);
        rc = retry ? MIGRATE_RETRY : MIGRATE_FAIL;
    }
    PQclear(res);
    return rc;
}

/* Run a command that returns no rows; 0, or -1 with the error logged. */
static int migrate_exec(PGconn *pg, const char *sql, const char *step)
{
    return migrate_exec_result(pg, sql, step) == MIGRATE_OK ? 0 : -1;
}

/* Sleep before try number attempt (1-based) of a retried step. */
static void migrate_backoff(int attempt)
{
    long ms = MIGRATE_BACKOFF_MS;
    struct timespec ts;

    for (int i = 1; i < attempt && ms < MIGRATE_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > MIGRATE_BACKOFF_MAX_MS)
        ms = MIGRATE_BACKOFF_MAX_MS;
    ms += random() % (ms / 2 + 1);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Take the session advisory lock that serialises migrators. A waiter polls
 * with pg_try_advisory_lock instead of blocking in pg_advisory_lock: a
 * blocked statement keeps its snapshot open, and the holder's CREATE INDEX
 * CONCURRENTLY waits for every open snapshot, so the two would deadlock.
 * 0 once held, or -1 with the error logged. */
static int migrate_lock(PGconn *pg)
{
    struct timespec ts = {0, MIGRATE_LOCK_POLL_MS * 1000000L};
    bool said = false;

    for (;;) {
        PGresult *res = PQexec(pg, "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")");
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
        bool held = ok && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

        if (!ok) {
            char msg[512];
            log_json_escape(msg, sizeof(msg), PQerrorMessage(pg));
            log_error("migrate: cannot take the migration lock", "\"error\":\"%s\"", msg);
        }
        PQclear(res);
        if (!ok)
            return -1;
        if (held)
            return 0;
        if (!said) {
            log_info("migrate: another migrator holds the lock; waiting", "");
            said = true;
        }
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        ts.tv_sec = 0;
        ts.tv_nsec = MIGRATE_LOCK_POLL_MS * 1000000L;
    }
}

/* Record version as applied (in the open transaction, if any). 0 or -1. */
static int migrate_record(PGconn *pg, const char *version, const char *sum)
{
    const char *vals[2] = {version, sum};
    PGresult *res =
        PQexecParams(pg, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", 2,
                     NULL, vals, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    if (!ok) {
        char msg[512];
        log_json_escape(msg, sizeof(msg), PQresultErrorMessage(res));
        log_error("migrate: recording failed", "\"version\":\"%s\",\"error\":\"%s\"", version, msg);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* One try of a file in a transaction with its schema_migrations row. */
static enum migrate_result migrate_apply_once(PGconn *pg, const char *version, const char *sql,
                                              const char *sum)
{
    enum migrate_result rc;

    if (migrate_exec(pg, "BEGIN", "begin") != 0)
        return MIGRATE_FAIL;
    rc = migrate_exec_result(pg, sql, version);
    if (rc == MIGRATE_OK && migrate_record(pg, version, sum) != 0)
        rc = MIGRATE_FAIL;
    if (rc == MIGRATE_OK)
        rc = migrate_exec_result(pg, "COMMIT", "commit");
    if (rc != MIGRATE_OK)
        (void)migrate_exec(pg, "ROLLBACK", "rollback");
    return rc;
}

/* Drop the index name if it exists and is INVALID (a failed CONCURRENTLY
 * build leaves one behind, and IF NOT EXISTS would then keep it). */
static enum migrate_result migrate_drop_invalid_index(PGconn *pg, const char *name)
{
    const char *vals[1] = {name};
    PGresult *res = PQexecParams(pg,
                                 "SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', "
                                 "n.nspname, c.relname) FROM pg_index i "
                                 "JOIN pg_class c ON c.oid = i.indexrelid "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE c.relname = $1 AND n.nspname = current_schema() "
                                 "AND NOT i.indisvalid",
                                 1, NULL, vals, NULL, NULL, 0);
    enum migrate_result rc = MIGRATE_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];
        log_json_escape(msg, sizeof(msg), PQresultErrorMessage(res));
        log_error("migrate: index lookup failed", "\"error\":\"%s\"", msg);
        rc = MIGRATE_FAIL;
    } else if (PQntuples(res) == 1) {
        log_warn("migrate: dropping an invalid index left by a failed build", "\"index\":\"%s\"",
                 name);
        rc = migrate_exec_result(pg, PQgetvalue(res, 0, 0), "drop invalid index");
    }
    PQclear(res);
    return rc;
}

/* One try of one statement of a no-transaction file. */
static enum migrate_result migrate_statement_once(PGconn *pg, const char *version, const char *stmt)
{
    char index[MIGRATE_NAME_MAX];
    enum migrate_result rc;
    bool cic = migrate_file_concurrent_index(stmt, strlen(stmt), index, sizeof(index));

    if (cic && (rc = migrate_drop_invalid_index(pg, index)) != MIGRATE_OK)
        return rc;
    rc = migrate_exec_result(pg, stmt, version);
    if (rc != MIGRATE_OK && cic && migrate_drop_invalid_index(pg, index) == MIGRATE_FAIL)
        return MIGRATE_FAIL;
    return rc;
}

/* Run a no-transaction file: each statement alone (retried alone), then
 * its schema_migrations row. 0 or -1. */
static int migrate_apply_statements(PGconn *pg, const char *version, const char *sql,
                                    const char *sum)
{
    size_t pos = 0, start, len;

    while (migrate_file_next(sql, &pos, &start, &len)) {
        char *stmt = strndup(sql + start, len);
        enum migrate_result rc = MIGRATE_FAIL;

        if (stmt == NULL) {
            log_error("migrate: out of memory", "\"version\":\"%s\"", version);
            return -1;
        }
        for (int attempt = 1; attempt <= MIGRATE_ATTEMPTS; attempt++) {
            if (attempt > 1)
                migrate_backoff(attempt - 1);
            rc = migrate_statement_once(pg, version, stmt);
            if (rc != MIGRATE_RETRY)
                break;
        }
        free(stmt);
        if (rc != MIGRATE_OK) {
            log_error("migrate: giving up on a statement", "\"version\":\"%s\",\"offset\":%zu",
                      version, start);
            return -1;
        }
    }
    return migrate_record(pg, version, sum);
}

/* Apply one file under its options (lock_timeout, transaction or not),
 * retrying what a lock wait or deadlock stopped. 0 or -1. */
static int migrate_apply(PGconn *pg, const char *version, const char *sql, const char *sum)
{
    struct migrate_options opt;
    const char *err = NULL;
    char set[64];
    int rc = -1;

    if (migrate_file_options(sql, &opt, &err) != 0) {
        log_error("migrate: bad options", "\"version\":\"%s\",\"error\":\"%s\"", version, err);
        return -1;
    }
    snprintf(set, sizeof(set), "SET lock_timeout = '%s'",
             opt.lock_timeout[0] != '\0' ? opt.lock_timeout : MIGRATE_LOCK_TIMEOUT);
    if (migrate_exec(pg, set, "lock_timeout") != 0)
        return -1;
    if (opt.no_transaction) {
        rc = migrate_apply_statements(pg, version, sql, sum);
    } else {
        for (int attempt = 1; attempt <= MIGRATE_ATTEMPTS; attempt++) {
            enum migrate_result r;
            if (attempt > 1)
                migrate_backoff(attempt - 1);
            r = migrate_apply_once(pg, version, sql, sum);
            if (r != MIGRATE_RETRY) {
                rc = r == MIGRATE_OK ? 0 : -1;
                break;
            }
        }
        if (rc != 0)
            log_error("migrate: giving up on a migration", "\"version\":\"%s\"", version);
    }
    if (migrate_exec(pg, "RESET lock_timeout", "lock_timeout") != 0)
        rc = -1;
    return rc;
}

/* Look up a version: 1 with *checksum set (caller frees), 0 if absent, -1 on error. */
static int migrate_lookup(PGconn *pg, const char *version, char **checksum)
{
    const char *vals[1] = {version};
    PGresult *res = PQexecParams(pg, "SELECT checksum FROM schema_migrations WHERE version = $1", 1,
                                 NULL, vals, NULL, NULL, 0);
    int rc;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[512];
        log_json_escape(msg, sizeof(msg), PQresultErrorMessage(res));
        log_error("migrate: lookup failed", "\"error\":\"%s\"", msg);
        rc = -1;
    } else if (PQntuples(res) == 0) {
        rc = 0;
    } else {
        *checksum = strdup(PQgetvalue(res, 0, 0));
        rc = *checksum != NULL ? 1 : -1;
    }
    PQclear(res);
    return rc;
}

/* Apply every file of dir not yet recorded; counts applied ones. 0 or -1. */
static int migrate_run_dir(PGconn *pg, const char *dir, int *applied)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, migrate_filter, alphasort);
    int rc = 0;
    unsigned long prev_num = 0;

    if (n < 0) {
        char edir[SETTINGS_STR_MAX * 2];
        int err = errno;
        log_json_escape(edir, sizeof(edir), dir);
        log_error("migrate: cannot read the migrations directory",
                  "\"dir\":\"%s\",\"error\":\"%s\"", edir, strerror(err));
        return -1;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        const char *name = names[i]->d_name;
        char path[SETTINGS_STR_MAX + MIGRATE_NAME_MAX + 2];
        char version[MIGRATE_NAME_MAX];
        char sum[65];
        char *sql, *recorded = NULL;
        size_t len = 0;
        unsigned long num = strtoul(name, NULL, 10);
        int found;

        if (i > 0 && num == prev_num) {
            log_error("migrate: two migrations share a number", "\"file\":\"%s\"", name);
            rc = -1;
            break;
        }
        prev_num = num;
        snprintf(version, sizeof(version), "%.*s", (int)(strlen(name) - 4), name);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        sql = migrate_read_file(path, &len);
        if (sql == NULL) {
            char epath[sizeof(path) * 2];
            int err = errno;
            log_json_escape(epath, sizeof(epath), path);
            log_error("migrate: cannot read a migration", "\"file\":\"%s\",\"error\":\"%s\"", epath,
                      strerror(err));
            rc = -1;
            break;
        }
        if (migrate_sha256_hex(sql, len, sum) != 0) {
            log_error("migrate: checksum failed", "\"version\":\"%s\"", version);
            rc = -1;
        } else if ((found = migrate_lookup(pg, version, &recorded)) < 0) {
            rc = -1;
        } else if (found == 1) {
            if (strcmp(recorded, sum) != 0)
                log_warn("migrate: an applied migration has changed since; not re-run",
                         "\"version\":\"%s\"", version);
        } else if (migrate_apply(pg, version, sql, sum) != 0) {
            rc = -1;
        } else {
            log_info("migrate: applied", "\"version\":\"%s\"", version);
            (*applied)++;
        }
        free(recorded);
        free(sql);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int migrate_run(const struct settings *s)
{
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"10", "conduitd-migrate", s->database_url, NULL};
    const char *dir = migrate_pick_dir(s);
    PGconn *pg;
    int applied = 0, rc = 1;

    if (s->database_url[0] == '\0') {
        log_error("migrate: DATABASE_URL is not set", "");
        return 2;
    }
    pg = PQconnectdbParams(keys, vals, 1);
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        char msg[512];
        log_json_escape(msg, sizeof(msg), pg != NULL ? PQerrorMessage(pg) : "out of memory");
        log_error("migrate: cannot connect to PostgreSQL", "\"error\":\"%s\"", msg);
        PQfinish(pg);
        return 1;
    }
    if (migrate_exec(pg, "SET client_min_messages = warning", "settings") != 0 ||
        migrate_lock(pg) != 0)
        goto out;
    if (migrate_exec(pg,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version text PRIMARY KEY,"
                     " checksum text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())",
                     "schema_migrations") == 0 &&
        migrate_run_dir(pg, dir, &applied) == 0) {
        char edir[SETTINGS_STR_MAX * 2];
        log_json_escape(edir, sizeof(edir), dir);
        log_info("migrate: done", "\"dir\":\"%s\",\"applied\":%d", edir, applied);
        rc = 0;
    }
    if (migrate_exec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "unlock") != 0)
        rc = 1;
out:
    PQfinish(pg);
    return rc;
}
