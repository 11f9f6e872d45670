/*
 * fuzz_http_parser.c: libFuzzer target for the HTTP/1.1 request parser
 * (common/http_parse.c), driven the way the connection (http_conn.c)
 * drives it: a pipelined stream of requests, delivered in pieces, each
 * request fed again with every new piece until the parser reports its
 * head, its end or an error.
 *
 * Input: two bytes seed the piece sizes (1..64 bytes), the rest is the
 * stream. Each call to the parser gets a fresh allocation of exactly the
 * bytes that have arrived (then copied back), so AddressSanitizer sees any
 * read past what was given and any pointer kept across calls. The stream
 * is parsed twice, whole and in pieces, and the two runs must agree on
 * every request (the same events, and for a valid head the same method,
 * target, body length and header table): where a stream is split must
 * never change what it means. Offsets must stay inside the head, and the
 * strings the accessors return inside the buffer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_parse.h"

#define FUZZ_MAX_REQUESTS 64
#define FUZZ_MAX_HEADERS  8

/* What one request came to. */
struct fuzz_req {
    enum http_parse_event last; /* DONE, ERROR, or MORE when the stream ended */
    bool had_head;
    int method;
    char target[300];
    uint64_t content_length;
    int nhdr;
    bool keep_alive;
    int expect;
    size_t used;
};

static const struct http_parse_limits fuzz_limits = {
    .max_request_line = 256,
    .max_header_bytes = 1024,
    .max_headers = FUZZ_MAX_HEADERS,
};

/* Tiny deterministic generator for piece sizes. */
static unsigned fuzz_next(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) & 0x7fff;
}

/* Check a valid head's offsets and record it. */
static void fuzz_check_head(const struct http_parse *p, const char *req, size_t avail,
                            struct fuzz_req *out)
{
    if (p->head_len == 0 || p->head_len > avail)
        abort();
    for (int i = 0; i < p->nhdr; i++) {
        const struct http_header *h = &p->hdrs[i];
        if ((size_t)h->name_off + h->name_len > p->head_len ||
            (h->val_len > 0 && (size_t)h->val_off + h->val_len > p->head_len))
            abort();
        if (strlen(req + h->name_off) != h->name_len)
            abort(); /* names are NUL-terminated in place */
    }
    const char *path = p->path_static;
    if (path == NULL) {
        if (p->path_off >= p->head_len)
            abort();
        path = req + p->path_off;
        if (path + strlen(path) >= req + p->head_len)
            abort();
    }
    if (p->query_off != HTTP_PARSE_OFF_NONE && p->query_off >= p->head_len)
        abort();
    if (p->id_len > HTTP_PARSE_ID_MAX || (size_t)p->id_off + p->id_len > p->head_len)
        abort();
    const char *host = http_parse_header(p, req, "host");
    if (host != NULL && *host != '\0' && (host < req || host + strlen(host) >= req + p->head_len))
        abort();
    if (p->http11 && host == NULL)
        abort(); /* RFC 9112 3.2 */
    out->had_head = true;
    out->method = p->method;
    strncpy(out->target, path, sizeof out->target - 1);
    out->content_length = p->content_length;
    out->nhdr = p->nhdr;
    out->keep_alive = p->keep_alive;
    out->expect = p->expect;
}

/* Parse stream (len bytes) delivered in pieces (all at once when seed is
 * 0); returns the number of requests recorded in out. */
static int fuzz_run(const uint8_t *stream, size_t len, unsigned seed, struct fuzz_req *out)
{
    char *all = malloc(len + 1); /* the stream, with the parser's in-place NULs */
    struct http_header hdrs[FUZZ_MAX_HEADERS];
    struct http_parse p;
    size_t arrived = 0, start = 0;
    int n = 0;

    if (all == NULL)
        abort();
    memcpy(all, stream, len);
    http_parse_init(&p, &fuzz_limits, hdrs);
    memset(&out[0], 0, sizeof out[0]);
    for (;;) {
        size_t piece = seed == 0 ? len : 1 + fuzz_next(&seed) % 64;
        arrived = arrived + piece > len ? len : arrived + piece;
        bool next = false;
        for (;;) {
            size_t avail = arrived - start;
            char *req = malloc(avail > 0 ? avail : 1);
            if (req == NULL)
                abort();
            memcpy(req, all + start, avail);
            enum http_parse_event ev = http_parse_feed(&p, req, avail);
            if (ev == HTTP_PARSE_HEAD)
                fuzz_check_head(&p, req, avail, &out[n]);
            memcpy(all + start, req, avail);
            free(req);
            if (ev == HTTP_PARSE_HEAD)
                continue;
            out[n].last = ev;
            if (ev == HTTP_PARSE_DONE) {
                size_t used = http_parse_used(&p);
                if (used == 0 || used > avail || used != out[n].content_length + (size_t)p.head_len)
                    abort();
                out[n].used = used;
                start += used;
                if (++n == FUZZ_MAX_REQUESTS) {
                    free(all);
                    return n; /* enough requests from one input */
                }
                memset(&out[n], 0, sizeof out[n]);
                http_parse_init(&p, &fuzz_limits, hdrs);
                continue; /* the next request may be complete already */
            }
            if (ev == HTTP_PARSE_ERROR) {
                if (p.status < 400 || p.status > 599)
                    abort();
                free(all);
                return n + 1;
            }
            next = true; /* MORE */
            break;
        }
        if (next && arrived == len)
            break;
    }
    free(all);
    return n + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_req whole[FUZZ_MAX_REQUESTS], split[FUZZ_MAX_REQUESTS];

    if (size < 2)
        return 0;
    unsigned seed = ((unsigned)data[0] << 8 | data[1]) + 1;
    const uint8_t *stream = data + 2;
    size_t len = size - 2;

    int a = fuzz_run(stream, len, 0, whole);
    int b = fuzz_run(stream, len, seed, split);
    if (a != b)
        abort();
    for (int i = 0; i < a; i++) {
        const struct fuzz_req *x = &whole[i], *y = &split[i];
        if (x->last != y->last || x->had_head != y->had_head)
            abort();
        if (x->had_head &&
            (x->method != y->method || strcmp(x->target, y->target) != 0 ||
             x->content_length != y->content_length || x->nhdr != y->nhdr ||
             x->keep_alive != y->keep_alive || x->expect != y->expect || x->used != y->used))
            abort();
    }
    return 0;
}
