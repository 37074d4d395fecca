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
struct evhttp;
struct event;

typedef struct server {
    struct event_base *base;
    char *config_path;
    generation *current;       /* holds the config in force (current->cfg) */
    config *boot_cfg;          /* what listeners, databases and Redis were started with */
    struct evconnlistener *listener;
    struct evhttp *http;
    worker_pool *workers;
    db_settings db;
    redis_link *redis;
    char *plugin_copy_dir;
    uint64_t next_generation;
    struct event *tick;
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

#endif
