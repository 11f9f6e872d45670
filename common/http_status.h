/*
 * http_status.h: reason phrases of status codes, for the pure response
 * formatter (http_format.c, which defines it) and for users of the core
 * through http.h.
 */
#ifndef CONDUIT_HTTP_STATUS_H
#define CONDUIT_HTTP_STATUS_H

/* Reason phrase for a status code ("Not Found"). */
const char *http_status_reason(int status);

#endif
