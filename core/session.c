/* session.c — see session.h. */
#include "session.h"

#include <stdlib.h>

#include "IM.Login.pb-c.h"
#include "imgate/plugin.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

typedef struct user_sessions {
    conn *head;
    int count;
} user_sessions;

uint32_t client_class(uint32_t client_type)
{
    return (client_type & 0x10) ? IMGATE_CLASS_MOBILE : IMGATE_CLASS_PC;
}

conn *session_first(uint32_t user_id)
{
    user_sessions *u = u64map_get(&g_server.users, user_id);
    return u ? u->head : NULL;
}

void session_unbind(conn *c)
{
    if (c->user_id == 0 || !c->logged_in)
        return;
    user_sessions *u = u64map_get(&g_server.users, c->user_id);
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
        u64map_del(&g_server.users, c->user_id);
        free(u);
    }
    metrics_set("imgate_users_online", "", (int64_t)g_server.users.len);
}

/* Sends IMKickUser, takes the connection out of the registry and closes it
 * after the grace period: it accepts nothing more meanwhile. */
static void kick_one(conn *victim, uint32_t reason)
{
    IM__Login__IMKickUser kick = IM__LOGIN__IMKICK_USER__INIT;
    kick.user_id = victim->user_id;
    kick.kick_reason = (IM__BaseDefine__KickReasonType)reason;
    conn_send_message(victim, IM__BASE_DEFINE__SERVICE_ID__SID_LOGIN, IM__BASE_DEFINE__LOGIN_CMD_ID__CID_LOGIN_KICK_USER,
                      0, &kick.base);
    log_info("event=kick conn=%llu user=%u client_type=%u reason=%u", (unsigned long long)victim->id,
             victim->user_id, victim->client_type, reason);
    metrics_add("imgate_kicks_total", reason == 1 ? "reason=\"duplicate\"" : "reason=\"mobile_kick\"", 1);
    victim->kicked = 1;
    session_unbind(victim);
    conn_close_after(victim, server_cfg()->kick_grace_ms, "kicked");
}

int session_kick(uint32_t user_id, uint32_t class_mask, uint64_t except_conn, uint32_t reason)
{
    int n = 0;
    conn *c = session_first(user_id);
    while (c) {
        conn *next = c->user_next; /* kick_one unlinks c */
        if (c->id != except_conn && (client_class(c->client_type) & class_mask)) {
            kick_one(c, reason);
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
    int kicked = session_kick(user_id, client_class(client_type), c->id, 1 /* KICK_REASON_DUPLICATE_USER */);
    user_sessions *u = u64map_get(&g_server.users, user_id);
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL || u64map_put(&g_server.users, user_id, u) != 0) {
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
    metrics_set("imgate_users_online", "", (int64_t)g_server.users.len);
    log_info("event=login conn=%llu user=%u client_type=%u kicked=%d", (unsigned long long)c->id, user_id,
             client_type, kicked);
    return kicked;
}

int session_conns(uint32_t user_id, uint32_t class_mask, uint64_t *out, int max)
{
    int n = 0;
    for (conn *c = session_first(user_id); c; c = c->user_next)
        if (client_class(c->client_type) & class_mask) {
            if (n < max && out)
                out[n] = c->id;
            n++;
        }
    return n;
}
