/* session.c — see session.h. */
#include "session.h"

#include <stdlib.h>

#include "imgate/plugin.h"
#include "imgate/teamtalk.h"
#include "log.h"
#include "metrics.h"
#include "u64map.h"

typedef struct user_sessions {
    conn *head;
    int count;
} user_sessions;

static u64map users; /* user id -> user_sessions* (u64map needs no init: zeroed is empty) */
static session_kick_fn kick_hook = conn_kick;
static session_presence_fn presence_hook;

void session_set_presence_hook(session_presence_fn fn) { presence_hook = fn; }

static void presence_changed(uint32_t user_id)
{
    if (presence_hook)
        presence_hook(user_id, session_presence(user_id));
}

void session_for_each_user(void (*fn)(uint32_t user_id, uint32_t mask, void *arg), void *arg)
{
    size_t pos = 0;
    uint64_t uid;
    while (u64map_next(&users, &pos, &uid, NULL))
        fn((uint32_t)uid, session_presence((uint32_t)uid), arg);
}
static metric_series *m_online;

void session_set_kick_hook(session_kick_fn fn) { kick_hook = fn ? fn : conn_kick; }

static void count_online(void)
{
    if (m_online == NULL)
        m_online = metrics_gauge("imgate_users_online", "");
    metrics_gauge_set(m_online, (int64_t)users.len);
}

static conn *first_of(uint32_t user_id)
{
    user_sessions *u = u64map_get(&users, user_id);
    return u ? u->head : NULL;
}

size_t session_user_count(void) { return users.len; }

void session_unbind(conn *c)
{
    if (c->user_id == 0 || !c->logged_in)
        return;
    user_sessions *u = u64map_get(&users, c->user_id);
    if (u == NULL)
        return;
    int linked = c->user_prev != NULL || u->head == c;
    if (!linked)
        return;
    if (c->user_prev)
        c->user_prev->user_next = c->user_next;
    else
        u->head = c->user_next;
    if (c->user_next)
        c->user_next->user_prev = c->user_prev;
    c->user_prev = c->user_next = NULL;
    if (--u->count == 0) {
        u64map_del(&users, c->user_id);
        free(u);
    }
    count_online();
    presence_changed(c->user_id);
}

int session_kick(uint32_t user_id, uint32_t class_mask, uint64_t except_conn, uint32_t reason)
{
    int n = 0;
    conn *c = first_of(user_id);
    while (c) {
        conn *next = c->user_next; /* unbinding c below unlinks it */
        if (c->id != except_conn && (imgate_client_class(c->client_type) & class_mask)) {
            session_unbind(c); /* a kicked connection is never served again */
            kick_hook(c, reason);
            n++;
        }
        c = next;
    }
    return n;
}

int session_bind(conn *c, uint32_t user_id, uint32_t client_type)
{
    session_unbind(c);
    c->user_id = user_id;
    c->client_type = client_type;
    int kicked = session_kick(user_id, imgate_client_class(client_type), c->id, KICK_REASON_DUPLICATE_USER);
    user_sessions *u = u64map_get(&users, user_id);
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL || u64map_put(&users, user_id, u) != 0) {
            free(u);
            return -1;
        }
    }
    c->logged_in = 1;
    c->user_prev = NULL;
    c->user_next = u->head;
    if (u->head)
        u->head->user_prev = c;
    u->head = c;
    u->count++;
    count_online();
    presence_changed(user_id);
    log_info("event=login conn=%llu user=%u client_type=%u kicked=%d", (unsigned long long)c->id, user_id,
             client_type, kicked);
    return kicked;
}

int session_conns(uint32_t user_id, uint32_t class_mask, uint64_t *out, int max)
{
    int n = 0;
    for (conn *c = first_of(user_id); c; c = c->user_next)
        if (imgate_client_class(c->client_type) & class_mask) {
            if (n < max && out)
                out[n] = c->id;
            n++;
        }
    return n;
}

uint32_t session_presence(uint32_t user_id)
{
    uint32_t mask = 0;
    for (conn *c = first_of(user_id); c; c = c->user_next)
        mask |= imgate_client_class(c->client_type);
    return mask;
}

int session_deliver(uint32_t user_id, uint32_t class_mask, uint64_t except_conn, uint16_t service_id,
                    uint16_t command_id, const uint8_t *body, size_t len)
{
    int n = 0;
    conn *c = first_of(user_id);
    while (c) {
        conn *next = c->user_next; /* a send may close c (output cap), which unlinks it later, not now */
        if (c->id != except_conn && (imgate_client_class(c->client_type) & class_mask) &&
            conn_send(c, service_id, command_id, 0, body, len) == IMGATE_OK)
            n++;
        c = next;
    }
    return n;
}

int session_broadcast(uint32_t class_mask, uint64_t except_conn, uint16_t service_id, uint16_t command_id,
                      const uint8_t *body, size_t len)
{
    int n = 0;
    size_t pos = 0;
    uint64_t uid;
    while (u64map_next(&users, &pos, &uid, NULL))
        n += session_deliver((uint32_t)uid, class_mask, except_conn, service_id, command_id, body, len);
    return n;
}

void session_shutdown(void)
{
    size_t pos = 0;
    void *v;
    while (u64map_next(&users, &pos, NULL, &v))
        free(v);
    u64map_free(&users);
}
