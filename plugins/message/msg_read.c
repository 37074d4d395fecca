/*
 * msg_read.c — the small commands around messages (protocol H.4 step 4, H.5,
 * H.8): a receiver's IMMsgDataAck, the read ack and its notify, the server
 * time.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "IM.Message.pb-c.h"
#include "message.h"

void msg_on_receiver_ack(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    /* A receiver's IMMsgDataAck only ends the reference's 15-s pending entry, which never resends:
     * there is nothing to do, and nothing is answered. */
}

void msg_on_time(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    IM__Message__IMClientTimeRsp rsp = IM__MESSAGE__IMCLIENT_TIME_RSP__INIT;
    rsp.server_time = (uint32_t)time(NULL);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    msg_api->reply(&to, CID_MSG_TIME_RESPONSE, &rsp.base);
}

/* protocol H.5/H.6: the member has seen everything the group counted. Only for a group that has a
 * count, so a client cannot make Redis keep keys for groups that do not exist. */
static const char GROUP_READ_SCRIPT[] = "local c = redis.call('HGET', KEYS[1], 'count') "
                                        "if c then redis.call('HSET', KEYS[2], 'count', c) end return 0";

typedef struct read_ack {
    msg_plugin *mp;
    imgate_reply_to to;
    uint32_t user_id, session_id, msg_id, session_type;
} read_ack;

static void read_ack_free(read_ack *ra)
{
    msg_api->request_done(&ra->to);
    free(ra);
}

static void cleared(void *state, const void *reply_, void *arg)
{
    read_ack *ra = arg;
    const redisReply *r = reply_;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        msg_api->log_limited(ra->mp->self, IMGATE_LOG_WARN, "read_ack_failed", 5,
                             "event=read_ack_failed user=%u session=%u reason=\"%s\"", ra->user_id, ra->session_id,
                             r ? r->str : "redis unreachable");
        read_ack_free(ra);
        return;
    }
    /* The user's other connections learn it was read; the one that said so hears nothing. */
    IM__Message__IMMsgDataReadNotify n = IM__MESSAGE__IMMSG_DATA_READ_NOTIFY__INIT;
    n.user_id = ra->user_id;
    n.session_id = ra->session_id;
    n.msg_id = ra->msg_id;
    n.session_type = (IM__BaseDefine__SessionType)ra->session_type;
    msg_api->deliver(ra->mp->self, ra->user_id, IMGATE_CLASS_ALL, ra->to.conn_id, SID_MSG, CID_MSG_READ_NOTIFY, &n.base);
    msg_api->metric_inc(ra->mp->read_acks, 1);
    read_ack_free(ra);
}

void msg_on_read_ack(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    msg_plugin *mp = state;
    const IM__Message__IMMsgDataReadAck *in = (const IM__Message__IMMsgDataReadAck *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    read_ack *ra = in->session_id ? calloc(1, sizeof *ra) : NULL;
    if (ra == NULL) {
        msg_api->request_done(&to);
        return;
    }
    ra->mp = mp;
    ra->to = to;
    ra->user_id = req->user_id; /* the session's user, whatever the body says */
    ra->session_id = in->session_id;
    ra->msg_id = in->msg_id;
    ra->session_type = (uint32_t)in->session_type;
    if (ra->session_type == SESSION_TYPE_GROUP) {
        char k1[40], k2[48];
        snprintf(k1, sizeof k1, "%u_im_group_msg", in->session_id);
        snprintf(k2, sizeof k2, "%u_%u_im_user_group", req->user_id, in->session_id);
        const char *argv[] = {"EVAL", GROUP_READ_SCRIPT, "2", k1, k2};
        if (msg_api->redis(mp->self, cleared, ra, 5, argv, NULL) != IMGATE_OK)
            read_ack_free(ra);
        return;
    }
    /* Single chat: the whole counter goes, whatever msg_id says (protocol H.5). */
    char key[32], field[16];
    snprintf(key, sizeof key, "unread_%u", req->user_id);
    snprintf(field, sizeof field, "%u", in->session_id);
    const char *argv[] = {"HDEL", key, field};
    if (msg_api->redis(mp->self, cleared, ra, 3, argv, NULL) != IMGATE_OK)
        read_ack_free(ra);
}
