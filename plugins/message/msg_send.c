/*
 * msg_send.c — CID_MSG_DATA (protocol H.4, H.6): the handler's checks, and a
 * message's end once its row is committed or it is refused.
 *
 * loop:   the core decoded the IMMsgData; the sender is the session's user
 *         whatever the body claims, the time is the server's; anything that
 *         cannot be stored as sent is refused here (see refusal())
 * conv:   conversation.c checks, numbers and writes it (order kept)
 * loop:   after the COMMIT: the round's unread counters, then per message
 *         IMMsgDataAck with the request's seq and the IMMsgData to every
 *         connection of the receiver (group: every member) and the sender's
 *         other connections
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
    handover_admit(mp, m);
}

static void msg_free(msg_plugin *mp, msg *m)
{
    handover_done(mp, m);
    member_list_release(m->members);
    free(m);
}

void msg_refuse(msg_plugin *mp, msg *m, imgate_metric *why, const char *reason)
{
    msg_api->metric_inc(why, 1);
    msg_api->log_limited(mp->self, IMGATE_LOG_INFO, "msg_refused", 20,
                         "event=msg_refused user=%u to=%u type=%u reason=\"%s\"", m->from, m->session, m->type, reason);
    msg_api->request_done(&m->to);
    msg_free(mp, m);
}

static void counted(void *state, const void *reply_, void *arg)
{
    msg_plugin *mp = state;
    const redisReply *r = reply_;
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        msg_api->log_limited(mp->self, IMGATE_LOG_WARN, "unread_count_failed", 5,
                             "event=unread_count_failed reason=\"%s\"", r ? r->str : "redis unreachable");
}

/* protocol H.6: the group's message count goes up by one per message, and each message's sender has
 * read everything up to it. KEYS[1] = <gid>_im_group_msg; ARGV = gid, then the senders in order. */
static const char GROUP_COUNT_SCRIPT[] =
    "local n = #ARGV - 1 "
    "local c = redis.call('HINCRBY', KEYS[1], 'count', n) "
    "for i = 2, #ARGV do "
    "  redis.call('HSET', ARGV[i] .. '_' .. ARGV[1] .. '_im_user_group', 'count', c - n + i - 1) "
    "end "
    "return c";

/* protocol E: unread_<to>, field <from>, up by n. */
static void count_single(msg_plugin *mp, uint32_t from, uint32_t to, uint32_t n)
{
    char key[32], field[16], by[16];
    snprintf(key, sizeof key, "unread_%u", to);
    snprintf(field, sizeof field, "%u", from);
    snprintf(by, sizeof by, "%u", n);
    const char *argv[] = {"HINCRBY", key, field, by};
    msg_api->redis(mp->self, counted, NULL, 4, argv, NULL);
}

void msg_count_round(msg_plugin *mp, const round_write *rw)
{
    if (rw->n == 0)
        return;
    if (rw->is_group) {
        const char **argv = malloc((5 + rw->n) * sizeof *argv); /* EVAL, script, 1, key, gid, senders */
        char (*ids)[12] = malloc((1 + rw->n) * sizeof *ids);
        char key[40];
        if (argv == NULL || ids == NULL) {
            free(argv);
            free(ids);
            return;
        }
        snprintf(key, sizeof key, "%u_im_group_msg", rw->conv_id);
        snprintf(ids[0], sizeof ids[0], "%u", rw->conv_id);
        argv[0] = "EVAL";
        argv[1] = GROUP_COUNT_SCRIPT;
        argv[2] = "1";
        argv[3] = key;
        argv[4] = ids[0];
        for (uint32_t i = 0; i < rw->n; i++) {
            snprintf(ids[1 + i], sizeof ids[0], "%u", rw->msgs[i]->from);
            argv[5 + i] = ids[1 + i];
        }
        msg_api->redis(mp->self, counted, NULL, (int)(5 + rw->n), argv, NULL);
        free(argv);
        free(ids);
        return;
    }
    /* A pair's round goes both ways at most: one HINCRBY per direction. */
    uint32_t a = rw->msgs[0]->from, b = rw->msgs[0]->session, ab = 0, ba = 0;
    for (uint32_t i = 0; i < rw->n; i++) {
        if (rw->msgs[i]->from == a)
            ab++;
        else
            ba++;
    }
    if (ab)
        count_single(mp, a, b, ab);
    if (ba)
        count_single(mp, b, a, ba);
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
    msg_api->request_done(&m->to);
    msg_free(mp, m);
}
