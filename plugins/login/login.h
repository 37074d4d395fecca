/*
 * login.h — the login plugin's shared state and helpers.
 *
 * The plugin owns everything a TeamTalk client does between connecting and
 * being online (protocol H.1–H.3): login with lockout, logout, device tokens,
 * push shield, the "which server" query, and mobile-kicks-PC. Sessions and
 * the kick rules themselves are the core's (session_bind / session_kick). It
 * keeps the IMUser row of every user logged in on this node and offers it to
 * the other plugins as the imgate.users service.
 */
#ifndef IMGATE_LOGIN_H
#define IMGATE_LOGIN_H

#include <stdint.h>

#include <imgate/plugin.h>
#include <imgate/services.h>
#include <imgate/teamtalk.h>

#include "u64map.h"

/* The core's table: one object for the daemon's life (set in init). */
extern const imgate_core_api *login_api;

typedef struct login_config {
    /* Refuse a user name with this many failures inside the window (protocol H.2: 10 / 30 min). */
    long long lockout_failures;
    long long lockout_window_ms;
    /* Refuse every login from a source address with this many failures inside its window. */
    long long addr_failures;
    long long addr_window_ms;
    long long addr_concurrency; /* attempts in flight from one address that do not count against addr_failures */
    /* Store an Argon2id hash on a successful legacy (MD5) login. */
    int upgrade_legacy;
    unsigned long long argon2_opslimit;
    size_t argon2_memlimit;
    /* With Redis unreachable the lockout cannot be checked: refuse (1) or allow (0) logins. */
    int refuse_without_redis;
} login_config;

typedef struct login_plugin {
    imgate_instance *self;
    login_config cfg;
    u64map users;         /* user id -> imgate_user* of users logged in on this node */
    uint64_t attempt_seq; /* makes attempt entries unique in Redis */
    imgate_metric *ok, *refused_password, *refused_locked, *refused_address, *refused_name, *db_unavailable,
        *redis_unavailable, *overloaded, *upgraded, *logouts;
} login_plugin;

/* The per-connection slot (conn_data): survives a reload, so a second login
 * request during one is still recognised as a duplicate. */
typedef struct login_conn {
    int pending; /* a login request is being validated */
} login_conn;

/* Handlers (login_request.c, account.c). */
void login_on_request(void *state, const imgate_request *req, const ProtobufCMessage *body);
void login_on_malformed_request(void *state, const imgate_request *req);
void login_on_logout(void *state, const imgate_request *req, const ProtobufCMessage *body);
void login_on_device_token(void *state, const imgate_request *req, const ProtobufCMessage *body);
void login_on_push_shield(void *state, const imgate_request *req, const ProtobufCMessage *body);
void login_on_query_push_shield(void *state, const imgate_request *req, const ProtobufCMessage *body);
void login_on_kick_pc(void *state, const imgate_request *req, const ProtobufCMessage *body);
void login_on_server_query(void *state, const imgate_request *req, const ProtobufCMessage *body);
void login_on_close(void *state, const imgate_conn_info *conn);

/* Tells the user's mobile connections that a PC logged in or out (IMPCLoginStatusNotify). */
void login_notify_pc_status(login_plugin *lp, uint32_t user_id, int online);

/* The user cache (users.c): what imgate.users serves. */
void login_users_put(login_plugin *lp, const imgate_user *u);
void login_users_drop(login_plugin *lp, uint32_t user_id);
void login_users_free(login_plugin *lp);
extern const imgate_users_v1 login_users_service;

#endif
