/*
 * message_read.c — what a client does with stored messages, over the real
 * protocol: an offline receiver finds unread counts and history after login;
 * unread -> read ack -> notify to the reader's other connections -> unread 0;
 * history paging with msg_id_begin, newest first; the latest id; messages by
 * id; the server time; a receiver's IMMsgDataAck accepted silently; bounded
 * answers; reads never reach another pair's messages; malformed requests.
 */
#include <time.h>

#include "message_util.h"

static harness *h;

enum { ALICE = 211, BOB = 212, CAROL = 213 };

static IM__Message__IMUnreadMsgCntRsp *unread(imgate_client *c)
{
    IM__Message__IMUnreadMsgCntReq req = IM__MESSAGE__IMUNREAD_MSG_CNT_REQ__INIT;
    req.user_id = 99999; /* claims are ignored */
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, &req.base, CID_MSG_UNREAD_CNT_RESPONSE, &pdu, 5000) != 0)
        return NULL;
    IM__Message__IMUnreadMsgCntRsp *r = im__message__imunread_msg_cnt_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return r;
}

static IM__Message__IMGetMsgListRsp *history(imgate_client *c, uint32_t type, uint32_t session, uint32_t begin,
                                             uint32_t count)
{
    IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
    req.user_id = 99999;
    req.session_type = (IM__BaseDefine__SessionType)type;
    req.session_id = session;
    req.msg_id_begin = begin;
    req.msg_cnt = count;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_MSG, CID_MSG_LIST_REQUEST, &req.base, CID_MSG_LIST_RESPONSE, &pdu, 5000) != 0)
        return NULL;
    IM__Message__IMGetMsgListRsp *r = im__message__imget_msg_list_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return r;
}

/* "5,4,3": the ids of a list, for comparisons. */
static const char *ids_of(IM__BaseDefine__MsgInfo **list, size_t n)
{
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%u", i ? "," : "", list[i]->msg_id);
    return buf;
}

static uint32_t latest(imgate_client *c, uint32_t type, uint32_t session)
{
    IM__Message__IMGetLatestMsgIdReq req = IM__MESSAGE__IMGET_LATEST_MSG_ID_REQ__INIT;
    req.user_id = 99999;
    req.session_type = (IM__BaseDefine__SessionType)type;
    req.session_id = session;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_MSG, CID_MSG_GET_LATEST_MSG_ID_REQ, &req.base, CID_MSG_GET_LATEST_MSG_ID_RSP, &pdu,
                           5000) != 0)
        return 0xffffffffu;
    IM__Message__IMGetLatestMsgIdRsp *r = im__message__imget_latest_msg_id_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    uint32_t id = r && r->session_id == session ? r->latest_msg_id : 0xffffffffu;
    if (r)
        im__message__imget_latest_msg_id_rsp__free_unpacked(r, NULL);
    return id;
}

static IM__Message__IMGetMsgByIdRsp *by_id(imgate_client *c, uint32_t type, uint32_t session, uint32_t *ids, size_t n)
{
    IM__Message__IMGetMsgByIdReq req = IM__MESSAGE__IMGET_MSG_BY_ID_REQ__INIT;
    req.user_id = 99999;
    req.session_type = (IM__BaseDefine__SessionType)type;
    req.session_id = session;
    req.n_msg_id_list = n;
    req.msg_id_list = ids;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_MSG, CID_MSG_GET_BY_MSG_ID_REQ, &req.base, CID_MSG_GET_BY_MSG_ID_RES, &pdu, 5000) != 0)
        return NULL;
    IM__Message__IMGetMsgByIdRsp *r = im__message__imget_msg_by_id_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return r;
}

static void test_offline_unread_history(void)
{
    /* Bob is offline while alice writes. */
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    char text[16];
    for (int i = 1; i <= 5; i++) {
        snprintf(text, sizeof text, "m%d", i);
        int seq = msg_send_text(a, BOB, text);
        if (msg_ack_id(a, seq, 5000) != (uint32_t)i)
            tap_bail("message %d not acked", i);
    }
    imgate_client *b_pc = msg_login(h, 0, "bob", "bob123", CLIENT_WINDOWS);
    imgate_client *b_mob = msg_login(h, 0, "bob", "bob123", CLIENT_ANDROID);
    IM__Message__IMUnreadMsgCntRsp *u = unread(b_pc);
    tap_ok(u != NULL, "bob, logging in after, asks IMUnreadMsgCntReq and gets an answer");
    if (u) {
        tap_is_int(u->user_id, BOB, "user_id is the session's user");
        tap_is_int(u->total_cnt, 5, "total_cnt 5");
        tap_is_int(u->n_unreadinfo_list, 1, "one session");
        if (u->n_unreadinfo_list == 1) {
            IM__BaseDefine__UnreadInfo *e = u->unreadinfo_list[0];
            tap_ok(e->session_id == ALICE && e->session_type == SESSION_TYPE_SINGLE && e->unread_cnt == 5 &&
                       e->latest_msg_id == 5 && e->latest_msg_type == MSG_TYPE_SINGLE_TEXT &&
                       e->latest_msg_from_user_id == ALICE && e->latest_msg_data.len == 2 &&
                       memcmp(e->latest_msg_data.data, "m5", 2) == 0,
                   "alice: 5 unread, latest id 5 'm5', text, from alice");
        }
        im__message__imunread_msg_cnt_rsp__free_unpacked(u, NULL);
    }

    IM__Message__IMGetMsgListRsp *l = history(b_pc, SESSION_TYPE_SINGLE, ALICE, 0, 3);
    tap_ok(l && l->user_id == BOB && l->session_type == SESSION_TYPE_SINGLE && l->session_id == ALICE &&
               l->msg_id_begin == 0,
           "history answers, echoing the session and msg_id_begin");
    tap_is_str(l ? ids_of(l->msg_list, l->n_msg_list) : "", "5,4,3", "msg_id_begin 0, 3 messages: the newest, newest first");
    if (l && l->n_msg_list > 0)
        tap_ok(l->msg_list[0]->from_session_id == ALICE && l->msg_list[0]->msg_type == MSG_TYPE_SINGLE_TEXT &&
                   l->msg_list[0]->msg_data.len == 2 && memcmp(l->msg_list[0]->msg_data.data, "m5", 2) == 0 &&
                   l->msg_list[0]->create_time > 0,
               "each MsgInfo carries sender, time, type and the bytes");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);
    l = history(b_pc, SESSION_TYPE_SINGLE, ALICE, 2, 3);
    tap_is_str(l ? ids_of(l->msg_list, l->n_msg_list) : "", "2,1", "msg_id_begin 2: ids <= 2, the next page");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);
    l = history(b_pc, SESSION_TYPE_SINGLE, ALICE, 0, 4000000000u);
    tap_is_str(l ? ids_of(l->msg_list, l->n_msg_list) : "", "5,4,3", "a huge msg_cnt is capped (history_max = 3 here)");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);
    l = history(b_pc, SESSION_TYPE_SINGLE, ALICE, 0, 0);
    tap_ok(l && l->n_msg_list == 0, "msg_cnt 0: an empty list");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);

    tap_is_int(latest(b_pc, SESSION_TYPE_SINGLE, ALICE), 5, "latest msg id 5");
    tap_is_int(latest(b_pc, SESSION_TYPE_SINGLE, CAROL), 0, "latest msg id with someone never spoken to: 0");

    uint32_t ids[] = {1, 3, 99};
    IM__Message__IMGetMsgByIdRsp *r = by_id(b_pc, SESSION_TYPE_SINGLE, ALICE, ids, 3);
    tap_ok(r && r->session_id == ALICE && r->user_id == BOB, "by id answers");
    tap_is_str(r ? ids_of(r->msg_list, r->n_msg_list) : "", "1,3", "ids 1, 3 and 99: the two that exist");
    if (r)
        im__message__imget_msg_by_id_rsp__free_unpacked(r, NULL);
    uint32_t many[5000];
    for (int i = 0; i < 5000; i++)
        many[i] = (uint32_t)(i % 5) + 1;
    r = by_id(b_pc, SESSION_TYPE_SINGLE, ALICE, many, 5000);
    tap_ok(r && r->n_msg_list == 4, "5000 ids: only the first by_id_max (4 here) are looked up");
    if (r)
        im__message__imget_msg_by_id_rsp__free_unpacked(r, NULL);

    /* Carol reads "her" session with alice: nothing of bob's. */
    imgate_client *c = msg_login(h, 0, "carol", "carol123", CLIENT_WINDOWS);
    l = history(c, SESSION_TYPE_SINGLE, ALICE, 0, 10);
    tap_ok(l && l->n_msg_list == 0, "carol's history with alice is empty: a session is always the reader's own");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);
    r = by_id(c, SESSION_TYPE_SINGLE, ALICE, ids, 2);
    tap_ok(r && r->n_msg_list == 0, "and by id finds none of bob's messages");
    if (r)
        im__message__imget_msg_by_id_rsp__free_unpacked(r, NULL);
    imgate_client_close(c);

    /* Read ack: counter cleared, the other device told, the acking one not. */
    IM__Message__IMMsgDataReadAck ra = IM__MESSAGE__IMMSG_DATA_READ_ACK__INIT;
    ra.user_id = 99999;
    ra.session_id = ALICE;
    ra.msg_id = 5;
    ra.session_type = SESSION_TYPE_SINGLE;
    imgate_client_send_msg(b_pc, SID_MSG, CID_MSG_READ_ACK, &ra.base, NULL);
    imgate_client_pdu pdu;
    int rc = imgate_client_wait(b_mob, CID_MSG_READ_NOTIFY, 0, &pdu, 3000);
    IM__Message__IMMsgDataReadNotify *n = rc == 0 ? im__message__immsg_data_read_notify__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(n && n->user_id == BOB && n->session_id == ALICE && n->msg_id == 5 && n->session_type == SESSION_TYPE_SINGLE,
           "bob's mobile gets IMMsgDataReadNotify{bob, alice, 5, single}");
    if (n)
        im__message__immsg_data_read_notify__free_unpacked(n, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_ok(nothing_of(b_pc, CID_MSG_READ_NOTIFY, 400), "the PC that sent the read ack gets nothing back");
    char key[64];
    snprintf(key, sizeof key, "HEXISTS unread_%d %d", BOB, ALICE);
    tap_is_int(redis_num(h, key), 0, "unread_<bob> no longer has alice");
    u = unread(b_pc);
    tap_ok(u && u->total_cnt == 0 && u->n_unreadinfo_list == 0, "unread is now 0, with no sessions");
    if (u)
        im__message__imunread_msg_cnt_rsp__free_unpacked(u, NULL);

    /* A receiver's IMMsgDataAck: accepted, unanswered. */
    IM__Message__IMMsgDataAck ack = IM__MESSAGE__IMMSG_DATA_ACK__INIT;
    ack.user_id = BOB;
    ack.session_id = ALICE;
    ack.msg_id = 5;
    ack.session_type = SESSION_TYPE_SINGLE;
    imgate_client_send_msg(b_pc, SID_MSG, CID_MSG_DATA_ACK, &ack.base, NULL);
    tap_ok(nothing_of(b_pc, CID_MSG_DATA_ACK, 400) && heartbeat_ok(b_pc),
           "a receiver's IMMsgDataAck is accepted silently; the connection goes on");
    imgate_client_close(a);
    imgate_client_close(b_pc);
    imgate_client_close(b_mob);
}

static void test_time_and_malformed(void)
{
    imgate_client *c = msg_login(h, 0, "carol", "carol123", CLIENT_WINDOWS);
    time_t before = time(NULL);
    imgate_client_pdu pdu;
    int rc = imgate_client_call(c, SID_MSG, CID_MSG_TIME_REQUEST, NULL, CID_MSG_TIME_RESPONSE, &pdu, 3000);
    IM__Message__IMClientTimeRsp *t = rc == 0 ? im__message__imclient_time_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(t && t->server_time >= before && t->server_time <= time(NULL) + 1, "IMClientTimeReq (a bare header): server_time now");
    if (t)
        im__message__imclient_time_rsp__free_unpacked(t, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);

    const uint16_t cids[] = {CID_MSG_READ_ACK, CID_MSG_UNREAD_CNT_REQUEST, CID_MSG_LIST_REQUEST,
                             CID_MSG_GET_LATEST_MSG_ID_REQ, CID_MSG_GET_BY_MSG_ID_REQ};
    for (size_t i = 0; i < sizeof cids / sizeof cids[0]; i++)
        imgate_client_send(c, SID_MSG, cids[i], "\x0a\xff\xff", 3, NULL);
    imgate_client_pdu any;
    rc = imgate_client_recv(c, &any, 600);
    if (rc == 0)
        imgate_client_pdu_free(&any);
    tap_is_int(rc, IMGATE_CLIENT_TIMEOUT, "malformed read requests are dropped unanswered");
    tap_ok(heartbeat_ok(c), "and the connection stays usable");

    /* Reads before login are refused by the gate: the connection is closed. */
    imgate_client *anon = harness_connect(h, 0);
    IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
    req.session_type = SESSION_TYPE_SINGLE;
    req.session_id = ALICE;
    req.msg_cnt = 10;
    imgate_client_send_msg(anon, SID_MSG, CID_MSG_LIST_REQUEST, &req.base, NULL);
    tap_is_int(imgate_client_wait_closed(anon, 3000), IMGATE_CLIENT_CLOSED, "history before login: closed, unanswered");
    imgate_client_close(anon);
    imgate_client_close(c);
}

/* 60 reads in flight on one connection, with read_jobs_max = 2: they wait their turn and every one
 * is answered; a message sent meanwhile by another user is acked. */
static void test_many_reads(void)
{
    imgate_client *b = msg_login(h, 0, "bob", "bob123", CLIENT_WINDOWS);
    imgate_client *c = msg_login(h, 0, "carol", "carol123", CLIENT_WINDOWS);
    enum { N = 60 };
    uint16_t seqs[N];
    int sent = 1;
    for (int i = 0; i < N; i++) {
        IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
        req.session_type = SESSION_TYPE_SINGLE;
        req.session_id = ALICE;
        req.msg_id_begin = 0;
        req.msg_cnt = 3;
        sent &= imgate_client_send_msg(b, SID_MSG, CID_MSG_LIST_REQUEST, &req.base, &seqs[i]) == 0;
    }
    uint32_t id = msg_ack_id(c, msg_send_text(c, ALICE, "meanwhile"), 5000);
    int answered = 0;
    for (int i = 0; i < N; i++) {
        imgate_client_pdu pdu;
        if (imgate_client_wait(b, CID_MSG_LIST_RESPONSE, seqs[i], &pdu, 5000) != 0)
            break;
        answered++;
        imgate_client_pdu_free(&pdu);
    }
    tap_ok(sent && answered == N, "60 history reads in flight with read_jobs_max = 2: each is answered (%d)", answered);
    tap_ok(id > 0, "another user's message sent meanwhile is acked");
    int status = 0;
    char *metrics = http_get(h, 0, "/metrics", &status);
    const char *w = metrics ? strstr(metrics, "imgate_plugin_reads_waited_total{") : NULL;
    tap_ok(w && atoll(strchr(w, ' ') + 1) > 0, "reads beyond the cap waited their turn (reads_waited %lld)",
           w ? atoll(strchr(w, ' ') + 1) : -1);
    free(metrics);
    imgate_client_close(b);
    imgate_client_close(c);
}

int main(void)
{
    h = harness_start("message_read");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, MSG_PLUGINS, "[plugin.message]\nhistory_max = 3\nby_id_max = 4\nread_jobs_max = 2\n") != 0)
        tap_bail("imgated did not start");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    add_user(h, CAROL, "carol", "carol123", 0);
    test_offline_unread_history();
    test_time_and_malformed();
    test_many_reads();
    harness_stop(h);
    return tap_done();
}
