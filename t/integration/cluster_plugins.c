/*
 * cluster_plugins.c — the feature plugins across nodes, unchanged: two or
 * three imgated nodes sharing MariaDB and Redis with login, buddy and message
 * enabled. A message reaches the receiver's PC on one node and phone on
 * another once each, and the sender's other device; P2P commands and read
 * notifications cross nodes; a PC login on one node kicks the PC on another
 * (which is then served nothing); the status of a user on the other node; a
 * signature change reaches every node; a node killed with -9: its users show
 * offline in time, and messages to them are stored and found as unread once
 * they log in on another node.
 */
#include <signal.h>
#include <stdio.h>

#include "IM.Buddy.pb-c.h"
#include "IM.Message.pb-c.h"
#include "IM.SwitchService.pb-c.h"
#include "buddy_util.h"
#include "imgate/teamtalk.h"

static harness *h;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Sends a text message and returns its acked msg_id (0 when no ack came). */
static uint32_t send_text(imgate_client *c, uint32_t from, uint32_t to, const char *text)
{
    IM__Message__IMMsgData m = IM__MESSAGE__IMMSG_DATA__INIT;
    m.from_user_id = from;
    m.to_session_id = to;
    m.msg_id = 0;
    m.create_time = 0;
    m.msg_type = MSG_TYPE_SINGLE_TEXT;
    m.msg_data.data = (uint8_t *)text;
    m.msg_data.len = strlen(text);
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_MSG, CID_MSG_DATA, &m.base, CID_MSG_DATA_ACK, &pdu, 5000) != 0)
        return 0;
    IM__Message__IMMsgDataAck *ack = im__message__immsg_data_ack__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    uint32_t id = ack ? ack->msg_id : 0;
    if (ack)
        im__message__immsg_data_ack__free_unpacked(ack, NULL);
    return id;
}

/* How many IMMsgData pushes carrying `text` arrive on `c` (waiting up to wait_ms for the first). */
static int copies_of(imgate_client *c, const char *text, int wait_ms)
{
    int n = 0;
    imgate_client_pdu pdu;
    while (imgate_client_wait(c, CID_MSG_DATA, 0, &pdu, n ? 400 : wait_ms) == 0) {
        IM__Message__IMMsgData *m = im__message__immsg_data__unpack(NULL, pdu.body_len, pdu.body);
        n += m && m->msg_data.len == strlen(text) && memcmp(m->msg_data.data, text, m->msg_data.len) == 0;
        if (m)
            im__message__immsg_data__free_unpacked(m, NULL);
        imgate_client_pdu_free(&pdu);
    }
    return n;
}

static int status_of(imgate_client *c, uint32_t uid)
{
    IM__Buddy__IMUsersStatReq req = IM__BUDDY__IMUSERS_STAT_REQ__INIT;
    req.user_id = 0;
    req.n_user_id_list = 1;
    req.user_id_list = &uid;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_BUDDY_LIST, CID_BUDDY_LIST_USERS_STATUS_REQUEST, &req.base,
                           CID_BUDDY_LIST_USERS_STATUS_RESPONSE, &pdu, 5000) != 0)
        return -1;
    IM__Buddy__IMUsersStatRsp *r = im__buddy__imusers_stat_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int s = r && r->n_user_stat_list == 1 ? (int)r->user_stat_list[0]->status : -1;
    if (r)
        im__buddy__imusers_stat_rsp__free_unpacked(r, NULL);
    return s;
}

static int status_becomes(imgate_client *c, uint32_t uid, int want, int timeout_ms)
{
    long long end = mono_ms() + timeout_ms;
    do {
        if (status_of(c, uid) == want)
            return 1;
        sleep_ms(100);
    } while (mono_ms() < end);
    return 0;
}

static void test_message_fanout(void)
{
    imgate_client *a_pc = buddy_login(h, 0, "ua", CLIENT_WINDOWS);
    imgate_client *a_phone = buddy_login(h, 1, "ua", CLIENT_ANDROID);
    imgate_client *b_pc = buddy_login(h, 1, "ub", CLIENT_WINDOWS);
    imgate_client *b_phone = buddy_login(h, 0, "ub", CLIENT_IOS);
    tap_ok(status_becomes(a_pc, 902, USER_STATUS_ONLINE, 3000), "ub is online for ua, across nodes");
    buddy_drain(a_pc, 300);
    buddy_drain(a_phone, 300);
    buddy_drain(b_pc, 300);
    buddy_drain(b_phone, 300);

    uint32_t id = send_text(a_pc, 901, 902, "across the nodes");
    tap_ok(id > 0, "ua (PC, node 0) sends to ub: acked with id %u", id);
    tap_is_int(copies_of(b_pc, "across the nodes", 3000), 1, "ub's PC on node 1 gets it once");
    tap_is_int(copies_of(b_phone, "across the nodes", 3000), 1, "ub's phone on node 0 gets it once");
    tap_is_int(copies_of(a_phone, "across the nodes", 3000), 1, "ua's own phone on node 1 gets a copy");
    tap_is_int(copies_of(a_pc, "across the nodes", 500), 0, "the sending connection does not");

    /* P2P (typing...) is relayed to the peer's connections and the sender's others. */
    IM__SwitchService__IMP2PCmdMsg p2p = IM__SWITCH_SERVICE__IMP2_PCMD_MSG__INIT;
    p2p.from_user_id = 901;
    p2p.to_user_id = 902;
    p2p.cmd_msg_data = (char *)"{\"typing\":1}";
    imgate_client_send_msg(a_pc, SID_SWITCH_SERVICE, CID_SWITCH_P2P_CMD, &p2p.base, NULL);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(b_pc, CID_SWITCH_P2P_CMD, 0, &pdu, 3000), 0, "a P2P command reaches ub's PC on node 1");
    imgate_client_pdu_free(&pdu);
    tap_is_int(imgate_client_wait(a_phone, CID_SWITCH_P2P_CMD, 0, &pdu, 3000), 0, "and ua's phone on node 1");
    imgate_client_pdu_free(&pdu);

    /* A read ack on one device tells the user's other devices, wherever they are. */
    IM__Message__IMMsgDataReadAck ra = IM__MESSAGE__IMMSG_DATA_READ_ACK__INIT;
    ra.user_id = 902;
    ra.session_id = 901;
    ra.msg_id = id;
    ra.session_type = SESSION_TYPE_SINGLE;
    imgate_client_send_msg(b_phone, SID_MSG, CID_MSG_READ_ACK, &ra.base, NULL);
    tap_is_int(imgate_client_wait(b_pc, CID_MSG_READ_NOTIFY, 0, &pdu, 3000), 0,
               "ub reads on the phone (node 0): the PC on node 1 is told");
    imgate_client_pdu_free(&pdu);

    imgate_client_close(a_pc);
    imgate_client_close(a_phone);
    imgate_client_close(b_pc);
    imgate_client_close(b_phone);
}

static void test_kick_and_profile(void)
{
    imgate_client *watcher = buddy_login(h, 1, "uc", CLIENT_WINDOWS);
    imgate_client *pc1 = buddy_login(h, 0, "ud", CLIENT_WINDOWS);
    tap_ok(status_becomes(watcher, 904, USER_STATUS_ONLINE, 3000), "ud's status on node 0, asked on node 1: online");
    imgate_client *pc2 = buddy_login(h, 1, "ud", CLIENT_MAC);
    tap_is_int(wait_kick(pc1, 904), KICK_REASON_DUPLICATE_USER, "ud's PC login on node 1 kicks the PC on node 0");
    tap_is_int(send_text(pc1, 904, 903, "from a kicked PC"), 0, "the kicked connection is served nothing more");
    tap_ok(send_text(pc2, 904, 903, "from the new PC") > 0, "the new one is");

    buddy_drain(watcher, 300);
    IM__Buddy__IMChangeSignInfoReq sign = IM__BUDDY__IMCHANGE_SIGN_INFO_REQ__INIT;
    sign.user_id = 904;
    sign.sign_info = (char *)"signed on node 1";
    imgate_client_send_msg(pc2, SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, &sign.base, NULL);
    imgate_client *far = buddy_login(h, 2, "ue", CLIENT_WINDOWS);
    buddy_drain(far, 300);
    sign.sign_info = (char *)"signed again";
    sleep_ms(1100); /* the plugin's minimum interval between two changes */
    imgate_client_send_msg(pc2, SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, &sign.base, NULL);
    imgate_client_pdu pdu;
    tap_is_int(buddy_wait_push(far, CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, &pdu, 3000), 1,
               "a signature changed on node 1 is pushed to a client on node 2");
    imgate_client_pdu_free(&pdu);
    tap_is_int(buddy_wait_push(watcher, CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, &pdu, 3000), 1,
               "and to one on node 1");
    imgate_client_pdu_free(&pdu);
    imgate_client_close(pc1);
    imgate_client_close(pc2);
    imgate_client_close(watcher);
    imgate_client_close(far);
}

static void test_node_death(void)
{
    imgate_client *sender = buddy_login(h, 0, "uf", CLIENT_WINDOWS);
    imgate_client *doomed = buddy_login(h, 2, "ug", CLIENT_WINDOWS);
    tap_ok(status_becomes(sender, 907, USER_STATUS_ONLINE, 3000), "ug online on node 2");
    long long t0 = mono_ms();
    harness_node_signal(h, 2, SIGKILL);
    int offline = status_becomes(sender, 907, USER_STATUS_OFFLINE, 10000);
    long long took = mono_ms() - t0;
    tap_ok(offline, "once the entry expires (node_ttl_ms 3000) ug shows offline: after %lld ms", took);
    uint32_t id = send_text(sender, 906, 907, "while you were away");
    tap_ok(id > 0, "a message to ug is stored and acked all the same (id %u)", id);
    imgate_client_close(doomed);

    imgate_client *back = buddy_login(h, 1, "ug", CLIENT_WINDOWS);
    IM__Message__IMUnreadMsgCntReq ureq = IM__MESSAGE__IMUNREAD_MSG_CNT_REQ__INIT;
    ureq.user_id = 907;
    imgate_client_pdu pdu;
    int rc = imgate_client_call(back, SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, &ureq.base, CID_MSG_UNREAD_CNT_RESPONSE, &pdu,
                                5000);
    IM__Message__IMUnreadMsgCntRsp *u = rc == 0 ? im__message__imunread_msg_cnt_rsp__unpack(NULL, pdu.body_len, pdu.body)
                                               : NULL;
    int found = 0;
    for (size_t i = 0; u && i < u->n_unreadinfo_list; i++)
        found |= u->unreadinfo_list[i]->session_id == 906 && u->unreadinfo_list[i]->latest_msg_id == id;
    tap_ok(found, "logged in again on node 1, ug finds it as unread");
    if (u)
        im__message__imunread_msg_cnt_rsp__free_unpacked(u, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    imgate_client_close(back);
    imgate_client_close(sender);
}

int main(void)
{
    h = harness_start("cluster_plugins");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    const char *ini = "[gateway]\nkick_linger_ms = 60000\n[cluster]\nnode_ttl_ms = 3000\nrefresh_ms = 500\n";
    for (int i = 0; i < 3; i++)
        if (harness_node_start(h, "login,buddy,group,message", ini) != i)
            tap_bail("node %d did not start", i);
    const char *names[] = {"ua", "ub", "uc", "ud", "ue", "uf", "ug"};
    for (unsigned i = 0; i < 7; i++)
        buddy_add_user(h, 901 + i, names[i], 1, 0, 1700000000);
    sleep_ms(1000); /* the nodes find each other */
    test_message_fanout();
    test_kick_and_profile();
    test_node_death();
    harness_stop(h);
    return tap_done();
}
