/*
 * http_method.h: the request methods the HTTP/1.1 core tells apart, shared
 * by every layer of the core (the pure parser included) and by its users
 * through http.h. Header only.
 */
#ifndef CONDUIT_HTTP_METHOD_H
#define CONDUIT_HTTP_METHOD_H

/* Methods we count separately in metrics; anything else valid is OTHER. */
enum http_method_id {
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_DELETE,
    HTTP_M_OPTIONS,
    HTTP_M_PATCH,
    HTTP_M_OTHER,
    HTTP_M__COUNT
};

#endif
