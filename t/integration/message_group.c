/*
 * message_group.c — group messages over the real protocol. The group is made
 * as an administrator makes one, with SQL only (Redis knows nothing of it):
 * a member's message is acked after its row is stored, fanned out to every
 * online member's connections but the sending one, counted (group unread as
 * protocol H.6), and shows up in every member's recent sessions; a
 * non-member, an unknown group and a removed member are refused; a removed
 * member receives nothing more; history starts at the member's join time;
 * group unread and the group read ack.
 */
#include <time.h>
#include <unistd.h>

#include "message_util.h"

static harness *h;

enum { G1 = 221, G2, G3, G4, G5, G6 };
#define GID 50

static int send_group(imgate_client *c, const char *text)
{
    return msg_send_as(c, 0, GID, MSG_TYPE_GROUP_TEXT, text, strlen(text));
}

static void test_send_and_fan_out(void)
{
    imgate_client *s_pc = msg_login(h, 0, "g1", "g1pass", CLIENT_WINDOWS);
    imgate_client *s_mob = msg_login(h, 0, "g1", "g1pass", CLIENT_IOS);
    imgate_client *m2 = msg_login(h, 0, "g2", "g2pass", CLIENT_WINDOWS);
    imgate_client *m3 = msg_login(h, 0, "g3", "g3pass", CLIENT_ANDROID);
    imgate_client *out = msg_login(h, 0, "g5", "g5pass", CLIENT_WINDOWS);
    imgate_client_pdu drain;
    while (imgate_client_wait(s_mob, 0x020e, -1, &drain, 300) == 0)
        imgate_client_pdu_free(&drain);

    time_t before = time(NULL);
    int seq = send_group(s_pc, "hello group");
    IM__Message__IMMsgDataAck *ack = msg_wait_ack(s_pc, seq, 5000);
    tap_ok(ack && ack->user_id == G1 && ack->session_id == GID && ack->msg_id == 1 &&
               ack->session_type == SESSION_TYPE_GROUP,
           "a member's group message is acked: session 50, id 1, session_type group");
    if (ack)
        im__message__immsg_data_ack__free_unpacked(ack, NULL);
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMGroupMessage_%d WHERE groupId = %d AND userId = %d AND msgId = 1 "
                          "AND content = 'hello group' AND type = %d AND status = 0",
                       GID % 8, GID, G1, MSG_TYPE_GROUP_TEXT),
               1, "stored in IMGroupMessage_<gid %% 8> before the ack");
    imgate_client *receivers[] = {m2, m3, s_mob};
    const char *names[] = {"a member's PC", "a member's mobile", "the sender's other device"};
    for (int i = 0; i < 3; i++) {
        IM__Message__IMMsgData *m = msg_wait_data(receivers[i], 3000);
        tap_ok(m && m->from_user_id == G1 && m->to_session_id == GID && m->msg_id == 1 &&
                   m->msg_type == MSG_TYPE_GROUP_TEXT && m->msg_data.len == 11 &&
                   memcmp(m->msg_data.data, "hello group", 11) == 0,
               "%s receives it", names[i]);
        msg_free_data(m);
    }
    tap_ok(nothing_of(s_pc, CID_MSG_DATA, 400), "the sending connection does not");
    tap_ok(nothing_of(out, CID_MSG_DATA, 100), "a non-member does not");
    tap_is_int(redis_num(h, "GET group_msg_id_50"), 1, "group_msg_id_<gid> = 1");
    tap_is_int(redis_num(h, "HGET 50_im_group_msg count"), 1, "<gid>_im_group_msg count = 1");
    tap_is_int(redis_num(h, "HGET 221_50_im_user_group count"), 1, "the sender's <uid>_<gid>_im_user_group = 1 (nothing unread)");
    tap_is_int(redis_num(h, "HEXISTS group_member_50 222"), 1, "group_member_<gid> was rebuilt from MySQL");
    long long sessions = -1;
    for (int i = 0; i < 40 && sessions != 4; i++) {
        sessions = sql_num(h, "SELECT COUNT(*) FROM IMRecentSession WHERE peerId = %d AND type = 2 AND status = 0 "
                              "AND updated >= %lld",
                           GID, (long long)before);
        if (sessions != 4)
            usleep(50 * 1000);
    }
    tap_is_int(sessions, 4, "every member (the offline one too) has the group in IMRecentSession, updated now");
    tap_ok(sql_num(h, "SELECT lastChated FROM IMGroup WHERE id = %d", GID) >= before, "IMGroup.lastChated is now");

    /* A burst: in order, all delivered. */
    int seqs[20];
    char text[32];
    for (int i = 0; i < 20; i++) {
        snprintf(text, sizeof text, "burst %d", i);
        seqs[i] = send_group(s_pc, text);
    }
    int ok = 1;
    for (int i = 0; i < 20; i++)
        if (msg_ack_id(s_pc, seqs[i], 5000) != (uint32_t)(2 + i))
            ok = 0;
    tap_ok(ok, "20 messages sent without waiting: acked with ids 2..21 in the order sent");
    int got = 0, in_order = 1;
    for (int i = 0; i < 20; i++) {
        IM__Message__IMMsgData *m = msg_wait_data(m2, 3000);
        if (!m)
            break;
        if (m->msg_id != (uint32_t)(2 + i))
            in_order = 0;
        got++;
        msg_free_data(m);
    }
    tap_ok(got == 20 && in_order, "a member receives all 20 in order");
    for (int i = 0; i < 20; i++) {
        msg_free_data(msg_wait_data(m3, 3000));
        msg_free_data(msg_wait_data(s_mob, 3000)); /* the sender's copies */
    }

    /* Refusals. */
    long long rows = sql_num(h, "SELECT COUNT(*) FROM IMGroupMessage_%d", GID % 8);
    seq = send_group(out, "let me in");
    tap_ok(msg_wait_ack(out, seq, 800) == NULL, "a non-member's group message: no ack");
    tap_ok(nothing_of(m2, CID_MSG_DATA, 200), "and nobody receives it");
    seq = msg_send_as(s_pc, 0, 9999, MSG_TYPE_GROUP_TEXT, "nowhere", 7);
    tap_ok(msg_wait_ack(s_pc, seq, 800) == NULL, "a message to a group that does not exist: no ack");
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMGroupMessage_%d", GID % 8), rows, "nothing stored");
    tap_ok(heartbeat_ok(out) && heartbeat_ok(s_pc), "both connections stay usable");

    /* Removed member: the group plugin will drop the cached keys after its commit; so do we. */
    sql_do(h, "UPDATE IMGroupMember SET status = 1, updated = UNIX_TIMESTAMP() WHERE groupId = %d AND userId = %d", GID, G3);
    harness_redis(h, "DEL group_member_50 imgate:group:50", NULL, 0);
    seq = send_group(s_pc, "without g3");
    tap_is_int(msg_ack_id(s_pc, seq, 5000), 22, "after g3 is removed, a message is acked (22)");
    IM__Message__IMMsgData *m = msg_wait_data(m2, 3000);
    tap_ok(m && m->msg_id == 22, "a remaining member receives it");
    msg_free_data(m);
    tap_ok(nothing_of(m3, CID_MSG_DATA, 600), "the removed member gets nothing");
    seq = send_group(m3, "am I still in?");
    tap_ok(msg_wait_ack(m3, seq, 800) == NULL, "and may no longer send");
    msg_free_data(msg_wait_data(s_mob, 2000));

    imgate_client_close(s_pc);
    imgate_client_close(s_mob);
    imgate_client_close(m2);
    imgate_client_close(m3);
    imgate_client_close(out);
}

static IM__Message__IMGetMsgListRsp *group_history(imgate_client *c, uint32_t begin, uint32_t count)
{
    IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
    req.session_type = SESSION_TYPE_GROUP;
    req.session_id = GID;
    req.msg_id_begin = begin;
    req.msg_cnt = count;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_MSG, CID_MSG_LIST_REQUEST, &req.base, CID_MSG_LIST_RESPONSE, &pdu, 5000) != 0)
        return NULL;
    IM__Message__IMGetMsgListRsp *r = im__message__imget_msg_list_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return r;
}

static void test_unread_and_history(void)
{
    /* g4 was offline for all 22 messages. */
    imgate_client *pc = msg_login(h, 0, "g4", "g4pass", CLIENT_WINDOWS);
    imgate_client *mob = msg_login(h, 0, "g4", "g4pass", CLIENT_ANDROID);
    IM__Message__IMUnreadMsgCntReq req = IM__MESSAGE__IMUNREAD_MSG_CNT_REQ__INIT;
    imgate_client_pdu pdu;
    int rc = imgate_client_call(pc, SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, &req.base, CID_MSG_UNREAD_CNT_RESPONSE, &pdu, 5000);
    IM__Message__IMUnreadMsgCntRsp *u = rc == 0 ? im__message__imunread_msg_cnt_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_ok(u && u->total_cnt == 22 && u->n_unreadinfo_list == 1, "an offline member logs in: 22 unread in one session");
    if (u && u->n_unreadinfo_list == 1) {
        IM__BaseDefine__UnreadInfo *e = u->unreadinfo_list[0];
        tap_ok(e->session_id == GID && e->session_type == SESSION_TYPE_GROUP && e->unread_cnt == 22 &&
                   e->latest_msg_id == 22 && e->latest_msg_from_user_id == G1 &&
                   e->latest_msg_type == MSG_TYPE_GROUP_TEXT && e->latest_msg_data.len == 10 &&
                   memcmp(e->latest_msg_data.data, "without g3", 10) == 0,
               "group 50: 22 unread, latest 22 'without g3' from g1");
    }
    if (u)
        im__message__imunread_msg_cnt_rsp__free_unpacked(u, NULL);

    IM__Message__IMGetMsgListRsp *l = group_history(pc, 0, 2);
    tap_ok(l && l->n_msg_list == 2 && l->msg_list[0]->msg_id == 22 && l->msg_list[1]->msg_id == 21 &&
               l->msg_list[0]->from_session_id == G1,
           "group history: 22, 21, newest first");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);

    IM__Message__IMMsgDataReadAck ra = IM__MESSAGE__IMMSG_DATA_READ_ACK__INIT;
    ra.session_id = GID;
    ra.msg_id = 22;
    ra.session_type = SESSION_TYPE_GROUP;
    imgate_client_send_msg(pc, SID_MSG, CID_MSG_READ_ACK, &ra.base, NULL);
    rc = imgate_client_wait(mob, CID_MSG_READ_NOTIFY, 0, &pdu, 3000);
    IM__Message__IMMsgDataReadNotify *n = rc == 0 ? im__message__immsg_data_read_notify__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(n && n->user_id == G4 && n->session_id == GID && n->session_type == SESSION_TYPE_GROUP,
           "the group read ack is notified to the member's other connection");
    if (n)
        im__message__immsg_data_read_notify__free_unpacked(n, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_is_int(redis_num(h, "HGET 224_50_im_user_group count"), 22, "<uid>_<gid>_im_user_group now equals the group's count");
    rc = imgate_client_call(pc, SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, &req.base, CID_MSG_UNREAD_CNT_RESPONSE, &pdu, 5000);
    u = rc == 0 ? im__message__imunread_msg_cnt_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_ok(u && u->total_cnt == 0 && u->n_unreadinfo_list == 0, "group unread is 0");
    if (u)
        im__message__imunread_msg_cnt_rsp__free_unpacked(u, NULL);

    /* A read ack for a group that has no counter creates nothing in Redis. */
    ra.session_id = 777;
    imgate_client_send_msg(pc, SID_MSG, CID_MSG_READ_ACK, &ra.base, NULL);
    heartbeat_ok(pc);
    tap_is_int(redis_num(h, "EXISTS 224_777_im_user_group"), 0, "a read ack for an unknown group stores nothing");

    /* A non-member reads nothing. */
    imgate_client *outsider = msg_login(h, 0, "g5", "g5pass", CLIENT_WINDOWS);
    l = group_history(outsider, 0, 10);
    tap_ok(l && l->n_msg_list == 0, "a non-member's group history is empty");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);

    /* Join time: g6 joins now; only what is sent after counts for g6. */
    sleep(1);
    sql_do(h, "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (%d, %d, 0, UNIX_TIMESTAMP(),"
              " UNIX_TIMESTAMP())", GID, G6);
    harness_redis(h, "DEL group_member_50 imgate:group:50", NULL, 0);
    imgate_client *late = msg_login(h, 0, "g6", "g6pass", CLIENT_WINDOWS);
    imgate_client *g1 = msg_login(h, 0, "g1", "g1pass", CLIENT_WINDOWS);
    int seq = send_group(g1, "welcome g6");
    tap_is_int(msg_ack_id(g1, seq, 5000), 23, "a message after g6 joined (23)");
    IM__Message__IMMsgData *m = msg_wait_data(late, 3000);
    tap_ok(m && m->msg_id == 23, "g6 receives it");
    msg_free_data(m);
    l = group_history(late, 0, 50);
    tap_ok(l && l->n_msg_list == 1 && l->msg_list[0]->msg_id == 23,
           "g6's group history starts at its join time: only 23 (%zu messages)", l ? l->n_msg_list : 0);
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);
    l = group_history(g1, 0, 50);
    tap_ok(l && l->n_msg_list == 23, "an older member sees all 23");
    if (l)
        im__message__imget_msg_list_rsp__free_unpacked(l, NULL);
    IM__Message__IMGetLatestMsgIdReq lq = IM__MESSAGE__IMGET_LATEST_MSG_ID_REQ__INIT;
    lq.session_type = SESSION_TYPE_GROUP;
    lq.session_id = GID;
    rc = imgate_client_call(late, SID_MSG, CID_MSG_GET_LATEST_MSG_ID_REQ, &lq.base, CID_MSG_GET_LATEST_MSG_ID_RSP, &pdu, 5000);
    IM__Message__IMGetLatestMsgIdRsp *lr = rc == 0 ? im__message__imget_latest_msg_id_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_ok(lr && lr->latest_msg_id == 23 && lr->session_type == SESSION_TYPE_GROUP, "the group's latest id is 23");
    if (lr)
        im__message__imget_latest_msg_id_rsp__free_unpacked(lr, NULL);
    uint32_t ids[] = {1, 23};
    IM__Message__IMGetMsgByIdReq bq = IM__MESSAGE__IMGET_MSG_BY_ID_REQ__INIT;
    bq.session_type = SESSION_TYPE_GROUP;
    bq.session_id = GID;
    bq.n_msg_id_list = 2;
    bq.msg_id_list = ids;
    rc = imgate_client_call(late, SID_MSG, CID_MSG_GET_BY_MSG_ID_REQ, &bq.base, CID_MSG_GET_BY_MSG_ID_RES, &pdu, 5000);
    IM__Message__IMGetMsgByIdRsp *br = rc == 0 ? im__message__imget_msg_by_id_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_ok(br && br->n_msg_list == 1 && br->msg_list[0]->msg_id == 23, "by id, g6 gets 23 but not 1 (before it joined)");
    if (br)
        im__message__imget_msg_by_id_rsp__free_unpacked(br, NULL);
    imgate_client_close(pc);
    imgate_client_close(mob);
    imgate_client_close(outsider);
    imgate_client_close(late);
    imgate_client_close(g1);
}

int main(void)
{
    h = harness_start("message_group");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, MSG_PLUGINS, "[gateway]\nmsg_rate_per_second = 1000\n") != 0)
        tap_bail("imgated did not start");
    const char *names[] = {"g1", "g2", "g3", "g4", "g5", "g6"};
    char pass[16];
    for (int i = 0; i < 6; i++) {
        snprintf(pass, sizeof pass, "%spass", names[i]);
        add_user(h, (unsigned)(G1 + i), names[i], pass, 0);
    }
    /* As an administrator creates a group: MySQL only. Members joined an hour ago. */
    sql_do(h, "INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, lastChated, updated, "
              "created) VALUES (%d, 'team', '', %d, 1, 4, 0, 1, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP())", GID, G1);
    for (int i = 0; i < 4; i++)
        sql_do(h, "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (%d, %d, 0, "
                  "UNIX_TIMESTAMP() - 3600, UNIX_TIMESTAMP() - 3600)", GID, G1 + i);
    test_send_and_fan_out();
    test_unread_and_history();
    harness_stop(h);
    return tap_done();
}
