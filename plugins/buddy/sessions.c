/*
 * sessions.c — the recent session list (protocol H.8):
 *   CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST -> IMRecentContactSessionRsp
 *   CID_BUDDY_LIST_REMOVE_SESSION_REQ -> IMRemoveSessionRsp (+ IMRemoveSessionNotify)
 *
 * List: up to 100 sessions of the user with status 0 and updated >
 * latest_update_time, newest first, each with its latest message: id, data,
 * type and its real sender (the reference always names the peer for single
 * sessions, protocol J.15). Where the messages live (protocol D): a single
 * session's in IMMessage_<relateId % 8>, relateId being the pair's
 * IMRelationShip row (smallId, bigId; the oldest one if a race made two,
 * protocol J.12); a group session's in IMGroupMessage_<groupId % 8>, and
 * only what the user may read: they must still be a member, and messages
 * from before they joined (IMGroupMember.updated) are not theirs. Sessions
 * without such a message are left out, as the reference does. An audio
 * message shows as the encrypted "[语音]" (protocol A.3). A message type
 * clients do not know would make them drop the whole reply: such a session
 * is left out and logged. The reply stays under sync_page_bytes: only
 * message contents far beyond what clients send could reach it, and the
 * oldest sessions are then left out (logged).
 *
 * Remove: status = 1 (updated bumped); result 0 once stored, 1 when the
 * database failed; when a row changed, IMRemoveSessionNotify to the user's
 * other connections (group sessions too: the reference only tells them of
 * single ones). A new message revives the session (the message plugin sets
 * status back to 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "buddy.h"

#define RECENT_MAX 100
#define CONTENT_MAX 16384 /* varchar(4096) utf8mb4 */

#define SELECT_SESSIONS                                                                                \
    "SELECT peerId, type, updated FROM IMRecentSession WHERE userId = ? AND status = 0 AND updated > ? " \
    "ORDER BY updated DESC, id DESC LIMIT 100"
#define SELECT_RELATION \
    "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ? AND status = 0 ORDER BY id LIMIT 1"
#define SELECT_MEMBERSHIP \
    "SELECT updated FROM IMGroupMember WHERE groupId = ? AND userId = ? AND status = 0 ORDER BY id DESC LIMIT 1"
#define SINGLE_LATEST(n)                                                                                   \
    "SELECT msgId, type, fromId, content FROM IMMessage_" #n " WHERE relateId = ? AND status = 0 ORDER BY " \
    "msgId DESC, id DESC LIMIT 1"
#define GROUP_LATEST(n)                                                                                      \
    "SELECT msgId, type, userId, content FROM IMGroupMessage_" #n " WHERE groupId = ? AND status = 0 AND "    \
    "created >= ? ORDER BY msgId DESC, id DESC LIMIT 1"

static const char *const SINGLE_LATEST_SQL[8] = {SINGLE_LATEST(0), SINGLE_LATEST(1), SINGLE_LATEST(2),
                                                 SINGLE_LATEST(3), SINGLE_LATEST(4), SINGLE_LATEST(5),
                                                 SINGLE_LATEST(6), SINGLE_LATEST(7)};
static const char *const GROUP_LATEST_SQL[8] = {GROUP_LATEST(0), GROUP_LATEST(1), GROUP_LATEST(2), GROUP_LATEST(3),
                                                GROUP_LATEST(4), GROUP_LATEST(5), GROUP_LATEST(6), GROUP_LATEST(7)};

typedef struct session_entry {
    uint32_t peer_id, type, updated;
    uint32_t msg_id, msg_type, from_id;
    int audio;
    uint8_t *data; /* the message content as stored (not for audio) */
    size_t data_len;
} session_entry;

typedef struct sessions_call {
    buddy_plugin *bp;
    imgate_reply_to to;
    uint32_t since;
    session_entry rows[RECENT_MAX];
    size_t n_rows;
    session_entry fetched; /* the session row being read */
    int failed;
    unsigned skipped_type, skipped_size;
} sessions_call;

static int is_msg_type(uint32_t t)
{
    return t == MSG_TYPE_SINGLE_TEXT || t == MSG_TYPE_SINGLE_AUDIO || t == MSG_TYPE_GROUP_TEXT ||
           t == MSG_TYPE_GROUP_AUDIO;
}

/* --- worker thread ---------------------------------------------------------------------------- */

static int keep_session(void *ctx)
{
    sessions_call *call = ctx;
    if (call->n_rows < RECENT_MAX)
        call->rows[call->n_rows++] = call->fetched;
    return 0;
}

/* The latest readable message of session `s` into it: 1 found, 0 none, < 0 database error. */
static int latest_message(imgate_worker *w, uint32_t user_id, session_entry *s, uint8_t *content)
{
    const char *sql;
    uint32_t key = 0, since = 0;
    if (s->type == SESSION_TYPE_SINGLE) {
        uint32_t small = user_id < s->peer_id ? user_id : s->peer_id;
        uint32_t big = user_id < s->peer_id ? s->peer_id : user_id;
        imgate_db_bind in[] = {IMGATE_DB_U32(&small), IMGATE_DB_U32(&big)};
        imgate_db_bind out[] = {IMGATE_DB_U32(&key)};
        int rc = buddy_api->db_query(w, IMGATE_DB_REPLICA, SELECT_RELATION, in, 2, out, 1);
        if (rc <= 0)
            return rc;
        sql = SINGLE_LATEST_SQL[key % 8];
    } else {
        key = s->peer_id;
        imgate_db_bind in[] = {IMGATE_DB_U32(&key), IMGATE_DB_U32(&user_id)};
        imgate_db_bind out[] = {IMGATE_DB_U32(&since)};
        int rc = buddy_api->db_query(w, IMGATE_DB_REPLICA, SELECT_MEMBERSHIP, in, 2, out, 1);
        if (rc <= 0)
            return rc; /* not (or no longer) a member */
        sql = GROUP_LATEST_SQL[key % 8];
    }
    imgate_db_bind in[] = {IMGATE_DB_U32(&key), IMGATE_DB_U32(&since)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&s->msg_id), IMGATE_DB_U32(&s->msg_type), IMGATE_DB_U32(&s->from_id),
                            IMGATE_DB_BLOB_OUT(content, CONTENT_MAX)};
    int rc = buddy_api->db_query(w, IMGATE_DB_REPLICA, sql, in, s->type == SESSION_TYPE_SINGLE ? 1 : 2, out, 4);
    if (rc <= 0)
        return rc;
    s->data_len = out[3].len < CONTENT_MAX ? out[3].len : CONTENT_MAX;
    return 1;
}

static void read_sessions(imgate_worker *w, void *state, void *arg)
{
    sessions_call *call = arg;
    buddy_plugin *bp = call->bp;
    uint32_t user_id = call->to.user_id;
    imgate_db_bind in[] = {IMGATE_DB_U32(&user_id), IMGATE_DB_U32(&call->since)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&call->fetched.peer_id), IMGATE_DB_U32(&call->fetched.type),
                            IMGATE_DB_U32(&call->fetched.updated)};
    int rc = buddy_api->db_query_rows(w, IMGATE_DB_REPLICA, SELECT_SESSIONS, in, 2, out, 3, keep_session, call);
    if (rc < 0) {
        call->failed = rc;
        return;
    }
    uint8_t *content = malloc(CONTENT_MAX);
    if (content == NULL) {
        call->failed = IMGATE_ENOMEM;
        return;
    }
    /* What the reply may hold: its fixed part is a few bytes, each entry ~30 plus its data. */
    size_t budget = bp->cfg.page_bytes - 64, used = 0, kept = 0;
    for (size_t i = 0; i < call->n_rows; i++) {
        session_entry s = call->rows[i];
        if (s.type != SESSION_TYPE_SINGLE && s.type != SESSION_TYPE_GROUP)
            continue;
        rc = latest_message(w, user_id, &s, content);
        if (rc < 0) {
            call->failed = rc;
            break;
        }
        if (rc == 0)
            continue;
        if (!is_msg_type(s.msg_type)) {
            call->skipped_type++;
            continue;
        }
        s.audio = s.msg_type == MSG_TYPE_SINGLE_AUDIO || s.msg_type == MSG_TYPE_GROUP_AUDIO;
        size_t data_len = s.audio ? strlen(bp->audio_text) : s.data_len;
        if (used + 48 + data_len > budget) {
            call->skipped_size += (unsigned)(call->n_rows - i);
            break;
        }
        used += 48 + data_len;
        if (!s.audio && s.data_len > 0) {
            s.data = malloc(s.data_len);
            if (s.data == NULL) {
                call->failed = IMGATE_ENOMEM;
                break;
            }
            memcpy(s.data, content, s.data_len);
        }
        call->rows[kept++] = s;
    }
    free(content);
    call->n_rows = kept;
}

/* --- loop thread ------------------------------------------------------------------------------- */

static void free_sessions(sessions_call *call)
{
    for (size_t i = 0; i < call->n_rows; i++)
        free(call->rows[i].data);
    free(call);
}

static void sessions_read(void *state, void *arg, int status)
{
    sessions_call *call = arg;
    buddy_plugin *bp = call->bp;
    if (status != IMGATE_OK || call->failed) {
        buddy_api->metric_inc(bp->db_failures, 1);
        buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "sessions_failed", 5,
                               "event=recent_sessions_failed user_id=%u status=%d", call->to.user_id,
                               status != IMGATE_OK ? status : call->failed);
        buddy_api->request_done(&call->to);
        free_sessions(call);
        return;
    }
    if (call->skipped_type || call->skipped_size)
        buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "sessions_skipped", 5,
                               "event=recent_sessions_skipped user_id=%u unknown_msg_type=%u over_size=%u",
                               call->to.user_id, call->skipped_type, call->skipped_size);
    IM__BaseDefine__ContactSessionInfo infos[RECENT_MAX];
    IM__BaseDefine__ContactSessionInfo *list[RECENT_MAX];
    for (size_t i = 0; i < call->n_rows; i++) {
        const session_entry *s = &call->rows[i];
        IM__BaseDefine__ContactSessionInfo *info = &infos[i];
        im__base_define__contact_session_info__init(info);
        info->session_id = s->peer_id;
        info->session_type = (IM__BaseDefine__SessionType)s->type;
        info->session_status = (IM__BaseDefine__SessionStatusType)SESSION_STATUS_OK;
        info->updated_time = s->updated;
        info->latest_msg_id = s->msg_id;
        info->latest_msg_data.data = s->audio ? (uint8_t *)bp->audio_text : s->data;
        info->latest_msg_data.len = s->audio ? strlen(bp->audio_text) : s->data_len;
        info->latest_msg_type = (IM__BaseDefine__MsgType)s->msg_type;
        info->latest_msg_from_user_id = s->from_id;
        list[i] = info;
    }
    IM__Buddy__IMRecentContactSessionRsp rsp = IM__BUDDY__IMRECENT_CONTACT_SESSION_RSP__INIT;
    rsp.user_id = call->to.user_id;
    rsp.n_contact_session_list = call->n_rows;
    rsp.contact_session_list = list;
    buddy_api->reply(&call->to, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, &rsp.base);
    buddy_api->request_done(&call->to);
    free_sessions(call);
}

void buddy_on_recent_sessions(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    buddy_plugin *bp = state;
    const IM__Buddy__IMRecentContactSessionReq *in = (const IM__Buddy__IMRecentContactSessionReq *)body;
    buddy_api->metric_inc(bp->session_requests, 1);
    sessions_call *call = calloc(1, sizeof *call);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (call == NULL) {
        buddy_api->request_done(&to);
        return;
    }
    call->bp = bp;
    call->to = to;
    call->since = in->latest_update_time;
    buddy_api->submit_job(bp->self, req->conn_id, read_sessions, sessions_read, call);
}

/* --- remove -------------------------------------------------------------------------------------- */

typedef struct remove_call {
    buddy_plugin *bp;
    imgate_reply_to to;
    uint32_t session_type, session_id;
    int64_t changed;
} remove_call;

static void remove_row(imgate_worker *w, void *state, void *arg)
{
    remove_call *call = arg;
    uint32_t user_id = call->to.user_id;
    imgate_db_bind in[] = {IMGATE_DB_U32(&user_id), IMGATE_DB_U32(&call->session_id),
                           IMGATE_DB_U32(&call->session_type)};
    call->changed = buddy_api->db_exec(w,
                                       "UPDATE IMRecentSession SET status = 1, updated = GREATEST(updated, "
                                       "UNIX_TIMESTAMP()) WHERE userId = ? AND peerId = ? AND type = ? AND status = 0",
                                       in, 3, NULL);
}

/*
 * Tells the message plugin, through Redis, that a session of this pair or group was removed: it
 * bumps (and so revives) sessions once per second, and its next round would otherwise skip a
 * session removed within the second of its last bump. The mark is deleted by the next round's id
 * script; its expiry only bounds what an unused mark costs (any later second bumps anyway).
 * Set after the row is stored, so a round that finds the mark writes after the removal.
 */
static void mark_removed(buddy_plugin *bp, uint32_t user_id, uint32_t type, uint32_t peer)
{
    char key[64];
    if (type == SESSION_TYPE_GROUP)
        snprintf(key, sizeof key, "imgate:session_removed:group:%u", peer);
    else
        snprintf(key, sizeof key, "imgate:session_removed:pair:%u:%u", user_id < peer ? user_id : peer,
                 user_id < peer ? peer : user_id);
    const char *argv[] = {"SET", key, "1", "EX", "60"};
    buddy_api->redis(bp->self, NULL, NULL, 5, argv, NULL);
}

static void row_removed(void *state, void *arg, int status)
{
    remove_call *call = arg;
    buddy_plugin *bp = call->bp;
    int ok = status == IMGATE_OK && call->changed >= 0;
    if (!ok) {
        buddy_api->metric_inc(bp->db_failures, 1);
        buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "session_remove_failed", 5,
                               "event=session_remove_failed user_id=%u status=%d", call->to.user_id,
                               status != IMGATE_OK ? status : (int)call->changed);
    }
    IM__Buddy__IMRemoveSessionRsp rsp = IM__BUDDY__IMREMOVE_SESSION_RSP__INIT;
    rsp.user_id = call->to.user_id;
    rsp.result_code = ok ? 0 : 1;
    rsp.session_type = (IM__BaseDefine__SessionType)call->session_type;
    rsp.session_id = call->session_id;
    buddy_api->reply(&call->to, CID_BUDDY_LIST_REMOVE_SESSION_RES, &rsp.base);
    if (ok && call->changed > 0) {
        mark_removed(bp, call->to.user_id, call->session_type, call->session_id);
        IM__Buddy__IMRemoveSessionNotify n = IM__BUDDY__IMREMOVE_SESSION_NOTIFY__INIT;
        n.user_id = call->to.user_id;
        n.session_type = (IM__BaseDefine__SessionType)call->session_type;
        n.session_id = call->session_id;
        buddy_api->deliver(bp->self, call->to.user_id, IMGATE_CLASS_ALL, call->to.conn_id, SID_BUDDY_LIST,
                           CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY, &n.base);
        buddy_api->metric_inc(bp->sessions_removed, 1);
    }
    buddy_api->request_done(&call->to);
    free(call);
}

void buddy_on_remove_session(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    buddy_plugin *bp = state;
    const IM__Buddy__IMRemoveSessionReq *in = (const IM__Buddy__IMRemoveSessionReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    remove_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        buddy_api->request_done(&to);
        return;
    }
    call->bp = bp;
    call->to = to;
    call->session_type = (uint32_t)in->session_type;
    call->session_id = in->session_id;
    buddy_api->submit_job(bp->self, req->conn_id, remove_row, row_removed, call);
}
