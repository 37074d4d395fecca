/*
 * msg_history.c — reading stored messages back (protocol H.5): history
 * (0x0309), the latest id (0x030b) and messages by id (0x030d), for single
 * and group sessions, from the replica pool.
 *
 * loop:   a group session asks imgate.groups first: only members read, and
 *         only what was sent since they joined
 * worker: the relation of the pair (never created here), then the rows,
 *         newest first; audio comes back as duration + bytes
 * loop:   the answer (nothing when the database failed: an empty list would
 *         tell the client there is no history)
 *
 * Answers are bounded: msg_cnt by history_max, the id list by by_id_max, the
 * bytes by reply_max_bytes (a history page then ends early; the client asks
 * again from the last id it got).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Message.pb-c.h"
#include "message.h"

typedef struct read_call {
    msg_plugin *mp;
    imgate_reply_to to;
    uint16_t command;
    uint32_t user, session, session_type;
    uint32_t begin, count;
    uint32_t *ids;
    size_t n_ids;
    uint32_t relation; /* single: known from the conversation cache, else looked up */
    int member;        /* group: the user is a member */
    uint32_t joined;   /* group: since when */
    /* results */
    int failed;
    stored_msg *msgs;
    size_t n_msgs;
    uint32_t latest;
} read_call;

static void call_free(read_call *c)
{
    stored_msgs_free(c->msgs, c->n_msgs);
    free(c->msgs);
    free(c->ids);
    free(c);
}

/* --- worker ------------------------------------------------------------------------------------------- */

#define SINGLE_COLS "SELECT msgId, fromId, created, type, content FROM %s FORCE INDEX (idx_relateId_status_msgId_created) "
#define GROUP_COLS "SELECT msgId, userId, created, type, content FROM %s "

/* Newest first by msgId, the order clients show and page by (msg_id_begin cuts by msgId too), on
 * the reference's (relateId, status, msgId, created) and (groupId, msgId, status, created) indexes;
 * `created` comes from the clock of whichever node stored the row, so it is not the order. */
static void read_history(imgate_worker *w, read_call *c, int group)
{
    char sql[400];
    uint32_t limit = c->count;
    imgate_db_bind in[4];
    size_t n = 0;
    if (group) {
        snprintf(sql, sizeof sql,
                 GROUP_COLS "WHERE groupId = ? AND status = 0 AND created >= ?%s ORDER BY msgId DESC, id DESC LIMIT ?",
                 store_group_table(c->session), c->begin ? " AND msgId <= ?" : "");
        imgate_db_bind a = IMGATE_DB_U32(&c->session), b = IMGATE_DB_U32(&c->joined);
        in[n++] = a;
        in[n++] = b;
    } else {
        snprintf(sql, sizeof sql,
                 SINGLE_COLS "WHERE relateId = ? AND status = 0%s ORDER BY msgId DESC, id DESC LIMIT ?",
                 store_msg_table(c->relation), c->begin ? " AND msgId <= ?" : "");
        imgate_db_bind a = IMGATE_DB_U32(&c->relation);
        in[n++] = a;
    }
    if (c->begin) {
        imgate_db_bind b = IMGATE_DB_U32(&c->begin);
        in[n++] = b;
    }
    imgate_db_bind l = IMGATE_DB_U32(&limit);
    in[n++] = l;
    if (c->count == 0)
        return;
    c->msgs = calloc(c->count, sizeof *c->msgs);
    if (c->msgs == NULL) {
        c->failed = 1;
        return;
    }
    int rc = store_read_msgs(w, c->mp, sql, in, n, 1, c->msgs, c->count, c->mp->cfg.reply_max);
    if (rc < 0)
        c->failed = 1;
    else
        c->n_msgs = (size_t)rc;
}

static void read_latest(imgate_worker *w, read_call *c, int group)
{
    char sql[300];
    uint32_t id = group ? c->session : c->relation;
    if (group)
        snprintf(sql, sizeof sql,
                 "SELECT msgId FROM %s WHERE groupId = ? AND status = 0 ORDER BY msgId DESC, id DESC LIMIT 1",
                 store_group_table(id));
    else
        snprintf(sql, sizeof sql,
                 "SELECT msgId FROM %s FORCE INDEX (idx_relateId_status_msgId_created) WHERE relateId = ? AND status = 0 "
                 "ORDER BY msgId DESC, id DESC LIMIT 1",
                 store_msg_table(id));
    imgate_db_bind in[] = {IMGATE_DB_U32(&id)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&c->latest)};
    if (msg_api->db_query(w, IMGATE_DB_REPLICA, sql, in, 1, out, 1) < 0)
        c->failed = 1;
}

static void read_by_id(imgate_worker *w, read_call *c, int group)
{
    char sql[300];
    if (group)
        snprintf(sql, sizeof sql, GROUP_COLS "WHERE groupId = ? AND status = 0 AND msgId = ? AND created >= ?",
                 store_group_table(c->session));
    else
        snprintf(sql, sizeof sql, "SELECT msgId, fromId, created, type, content FROM %s "
                 "WHERE relateId = ? AND status = 0 AND msgId = ?", store_msg_table(c->relation));
    c->msgs = calloc(c->n_ids ? c->n_ids : 1, sizeof *c->msgs);
    if (c->msgs == NULL) {
        c->failed = 1;
        return;
    }
    size_t budget = c->mp->cfg.reply_max;
    for (size_t i = 0; i < c->n_ids; i++) {
        uint32_t id = c->ids[i];
        imgate_db_bind in[] = {IMGATE_DB_U32(group ? &c->session : &c->relation), IMGATE_DB_U32(&id),
                               IMGATE_DB_U32(&c->joined)};
        int rc = store_read_msgs(w, c->mp, sql, in, group ? 3 : 2, 1, &c->msgs[c->n_msgs], 1, budget);
        if (rc < 0) {
            c->failed = 1;
            return;
        }
        if (rc == 0)
            continue;
        size_t len = c->msgs[c->n_msgs].len;
        if (c->n_msgs > 0 && len > budget) { /* the answer is full */
            stored_msgs_free(&c->msgs[c->n_msgs], 1);
            break;
        }
        budget = len >= budget ? 0 : budget - len;
        c->n_msgs++;
    }
}

static void read_work(imgate_worker *w, void *state, void *arg)
{
    read_call *c = arg;
    int group = c->session_type == SESSION_TYPE_GROUP;
    if (group && !c->member)
        return; /* answered empty */
    if (!group && c->relation == 0) {
        int64_t rel = store_find_relation(w, IMGATE_DB_REPLICA, c->user, c->session);
        if (rel < 0) {
            c->failed = 1;
            return;
        }
        if (rel == 0)
            return; /* they never spoke */
        c->relation = (uint32_t)rel;
    }
    switch (c->command) {
    case CID_MSG_LIST_REQUEST:
        read_history(w, c, group);
        break;
    case CID_MSG_GET_LATEST_MSG_ID_REQ:
        read_latest(w, c, group);
        break;
    default:
        read_by_id(w, c, group);
        break;
    }
}

/* --- loop: answers ---------------------------------------------------------------------------------------- */

/* MsgInfo views of the rows (pointing into them). */
static IM__BaseDefine__MsgInfo **msg_infos(read_call *c, IM__BaseDefine__MsgInfo **store)
{
    IM__BaseDefine__MsgInfo *infos = calloc(c->n_msgs ? c->n_msgs : 1, sizeof *infos);
    IM__BaseDefine__MsgInfo **ptrs = calloc(c->n_msgs ? c->n_msgs : 1, sizeof *ptrs);
    if (infos == NULL || ptrs == NULL) {
        free(infos);
        free(ptrs);
        return NULL;
    }
    for (size_t i = 0; i < c->n_msgs; i++) {
        IM__BaseDefine__MsgInfo init = IM__BASE_DEFINE__MSG_INFO__INIT;
        infos[i] = init;
        infos[i].msg_id = c->msgs[i].msg_id;
        infos[i].from_session_id = c->msgs[i].from;
        infos[i].create_time = c->msgs[i].created;
        infos[i].msg_type = (IM__BaseDefine__MsgType)c->msgs[i].type;
        infos[i].msg_data.data = c->msgs[i].data;
        infos[i].msg_data.len = c->msgs[i].len;
        ptrs[i] = &infos[i];
    }
    *store = infos;
    return ptrs;
}

static void answer(read_call *c)
{
    IM__BaseDefine__MsgInfo *infos = NULL;
    IM__BaseDefine__MsgInfo **list = NULL;
    if (c->command != CID_MSG_GET_LATEST_MSG_ID_REQ && (list = msg_infos(c, &infos)) == NULL)
        return;
    IM__BaseDefine__SessionType st = (IM__BaseDefine__SessionType)c->session_type;
    if (c->command == CID_MSG_LIST_REQUEST) {
        IM__Message__IMGetMsgListRsp rsp = IM__MESSAGE__IMGET_MSG_LIST_RSP__INIT;
        rsp.user_id = c->user;
        rsp.session_type = st;
        rsp.session_id = c->session;
        rsp.msg_id_begin = c->begin;
        rsp.n_msg_list = c->n_msgs;
        rsp.msg_list = list;
        msg_api->reply(&c->to, CID_MSG_LIST_RESPONSE, &rsp.base);
    } else if (c->command == CID_MSG_GET_LATEST_MSG_ID_REQ) {
        IM__Message__IMGetLatestMsgIdRsp rsp = IM__MESSAGE__IMGET_LATEST_MSG_ID_RSP__INIT;
        rsp.user_id = c->user;
        rsp.session_type = st;
        rsp.session_id = c->session;
        rsp.latest_msg_id = c->latest;
        msg_api->reply(&c->to, CID_MSG_GET_LATEST_MSG_ID_RSP, &rsp.base);
    } else {
        IM__Message__IMGetMsgByIdRsp rsp = IM__MESSAGE__IMGET_MSG_BY_ID_RSP__INIT;
        rsp.user_id = c->user;
        rsp.session_type = st;
        rsp.session_id = c->session;
        rsp.n_msg_list = c->n_msgs;
        rsp.msg_list = list;
        msg_api->reply(&c->to, CID_MSG_GET_BY_MSG_ID_RES, &rsp.base);
    }
    free(infos);
    free(list);
}

static void read_done(void *state, void *arg, int status)
{
    read_call *c = arg;
    if (status != IMGATE_OK || c->failed)
        msg_api->log_limited(c->mp->self, IMGATE_LOG_WARN, "msg_read_failed", 5,
                             "event=msg_read_failed user=%u command=0x%04x session=%u status=%d", c->user, c->command,
                             c->session, status);
    else
        answer(c);
    msg_api->request_done(&c->to);
    call_free(c);
}

static void start_job(read_call *c)
{
    msg_read_submit(c->mp, read_work, read_done, c);
}

static void member_looked_up(void *arg, int status, const imgate_group_view *view)
{
    read_call *c = arg;
    if (status == IMGATE_EUNAVAIL) {
        read_done(c->mp, c, IMGATE_EUNAVAIL);
        return;
    }
    const imgate_group_member *me = status == IMGATE_OK ? imgate_group_find_member(view, c->user) : NULL;
    c->member = me != NULL;
    c->joined = me ? me->joined : 0;
    start_job(c);
}

/* Single: straight to a worker. Group: membership first. */
static void start(msg_plugin *mp, const imgate_request *req, read_call *c)
{
    c->mp = mp;
    c->to = IMGATE_REPLY_TO(req);
    c->command = req->command_id;
    c->user = req->user_id; /* the session's user, whatever the body says */
    if (c->session_type != SESSION_TYPE_GROUP) {
        conv *cv = conv_find_pair(mp, c->user, c->session);
        c->relation = cv ? cv->id : 0;
        start_job(c);
        return;
    }
    const imgate_groups_v1 *groups = mp->groups.table;
    if (groups == NULL || groups->get(mp->groups.state, c->session, member_looked_up, c) != IMGATE_OK) {
        c->member = 0;
        start_job(c);
    }
}

void msg_on_history(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    msg_plugin *mp = state;
    const IM__Message__IMGetMsgListReq *in = (const IM__Message__IMGetMsgListReq *)body;
    read_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        imgate_reply_to to = IMGATE_REPLY_TO(req);
        msg_api->request_done(&to);
        return;
    }
    c->session = in->session_id;
    c->session_type = (uint32_t)in->session_type;
    c->begin = in->msg_id_begin;
    c->count = in->msg_cnt < mp->cfg.history_max ? in->msg_cnt : mp->cfg.history_max;
    start(mp, req, c);
}

void msg_on_latest(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    msg_plugin *mp = state;
    const IM__Message__IMGetLatestMsgIdReq *in = (const IM__Message__IMGetLatestMsgIdReq *)body;
    read_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        imgate_reply_to to = IMGATE_REPLY_TO(req);
        msg_api->request_done(&to);
        return;
    }
    c->session = in->session_id;
    c->session_type = (uint32_t)in->session_type;
    start(mp, req, c);
}

void msg_on_by_id(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    msg_plugin *mp = state;
    const IM__Message__IMGetMsgByIdReq *in = (const IM__Message__IMGetMsgByIdReq *)body;
    read_call *c = calloc(1, sizeof *c);
    size_t n = in->n_msg_id_list < mp->cfg.by_id_max ? in->n_msg_id_list : mp->cfg.by_id_max;
    if (c == NULL || (n > 0 && (c->ids = malloc(n * sizeof *c->ids)) == NULL)) {
        free(c);
        imgate_reply_to to = IMGATE_REPLY_TO(req);
        msg_api->request_done(&to);
        return;
    }
    if (n > 0)
        memcpy(c->ids, in->msg_id_list, n * sizeof *c->ids);
    c->n_ids = n;
    c->session = in->session_id;
    c->session_type = (uint32_t)in->session_type;
    start(mp, req, c);
}
