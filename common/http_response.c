/*
 * http_response.c: the response side of the HTTP/1.1 core: formatting the
 * response head from preformatted pieces (no printf on the hot path; the
 * Date line is rebuilt once per second), writing head and body with one
 * gathered send, finishing a partial write when the socket drains, the
 * core's own JSON error responses, request ids and reason phrases.
 *
 * Relies on http_internal.h for the connection; writes go through
 * sendmsg(MSG_NOSIGNAL) (writev semantics without SIGPIPE).
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"
#include "http_internal.h"
#include "log.h"

#define HTTP_HBUF_INITIAL 512

/* Append a string literal. */
#define PUT_LIT(p, lit)                                                                            \
    do {                                                                                           \
        memcpy((p), (lit), sizeof(lit) - 1);                                                       \
        (p) += sizeof(lit) - 1;                                                                    \
    } while (0)

/* Reason phrase of a status code (RFC 9110 wording), by class when unknown. */
const char *http_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        break;
    }
    if (status >= 200 && status < 300)
        return "Success";
    if (status >= 300 && status < 400)
        return "Redirection";
    if (status >= 400 && status < 500)
        return "Client Error";
    return "Server Error";
}

/* The JSON body of a core-generated error. */
static const char *http_error_body(int status)
{
#define E(msg) "{\"errors\":{\"request\":[\"" msg "\"]}}"
    switch (status) {
    case 408:
        return E("request timeout");
    case 411:
        return E("chunked request bodies are not supported; send Content-Length");
    case 413:
        return E("request body too large");
    case 414:
        return E("request line too long");
    case 417:
        return E("unsupported expectation");
    case 431:
        return E("request header fields too large");
    case 501:
        return E("method not implemented");
    case 503:
        return E("server out of memory");
    case 505:
        return E("HTTP version not supported");
    default:
        return E("malformed request");
    }
#undef E
}

/* Fill out[0..16] with a fresh 16-hex-digit id: splitmix64 of a per-process
 * seed plus a counter, so ids are unique within the process and unguessable
 * across processes, for the cost of a few multiplications. */
void http_server_make_request_id(struct http_server *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t x = s->id_seed + (++s->id_counter) * 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[x & 0xf];
        x >>= 4;
    }
    out[16] = '\0';
}

/* Rebuild the "Date: ...\r\nServer: conduitd\r\n" line when the second changed. */
static void http_server_refresh_date(struct http_server *s)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct timeval tv;
    if (event_base_gettimeofday_cached(s->base, &tv) < 0)
        tv.tv_sec = time(NULL);
    if ((long)tv.tv_sec == s->date_sec)
        return;
    struct tm tm;
    time_t t = tv.tv_sec;
    if (gmtime_r(&t, &tm) == NULL)
        return;
    int n = snprintf(s->date_line, sizeof s->date_line,
                     "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\nServer: conduitd\r\n",
                     days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n <= 0 || (size_t)n >= sizeof s->date_line)
        return;
    s->date_len = (size_t)n;
    s->date_sec = (long)tv.tv_sec;
}

/* Decimal digits of v at p; returns the end. */
static char *http_put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* Format the response head into c->hbuf; returns its length, or 0 when the
 * buffer cannot grow. */
static size_t http_format_head(struct http_conn *c, int status, const char *ctype, size_t blen,
                               bool send_len, bool keep)
{
    struct http_server *s = c->srv;
    const char *reason = http_status_reason(status);
    size_t rlen = strlen(reason);
    size_t ctlen = ctype != NULL ? strlen(ctype) : 0;
    size_t idlen = strlen(c->req.id);

    http_server_refresh_date(s);
    size_t need = 16 + rlen + s->date_len + 18 + ctlen + 40 + 18 + idlen + 26 + c->xlen + 2;
    if (need > c->hcap) {
        size_t ncap = need > HTTP_HBUF_INITIAL ? need : HTTP_HBUF_INITIAL;
        char *nb = realloc(c->hbuf, ncap);
        if (nb == NULL)
            return 0;
        c->hbuf = nb;
        c->hcap = ncap;
    }
    char *p = c->hbuf;
    PUT_LIT(p, "HTTP/1.1 ");
    p[0] = (char)('0' + status / 100);
    p[1] = (char)('0' + status / 10 % 10);
    p[2] = (char)('0' + status % 10);
    p[3] = ' ';
    p += 4;
    memcpy(p, reason, rlen);
    p += rlen;
    PUT_LIT(p, "\r\n");
    memcpy(p, s->date_line, s->date_len);
    p += s->date_len;
    if (ctype != NULL) {
        PUT_LIT(p, "Content-Type: ");
        memcpy(p, ctype, ctlen);
        p += ctlen;
        PUT_LIT(p, "\r\n");
    }
    if (send_len) {
        PUT_LIT(p, "Content-Length: ");
        p = http_put_u64(p, blen);
        PUT_LIT(p, "\r\n");
    }
    PUT_LIT(p, "X-Request-Id: ");
    memcpy(p, c->req.id, idlen);
    p += idlen;
    if (keep)
        PUT_LIT(p, "\r\nConnection: keep-alive\r\n");
    else
        PUT_LIT(p, "\r\nConnection: close\r\n");
    if (c->xlen > 0) {
        memcpy(p, c->xbuf, c->xlen);
        p += c->xlen;
    }
    PUT_LIT(p, "\r\n");
    return (size_t)(p - c->hbuf);
}

/* Free the response-side buffers of a connection. */
void http_conn_free_output(struct http_conn *c)
{
    free(c->hbuf);
    free(c->xbuf);
    free(c->out_owned);
    c->hbuf = c->xbuf = c->out_owned = NULL;
    c->hcap = c->xcap = c->xlen = 0;
}

/* Gathered non-blocking write of iov; returns bytes written, 0 if it would
 * block, -1 if the socket is dead. */
static ssize_t http_sendv(int fd, struct iovec *iov, int niov)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
    ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return -1;
}

/* Write head and body; what the socket does not take now is kept (the body
 * copied unless owned or static) and finished by http_conn_on_writable. */
static void http_conn_send(struct http_conn *c, size_t hlen, const char *body, size_t blen,
                           char *owned, bool body_static)
{
    struct iovec iov[2] = {{c->hbuf, hlen}, {(void *)body, blen}};
    ssize_t n = http_sendv(c->fd, iov, blen > 0 ? 2 : 1);

    if (n == (ssize_t)(hlen + blen)) {
        if (owned != NULL) /* the common case has none: no call at all */
            free(owned);
        http_conn_response_done(c, true);
        return;
    }
    if (n < 0) {
        free(owned);
        http_conn_response_done(c, false);
        return;
    }
    size_t done = (size_t)n;
    if (done < hlen) {
        c->out[0].iov_base = c->hbuf + done;
        c->out[0].iov_len = hlen - done;
        done = 0;
    } else {
        c->out[0].iov_base = NULL;
        c->out[0].iov_len = 0;
        done -= hlen;
    }
    size_t rest = blen - done;
    if (rest == 0 || owned != NULL || body_static) {
        c->out_owned = owned;
        c->out[1].iov_base = (char *)body + done;
    } else {
        c->out_owned = malloc(rest);
        if (c->out_owned == NULL) {
            log_error("http write buffer allocation failed", "\"bytes\":%zu", rest);
            http_conn_response_done(c, false);
            return;
        }
        memcpy(c->out_owned, body + done, rest);
        c->out[1].iov_base = c->out_owned;
    }
    c->out[1].iov_len = rest;
    c->state = HTTP_CONN_WRITE;
    if (event_add(c->ev_write, NULL) < 0) {
        log_error("http write event add failed", "\"fd\":%d", c->fd);
        http_conn_response_done(c, false);
        return;
    }
    http_conn_set_deadline(c, c->srv->limits.write_timeout_ms);
}

/* Continue writing a response after EV_WRITE. */
void http_conn_on_writable(struct http_conn *c)
{
    struct iovec *iov = c->out[0].iov_len > 0 ? &c->out[0] : &c->out[1];
    int niov = c->out[0].iov_len > 0 && c->out[1].iov_len > 0 ? 2 : 1;
    ssize_t n = http_sendv(c->fd, iov, niov);

    if (n < 0) {
        http_conn_response_done(c, false);
        return;
    }
    size_t done = (size_t)n;
    for (int i = 0; i < 2 && done > 0; i++) {
        size_t k = done < c->out[i].iov_len ? done : c->out[i].iov_len;
        c->out[i].iov_base = (char *)c->out[i].iov_base + k;
        c->out[i].iov_len -= k;
        done -= k;
    }
    if (c->out[0].iov_len > 0 || c->out[1].iov_len > 0) {
        if (n > 0)
            http_conn_set_deadline(c, c->srv->limits.write_timeout_ms);
        return;
    }
    if (event_del(c->ev_write) < 0)
        log_error("http write event del failed", "\"fd\":%d", c->fd);
    free(c->out_owned);
    c->out_owned = NULL;
    http_conn_response_done(c, true);
}

/* Answer the current request with a core-generated JSON error and close. */
void http_conn_send_error(struct http_conn *c, int status)
{
    struct http_request *r = &c->req;
    const char *body = http_error_body(status);
    size_t blen = strlen(body);

    if (r->id[0] == '\0')
        http_server_make_request_id(c->srv, r->id);
    r->status = status;
    c->close_after = true;
    c->xlen = 0;
    c->deadline_ms = 0;
    size_t hlen = http_format_head(c, status, "application/json", blen, true, false);
    if (hlen == 0) {
        http_conn_close(c);
        return;
    }
    bool no_body = r->method == HTTP_M_HEAD;
    http_conn_send(c, hlen, no_body ? NULL : body, no_body ? 0 : blen, NULL, true);
}

/* Shared by http_respond and http_respond_json_owned; owned is freed here. */
static int http_respond_common(struct http_request *r, int status, const char *ctype,
                               const char *body, size_t len, char *owned)
{
    struct http_conn *c = r->conn;
    struct http_server *s = c->srv;

    if (!r->dispatched) {
        free(owned);
        return -1;
    }
    r->dispatched = false;
    if (s != NULL)
        s->in_flight--;
    if (status < 200 || status > 599)
        status = 500;
    r->status = status;
    c->busy++;
    if (c->fd < 0 || s == NULL) {
        free(owned);
        http_conn_response_done(c, false); /* orphan: report and free */
    } else {
        /* A half-closed peer still gets answers to the complete requests it
         * sent; the connection closes when nothing complete is left. */
        bool keep = r->keep_alive && !s->draining && !c->close_after;
        bool no_body = r->method == HTTP_M_HEAD || status == 204 || status == 304;
        bool send_len = status != 204 && status != 304;
        if (!keep)
            c->close_after = true;
        if (body == NULL)
            len = 0;
        size_t hlen = http_format_head(c, status, (status == 204 || status == 304) ? NULL : ctype,
                                       len, send_len, keep);
        if (hlen == 0) {
            free(owned);
            log_error("http head buffer allocation failed", "");
            http_conn_response_done(c, false);
        } else if (no_body) {
            free(owned);
            http_conn_send(c, hlen, NULL, 0, NULL, false);
        } else {
            http_conn_send(c, hlen, body, len, owned, false);
        }
    }
    c->busy--;
    http_conn_maybe_free(c);
    return 0;
}

/* Answer with a copied body. */
int http_respond(struct http_request *r, int status, const char *content_type, const char *body,
                 size_t len)
{
    return http_respond_common(r, status, content_type, body, len, NULL);
}

/* Answer with a JSON body whose malloc'ed buffer the core takes over. */
int http_respond_json_owned(struct http_request *r, int status, char *body, size_t len)
{
    return http_respond_common(r, status, "application/json", body, len, body);
}

/* Headers the core writes itself; adding them would duplicate or contradict. */
static bool http_header_reserved(const char *name)
{
    static const char *const reserved[] = {"content-length", "content-type", "connection",
                                           "date",           "server",       "transfer-encoding",
                                           "x-request-id"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    return false;
}

/* Queue a response header for the request's answer (validated, copied). */
int http_response_header(struct http_request *r, const char *name, const char *value)
{
    struct http_conn *c = r->conn;
    size_t nlen = strlen(name), vlen = strlen(value);

    if (!r->dispatched || nlen == 0 || http_header_reserved(name))
        return -1;
    for (size_t i = 0; i < nlen; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch) != NULL)
            return -1;
    }
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch == '\r' || ch == '\n' || (ch < 0x20 && ch != '\t') || ch == 0x7f)
            return -1;
    }
    size_t need = c->xlen + nlen + 2 + vlen + 2;
    if (need > c->xcap) {
        size_t ncap = need * 2 > 256 ? need * 2 : 256;
        char *nb = realloc(c->xbuf, ncap);
        if (nb == NULL)
            return -1;
        c->xbuf = nb;
        c->xcap = ncap;
    }
    char *p = c->xbuf + c->xlen;
    memcpy(p, name, nlen);
    p += nlen;
    PUT_LIT(p, ": ");
    memcpy(p, value, vlen);
    p += vlen;
    PUT_LIT(p, "\r\n");
    c->xlen = (size_t)(p - c->xbuf);
    return 0;
}
