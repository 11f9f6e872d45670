/*
 * http_format.h: pure response formatting for the HTTP/1.1 core (no I/O,
 * no connection, no allocation): response heads, the Date line, request
 * ids, the core's JSON error bodies and the checks on added headers. Used
 * by the connection module (http_conn.c) and the request API
 * (http_request.c).
 */
#ifndef CONDUIT_HTTP_FORMAT_H
#define CONDUIT_HTTP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Everything a response head says. */
struct http_head_spec {
    int status;            /* 100..999; its reason phrase comes from http_status_reason */
    const char *date_line; /* "Date: ...\r\nServer: conduitd\r\n" */
    size_t date_len;
    const char *content_type; /* NULL: no Content-Type line */
    bool send_length;         /* write Content-Length: body_len */
    uint64_t body_len;
    const char *request_id; /* NUL-terminated */
    bool keep_alive;        /* Connection: keep-alive, else close */
    const char *extra;      /* preformatted "Name: value\r\n" lines added by the handler */
    size_t extra_len;
};

/* Bytes http_format_head may write for h (an upper bound). */
size_t http_format_head_size(const struct http_head_spec *h);

/* Write the head of h to out (http_format_head_size(h) bytes); its length. */
size_t http_format_head(const struct http_head_spec *h, char *out);

/* The Date and Server lines for t; length, or 0 if cap is too small. */
size_t http_format_date_line(time_t t, char *out, size_t cap);

/* Request id number counter of a process with this seed: 16 hex digits
 * and a NUL into out (17 bytes). */
void http_format_request_id(uint64_t seed, uint64_t counter, char *out);

/* JSON body of a core-generated error with this status (static). */
const char *http_format_error_body(int status);

/* May a handler add this response header? See http_response_header(). */
bool http_format_header_ok(const char *name, size_t nlen, const char *value, size_t vlen);

/* Write "name: value\r\n" (nlen + vlen + 4 bytes) at out; returns the end. */
char *http_format_header_line(char *out, const char *name, size_t nlen, const char *value,
                              size_t vlen);

#endif
