/*
 * message_util.h — what the message tests share: sending IMMsgData as a
 * client does, waiting for its ack and for deliveries, and reading MySQL.
 */
#ifndef IMGATE_T_MESSAGE_UTIL_H
#define IMGATE_T_MESSAGE_UTIL_H

#include <stdio.h>

#include "IM.Message.pb-c.h"
#include "imgate/teamtalk.h"
#include "login_util.h"

/* Every message test runs the three plugins a client needs for chat. */
#define MSG_PLUGINS "login,group,message"

/* A logged-in client, or bail out. */
static inline imgate_client *msg_login(harness *h, int node, const char *user, const char *pass, uint32_t type)
{
    imgate_client *c = harness_connect(h, node);
    if (c == NULL || !login_ok(c, user, pass, type))
        tap_bail("cannot log in as %s", user);
    return c;
}

/* Sends IMMsgData{from (claimed), to, type, data}; returns the seq, or -1. */
static inline int msg_send_as(imgate_client *c, uint32_t claimed_from, uint32_t to, uint32_t type, const void *data,
                              size_t len)
{
    IM__Message__IMMsgData m = IM__MESSAGE__IMMSG_DATA__INIT;
    m.from_user_id = claimed_from;
    m.to_session_id = to;
    m.msg_id = 0;
    m.create_time = 12345; /* the server sets its own */
    m.msg_type = (IM__BaseDefine__MsgType)type;
    m.msg_data.data = (uint8_t *)data;
    m.msg_data.len = len;
    uint16_t seq;
    if (imgate_client_send_msg(c, SID_MSG, CID_MSG_DATA, &m.base, &seq) != 0)
        return -1;
    return seq;
}

static inline int msg_send_text(imgate_client *c, uint32_t to, const char *text)
{
    return msg_send_as(c, 0, to, MSG_TYPE_SINGLE_TEXT, text, strlen(text));
}

/* The IMMsgDataAck for `seq` (free with im__message__immsg_data_ack__free_unpacked), or NULL. */
static inline IM__Message__IMMsgDataAck *msg_wait_ack(imgate_client *c, int seq, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (seq < 0 || imgate_client_wait(c, CID_MSG_DATA_ACK, seq, &pdu, timeout_ms) != 0)
        return NULL;
    IM__Message__IMMsgDataAck *a = im__message__immsg_data_ack__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return a;
}

/* The acked msg_id of `seq`, 0 when no ack came. */
static inline uint32_t msg_ack_id(imgate_client *c, int seq, int timeout_ms)
{
    IM__Message__IMMsgDataAck *a = msg_wait_ack(c, seq, timeout_ms);
    uint32_t id = a ? a->msg_id : 0;
    if (a)
        im__message__immsg_data_ack__free_unpacked(a, NULL);
    return id;
}

/* The next delivered IMMsgData (a push: seq 0), or NULL. */
static inline IM__Message__IMMsgData *msg_wait_data(imgate_client *c, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_MSG_DATA, 0, &pdu, timeout_ms) != 0)
        return NULL;
    IM__Message__IMMsgData *m = im__message__immsg_data__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return m;
}

static inline void msg_free_data(IM__Message__IMMsgData *m)
{
    if (m)
        im__message__immsg_data__free_unpacked(m, NULL);
}

/* The first column of the first row of `sql` as a number (-1 when there is none). */
static inline long long sql_num(harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline long long sql_num(harness *h, const char *fmt, ...)
{
    char sql[2048], out[128] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (harness_sql(h, sql, out, sizeof out) != 0 || out[0] == '\0' || strcmp(out, "NULL") == 0)
        return -1;
    return atoll(out);
}

/* Runs SQL or bails out. */
static inline void sql_do(harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void sql_do(harness *h, const char *fmt, ...)
{
    char sql[8192], out[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (harness_sql(h, sql, out, sizeof out) != 0)
        tap_bail("SQL failed: %s", sql);
}

/* The relation id of a pair (-1 when there is none). */
static inline long long relation_of(harness *h, unsigned a, unsigned b)
{
    return sql_num(h, "SELECT id FROM IMRelationShip WHERE smallId = %u AND bigId = %u AND status = 0 ORDER BY id LIMIT 1",
                   a < b ? a : b, a < b ? b : a);
}

/* Redis as a number ("" or nil: -1). */
static inline long long redis_num(harness *h, const char *args)
{
    char out[128] = "";
    if (harness_redis(h, args, out, sizeof out) != 0 || out[0] == '\0')
        return -1;
    return atoll(out);
}

/* Discards whatever arrives until the connection has been quiet for quiet_ms; returns the count. */
static inline int msg_drain(imgate_client *c, int quiet_ms)
{
    int n = 0;
    imgate_client_pdu pdu;
    while (imgate_client_recv(c, &pdu, quiet_ms) == 0) {
        imgate_client_pdu_free(&pdu);
        n++;
    }
    return n;
}

/* Nothing of command `cid` arrives within ms (other PDUs stay queued). */
static inline int nothing_of(imgate_client *c, uint16_t cid, int ms)
{
    imgate_client_pdu pdu;
    int rc = imgate_client_wait(c, cid, -1, &pdu, ms);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    return rc == IMGATE_CLIENT_TIMEOUT;
}

#endif
