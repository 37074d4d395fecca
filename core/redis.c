/* redis.c — see redis.h. */
#include "redis.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

#define RECONNECT_MS 1000
/* How often the oldest unanswered command is looked at. */
#define WATCH_MS 250

typedef struct pending {
    redis_reply_fn cb;
    void *arg;
    uint64_t sent_ms;
    struct pending *prev, *next; /* unanswered commands, oldest first */
} pending;

struct redis_link {
    struct event_base *base;
    char *host;
    unsigned port;
    char *socket;
    int db;
    uint32_t timeout_ms;
    redisAsyncContext *ctx; /* NULL while disconnected */
    int connected;          /* the connect callback said yes */
    int stopping;
    struct event *retry;
    struct event *watch;
    pending *oldest, *newest;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void unlink_pending(redis_link *r, pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        r->oldest = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        r->newest = p->prev;
    p->prev = p->next = NULL;
}

static void connect_now(redis_link *r);

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    pending *p = privdata;
    if (p == NULL)
        return;
    unlink_pending(ac->data, p);
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
    r->connected = 1;
    log_info("event=redis_connected");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_link *r = ac->data;
    r->ctx = NULL;
    r->connected = 0;
    if (!r->stopping) {
        log_warn("event=redis_disconnected error=\"%s\"", status == REDIS_OK ? "" : ac->errstr);
        schedule_retry(r);
    }
}

/*
 * Replies come back in the order the commands went out, so the oldest
 * unanswered command says whether the link is alive. A server that stopped
 * answering (SIGSTOP, a hung host) would otherwise stall every caller for as
 * long as TCP keeps the connection: past the timeout the link is dropped,
 * every pending command completes with NULL, and a fresh link is made.
 */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    redis_link *r = arg;
    if (r->ctx == NULL || r->oldest == NULL || mono_ms() - r->oldest->sent_ms < r->timeout_ms)
        return;
    log_warn("event=redis_timeout waited_ms=%llu reason=\"no reply: dropping the link, pending commands fail\"",
             (unsigned long long)(mono_ms() - r->oldest->sent_ms));
    metrics_add("imgate_redis_errors_total", "kind=\"timeout\"", 1);
    redisAsyncContext *ac = r->ctx;
    r->ctx = NULL;
    r->connected = 0;
    redisAsyncFree(ac); /* runs the pending callbacks with NULL (and on_disconnect if it was connected) */
    schedule_retry(r);
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

redis_link *redis_link_start(struct event_base *base, const char *host, unsigned port, const char *socket, int db,
                             uint32_t timeout_ms)
{
    redis_link *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->base = base;
    r->host = host ? strdup(host) : NULL;
    r->port = port;
    r->socket = socket ? strdup(socket) : NULL;
    r->db = db;
    r->timeout_ms = timeout_ms;
    r->retry = evtimer_new(base, on_retry, r);
    r->watch = event_new(base, -1, EV_PERSIST, on_watch, r);
    struct timeval tv = {0, WATCH_MS * 1000};
    event_add(r->watch, &tv);
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
    p->sent_ms = mono_ms();
    p->next = NULL;
    p->prev = r->newest;
    if (r->newest)
        r->newest->next = p;
    else
        r->oldest = p;
    r->newest = p;
    if (redisAsyncCommandArgv(r->ctx, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        unlink_pending(r, p);
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
    event_free(r->watch);
    free(r->host);
    free(r->socket);
    free(r);
}

int redis_link_up(const redis_link *r) { return r != NULL && r->ctx != NULL && r->connected; }

/* --- the subscriber ---------------------------------------------------------------------------- */

struct redis_sub {
    struct event_base *base;
    char *host;
    unsigned port;
    char *socket;
    char **channels;
    int n_channels;
    int confirmed; /* subscriptions confirmed since the last connect */
    redisAsyncContext *ctx;
    int stopping;
    struct event *retry;
    redis_message_fn on_message;
    redis_ready_fn on_ready;
    void *arg;
};

static void sub_connect(redis_sub *s);

static void sub_schedule_retry(redis_sub *s)
{
    if (s->stopping)
        return;
    struct timeval tv = {RECONNECT_MS / 1000, (RECONNECT_MS % 1000) * 1000};
    evtimer_add(s->retry, &tv);
}

static void sub_on_retry(evutil_socket_t fd, short what, void *arg)
{
    redis_sub *s = arg;
    if (!s->stopping && s->ctx == NULL)
        sub_connect(s);
}

static void sub_on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    redis_sub *s = privdata;
    const redisReply *r = reply_;
    if (r == NULL || s == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    const redisReply *kind = r->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "message") == 0 && r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        s->on_message(r->element[1]->str, r->element[2]->str, r->element[2]->len, s->arg);
    } else if (strcmp(kind->str, "subscribe") == 0 && ++s->confirmed == s->n_channels) {
        log_info("event=redis_subscribed channels=%d", s->n_channels);
        if (s->on_ready)
            s->on_ready(s->arg);
    }
}

static void sub_on_connect(const redisAsyncContext *ac, int status)
{
    redis_sub *s = ac->data;
    if (status != REDIS_OK) {
        s->ctx = NULL;
        sub_schedule_retry(s);
    }
}

static void sub_on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_sub *s = ac->data;
    s->ctx = NULL;
    s->confirmed = 0;
    if (!s->stopping) {
        log_warn("event=redis_subscriber_disconnected");
        sub_schedule_retry(s);
    }
}

static void sub_connect(redis_sub *s)
{
    redisAsyncContext *ac = s->socket ? redisAsyncConnectUnix(s->socket) : redisAsyncConnect(s->host, (int)s->port);
    if (ac == NULL || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        sub_schedule_retry(s);
        return;
    }
    ac->data = s;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, sub_on_connect);
    redisAsyncSetDisconnectCallback(ac, sub_on_disconnect);
    s->ctx = ac;
    s->confirmed = 0;
    const char **argv = calloc((size_t)s->n_channels + 1, sizeof *argv);
    if (argv == NULL)
        return;
    argv[0] = "SUBSCRIBE";
    for (int i = 0; i < s->n_channels; i++)
        argv[i + 1] = s->channels[i];
    redisAsyncCommandArgv(ac, sub_on_reply, s, s->n_channels + 1, argv, NULL);
    free(argv);
}

redis_sub *redis_sub_start(struct event_base *base, const char *host, unsigned port, const char *socket,
                           const char *const *channels, int n_channels, redis_message_fn on_message,
                           redis_ready_fn on_ready, void *arg)
{
    redis_sub *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->base = base;
    s->host = host ? strdup(host) : NULL;
    s->port = port;
    s->socket = socket ? strdup(socket) : NULL;
    s->channels = calloc((size_t)n_channels, sizeof *s->channels);
    for (int i = 0; s->channels && i < n_channels; i++)
        s->channels[i] = strdup(channels[i]);
    s->n_channels = n_channels;
    s->on_message = on_message;
    s->on_ready = on_ready;
    s->arg = arg;
    s->retry = evtimer_new(base, sub_on_retry, s);
    sub_connect(s);
    return s;
}

int redis_sub_ready(const redis_sub *s) { return s != NULL && s->ctx != NULL && s->confirmed == s->n_channels; }

void redis_sub_stop(redis_sub *s)
{
    if (s == NULL)
        return;
    s->stopping = 1;
    if (s->ctx)
        redisAsyncFree(s->ctx);
    s->ctx = NULL;
    event_free(s->retry);
    for (int i = 0; i < s->n_channels; i++)
        free(s->channels[i]);
    free(s->channels);
    free(s->host);
    free(s->socket);
    free(s);
}
