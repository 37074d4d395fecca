/*
 * login.h — the login plugin's shared state and helpers.
 *
 * The plugin owns everything a TeamTalk client does between connecting and
 * being online (spec H.1–H.3): login with lockout, logout, device tokens,
 * push shield, the "which server" query, and mobile-kicks-PC. Sessions and
 * the kick rules themselves are the core's (session_bind / session_kick).
 */
#ifndef IMGATE_LOGIN_H
#define IMGATE_LOGIN_H

#include <stdint.h>

#include <imgate/plugin.h>

#include "conn_set.h"

#define SID_LOGIN 0x0001
#define SID_BUDDY_LIST 0x0002

typedef struct login_config {
    /* Refuse a user name with this many failures inside the window (spec H.2: 10 / 30 min). */
    long long lockout_failures;
    long long lockout_window_ms;
    /* Refuse every login from a source address with this many failures inside its window. */
    long long addr_failures;
    long long addr_window_ms;
    /* Store an Argon2id hash on a successful legacy (MD5) login. */
    int upgrade_legacy;
    unsigned long long argon2_opslimit;
    size_t argon2_memlimit;
    /* With Redis unreachable the lockout cannot be checked: refuse (1) or allow (0) logins. */
    int refuse_without_redis;
} login_config;

typedef struct login_plugin {
    imgate_instance *self;
    const imgate_core_api *api;
    login_config cfg;
    conn_set pending; /* connections whose login is being validated */
    uint64_t failure_seq; /* makes failure entries unique in Redis */
} login_plugin;

/* Handlers (login_request.c, account.c). */
void login_on_request(void *state, const imgate_request *req);
void login_on_logout(void *state, const imgate_request *req);
void login_on_device_token(void *state, const imgate_request *req);
void login_on_push_shield(void *state, const imgate_request *req);
void login_on_query_push_shield(void *state, const imgate_request *req);
void login_on_kick_pc(void *state, const imgate_request *req);
void login_on_server_query(void *state, const imgate_request *req);
void login_on_close(void *state, const imgate_conn_info *conn);

/* Tells the user's mobile connections that a PC logged in or out (IMPCLoginStatusNotify). */
void login_notify_pc_status(login_plugin *lp, uint32_t user_id, int online);

#endif
