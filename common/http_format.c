/*
 * http_format.c: response formatting for the HTTP/1.1 core, pure: no I/O,
 * no connection state, no allocation. The connection module (http_conn.c)
 * owns the buffers and the socket; it asks here for the response head
 * (assembled by memcpy from preformatted pieces, no printf on the hot
 * path), the Date line (rebuilt by the caller once a second), request ids,
 * the core's own JSON error bodies, reason phrases, and the checks on
 * headers a handler adds.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_format.h"
#include "http_status.h"

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
const char *http_format_error_body(int status)
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

/* Fill out[0..16] with a 16-hex-digit id: splitmix64 of a per-process
 * seed plus a counter, so ids are unique within the process and unguessable
 * across processes, for the cost of a few multiplications. */
void http_format_request_id(uint64_t seed, uint64_t counter, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t x = seed + counter * 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[x & 0xf];
        x >>= 4;
    }
    out[16] = '\0';
}

/* "Date: ...\r\nServer: conduitd\r\n" for time t into out; its length, or 0. */
size_t http_format_date_line(time_t t, char *out, size_t cap)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return 0;
    int n = snprintf(out, cap, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\nServer: conduitd\r\n",
                     days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n <= 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
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

/* Bytes http_format_head needs for h (an upper bound). */
size_t http_format_head_size(const struct http_head_spec *h)
{
    size_t ctlen = h->content_type != NULL ? strlen(h->content_type) : 0;
    return 16 + strlen(http_status_reason(h->status)) + h->date_len + 18 + ctlen + 40 + 18 +
           strlen(h->request_id) + 26 + h->extra_len + 2;
}

/* Format the response head of h into out (at least http_format_head_size
 * bytes); returns its length. */
size_t http_format_head(const struct http_head_spec *h, char *out)
{
    const char *reason = http_status_reason(h->status);
    size_t rlen = strlen(reason);
    size_t idlen = strlen(h->request_id);
    int status = h->status;
    char *p = out;

    PUT_LIT(p, "HTTP/1.1 ");
    p[0] = (char)('0' + status / 100);
    p[1] = (char)('0' + status / 10 % 10);
    p[2] = (char)('0' + status % 10);
    p[3] = ' ';
    p += 4;
    memcpy(p, reason, rlen);
    p += rlen;
    PUT_LIT(p, "\r\n");
    memcpy(p, h->date_line, h->date_len);
    p += h->date_len;
    if (h->content_type != NULL) {
        size_t ctlen = strlen(h->content_type);
        PUT_LIT(p, "Content-Type: ");
        memcpy(p, h->content_type, ctlen);
        p += ctlen;
        PUT_LIT(p, "\r\n");
    }
    if (h->send_length) {
        PUT_LIT(p, "Content-Length: ");
        p = http_put_u64(p, h->body_len);
        PUT_LIT(p, "\r\n");
    }
    PUT_LIT(p, "X-Request-Id: ");
    memcpy(p, h->request_id, idlen);
    p += idlen;
    if (h->keep_alive)
        PUT_LIT(p, "\r\nConnection: keep-alive\r\n");
    else
        PUT_LIT(p, "\r\nConnection: close\r\n");
    if (h->extra_len > 0) {
        memcpy(p, h->extra, h->extra_len);
        p += h->extra_len;
    }
    PUT_LIT(p, "\r\n");
    return (size_t)(p - out);
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

/* May a handler add this header line? (a token name the core does not
 * write itself; a value without CR, LF or other control characters) */
bool http_format_header_ok(const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (nlen == 0 || http_header_reserved(name))
        return false;
    for (size_t i = 0; i < nlen; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch) != NULL)
            return false;
    }
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch == '\r' || ch == '\n' || (ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

/* "name: value\r\n" at out (nlen + vlen + 4 bytes); returns the end. */
char *http_format_header_line(char *out, const char *name, size_t nlen, const char *value,
                              size_t vlen)
{
    memcpy(out, name, nlen);
    out += nlen;
    PUT_LIT(out, ": ");
    memcpy(out, value, vlen);
    out += vlen;
    PUT_LIT(out, "\r\n");
    return out;
}
