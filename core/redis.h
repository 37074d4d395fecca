/*
 * redis.h — the core's one Redis link: hiredis' asynchronous API attached to
 * the event loop (never blocks). Reconnects by itself after a failure.
 * Loop thread only.
 */
#ifndef IMGATE_REDIS_H
#define IMGATE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct event_base;
typedef struct redis_link redis_link;

/* Called exactly once per command: with the reply, or NULL when Redis is
 * unreachable or the link dropped before the reply came. The reply is freed
 * by hiredis after the callback returns. */
typedef void (*redis_reply_fn)(const redisReply *reply, void *arg);

/* Starts connecting (unix socket if `socket` is set, else host:port). A command
 * unanswered for `timeout_ms` drops the link: every pending command then gets
 * NULL and the link reconnects. */
redis_link *redis_link_start(struct event_base *base, const char *host, unsigned port, const char *socket, int db,
                             uint32_t timeout_ms);
/* Sends a command. Returns 0 (cb will run exactly once), or -1 when the link is
 * down or the command could not be queued (cb will NOT run). */
int redis_link_command(redis_link *r, redis_reply_fn cb, void *arg, int argc, const char **argv, const size_t *argvlen);
/* Disconnects; pending callbacks get NULL. */
void redis_link_stop(redis_link *r);

#endif

/*
 * A subscriber: a second link, in SUBSCRIBE mode, reconnecting by itself.
 * on_message runs for every message of the channels; on_ready each time the
 * subscriptions are (again) in place after a connect, so the caller can
 * resynchronise what it may have missed. Loop thread only.
 */
typedef struct redis_sub redis_sub;
typedef void (*redis_message_fn)(const char *channel, const char *payload, size_t len, void *arg);
typedef void (*redis_ready_fn)(void *arg);

redis_sub *redis_sub_start(struct event_base *base, const char *host, unsigned port, const char *socket,
                           const char *const *channels, int n_channels, redis_message_fn on_message,
                           redis_ready_fn on_ready, void *arg);
void redis_sub_stop(redis_sub *s);
/* 1 while subscribed. */
int redis_sub_ready(const redis_sub *s);
/* 1 while the command link is connected. */
int redis_link_up(const redis_link *r);
