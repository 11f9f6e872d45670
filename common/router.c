/*
 * router.c: method + path template routing with a bounded route label.
 *
 * Templates are split into segments once, at router_add(). Matching walks
 * every template with the same number of segments as the path (the table
 * holds at most ROUTER_MAX_ROUTES, so a linear scan is cheaper than any
 * index) and picks the most specific one: comparing segment by segment
 * from the left, a literal beats a parameter, whatever the registration
 * order ("/api/articles/feed" beats "/api/articles/:slug"). Equally specific
 * templates: the first registered wins.
 *
 * Rules, as documented in router.h's users:
 *  - Literal segments are compared with the percent-decoded path segment;
 *    parameters receive the decoded segment. A '%' not followed by two hex
 *    digits, or "%00", anywhere in the path is ROUTER_BAD_PATH, and so is a
 *    parameter longer than ROUTER_PARAM_MAX - 1 bytes once decoded.
 *  - A parameter never matches an empty segment.
 *  - A trailing slash is significant: "/api/tags/" does not match
 *    "/api/tags" (it is ROUTER_NOT_FOUND), no redirects.
 *  - HEAD falls back to the GET handler when no HEAD handler is registered
 *    (the HTTP core drops the body), and "HEAD" is listed as allowed then.
 *  - When several templates match the path, the most specific one that has
 *    a handler for the method wins; if none has, the result is
 *    ROUTER_BAD_METHOD with the id of the most specific template.
 *
 *  - A route may carry its own request-body limit per method
 *    (router_set_max_body); router_max_body() finds it for a path the way
 *    router_match() finds the handler, without decoding parameters, so the
 *    HTTP core can ask before the body is read.
 *
 * The router is built before fork and only read afterwards; it holds no
 * pointers into anything else.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "router.h"

#define ROUTER_MAX_SEGS    16
#define ROUTER_ALLOWED_MAX 64

struct route_seg {
    const char *text; /* literal text, or the parameter name without ':' */
    size_t len;
    bool param;
};

struct route {
    char *label;  /* the template as given */
    char *segbuf; /* a copy split into NUL-terminated segments */
    int nseg;
    unsigned score; /* literal segments, the leftmost weighing most */
    struct route_seg seg[ROUTER_MAX_SEGS];
    route_handler_fn fn[HTTP_M__COUNT];
    size_t max_body[HTTP_M__COUNT]; /* body limit per method, 0 = the server's */
    char allowed[ROUTER_ALLOWED_MAX];
};

struct router {
    int count;
    struct route routes[ROUTER_MAX_ROUTES];
};

/* An empty routing table (NULL when out of memory). */
struct router *router_new(void)
{
    return calloc(1, sizeof(struct router));
}

/* Free the table and its templates. */
void router_free(struct router *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->count; i++) {
        free(r->routes[i].label);
        free(r->routes[i].segbuf);
    }
    free(r);
}

/* Value of a hex digit, or -1. */
static int router_hex(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* May ch appear in a literal template segment? (pchar without '%' and ':') */
static bool router_literal_char(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("-._~!$&'()*+,;=@", ch) != NULL;
}

/* Split and check a template into rt. Returns 0 or -1 (malformed). */
static int router_parse_template(struct route *rt, const char *tmpl)
{
    size_t n = strlen(tmpl);
    int nparams = 0;

    if (n == 0 || tmpl[0] != '/')
        return -1;
    rt->label = strdup(tmpl);
    rt->segbuf = strdup(tmpl + 1);
    if (rt->label == NULL || rt->segbuf == NULL)
        return -1;
    rt->nseg = 0;
    rt->score = 0;
    if (rt->segbuf[0] == '\0')
        return 0; /* "/" */
    char *p = rt->segbuf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash != NULL)
            *slash = '\0';
        size_t len = strlen(p);
        if (len == 0 || rt->nseg == ROUTER_MAX_SEGS)
            return -1; /* empty segment, trailing slash, or too deep */
        struct route_seg *sg = &rt->seg[rt->nseg];
        if (p[0] == ':') {
            if (len == 1 || ++nparams > ROUTER_MAX_PARAMS)
                return -1;
            for (size_t i = 1; i < len; i++) {
                unsigned char ch = (unsigned char)p[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_'))
                    return -1;
            }
            for (int k = 0; k < rt->nseg; k++)
                if (rt->seg[k].param && strcmp(rt->seg[k].text, p + 1) == 0)
                    return -1; /* duplicate name */
            sg->param = true;
            sg->text = p + 1;
            sg->len = len - 1;
        } else {
            for (size_t i = 0; i < len; i++)
                if (!router_literal_char((unsigned char)p[i]))
                    return -1;
            sg->param = false;
            sg->text = p;
            sg->len = len;
            rt->score |= 1u << (ROUTER_MAX_SEGS - 1 - rt->nseg);
        }
        rt->nseg++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return 0;
}

/* Rebuild the "GET, HEAD, POST" list of a route. */
static void router_update_allowed(struct route *rt)
{
    static const struct {
        enum http_method_id m;
        const char *name;
    } order[] = {{HTTP_M_GET, "GET"},        {HTTP_M_HEAD, "HEAD"},   {HTTP_M_POST, "POST"},
                 {HTTP_M_PUT, "PUT"},        {HTTP_M_PATCH, "PATCH"}, {HTTP_M_DELETE, "DELETE"},
                 {HTTP_M_OPTIONS, "OPTIONS"}};
    size_t used = 0;
    rt->allowed[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        bool on =
            rt->fn[order[i].m] != NULL || (order[i].m == HTTP_M_HEAD && rt->fn[HTTP_M_GET] != NULL);
        if (!on)
            continue;
        size_t len = strlen(order[i].name);
        if (used + len + 3 > sizeof rt->allowed)
            break;
        if (used > 0) {
            memcpy(rt->allowed + used, ", ", 2);
            used += 2;
        }
        memcpy(rt->allowed + used, order[i].name, len + 1);
        used += len;
    }
}

/* Route method + template to fn; returns the template's id or -1. */
int router_add(struct router *r, enum http_method_id method, const char *tmpl, route_handler_fn fn)
{
    if (r == NULL || tmpl == NULL || fn == NULL || (int)method < 0 || method >= HTTP_M_OTHER)
        return -1;
    for (int i = 0; i < r->count; i++) {
        struct route *rt = &r->routes[i];
        if (strcmp(rt->label, tmpl) != 0)
            continue;
        if (rt->fn[method] != NULL)
            return -1; /* already routed */
        rt->fn[method] = fn;
        router_update_allowed(rt);
        return i + 1;
    }
    if (r->count >= ROUTER_MAX_ROUTES)
        return -1;
    struct route *rt = &r->routes[r->count];
    memset(rt, 0, sizeof *rt);
    if (router_parse_template(rt, tmpl) < 0) {
        free(rt->label);
        free(rt->segbuf);
        memset(rt, 0, sizeof *rt);
        return -1;
    }
    rt->fn[method] = fn;
    router_update_allowed(rt);
    return ++r->count;
}

/* Check every percent-escape of the path: two hex digits, never %00. */
static bool router_path_encoding_ok(const char *path)
{
    for (const char *p = path; *p != '\0'; p++) {
        if (*p != '%')
            continue;
        int hi = router_hex((unsigned char)p[1]);
        int lo = hi < 0 ? -1 : router_hex((unsigned char)p[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        p += 2;
    }
    return true;
}

/* Does the (encoded, already validated) path segment decode to lit? */
static bool router_seg_equals(const char *s, size_t n, const char *lit, size_t litlen)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++, k++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            ch = (unsigned char)(router_hex((unsigned char)s[i + 1]) * 16 +
                                 router_hex((unsigned char)s[i + 2]));
            i += 2;
        }
        if (k >= litlen || (unsigned char)lit[k] != ch)
            return false;
    }
    return k == litlen;
}

/* Decode a path segment into out (size ROUTER_PARAM_MAX). Returns -1 if too long. */
static int router_decode(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            ch = (unsigned char)(router_hex((unsigned char)s[i + 1]) * 16 +
                                 router_hex((unsigned char)s[i + 2]));
            i += 2;
        }
        if (k + 1 >= ROUTER_PARAM_MAX)
            return -1;
        out[k++] = (char)ch;
    }
    out[k] = '\0';
    return 0;
}

/* Does rt match the split path? */
static bool router_route_matches(const struct route *rt, int n, const char *const *seg,
                                 const size_t *seglen)
{
    if (rt->nseg != n)
        return false;
    for (int i = 0; i < n; i++) {
        const struct route_seg *sg = &rt->seg[i];
        if (sg->param) {
            if (seglen[i] == 0)
                return false;
        } else if (!router_seg_equals(seg[i], seglen[i], sg->text, sg->len)) {
            return false;
        }
    }
    return true;
}

/* The handler of rt for method, with HEAD falling back to GET. */
static route_handler_fn router_handler(const struct route *rt, enum http_method_id method)
{
    if ((int)method < 0 || method >= HTTP_M__COUNT)
        return NULL;
    if (rt->fn[method] != NULL)
        return rt->fn[method];
    return method == HTTP_M_HEAD ? rt->fn[HTTP_M_GET] : NULL;
}

/* A path split into its (still encoded) segments. */
struct router_path {
    int n;
    const char *seg[ROUTER_MAX_SEGS];
    size_t len[ROUTER_MAX_SEGS];
};

/* Find the most specific template matching path (*any) and the most
 * specific one with a handler for method (*best, NULL if none). Returns
 * ROUTER_FOUND when *any is set, else NOT_FOUND or BAD_PATH. */
static enum router_result router_find(const struct router *r, enum http_method_id method,
                                      const char *path, struct router_path *sp,
                                      const struct route **best, const struct route **any)
{
    *best = *any = NULL;
    sp->n = 0;
    if (path == NULL || path[0] != '/')
        return ROUTER_NOT_FOUND;
    if (!router_path_encoding_ok(path))
        return ROUTER_BAD_PATH;
    if (path[1] != '\0') {
        const char *p = path + 1;
        for (;;) {
            if (sp->n == ROUTER_MAX_SEGS)
                return ROUTER_NOT_FOUND; /* deeper than any template */
            const char *slash = strchr(p, '/');
            sp->seg[sp->n] = p;
            sp->len[sp->n] = slash != NULL ? (size_t)(slash - p) : strlen(p);
            sp->n++;
            if (slash == NULL)
                break;
            p = slash + 1;
        }
    }
    for (int i = 0; i < r->count; i++) {
        const struct route *rt = &r->routes[i];
        if (!router_route_matches(rt, sp->n, sp->seg, sp->len))
            continue;
        if (*any == NULL || rt->score > (*any)->score)
            *any = rt;
        if (router_handler(rt, method) != NULL && (*best == NULL || rt->score > (*best)->score))
            *best = rt;
    }
    return *any != NULL ? ROUTER_FOUND : ROUTER_NOT_FOUND;
}

/* Find the most specific template for path and the handler for method. */
enum router_result router_match(const struct router *r, enum http_method_id method,
                                const char *path, route_handler_fn *fn, struct route_params *params,
                                int *route_id)
{
    struct router_path sp;
    const struct route *best, *best_any;

    *fn = NULL;
    *route_id = ROUTER_UNMATCHED;
    params->count = 0;
    enum router_result res = router_find(r, method, path, &sp, &best, &best_any);
    if (res != ROUTER_FOUND)
        return res;
    if (best == NULL) {
        *route_id = (int)(best_any - r->routes) + 1;
        return ROUTER_BAD_METHOD;
    }
    for (int i = 0; i < sp.n; i++) {
        if (!best->seg[i].param)
            continue;
        int k = params->count;
        params->p[k].name = best->seg[i].text;
        if (router_decode(sp.seg[i], sp.len[i], params->p[k].value) < 0) {
            params->count = 0;
            return ROUTER_BAD_PATH;
        }
        params->count++;
    }
    *fn = router_handler(best, method);
    *route_id = (int)(best - r->routes) + 1;
    return ROUTER_FOUND;
}

/* Give method + template (already added) a body limit of its own. */
int router_set_max_body(struct router *r, enum http_method_id method, const char *tmpl,
                        size_t max_body)
{
    if (r == NULL || tmpl == NULL || (int)method < 0 || method >= HTTP_M_OTHER)
        return -1;
    for (int i = 0; i < r->count; i++) {
        struct route *rt = &r->routes[i];
        if (strcmp(rt->label, tmpl) == 0 && rt->fn[method] != NULL) {
            rt->max_body[method] = max_body;
            return 0;
        }
    }
    return -1;
}

/* The body limit of the route that method + path reach, 0 when it has none. */
size_t router_max_body(const struct router *r, enum http_method_id method, const char *path)
{
    struct router_path sp;
    const struct route *best, *any;

    if ((int)method < 0 || method >= HTTP_M__COUNT)
        return 0;
    if (router_find(r, method, path, &sp, &best, &any) != ROUTER_FOUND || best == NULL)
        return 0;
    if (best->fn[method] == NULL)
        return method == HTTP_M_HEAD ? best->max_body[HTTP_M_GET] : 0;
    return best->max_body[method];
}

/* Ids in use, 0 (unmatched) included. */
int router_route_count(const struct router *r)
{
    return r->count + 1;
}

/* The template of an id, "unmatched" for 0 or an unknown id. */
const char *router_route_label(const struct router *r, int route_id)
{
    if (route_id < 1 || route_id > r->count)
        return "unmatched";
    return r->routes[route_id - 1].label;
}

/* The "GET, HEAD, PUT" list of an id, "" for unknown ids. */
const char *router_allowed_methods(const struct router *r, int route_id)
{
    if (route_id < 1 || route_id > r->count)
        return "";
    return r->routes[route_id - 1].allowed;
}

/* A parameter's decoded value by name, or NULL. */
const char *route_param(const struct route_params *p, const char *name)
{
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->p[i].name, name) == 0)
            return p->p[i].value;
    return NULL;
}
