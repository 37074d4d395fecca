/*
 * imgate_http.h — a minimal blocking HTTP GET for tests and imgate-cli
 * (GET /msg_server, /health, /metrics on an imgated node).
 */
#ifndef IMGATE_HTTP_H
#define IMGATE_HTTP_H

#include <stdint.h>

/* Responses larger than this are refused (they are never legitimate here). */
#define IMGATE_HTTP_MAX_RESPONSE (16u * 1024u * 1024u)

/*
 * Sends `GET path HTTP/1.0` with `Connection: close` and reads the response
 * until EOF (or until Content-Length bytes of body have arrived), all within
 * timeout_ms (negative = no limit).
 *
 * On success returns 0, stores the status code in *status and, if `body` is
 * non-NULL, a malloc'd NUL-terminated copy of the body in *body (the caller
 * frees it). Returns -1 with errno on failure (ETIMEDOUT, ECONNREFUSED,
 * EPROTO for an unparsable response, EMSGSIZE when too large).
 */
int imgate_http_get(const char *host, uint16_t port, const char *path, int *status, char **body,
                    int timeout_ms);

#endif
