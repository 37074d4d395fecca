/* redis.c — see redis.h. */
#include "redis.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

#define RECONNECT_MS 1000

struct redis_link {
    struct event_base *base;
    char *host;
    unsigned port;
    char *socket;
    int db;
    redisAsyncContext *ctx; /* NULL while disconnected */
    int stopping;
    struct event *retry;
};

typedef struct pending {
    redis_reply_fn cb;
    void *arg;
} pending;

static void connect_now(redis_link *r);

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    pending *p = privdata;
    if (p == NULL)
        return;
    const redisReply *rep = reply;
    if (rep == NULL)
        metrics_add("imgate_redis_errors_total", "kind=\"no_reply\"", 1);
    if (p->cb)
        p->cb(rep, p->arg);
    free(p);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    redis_link *r = arg;
    if (!r->stopping && r->ctx == NULL)
        connect_now(r);
}

static void schedule_retry(redis_link *r)
{
    if (r->stopping)
        return;
    struct timeval tv = {RECONNECT_MS / 1000, (RECONNECT_MS % 1000) * 1000};
    evtimer_add(r->retry, &tv);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_link *r = ac->data;
    if (status != REDIS_OK) {
        log_warn("event=redis_connect_failed error=\"%s\"", ac->errstr);
        metrics_add("imgate_redis_errors_total", "kind=\"connect\"", 1);
        r->ctx = NULL; /* hiredis frees the context after this callback */
        schedule_retry(r);
        return;
    }
    log_info("event=redis_connected");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_link *r = ac->data;
    r->ctx = NULL;
    if (!r->stopping) {
        log_warn("event=redis_disconnected error=\"%s\"", status == REDIS_OK ? "" : ac->errstr);
        schedule_retry(r);
    }
}

static void connect_now(redis_link *r)
{
    redisAsyncContext *ac = r->socket ? redisAsyncConnectUnix(r->socket) : redisAsyncConnect(r->host, (int)r->port);
    if (ac == NULL || ac->err) {
        log_warn("event=redis_connect_failed error=\"%s\"", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ctx = ac;
    if (r->db != 0) {
        /* Queued ahead of any command: hiredis sends in order once connected. */
        char dbnum[16];
        snprintf(dbnum, sizeof dbnum, "%d", r->db);
        const char *argv[2] = {"SELECT", dbnum};
        redisAsyncCommandArgv(ac, NULL, NULL, 2, argv, NULL);
    }
}

redis_link *redis_link_start(struct event_base *base, const char *host, unsigned port, const char *socket, int db)
{
    redis_link *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->base = base;
    r->host = host ? strdup(host) : NULL;
    r->port = port;
    r->socket = socket ? strdup(socket) : NULL;
    r->db = db;
    r->retry = evtimer_new(base, on_retry, r);
    connect_now(r);
    return r;
}

int redis_link_command(redis_link *r, redis_reply_fn cb, void *arg, int argc, const char **argv, const size_t *argvlen)
{
    if (r == NULL || r->ctx == NULL)
        return -1;
    pending *p = malloc(sizeof *p);
    if (p == NULL)
        return -1;
    p->cb = cb;
    p->arg = arg;
    if (redisAsyncCommandArgv(r->ctx, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return -1;
    }
    return 0;
}

void redis_link_stop(redis_link *r)
{
    if (r == NULL)
        return;
    r->stopping = 1;
    if (r->ctx)
        redisAsyncFree(r->ctx); /* pending callbacks run with NULL */
    r->ctx = NULL;
    event_free(r->retry);
    free(r->host);
    free(r->socket);
    free(r);
}
