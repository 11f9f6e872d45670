/*
 * router.h: maps a method and a path to a handler through path templates
 * ("/api/articles/:slug"). Each template gets a small integer id that the
 * metrics use as a bounded `route` label; id 0 is "unmatched".
 *
 * The router is built once in the supervisor before the first fork, so every
 * worker inherits the same table and the ids agree across processes.
 *
 * Matching rules: the most specific template wins, a literal segment
 * beating a parameter from the left ("/api/articles/feed" beats
 * "/api/articles/:slug" whatever the order of router_add); among equals the
 * first added wins. Literal segments compare with the percent-decoded path
 * segment, parameters receive it decoded; a bad escape or "%00" anywhere in
 * the path is ROUTER_BAD_PATH. A parameter never matches an empty segment,
 * and a trailing slash is significant: "/api/tags/" is ROUTER_NOT_FOUND
 * when only "/api/tags" is registered. HEAD uses the GET handler unless a
 * HEAD handler is added.
 */
#ifndef CONDUIT_ROUTER_H
#define CONDUIT_ROUTER_H

#include "http.h"

#define ROUTER_MAX_ROUTES 48
#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_MAX  256
#define ROUTER_UNMATCHED  0

struct route_params {
    int count;
    struct {
        const char *name;             /* points into the template table */
        char value[ROUTER_PARAM_MAX]; /* percent-decoded segment */
    } p[ROUTER_MAX_PARAMS];
};

typedef void (*route_handler_fn)(struct http_request *req, const struct route_params *params,
                                 void *ctx);

struct router;

struct router *router_new(void);
void router_free(struct router *r);

/* Add a route; returns its id (>= 1), or -1 when the table is full or the
 * template is malformed. Several methods may share one template and id. */
int router_add(struct router *r, enum http_method_id method, const char *tmpl, route_handler_fn fn)
    __attribute__((warn_unused_result));

enum router_result {
    ROUTER_FOUND,      /* *fn and *params set */
    ROUTER_NOT_FOUND,  /* no template matches the path: 404 */
    ROUTER_BAD_METHOD, /* a template matches but not for this method: 405 */
    ROUTER_BAD_PATH,   /* bad percent-encoding or a segment too long: 400 */
};

/* Match; *route_id is set for FOUND and BAD_METHOD (else ROUTER_UNMATCHED). */
enum router_result router_match(const struct router *r, enum http_method_id method,
                                const char *path, route_handler_fn *fn, struct route_params *params,
                                int *route_id);

/* Give an added method + template its own request-body limit in bytes
 * (login and registration need a few KB, not --max-body). Returns 0, or -1
 * when that method is not routed on tmpl. */
int router_set_max_body(struct router *r, enum http_method_id method, const char *tmpl,
                        size_t max_body) __attribute__((warn_unused_result));

/* The body limit of the route that method + path reach (as router_match
 * would pick it, HEAD falling back to GET), or 0 when it has none of its
 * own (or nothing matches). */
size_t router_max_body(const struct router *r, enum http_method_id method, const char *path);

/* Number of ids in use, including 0; and the label of an id. */
int router_route_count(const struct router *r);
const char *router_route_label(const struct router *r, int route_id);

/* Methods allowed on a route, as "GET, PUT" (for Allow and CORS). */
const char *router_allowed_methods(const struct router *r, int route_id);

/* A named parameter's value, or NULL. */
const char *route_param(const struct route_params *p, const char *name);

#endif
