/*
 * server.h — the daemon's state, owned by the event-loop thread.
 */
#ifndef IMGATE_SERVER_H
#define IMGATE_SERVER_H

#include <stdint.h>

#include "config.h"
#include "db.h"
#include "generation.h"
#include "redis.h"
#include "worker.h"

struct event_base;
struct evconnlistener;
struct evconnlistener;
struct sockaddr;
typedef struct http_server http_server;
struct event;

typedef struct server {
    struct event_base *base;
    char *config_path;
    generation *current;       /* holds the config in force (current->cfg) */
    config *boot_cfg;          /* what listeners, databases and Redis were started with */
    struct evconnlistener *listener;
    http_server *http;
    worker_pool *workers;
    db_settings db;
    redis_link *redis;
    char *plugin_copy_dir;
    uint64_t next_generation;
    struct event *tick;
    struct event *accept_resume;   /* re-enables paused listeners after descriptor exhaustion */
    int accept_paused;
    uint64_t accept_errors;        /* since the last log line about them */
    uint64_t accept_logged_ms;
    long fd_limit;                 /* RLIMIT_NOFILE soft limit, re-read every tick */
    struct event *sig_hup, *sig_term, *sig_int;
    struct event *shutdown_poll;
    uint64_t shutdown_started_ms;
    int shutting_down;
    int exit_code;
} server;

extern server g_server;

/* The configuration in force. */
static inline const config *server_cfg(void) { return g_server.current->cfg; }

uint64_t now_ms(void);

/* Reloads the configuration and plugins (SIGHUP). Returns 0 on success. */
int server_reload(void);

/* A listening socket on host:port (host NULL or empty = any) calling cb for each connection. */
struct evconnlistener *server_listen(const char *host, unsigned port,
                                     void (*cb)(struct evconnlistener *, int, struct sockaddr *, int, void *),
                                     void *arg);
/* accept() failed on `l` (EMFILE, ENFILE, ...): both listeners pause until a descriptor frees or
 * a short timer passes; the failures are logged once a second with their count. */
void server_accept_failed(struct evconnlistener *l, const char *which);
/* A descriptor was closed: paused listeners may resume. */
void server_descriptor_freed(void);
/* 1 when a new client connection fits the descriptor budget: what the soft limit leaves after
 * the HTTP connections and a reserve for databases, Redis, logs and plugin files. */
int server_client_fits(void);

#endif
