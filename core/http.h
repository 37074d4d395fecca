/*
 * http.h — the HTTP side: GET /msg_server as the reference login_server
 * answers it (protocol G.1), /health and /metrics. One request per
 * connection, at most [http] max_connections of them, each closed after
 * [http] timeout_ms. Loop thread.
 */
#ifndef IMGATE_HTTP_H
#define IMGATE_HTTP_H

struct event_base;
struct evconnlistener;
typedef struct http_server http_server;

/* Binds host:port. Returns NULL (and logs why) on failure. */
http_server *http_start(struct event_base *base, const char *host, unsigned port);
void http_stop(http_server *s);
/* Its listener (paused and resumed with the client listener on descriptor exhaustion). */
struct evconnlistener *http_listener(http_server *s);
/* Open HTTP connections. */
int http_count(const http_server *s);

/* The /msg_server JSON body for the current state; caller frees. */
char *http_msg_server_json(void);

#endif
