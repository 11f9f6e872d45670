/*
 * fuzz_settings.c: libFuzzer target for the settings parser
 * (common/settings.c): the config-file reader, the flag parser and the
 * address parser. The input, split at its first NUL byte: the first part
 * is written to a temporary file read by settings_from_file; the second is
 * split on newlines into argv for settings_from_args; then
 * settings_validate runs over the result, and every line of the first part
 * goes through settings_addr_parse. Every error must come back as -1 with a
 * message, never as a crash.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "settings.h"

#define FUZZ_SETTINGS_MAX_ARGS 32

/* Write n bytes to a fresh temporary file; returns its path (static buffer) or NULL. */
static const char *fuzz_settings_file(const uint8_t *data, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/conduit-fuzz-settings.XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (close(fd) < 0 || off < n) {
        (void)unlink(path);
        return NULL;
    }
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct settings *s = malloc(sizeof *s);
    char err[512];
    char path[256];
    const uint8_t *nul = memchr(data, '\0', size);
    size_t file_len = nul != NULL ? (size_t)(nul - data) : size;

    if (s == NULL)
        return 0;
    settings_defaults(s);
    if (fuzz_settings_file(data, file_len, path, sizeof path) != NULL) {
        err[0] = '\0';
        if (settings_from_file(s, path, err, sizeof err) != 0 && err[0] == '\0')
            abort(); /* an error without a message */
        (void)unlink(path);
    }

    /* argv from the rest, one argument per line. */
    if (nul != NULL) {
        size_t rest = size - file_len - 1;
        char *args = malloc(rest + 1);
        char *argv[FUZZ_SETTINGS_MAX_ARGS + 2];
        int argc = 0;
        if (args != NULL) {
            memcpy(args, nul + 1, rest);
            args[rest] = '\0';
            argv[argc++] = "conduitd";
            for (char *p = args; argc <= FUZZ_SETTINGS_MAX_ARGS;) {
                char *nl = strchr(p, '\n');
                argv[argc++] = p;
                if (nl == NULL)
                    break;
                *nl = '\0';
                p = nl + 1;
            }
            argv[argc] = NULL;
            err[0] = '\0';
            if (settings_from_args(s, argc, argv, err, sizeof err) != 0 && err[0] == '\0')
                abort();
            free(args);
        }
    }
    err[0] = '\0';
    if (settings_validate(s, err, sizeof err) != 0 && err[0] == '\0')
        abort();

    /* Each line of the file part as an address. */
    char *text = malloc(file_len + 1);
    if (text != NULL) {
        memcpy(text, data, file_len);
        text[file_len] = '\0';
        for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            struct sockaddr_storage ss;
            socklen_t sl = 0;
            if (settings_addr_parse(line, &ss, &sl) == 0 && (sl == 0 || sl > sizeof ss))
                abort();
        }
        free(text);
    }
    free(s);
    return 0;
}
