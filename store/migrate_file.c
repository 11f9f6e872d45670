/*
 * migrate_file.c: the text side of the migrator: a file's "-- conduitd:"
 * options and its statements one by one (migrate_file.h). The splitter
 * knows just enough SQL lexis to skip what may hold a ';': string and
 * identifier quotes, dollar quotes and both comment forms.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "migrate_file.h"

#define OPTION_PREFIX "conduitd:"

/* Is v a lock_timeout value PostgreSQL takes: digits, then ms, s, min or
 * nothing? */
static bool migrate_file_timeout_ok(const char *v, size_t n)
{
    size_t i = 0;

    while (i < n && isdigit((unsigned char)v[i]))
        i++;
    if (i == 0 || n >= MIGRATE_TIMEOUT_MAX)
        return false;
    return i == n || (n - i == 2 && memcmp(v + i, "ms", 2) == 0) || (n - i == 1 && v[i] == 's') ||
           (n - i == 3 && memcmp(v + i, "min", 3) == 0);
}

/* One comment line's text after "--" (len bytes): apply a conduitd: option. */
static int migrate_file_option(const char *t, size_t n, struct migrate_options *out,
                               const char **err)
{
    static const char lt[] = "lock-timeout=";

    while (n > 0 && (*t == ' ' || *t == '\t'))
        t++, n--;
    while (n > 0 && isspace((unsigned char)t[n - 1]))
        n--;
    if (n < sizeof(OPTION_PREFIX) - 1 || memcmp(t, OPTION_PREFIX, sizeof(OPTION_PREFIX) - 1) != 0)
        return 0;
    t += sizeof(OPTION_PREFIX) - 1;
    n -= sizeof(OPTION_PREFIX) - 1;
    if (n == strlen("no-transaction") && memcmp(t, "no-transaction", n) == 0) {
        out->no_transaction = true;
        return 0;
    }
    if (n > sizeof(lt) - 1 && memcmp(t, lt, sizeof(lt) - 1) == 0) {
        const char *v = t + sizeof(lt) - 1;
        size_t vn = n - (sizeof(lt) - 1);
        if (!migrate_file_timeout_ok(v, vn)) {
            *err = "lock-timeout wants digits and ms, s or min (e.g. 300ms)";
            return -1;
        }
        memcpy(out->lock_timeout, v, vn);
        out->lock_timeout[vn] = '\0';
        return 0;
    }
    *err = "unknown conduitd: option in the leading comment block";
    return -1;
}

int migrate_file_options(const char *sql, struct migrate_options *out, const char **err)
{
    const char *p = sql;

    memset(out, 0, sizeof(*out));
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        const char *q = p;
        size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);

        while (q < p + n && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < p + n) {
            if (p + n - q < 2 || q[0] != '-' || q[1] != '-')
                break; /* the first statement: the block is over */
            if (migrate_file_option(q + 2, (size_t)(p + n - q - 2), out, err) != 0)
                return -1;
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return 0;
}

/* Length of a dollar-quote tag ("$$" or "$name$") at s, or 0 if none. */
static size_t migrate_file_dollar_tag(const char *s)
{
    size_t i = 1;

    if (s[0] != '$')
        return 0;
    while (isalnum((unsigned char)s[i]) || s[i] == '_')
        i++;
    if (s[i] != '$' || (i > 1 && isdigit((unsigned char)s[1])))
        return 0;
    return i + 1;
}

/* Index just past the quoted, commented or dollar-quoted span starting at
 * sql[i], or i itself if none starts there. */
static size_t migrate_file_skip(const char *sql, size_t i)
{
    size_t tag;

    if (sql[i] == '\'' || sql[i] == '"') {
        char q = sql[i++];
        while (sql[i] != '\0') {
            if (sql[i] == q && sql[i + 1] == q)
                i += 2; /* doubled quote */
            else if (sql[i++] == q)
                break;
        }
        return i;
    }
    if (sql[i] == '-' && sql[i + 1] == '-') {
        while (sql[i] != '\0' && sql[i] != '\n')
            i++;
        return i;
    }
    if (sql[i] == '/' && sql[i + 1] == '*') {
        const char *end = strstr(sql + i + 2, "*/");
        return end != NULL ? (size_t)(end - sql) + 2 : strlen(sql);
    }
    if ((tag = migrate_file_dollar_tag(sql + i)) > 0) {
        const char *t = sql + i;
        const char *p = sql + i + tag;
        for (; *p != '\0'; p++)
            if (*p == '$' && strncmp(p, t, tag) == 0)
                return (size_t)(p - sql) + tag;
        return strlen(sql);
    }
    return i;
}

bool migrate_file_next(const char *sql, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    size_t first = (size_t)-1;

    while (sql[i] != '\0') {
        size_t j = migrate_file_skip(sql, i);
        if (j != i) {
            /* A comment before the first token does not start a statement. */
            if (first == (size_t)-1 && sql[i] != '-' && sql[i] != '/')
                first = i;
            i = j;
            continue;
        }
        if (sql[i] == ';') {
            if (first != (size_t)-1) {
                *start = first;
                *len = i - first;
                *pos = i + 1;
                return true;
            }
        } else if (!isspace((unsigned char)sql[i]) && first == (size_t)-1) {
            first = i;
        }
        i++;
    }
    *pos = i;
    if (first == (size_t)-1)
        return false;
    *start = first;
    *len = i - first;
    return true;
}

/* Skip blanks in s[*i..n), then match word case-insensitively as a whole
 * word; true (and *i moved past it) on a match. */
static bool migrate_file_word(const char *s, size_t n, size_t *i, const char *word)
{
    size_t k = *i, w = strlen(word);

    while (k < n && isspace((unsigned char)s[k]))
        k++;
    if (n - k < w || strncasecmp(s + k, word, w) != 0)
        return false;
    if (k + w < n && (isalnum((unsigned char)s[k + w]) || s[k + w] == '_'))
        return false;
    *i = k + w;
    return true;
}

bool migrate_file_concurrent_index(const char *stmt, size_t len, char *out, size_t outlen)
{
    size_t i = 0, k = 0;

    if (!migrate_file_word(stmt, len, &i, "create"))
        return false;
    (void)migrate_file_word(stmt, len, &i, "unique");
    if (!migrate_file_word(stmt, len, &i, "index") ||
        !migrate_file_word(stmt, len, &i, "concurrently"))
        return false;
    if (migrate_file_word(stmt, len, &i, "if") &&
        !(migrate_file_word(stmt, len, &i, "not") && migrate_file_word(stmt, len, &i, "exists")))
        return false;
    while (i < len && isspace((unsigned char)stmt[i]))
        i++;
    while (i < len && (isalnum((unsigned char)stmt[i]) || stmt[i] == '_') && k + 1 < outlen)
        out[k++] = (char)tolower((unsigned char)stmt[i++]);
    out[k] = '\0';
    return k > 0;
}
