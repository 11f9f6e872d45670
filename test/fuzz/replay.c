/*
 * replay.c: runs a fuzz target's entry point, built without libFuzzer, over
 * files and directories named on the command line or, with none, over
 * $CONDUIT_SRCDIR/test/fuzz/<target>/ (the committed seeds) and
 * $CONDUIT_SRCDIR/test/fuzz/regressions/<target>/ (inputs that once
 * crashed a target), FUZZ_TARGET_NAME being set when it is compiled. Runs
 * under make check, with the project's sanitizer flags when configured
 * with --enable-sanitizers. Exits 0 when every input ran, 1 when a file cannot
 * be read; a crash is the target's own abort or a sanitizer report.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Feed one file to the target; 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    int rc = 0;
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        unsigned char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (buf == NULL || ferror(f)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        rc = -1;
    } else {
        (void)LLVMFuzzerTestOneInput(buf, len);
    }
    free(buf);
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* A file, or every regular file of a directory (not recursive). */
static int replay_path(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0; /* an absent directory has no cases */
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char full[4096];
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full) {
            rc = -1;
            continue;
        }
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            (*count)++;
            if (replay_file(full) < 0)
                rc = -1;
        }
    }
    if (closedir(d) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, count = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) < 0)
            rc = 1;
    if (argc <= 1) {
        const char *src = getenv("CONDUIT_SRCDIR");
        char dir[4096];
        if (src == NULL)
            src = ".";
        snprintf(dir, sizeof dir, "%s/test/fuzz/%s", src, FUZZ_TARGET_NAME);
        if (replay_path(dir, &count) < 0)
            rc = 1;
        snprintf(dir, sizeof dir, "%s/test/fuzz/regressions/%s", src, FUZZ_TARGET_NAME);
        if (replay_path(dir, &count) < 0)
            rc = 1;
        if (count == 0) {
            fprintf(stderr, "replay: no inputs under %s/test/fuzz for %s\n", src, FUZZ_TARGET_NAME);
            rc = 1;
        }
    }
    printf("replay %s: %d inputs\n", argc > 0 ? argv[0] : "?", count);
    return rc;
}
