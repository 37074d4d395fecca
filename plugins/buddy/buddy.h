/*
 * buddy.h — the buddy plugin's shared state and the entry points of its files.
 *
 * What a TeamTalk client loads right after login to draw its contact tree and
 * session list, and the presence it shows (protocol B.2 SID_BUDDY_LIST, H.3,
 * H.8): departments and users with incremental sync, user info, online status
 * and its notifications, signatures and avatars, recent sessions.
 *
 * MySQL is the truth for everything here; nothing that must survive a reload
 * lives in the plugin's memory (the per-connection slot is the core's).
 */
#ifndef IMGATE_BUDDY_H
#define IMGATE_BUDDY_H

#include <stddef.h>
#include <stdint.h>

#include <imgate/plugin.h>
#include <imgate/services.h>
#include <imgate/teamtalk.h>

/* The core's table: one object for the daemon's life (set in init). */
extern const imgate_core_api *buddy_api;

/* Who hears about a PC connection logging in or going away (IMUserStatNotify). */
typedef enum status_scope {
    SCOPE_EVERYONE,   /* every PC connection, as the reference does: O(online) per event */
    SCOPE_DEPARTMENT, /* the PC connections of the user's department */
    SCOPE_NONE,       /* nobody: clients poll with IMUsersStatReq */
} status_scope;

typedef struct buddy_config {
    status_scope scope;
    uint32_t page_users;        /* rows per all-user / department reply page, at most */
    uint32_t page_bytes;        /* protobuf body of one page, at most */
    uint32_t commit_lag_s;      /* how late a change may become visible after stamping `updated` */
    uint32_t sync_concurrency;  /* all-user / department syncs paging at once on this node */
    uint32_t user_info_max;     /* ids answered per IMUsersInfoReq */
    uint32_t status_max;        /* ids answered per IMUsersStatReq */
    long long profile_interval_ms; /* least time between two profile changes of one connection */
} buddy_config;

typedef struct sync_call sync_call; /* paged_sync.c */

typedef struct buddy_plugin {
    imgate_instance *self;
    buddy_config cfg;
    /* Paged syncs (paged_sync.c): how many hold a slot, and those waiting for one, oldest first. */
    unsigned sync_active;
    sync_call *sync_waiting, *sync_waiting_tail;
    imgate_service users; /* imgate.users (login plugin); table NULL when it is not loaded */
    /* latest_msg_data of an audio message: encrypt("[语音]") under aes_key (protocol A.3). */
    char audio_text[64];
    imgate_metric *user_syncs, *dept_syncs, *sync_pages, *sync_rows, *sync_bytes, *sync_refused, *sync_abandoned, *syncs_queued,
        *user_info_requests, *status_requests, *ids_truncated, *status_notifies, *status_notify_deliveries,
        *status_notify_bytes, *status_notify_ns, *sign_changes, *avatar_changes, *profile_refused,
        *session_requests, *sessions_removed, *db_failures;
} buddy_plugin;

/*
 * The per-connection slot (conn_data): kept across reloads, freed with the
 * connection. It only bounds what one connection may have running at once.
 */
typedef struct buddy_conn {
    uint8_t user_sync_running; /* an all-user sync is paging its reply */
    uint8_t dept_sync_running; /* a department sync is paging its reply */
    long long last_profile_change_ms;
} buddy_conn;

/* Milliseconds of a monotonic clock. */
long long buddy_now_ms(void);
/* The connection's slot, or NULL when the connection is gone. */
buddy_conn *buddy_conn_slot(buddy_plugin *bp, uint64_t conn_id);

/* Handlers (one file each). */
void buddy_on_departments(void *state, const imgate_request *req, const ProtobufCMessage *body);
void buddy_on_all_users(void *state, const imgate_request *req, const ProtobufCMessage *body);
void buddy_on_users_info(void *state, const imgate_request *req, const ProtobufCMessage *body);
void buddy_on_users_stat(void *state, const imgate_request *req, const ProtobufCMessage *body);
void buddy_on_change_sign_info(void *state, const imgate_request *req, const ProtobufCMessage *body);
void buddy_on_change_avatar(void *state, const imgate_request *req, const ProtobufCMessage *body);
void buddy_on_recent_sessions(void *state, const imgate_request *req, const ProtobufCMessage *body);
void buddy_on_remove_session(void *state, const imgate_request *req, const ProtobufCMessage *body);

/* Presence notifications (status_notify.c): the login and close hooks. */
void buddy_on_login(void *state, const imgate_conn_info *conn);
void buddy_on_close(void *state, const imgate_conn_info *conn);
void buddy_on_kick(void *state, const imgate_conn_info *conn);

/* A list request's ids beyond `max` are not answered: counted and logged (rate-limited). */
size_t buddy_bound_ids(buddy_plugin *bp, const imgate_request *req, size_t n, uint32_t max, const char *what);

#endif
