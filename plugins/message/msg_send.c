/*
 * msg_send.c — CID_MSG_DATA (protocol H.4, H.6): the handler's checks, and a
 * message's end once its row is committed or it is refused.
 *
 * loop:   the core decoded the IMMsgData; the sender is the session's user
 *         whatever the body claims, the time is the server's; anything that
 *         cannot be stored as sent is refused here (see refusal())
 * conv:   conversation.c checks, numbers and writes it (order kept)
 * loop:   after the COMMIT: IMMsgDataAck with the request's seq, then the
 *         IMMsgData to every connection of the receiver (group: every member)
 *         and the sender's other connections, then the unread counters
 *
 * A refused message gets no answer, as in the reference: an IMMsgDataAck
 * always means "stored". The connection stays usable.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Message.pb-c.h"
#include "message.h"

static int is_group_type(uint32_t t) { return t == MSG_TYPE_GROUP_TEXT || t == MSG_TYPE_GROUP_AUDIO; }
static int is_audio_type(uint32_t t) { return t == MSG_TYPE_SINGLE_AUDIO || t == MSG_TYPE_GROUP_AUDIO; }

/* Why the message cannot be stored as sent, or NULL. */
static const char *refusal(const msg_plugin *mp, uint32_t from, const IM__Message__IMMsgData *in)
{
    uint32_t t = (uint32_t)in->msg_type;
    if (t != MSG_TYPE_SINGLE_TEXT && t != MSG_TYPE_SINGLE_AUDIO && t != MSG_TYPE_GROUP_TEXT && t != MSG_TYPE_GROUP_AUDIO)
        return "unknown message type";
    if (in->msg_data.len == 0)
        return "empty";
    if (in->to_session_id == 0)
        return "no receiver";
    if (!is_group_type(t) && in->to_session_id == from)
        return "to oneself";
    if (is_audio_type(t)) {
        /* protocol H.8: a 4-byte duration, then the audio */
        if (in->msg_data.len <= 4)
            return "audio without sound";
        if (in->msg_data.len > mp->cfg.audio_max)
            return "audio too long";
        return NULL;
    }
    /* The content column holds 4096 characters of utf8mb4: never let MySQL cut or reject it. */
    if (in->msg_data.len > MSG_CONTENT_MAX_BYTES)
        return "text too long";
    long chars = msg_utf8_chars(in->msg_data.data, in->msg_data.len);
    if (chars < 0)
        return "not UTF-8";
    if (chars > MSG_CONTENT_MAX_CHARS)
        return "text too long";
    return NULL;
}

void msg_on_data(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    msg_plugin *mp = state;
    const IM__Message__IMMsgData *in = (const IM__Message__IMMsgData *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    const char *why = refusal(mp, req->user_id, in);
    if (why != NULL) {
        msg_api->metric_inc(mp->refused_invalid, 1);
        msg_api->log_limited(mp->self, IMGATE_LOG_INFO, "msg_refused", 20,
                             "event=msg_refused user=%u to=%u type=%u len=%zu reason=\"%s\"", req->user_id,
                             in->to_session_id, (unsigned)in->msg_type, in->msg_data.len, why);
        msg_api->request_done(&to);
        return;
    }
    msg *m = malloc(sizeof *m + in->msg_data.len);
    if (m == NULL) {
        msg_api->request_done(&to);
        return;
    }
    memset(m, 0, sizeof *m);
    m->mp = mp;
    m->to = to;
    m->from = req->user_id; /* the session's user: a claimed from_user_id is ignored */
    m->session = in->to_session_id;
    m->type = (uint32_t)in->msg_type;
    m->created = (uint32_t)time(NULL);
    m->len = in->msg_data.len;
    memcpy(m->data, in->msg_data.data, m->len);
    conv_submit(mp, m);
}

static void msg_free(msg *m)
{
    member_list_release(m->members);
    free(m);
}

void msg_refuse(msg_plugin *mp, msg *m, imgate_metric *why, const char *reason)
{
    msg_api->metric_inc(why, 1);
    msg_api->log_limited(mp->self, IMGATE_LOG_INFO, "msg_refused", 20,
                         "event=msg_refused user=%u to=%u type=%u reason=\"%s\"", m->from, m->session, m->type, reason);
    msg_api->request_done(&m->to);
    msg_free(m);
}

static void counted(void *state, const void *reply_, void *arg)
{
    msg_plugin *mp = state;
    const redisReply *r = reply_;
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        msg_api->log_limited(mp->self, IMGATE_LOG_WARN, "unread_count_failed", 5,
                             "event=unread_count_failed reason=\"%s\"", r ? r->str : "redis unreachable");
}

/* protocol H.6: the group's message count, and the sender has read everything up to it. */
static const char GROUP_COUNT_SCRIPT[] = "local c = redis.call('HINCRBY', KEYS[1], 'count', 1) "
                                         "redis.call('HSET', KEYS[2], 'count', c) return c";

static void count_unread(msg_plugin *mp, const msg *m)
{
    if (is_group_type(m->type)) {
        char k1[40], k2[48];
        snprintf(k1, sizeof k1, "%u_im_group_msg", m->session);
        snprintf(k2, sizeof k2, "%u_%u_im_user_group", m->from, m->session);
        const char *argv[] = {"EVAL", GROUP_COUNT_SCRIPT, "2", k1, k2};
        msg_api->redis(mp->self, counted, NULL, 5, argv, NULL);
        return;
    }
    /* protocol E: unread_<to>, field <from> */
    char key[32], field[16];
    snprintf(key, sizeof key, "unread_%u", m->session);
    snprintf(field, sizeof field, "%u", m->from);
    const char *argv[] = {"HINCRBY", key, field, "1"};
    msg_api->redis(mp->self, counted, NULL, 4, argv, NULL);
}

void msg_complete(msg_plugin *mp, msg *m)
{
    int group = is_group_type(m->type);
    IM__Message__IMMsgDataAck ack = IM__MESSAGE__IMMSG_DATA_ACK__INIT;
    ack.user_id = m->from;
    ack.session_id = m->session;
    ack.msg_id = m->msg_id;
    ack.session_type = group ? SESSION_TYPE_GROUP : SESSION_TYPE_SINGLE;
    msg_api->reply(&m->to, CID_MSG_DATA_ACK, &ack.base);

    IM__Message__IMMsgData out = IM__MESSAGE__IMMSG_DATA__INIT;
    out.from_user_id = m->from;
    out.to_session_id = m->session;
    out.msg_id = m->msg_id;
    out.create_time = m->created;
    out.msg_type = (IM__BaseDefine__MsgType)m->type;
    out.msg_data.data = m->data;
    out.msg_data.len = m->len;
    if (group) {
        /* Every member's connections but the sending one (the sender's other devices included). */
        int n = 0;
        if (m->members != NULL)
            n = msg_api->deliver_many(mp->self, m->members->ids, m->members->n, IMGATE_CLASS_ALL, m->to.conn_id,
                                      SID_MSG, CID_MSG_DATA, &out.base);
        msg_api->metric_inc(mp->stored_group, 1);
        if (n > 0)
            msg_api->metric_inc(mp->group_deliveries, (uint64_t)n);
    } else {
        msg_api->deliver(mp->self, m->session, IMGATE_CLASS_ALL, 0, SID_MSG, CID_MSG_DATA, &out.base);
        msg_api->deliver(mp->self, m->from, IMGATE_CLASS_ALL, m->to.conn_id, SID_MSG, CID_MSG_DATA, &out.base);
        msg_api->metric_inc(mp->stored, 1);
    }
    count_unread(mp, m);
    msg_api->request_done(&m->to);
    msg_free(m);
}
