/*
 * http.h — the HTTP side (libevent evhttp): GET /msg_server as the reference
 * login_server answers it (protocol G.1), /health and /metrics. Loop thread.
 */
#ifndef IMGATE_HTTP_H
#define IMGATE_HTTP_H

struct event_base;
struct evhttp;

/* Binds host:port. Returns NULL (and logs why) on failure. */
struct evhttp *http_start(struct event_base *base, const char *host, unsigned port);

/* The /msg_server JSON body for the current state; caller frees. */
char *http_msg_server_json(void);

#endif
