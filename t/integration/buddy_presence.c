/*
 * buddy_presence.c — online status over the real protocol: IMUsersStatReq
 * answered from the core's session registry (PC or mobile = online), and
 * IMUserStatNotify when a PC connection logs in or goes away, to PC
 * connections only, in each notify scope: everyone (node 0), department
 * (node 1), none (node 2). Kicks (a newer PC, the user's mobile), the
 * logging-in connection itself, oversized and malformed requests.
 */
#include "buddy_util.h"

static harness *h;

#define QUIET_MS 700 /* how long "nothing arrives" is watched for */

static IM__Buddy__IMUsersStatRsp *stat_of(imgate_client *c, const uint32_t *ids, size_t n)
{
    IM__Buddy__IMUsersStatReq req = IM__BUDDY__IMUSERS_STAT_REQ__INIT;
    req.n_user_id_list = n;
    req.user_id_list = (uint32_t *)ids;
    imgate_client_pdu *pdu = buddy_call_pdu(c, CID_BUDDY_LIST_USERS_STATUS_REQUEST, &req.base,
                                            CID_BUDDY_LIST_USERS_STATUS_RESPONSE, 5000);
    return pdu ? im__buddy__imusers_stat_rsp__unpack(NULL, pdu->body_len, pdu->body) : NULL;
}

/* The status the server reports for one id (ONLINE 1, OFFLINE 2), or -1. */
static int status_of(imgate_client *c, uint32_t id)
{
    IM__Buddy__IMUsersStatRsp *r = stat_of(c, &id, 1);
    int s = r && r->n_user_stat_list == 1 && r->user_stat_list[0]->user_id == id ? (int)r->user_stat_list[0]->status
                                                                                 : -1;
    if (r)
        im__buddy__imusers_stat_rsp__free_unpacked(r, NULL);
    return s;
}

static void test_status_request(void)
{
    imgate_client *a1 = buddy_login(h, 0, "a1", CLIENT_WINDOWS);
    imgate_client *a3 = buddy_login(h, 0, "a3", CLIENT_ANDROID);
    const uint32_t ids[] = {402, 403, 401, 999999, 402};
    IM__Buddy__IMUsersStatRsp *r = stat_of(a1, ids, 5);
    tap_ok(r && r->n_user_stat_list == 5, "status: one answer per id asked, duplicates included");
    if (r && r->n_user_stat_list == 5) {
        int order = 1;
        for (size_t i = 0; i < 5; i++)
            order &= r->user_stat_list[i]->user_id == ids[i];
        tap_ok(order, "in the order asked");
        tap_ok(r->user_stat_list[0]->status == USER_STATUS_OFFLINE, "a user with no connection is offline");
        tap_ok(r->user_stat_list[1]->status == USER_STATUS_ONLINE, "a user online on mobile only is online");
        tap_ok(r->user_stat_list[2]->status == USER_STATUS_ONLINE, "a user online on PC (the asker) is online");
        tap_ok(r->user_stat_list[3]->status == USER_STATUS_OFFLINE, "an unknown id is offline");
        tap_is_int(r->user_id, 401, "user_id is the requester");
    }
    if (r)
        im__buddy__imusers_stat_rsp__free_unpacked(r, NULL);
    r = stat_of(a1, NULL, 0);
    tap_ok(r && r->n_user_stat_list == 0, "an empty list gets an empty answer");
    if (r)
        im__buddy__imusers_stat_rsp__free_unpacked(r, NULL);

    uint16_t seq;
    const uint8_t junk[] = {0x10, 0x01}; /* field 2 as a varint where the list is expected... then nothing */
    imgate_client_send(a1, SID_BUDDY_LIST, CID_BUDDY_LIST_USERS_STATUS_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(a1, CID_BUDDY_LIST_USERS_STATUS_RESPONSE, seq, &pdu, QUIET_MS),
               IMGATE_CLIENT_TIMEOUT, "status: a body without the required user_id gets no answer");
    tap_ok(heartbeat_ok(a1), "status: the connection stays usable");
    imgate_client_close(a3);
    imgate_client_close(a1);
}

static void test_notify_everyone(void)
{
    imgate_client *a1 = buddy_login(h, 0, "a1", CLIENT_WINDOWS); /* a PC observer */
    imgate_client *a3 = buddy_login(h, 0, "a3", CLIENT_IOS);     /* a mobile observer */
    buddy_drain(a1, 200);
    long long notifies = buddy_metric(h, 0, "status_notifies");

    imgate_client *a2 = buddy_login(h, 0, "a2", CLIENT_MAC);
    tap_is_int(buddy_wait_stat(a1, 402, 3000), USER_STATUS_ONLINE, "everyone: a PC login is pushed ONLINE to PCs");
    tap_is_int(buddy_wait_stat(a3, 402, QUIET_MS), -1, "mobile connections never get IMUserStatNotify");
    tap_is_int(buddy_wait_stat(a2, 402, QUIET_MS), -1, "the connection that logged in is not told about itself");
    tap_is_int(status_of(a1, 402), USER_STATUS_ONLINE, "the status request agrees");

    imgate_client *a4 = buddy_login(h, 0, "a4", CLIENT_ANDROID);
    tap_is_int(buddy_wait_stat(a1, 404, QUIET_MS), -1, "a mobile login is not pushed to anyone");

    imgate_client_close(a2);
    tap_is_int(buddy_wait_stat(a1, 402, 3000), USER_STATUS_OFFLINE, "the PC going away is pushed OFFLINE");
    tap_is_int(status_of(a1, 402), USER_STATUS_OFFLINE, "the status request agrees");
    tap_is_int(buddy_wait_stat(a3, 402, QUIET_MS), -1, "still nothing to the mobile");

    imgate_client_close(a4);
    tap_is_int(buddy_wait_stat(a1, 404, QUIET_MS), -1, "a mobile going away is not pushed");

    /* A newer PC login replaces the older one: online, and no offline when the old one closes. */
    imgate_client *pc1 = buddy_login(h, 0, "a2", CLIENT_WINDOWS);
    tap_is_int(buddy_wait_stat(a1, 402, 3000), USER_STATUS_ONLINE, "PC login: ONLINE");
    imgate_client *pc2 = buddy_login(h, 0, "a2", CLIENT_WINDOWS);
    tap_is_int(wait_kick(pc1, 402), 1, "the older PC is kicked (duplicate)");
    tap_is_int(buddy_wait_stat(a1, 402, 3000), USER_STATUS_ONLINE, "the newer PC's login is pushed ONLINE again");
    imgate_client_close(pc1);
    tap_is_int(buddy_wait_stat(a1, 402, QUIET_MS), -1, "the kicked PC closing is not an OFFLINE: the user is still on PC");
    tap_is_int(status_of(a1, 402), USER_STATUS_ONLINE, "and the status request says online");

    /* The user's mobile kicks their PC: OFFLINE at the kick (the kicked connection lingers). */
    imgate_client *mobile = buddy_login(h, 0, "a2", CLIENT_ANDROID);
    IM__Login__IMKickPCClientReq kick = IM__LOGIN__IMKICK_PCCLIENT_REQ__INIT;
    kick.user_id = 402;
    imgate_client_pdu pdu;
    imgate_client_call(mobile, SID_LOGIN, CID_LOGIN_REQ_KICKPCCLIENT, &kick.base, CID_LOGIN_RES_KICKPCCLIENT, &pdu,
                       3000);
    imgate_client_pdu_free(&pdu);
    tap_is_int(wait_kick(pc2, 402), 2, "the PC is kicked by the mobile");
    tap_is_int(buddy_wait_stat(a1, 402, 3000), USER_STATUS_OFFLINE,
               "the kick is pushed OFFLINE at once, while the kicked connection still lingers (the mobile stays)");
    imgate_client_close(pc2);
    tap_is_int(buddy_wait_stat(a1, 402, QUIET_MS), -1, "its close later announces nothing more");
    tap_is_int(status_of(a1, 402), USER_STATUS_ONLINE, "the user is still online (mobile)");
    imgate_client_close(mobile);

    tap_ok(buddy_metric(h, 0, "status_notifies") - notifies >= 5, "/metrics counts the notifies");
    tap_ok(buddy_metric(h, 0, "status_notify_deliveries") > 0 && buddy_metric(h, 0, "status_notify_bytes") > 0,
           "and what they cost (deliveries, bytes)");
    imgate_client_close(a3);
    imgate_client_close(a1);
}

static void test_notify_department(void)
{
    imgate_client *same = buddy_login(h, 1, "b1", CLIENT_WINDOWS);  /* department 1 */
    imgate_client *other = buddy_login(h, 1, "b4", CLIENT_WINDOWS); /* department 2 */
    imgate_client *mobile = buddy_login(h, 1, "b3", CLIENT_ANDROID); /* department 1, mobile */
    buddy_drain(same, 200);
    imgate_client *b2 = buddy_login(h, 1, "b2", CLIENT_WINDOWS);
    tap_is_int(buddy_wait_stat(same, 502, 3000), USER_STATUS_ONLINE, "department: a PC of the same department is told");
    tap_is_int(buddy_wait_stat(other, 502, QUIET_MS), -1, "department: a PC of another department is not");
    tap_is_int(buddy_wait_stat(mobile, 502, QUIET_MS), -1, "department: nor a mobile of the same department");
    tap_is_int(buddy_wait_stat(b2, 502, QUIET_MS), -1, "department: nor the connection itself");
    imgate_client_close(b2);
    tap_is_int(buddy_wait_stat(same, 502, 3000), USER_STATUS_OFFLINE, "department: the PC going away, to the same department");
    tap_is_int(buddy_wait_stat(other, 502, QUIET_MS), -1, "department: not to another department");

    /* The department is read when the event happens: a move in MySQL applies to the next one. */
    sqlf(h, "UPDATE IMUser SET departId = 2, updated = UNIX_TIMESTAMP() WHERE id = 502");
    b2 = buddy_login(h, 1, "b2", CLIENT_WINDOWS);
    tap_is_int(buddy_wait_stat(other, 502, 3000), USER_STATUS_ONLINE, "department: after a move, the new department is told");
    tap_is_int(buddy_wait_stat(same, 502, QUIET_MS), -1, "department: and the old one no longer");
    imgate_client_close(b2);
    imgate_client_close(mobile);
    imgate_client_close(other);
    imgate_client_close(same);
}

static void test_notify_none(void)
{
    imgate_client *c1 = buddy_login(h, 2, "c1", CLIENT_WINDOWS);
    imgate_client *c2 = buddy_login(h, 2, "c2", CLIENT_WINDOWS);
    tap_is_int(buddy_wait_stat(c1, 602, QUIET_MS), -1, "none: a PC login is pushed to nobody");
    tap_is_int(status_of(c1, 602), USER_STATUS_ONLINE, "none: the status request still answers");
    imgate_client_close(c2);
    tap_is_int(buddy_wait_stat(c1, 602, QUIET_MS), -1, "none: nor the PC going away");
    tap_is_int(status_of(c1, 602), USER_STATUS_OFFLINE, "none: the status request sees it");

    /* Oversized list (status_max = 5 on this node): the first 5 ids are answered. */
    const uint32_t ids[] = {601, 601, 601, 601, 601, 602};
    long long truncated = buddy_metric(h, 2, "id_lists_truncated");
    IM__Buddy__IMUsersStatRsp *r = stat_of(c1, ids, 6);
    tap_ok(r && r->n_user_stat_list == 5 && r->user_stat_list[4]->user_id == 601,
           "status: ids beyond status_max are not answered");
    tap_is_int(buddy_metric(h, 2, "id_lists_truncated") - truncated, 1, "and that is counted");
    if (r)
        im__buddy__imusers_stat_rsp__free_unpacked(r, NULL);
    imgate_client_close(c1);
}

int main(void)
{
    h = harness_start("buddy_presence");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "login,buddy", "[gateway]\nkick_linger_ms = 60000\n") != 0 ||
        harness_node_start(h, "login,buddy", "[plugin.buddy]\nstatus_scope = department\n") != 1 ||
        harness_node_start(h, "login,buddy", "[plugin.buddy]\nstatus_scope = none\nstatus_max = 5\n") != 2)
        tap_bail("imgated did not start");
    const char *names[] = {"a1", "a2", "a3", "a4"};
    for (unsigned i = 0; i < 4; i++)
        buddy_add_user(h, 401 + i, names[i], 1, 0, 1700000000);
    buddy_add_user(h, 501, "b1", 1, 0, 1700000000);
    buddy_add_user(h, 502, "b2", 1, 0, 1700000000);
    buddy_add_user(h, 503, "b3", 1, 0, 1700000000);
    buddy_add_user(h, 504, "b4", 2, 0, 1700000000);
    buddy_add_user(h, 601, "c1", 1, 0, 1700000000);
    buddy_add_user(h, 602, "c2", 1, 0, 1700000000);
    test_status_request();
    test_notify_everyone();
    test_notify_department();
    test_notify_none();
    harness_stop(h);
    return tap_done();
}
