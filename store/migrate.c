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
 * This is the one place that uses blocking libpq: it runs as a one-shot
 * command, never inside a worker. Relies on libpq, OpenSSL (SHA-256), log.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "log.h"
#include "migrate.h"

/* Key of the advisory lock ("conduit" in ASCII); any constant would do. */
#define MIGRATE_LOCK_KEY "28548172589935988"
#define MIGRATE_MAX_FILE (16 * 1024 * 1024)
#define MIGRATE_NAME_MAX 128

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

/* Run a command that returns no rows; 0, or -1 with the error logged. */
static int migrate_exec(PGconn *pg, const char *sql, const char *step)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        log_json_escape(msg, sizeof(msg), PQresultErrorMessage(res));
        log_error("migrate: statement failed", "\"step\":\"%s\",\"error\":\"%s\"", step, msg);
        rc = -1;
    }
    PQclear(res);
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

/* Apply one file in a transaction with its schema_migrations row. 0 or -1. */
static int migrate_apply(PGconn *pg, const char *version, const char *sql, const char *sum)
{
    const char *vals[2] = {version, sum};
    PGresult *res;
    int ok;

    if (migrate_exec(pg, "BEGIN", "begin") != 0)
        return -1;
    if (migrate_exec(pg, sql, version) != 0)
        goto rollback;
    res = PQexecParams(pg, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", 2,
                       NULL, vals, NULL, NULL, 0);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        char msg[512];
        log_json_escape(msg, sizeof(msg), PQresultErrorMessage(res));
        log_error("migrate: recording failed", "\"version\":\"%s\",\"error\":\"%s\"", version, msg);
    }
    PQclear(res);
    if (!ok)
        goto rollback;
    return migrate_exec(pg, "COMMIT", "commit");
rollback:
    (void)migrate_exec(pg, "ROLLBACK", "rollback");
    return -1;
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
        migrate_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "lock") != 0)
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
