/*
 * http_parse.h: the request parser of the HTTP/1.1 core, pure: bytes in,
 * events out (head complete, message complete, or an error status). No
 * I/O, no connection, no allocation, no clock. The caller owns the bytes:
 * it hands the parser the start of the current request and how many bytes
 * of it have arrived; the parser records offsets relative to that start
 * (so the caller may move or grow its buffer between calls) and, once the
 * head is complete, NUL-terminates the target, header names and values in
 * place. See http_parse.c for the RFC 9112 rules it enforces.
 */
#ifndef CONDUIT_HTTP_PARSE_H
#define CONDUIT_HTTP_PARSE_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_method.h"

#define HTTP_PARSE_OFF_NONE UINT32_MAX
#define HTTP_PARSE_ID_MAX   128 /* longest client X-Request-Id we keep */

/* One header line, as offsets relative to the request start. */
struct http_header {
    uint32_t name_off;
    uint32_t name_len;
    uint32_t val_off;
    uint32_t val_len;
};

/* What the client expects (the Expect header of an HTTP/1.1 request). */
enum http_expect {
    HTTP_EXPECT_NONE,     /* no Expect, or HTTP/1.0 */
    HTTP_EXPECT_CONTINUE, /* 100-continue */
    HTTP_EXPECT_UNKNOWN,  /* anything else: 417 */
};

/* What http_parse_feed found. */
enum http_parse_event {
    HTTP_PARSE_MORE,  /* every byte given is used: call again with more */
    HTTP_PARSE_HEAD,  /* the head is complete and valid (fields below are set) */
    HTTP_PARSE_DONE,  /* the message (head and body) is complete */
    HTTP_PARSE_ERROR, /* invalid or over a limit: answer status and close */
};

/* Limits the parser applies while the head arrives. */
struct http_parse_limits {
    size_t max_request_line; /* longer: 414 */
    size_t max_header_bytes; /* longer: 431 */
    int max_headers;         /* more: 431 */
};

struct http_parse {
    /* configuration */
    struct http_parse_limits lim;
    struct http_header *hdrs; /* lim.max_headers entries, owned by the caller */

    /* results, valid from HTTP_PARSE_HEAD on */
    int status;                 /* the error status for HTTP_PARSE_ERROR */
    enum http_method_id method; /* HTTP_M_OTHER until the method is known */
    int parser_method;          /* enum http_method, or -1 when unknown */
    const char *path_static;    /* the path when not in the bytes ("", "*", "/"), else NULL */
    uint32_t path_off;          /* when path_static is NULL */
    uint32_t query_off;         /* or HTTP_PARSE_OFF_NONE */
    uint32_t head_len;          /* request line + headers + blank line */
    uint64_t content_length;    /* 0 without a body */
    uint32_t id_off, id_len;    /* a usable X-Request-Id value (id_len 0: none) */
    enum http_expect expect;
    bool keep_alive; /* what the client asked for */
    bool http11;     /* HTTP/1.1 (else 1.0) */
    int nhdr;

    /* internal state */
    http_parser parser;
    char *base;    /* the request start given to the current call */
    size_t parsed; /* bytes of the request given to http_parser */
    uint32_t url_off, url_len;
    uint32_t rl_end; /* where the header lines start; 0 = request line not done */
    bool last_was_value;
    bool head_done;
    bool head_checked;
    bool msg_done;
    bool method_check; /* unknown method: deciding between 400 and 501 */
};

/* Start a request. hdrs has room for lim->max_headers entries. */
void http_parse_init(struct http_parse *p, const struct http_parse_limits *lim,
                     struct http_header *hdrs);

/* Parse the request whose first avail bytes are at req (the same bytes as
 * before plus new ones; they may have moved). Returns the next event:
 * HEAD once, then DONE once (a request without a body gives HEAD then DONE
 * at the next call), or ERROR (p->status) at any point, or MORE when every
 * byte is used and more are needed. After DONE, http_parse_used() bytes
 * belong to this request; the rest starts the next one. */
enum http_parse_event http_parse_feed(struct http_parse *p, char *req, size_t avail);

/* Bytes of the request consumed so far (all of it after DONE). */
size_t http_parse_used(const struct http_parse *p);

/* True while no byte of the request line has been parsed past the method. */
bool http_parse_in_request_line(const struct http_parse *p);

/* Header value by case-insensitive name in a parsed head at req, NULL if
 * absent, "" if empty. The first of repeated headers wins. */
const char *http_parse_header(const struct http_parse *p, const char *req, const char *name);

/* The same, but the last of repeated headers wins: for headers that proxies
 * append as a line of their own (X-Forwarded-For). */
const char *http_parse_header_last(const struct http_parse *p, const char *req, const char *name);

#endif
