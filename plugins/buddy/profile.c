/*
 * profile.c — what a user changes about themself: the signature
 * (CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST -> IMChangeSignInfoRsp) and the
 * avatar (CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST -> IMChangeAvatarRsp).
 *
 * loop:   refuse (result_code 1, nothing changed) a value that is too long
 *         (signature: more than 128 bytes, protocol H.8; avatar: more than
 *         the 255 characters of IMUser.avatar) or not well-formed UTF-8, and
 *         a change sooner than profile_min_interval_ms after the
 *         connection's previous one (each change is pushed to every client)
 * worker: store it and bump IMUser.updated so the next incremental user sync
 *         carries it (never backwards: GREATEST), then read the row back
 * loop:   refresh imgate.users, answer, then IMSignInfoChangedNotify (0x0215)
 *         or IMAvatarChangedNotify (0x0212) to every connected client, the
 *         user's other connections included, the requesting one excepted
 *         (it has the answer)
 *
 * The reference never answers an avatar change (protocol J.3) nor sends
 * IMAvatarChangedNotify; we do both, like the signature.
 */
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "buddy.h"
#include "user_row.h"
#include "utf8.h"

#define SIGN_INFO_MAX_BYTES 128
#define AVATAR_MAX_CHARS 255 /* IMUser.avatar varchar(255) */

typedef enum profile_field { FIELD_SIGN_INFO, FIELD_AVATAR } profile_field;

typedef struct profile_call {
    buddy_plugin *bp;
    imgate_reply_to to;
    profile_field field;
    char value[sizeof(((imgate_user *)0)->avatar)]; /* the larger of the two columns */
    imgate_user user;                                /* the row as stored */
    int stored;
} profile_call;

static const char *const UPDATE_SQL[] = {
    [FIELD_SIGN_INFO] = "UPDATE IMUser SET sign_info = ?, updated = GREATEST(updated, UNIX_TIMESTAMP()) WHERE id = ?",
    [FIELD_AVATAR] = "UPDATE IMUser SET avatar = ?, updated = GREATEST(updated, UNIX_TIMESTAMP()) WHERE id = ?",
};

static void reply(const profile_call *call, const imgate_reply_to *to, profile_field field, int ok)
{
    if (field == FIELD_SIGN_INFO) {
        IM__Buddy__IMChangeSignInfoRsp rsp = IM__BUDDY__IMCHANGE_SIGN_INFO_RSP__INIT;
        rsp.user_id = to->user_id;
        rsp.result_code = ok ? 0 : 1;
        if (ok)
            rsp.sign_info = (char *)call->user.sign_info;
        buddy_api->reply(to, CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE, &rsp.base);
    } else {
        IM__Buddy__IMChangeAvatarRsp rsp = IM__BUDDY__IMCHANGE_AVATAR_RSP__INIT;
        rsp.user_id = to->user_id;
        rsp.result_code = ok ? 0 : 1;
        buddy_api->reply(to, CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE, &rsp.base);
    }
}

static void announce(buddy_plugin *bp, const profile_call *call)
{
    if (call->field == FIELD_SIGN_INFO) {
        IM__Buddy__IMSignInfoChangedNotify n = IM__BUDDY__IMSIGN_INFO_CHANGED_NOTIFY__INIT;
        n.changed_user_id = call->user.id;
        n.sign_info = (char *)call->user.sign_info;
        buddy_api->broadcast(bp->self, IMGATE_CLASS_ALL, call->to.conn_id, SID_BUDDY_LIST,
                             CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, &n.base);
    } else {
        IM__Buddy__IMAvatarChangedNotify n = IM__BUDDY__IMAVATAR_CHANGED_NOTIFY__INIT;
        n.changed_user_id = call->user.id;
        n.avatar_url = (char *)call->user.avatar;
        buddy_api->broadcast(bp->self, IMGATE_CLASS_ALL, call->to.conn_id, SID_BUDDY_LIST,
                             CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY, &n.base);
    }
}

/* --- worker thread ---------------------------------------------------------------------------- */

static void store(imgate_worker *w, void *state, void *arg)
{
    profile_call *call = arg;
    uint32_t id = call->to.user_id;
    imgate_db_bind in[] = {IMGATE_DB_STR(call->value), IMGATE_DB_U32(&id)};
    if (buddy_api->db_exec(w, UPDATE_SQL[call->field], in, 2, NULL) < 0)
        return;
    /* Read back from the master: the row as committed, for the cache and the notify. */
    imgate_db_bind key[] = {IMGATE_DB_U32(&id)};
    imgate_db_bind cols[USER_ROW_NCOLS];
    user_row_binds(&call->user, cols);
    call->stored = buddy_api->db_query(w, IMGATE_DB_MASTER, "SELECT " USER_ROW_COLUMNS " FROM IMUser WHERE id = ?",
                                       key, 1, cols, USER_ROW_NCOLS) == 1;
}

/* --- loop thread ------------------------------------------------------------------------------- */

static void stored(void *state, void *arg, int status)
{
    profile_call *call = arg;
    buddy_plugin *bp = call->bp;
    int ok = status == IMGATE_OK && call->stored;
    if (!ok) {
        buddy_api->metric_inc(bp->db_failures, 1);
        buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "profile_store_failed", 5,
                               "event=profile_change_failed user_id=%u field=%s status=%d", call->to.user_id,
                               call->field == FIELD_SIGN_INFO ? "sign_info" : "avatar", status);
        reply(call, &call->to, call->field, 0);
    } else {
        const imgate_users_v1 *users = bp->users.table;
        if (users)
            users->update(bp->users.state, &call->user);
        reply(call, &call->to, call->field, 1);
        announce(bp, call);
        buddy_api->metric_inc(call->field == FIELD_SIGN_INFO ? bp->sign_changes : bp->avatar_changes, 1);
    }
    buddy_api->request_done(&call->to);
    free(call);
}

static void refuse(buddy_plugin *bp, const imgate_request *req, profile_field field, const char *why)
{
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    buddy_api->metric_inc(bp->profile_refused, 1);
    buddy_api->log_limited(bp->self, IMGATE_LOG_INFO, "profile_refused", 5,
                           "event=profile_change_refused user_id=%u field=%s reason=%s", req->user_id,
                           field == FIELD_SIGN_INFO ? "sign_info" : "avatar", why);
    profile_call nothing;
    memset(&nothing, 0, sizeof nothing);
    reply(&nothing, &to, field, 0);
    buddy_api->request_done(&to);
}

static void change(buddy_plugin *bp, const imgate_request *req, profile_field field, const char *value)
{
    size_t bytes = strlen(value), chars = 0;
    if (!utf8_check(value, bytes, &chars)) {
        refuse(bp, req, field, "not_utf8");
        return;
    }
    if (field == FIELD_SIGN_INFO ? bytes > SIGN_INFO_MAX_BYTES : chars > AVATAR_MAX_CHARS) {
        refuse(bp, req, field, "too_long");
        return;
    }
    buddy_conn *slot = buddy_conn_slot(bp, req->conn_id);
    long long now = buddy_now_ms();
    if (slot == NULL) {
        refuse(bp, req, field, "connection_gone");
        return;
    }
    if (slot->last_profile_change_ms != 0 && now - slot->last_profile_change_ms < bp->cfg.profile_interval_ms) {
        refuse(bp, req, field, "too_frequent");
        return;
    }
    profile_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        refuse(bp, req, field, "out_of_memory");
        return;
    }
    slot->last_profile_change_ms = now;
    call->bp = bp;
    call->to = IMGATE_REPLY_TO(req);
    call->field = field;
    memcpy(call->value, value, bytes + 1); /* fits: at most 255 characters of at most 4 bytes */
    /* Keyed by the user: two changes from two of their devices are stored in the order received. */
    buddy_api->submit_job(bp->self, req->user_id, store, stored, call);
}

void buddy_on_change_sign_info(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    const IM__Buddy__IMChangeSignInfoReq *in = (const IM__Buddy__IMChangeSignInfoReq *)body;
    change(state, req, FIELD_SIGN_INFO, in->sign_info);
}

void buddy_on_change_avatar(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    const IM__Buddy__IMChangeAvatarReq *in = (const IM__Buddy__IMChangeAvatarReq *)body;
    change(state, req, FIELD_AVATAR, in->avatar_url);
}
