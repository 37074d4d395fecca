/*
 * message_sessions.c — what a user sees when the message, buddy and group
 * plugins work together, everything made over the real protocol (no SQL
 * set-up): a message shows in both users' recent sessions with its real
 * sender; a removed session comes back with the next message, even within
 * the same second; an audio message is listed as audio, never as its bytes;
 * a group made by a client: its messages show in the members' sessions (a
 * removed group session comes back with the next message, at once), a
 * member added later finds no old unread and no old history, a removed
 * member receives nothing, and a member added again reads history only from
 * the new join.
 */
#include <time.h>

#include "IM.Buddy.pb-c.h"
#include "group_util.h"
#include "message_util.h"

static harness *h;

enum { ALICE = 301, BOB, CAROL };

typedef struct session_view {
    uint32_t id, type, msg_id, msg_type, from;
    char data[256];
    size_t data_len;
} session_view;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The user's recent sessions (IMRecentContactSessionReq from 0), newest first; the count, -1 on no reply. */
static int recent(imgate_client *c, session_view *out, int cap)
{
    IM__Buddy__IMRecentContactSessionReq req = IM__BUDDY__IMRECENT_CONTACT_SESSION_REQ__INIT;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_BUDDY_LIST, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, &req.base,
                           CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, &pdu, 5000) != 0)
        return -1;
    IM__Buddy__IMRecentContactSessionRsp *r = im__buddy__imrecent_contact_session_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    if (r == NULL)
        return -1;
    int n = 0;
    for (size_t i = 0; i < r->n_contact_session_list && n < cap; i++, n++) {
        const IM__BaseDefine__ContactSessionInfo *s = r->contact_session_list[i];
        session_view *v = &out[n];
        v->id = s->session_id;
        v->type = s->session_type;
        v->msg_id = s->latest_msg_id;
        v->msg_type = s->latest_msg_type;
        v->from = s->latest_msg_from_user_id;
        v->data_len = s->latest_msg_data.len < sizeof v->data - 1 ? s->latest_msg_data.len : sizeof v->data - 1;
        memcpy(v->data, s->latest_msg_data.data, v->data_len);
        v->data[v->data_len] = '\0';
    }
    im__buddy__imrecent_contact_session_rsp__free_unpacked(r, NULL);
    return n;
}

static const session_view *find(const session_view *l, int n, uint32_t type, uint32_t id)
{
    for (int i = 0; i < n; i++)
        if (l[i].type == type && l[i].id == id)
            return &l[i];
    return NULL;
}

/* The group's session as `c` lists it, once it carries message `msg_id`: group sessions are written
 * by a write of their own queued right after the round's (plugins/message/README.md, step 5), so a
 * client asking the moment the message arrives may be a write early. Waits up to 2 s. */
static int group_session_shows(imgate_client *c, uint32_t gid, uint32_t msg_id, session_view *out)
{
    session_view l[64];
    long long end = mono_ms() + 2000;
    do {
        int n = recent(c, l, 64);
        const session_view *s = find(l, n, SESSION_TYPE_GROUP, gid);
        if (s != NULL && s->msg_id == msg_id) {
            *out = *s;
            return 1;
        }
        sleep_ms(50);
    } while (mono_ms() < end);
    return 0;
}

static int remove_session(imgate_client *c, uint32_t type, uint32_t id)
{
    IM__Buddy__IMRemoveSessionReq req = IM__BUDDY__IMREMOVE_SESSION_REQ__INIT;
    req.session_type = (IM__BaseDefine__SessionType)type;
    req.session_id = id;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_BUDDY_LIST, CID_BUDDY_LIST_REMOVE_SESSION_REQ, &req.base,
                           CID_BUDDY_LIST_REMOVE_SESSION_RES, &pdu, 5000) != 0)
        return -1;
    IM__Buddy__IMRemoveSessionRsp *r = im__buddy__imremove_session_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int rc = r ? (int)r->result_code : -1;
    if (r)
        im__buddy__imremove_session_rsp__free_unpacked(r, NULL);
    return rc;
}

/* Sends and waits for the ack: the msg_id, 0 when none came. */
static uint32_t send_acked(imgate_client *c, uint32_t to, uint32_t type, const char *data, size_t len)
{
    return msg_ack_id(c, msg_send_as(c, 0, to, type, data, len), 5000);
}

/* The ids of a session's history (newest first) as "id,id,...". */
static const char *history(imgate_client *c, uint32_t type, uint32_t id, char *buf, size_t len)
{
    IM__Message__IMGetMsgListReq req = IM__MESSAGE__IMGET_MSG_LIST_REQ__INIT;
    req.session_type = (IM__BaseDefine__SessionType)type;
    req.session_id = id;
    req.msg_id_begin = 0;
    req.msg_cnt = 50;
    imgate_client_pdu pdu;
    snprintf(buf, len, "no reply");
    if (imgate_client_call(c, SID_MSG, CID_MSG_LIST_REQUEST, &req.base, CID_MSG_LIST_RESPONSE, &pdu, 5000) != 0)
        return buf;
    IM__Message__IMGetMsgListRsp *r = im__message__imget_msg_list_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    uint32_t ids[50];
    size_t n = 0;
    for (size_t i = 0; r && i < r->n_msg_list && n < 50; i++)
        ids[n++] = r->msg_list[i]->msg_id;
    ids_text(ids, n, buf, len);
    if (r)
        im__message__imget_msg_list_rsp__free_unpacked(r, NULL);
    return buf;
}

/* The unread count of one session (0 when it is not listed, -1 on no reply). */
static int unread_of(imgate_client *c, uint32_t type, uint32_t id)
{
    IM__Message__IMUnreadMsgCntReq req = IM__MESSAGE__IMUNREAD_MSG_CNT_REQ__INIT;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_MSG, CID_MSG_UNREAD_CNT_REQUEST, &req.base, CID_MSG_UNREAD_CNT_RESPONSE, &pdu,
                           5000) != 0)
        return -1;
    IM__Message__IMUnreadMsgCntRsp *r = im__message__imunread_msg_cnt_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int n = r ? 0 : -1;
    for (size_t i = 0; r && i < r->n_unreadinfo_list; i++)
        if (r->unreadinfo_list[i]->session_type == type && r->unreadinfo_list[i]->session_id == id)
            n = (int)r->unreadinfo_list[i]->unread_cnt;
    if (r)
        im__message__imunread_msg_cnt_rsp__free_unpacked(r, NULL);
    return n;
}

static void test_single(void)
{
    imgate_client *alice = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *bob = msg_login(h, 0, "bob", "bob123", CLIENT_WINDOWS);
    session_view l[64];

    uint32_t first = send_acked(alice, BOB, MSG_TYPE_SINGLE_TEXT, "hi bob", 6);
    tap_ok(first > 0, "alice sends bob a message (id %u)", first);
    int n = recent(bob, l, 64);
    const session_view *s = find(l, n, SESSION_TYPE_SINGLE, ALICE);
    tap_ok(s && s->msg_id == first && s->from == ALICE && s->msg_type == MSG_TYPE_SINGLE_TEXT &&
               strcmp(s->data, "hi bob") == 0,
           "bob's recent sessions list alice with that message, from alice");
    n = recent(alice, l, 64);
    s = find(l, n, SESSION_TYPE_SINGLE, BOB);
    tap_ok(s && s->msg_id == first && s->from == ALICE, "alice's list bob, and says alice sent the latest");

    tap_is_int(remove_session(bob, SESSION_TYPE_SINGLE, ALICE), 0, "bob removes the session with alice");
    n = recent(bob, l, 64);
    tap_ok(n >= 0 && find(l, n, SESSION_TYPE_SINGLE, ALICE) == NULL, "it is no longer listed");
    /* At once: within the same second as the previous message's bump. */
    uint32_t second = send_acked(alice, BOB, MSG_TYPE_SINGLE_TEXT, "still there?", 12);
    n = recent(bob, l, 64);
    s = find(l, n, SESSION_TYPE_SINGLE, ALICE);
    tap_ok(second > first && s && s->msg_id == second && strcmp(s->data, "still there?") == 0,
           "alice's next message brings it back at once, with that message");

    char audio[104] = {0, 0, 0, 3};
    for (int i = 4; i < (int)sizeof audio; i++)
        audio[i] = (char)(i * 7);
    uint32_t voice = send_acked(alice, BOB, MSG_TYPE_SINGLE_AUDIO, audio, sizeof audio);
    tap_ok(voice > second, "alice sends a voice message (id %u)", voice);
    n = recent(bob, l, 64);
    s = find(l, n, SESSION_TYPE_SINGLE, ALICE);
    tap_ok(s && s->msg_id == voice && s->msg_type == MSG_TYPE_SINGLE_AUDIO && s->data_len > 0 &&
               memcmp(s->data, audio, s->data_len < sizeof audio ? s->data_len : sizeof audio) != 0,
           "bob's session shows it as audio, with the placeholder text, not the sound");
    imgate_client_close(alice);
    imgate_client_close(bob);
}

static void test_group(void)
{
    imgate_client *alice = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *bob = msg_login(h, 0, "bob", "bob123", CLIENT_WINDOWS);
    imgate_client *carol = msg_login(h, 0, "carol", "carol123", CLIENT_WINDOWS);
    uint32_t members[] = {ALICE, BOB};
    uint32_t gid = group_create(alice, "team", members, 2);
    tap_ok(gid > 0, "alice creates a group with bob (%u)", gid);
    msg_drain(bob, 300);

    uint32_t g1 = send_acked(alice, gid, MSG_TYPE_GROUP_TEXT, "g one", 5);
    IM__Message__IMMsgData *m = msg_wait_data(bob, 3000);
    tap_ok(g1 > 0 && m && m->msg_id == g1, "alice's group message reaches bob");
    msg_free_data(m);
    session_view s;
    int shown = group_session_shows(bob, gid, g1, &s);
    tap_ok(shown && s.from == ALICE && strcmp(s.data, "g one") == 0,
           "the group is in bob's recent sessions, with alice's message");
    tap_is_int(remove_session(bob, SESSION_TYPE_GROUP, gid), 0, "bob removes the group's session");
    uint32_t again = send_acked(alice, gid, MSG_TYPE_GROUP_TEXT, "g again", 7);
    msg_free_data(msg_wait_data(bob, 3000));
    tap_ok(again > g1 && group_session_shows(bob, gid, again, &s),
           "the group's next message, within the same second, brings it back");
    g1 = again;

    sleep_ms(1100); /* join times are in seconds: carol joins after "g one" */
    tap_is_int(group_change1(alice, gid, GROUP_MODIFY_TYPE_ADD, CAROL), G_OK, "alice adds carol");
    char buf[256];
    tap_is_int(unread_of(carol, SESSION_TYPE_GROUP, gid), 0, "carol has nothing unread from before she joined");
    tap_is_str(history(carol, SESSION_TYPE_GROUP, gid, buf, sizeof buf), "", "nor any history");
    msg_drain(carol, 300);
    uint32_t g2 = send_acked(alice, gid, MSG_TYPE_GROUP_TEXT, "g two", 5);
    m = msg_wait_data(carol, 3000);
    tap_ok(g2 > g1 && m && m->msg_id == g2, "the next message reaches carol");
    msg_free_data(m);
    tap_is_int(unread_of(carol, SESSION_TYPE_GROUP, gid), 1, "and is her one unread message");

    tap_is_int(group_change1(alice, gid, GROUP_MODIFY_TYPE_DEL, CAROL), G_OK, "alice removes carol");
    msg_drain(carol, 300);
    uint32_t g3 = send_acked(alice, gid, MSG_TYPE_GROUP_TEXT, "g three", 7);
    tap_ok(g3 > g2 && nothing_of(carol, CID_MSG_DATA, 800), "a message while she is out does not reach her");
    tap_ok(msg_ack_id(carol, msg_send_as(carol, 0, gid, MSG_TYPE_GROUP_TEXT, "me?", 3), 1500) == 0,
           "nor may she send to the group");

    sleep_ms(1100);
    tap_is_int(group_change1(alice, gid, GROUP_MODIFY_TYPE_ADD, CAROL), G_OK, "alice adds carol again");
    msg_drain(carol, 300);
    uint32_t g4 = send_acked(alice, gid, MSG_TYPE_GROUP_TEXT, "g four", 6);
    m = msg_wait_data(carol, 3000);
    tap_ok(g4 > g3 && m && m->msg_id == g4, "messages reach her again");
    msg_free_data(m);
    char want[32];
    snprintf(want, sizeof want, "%u", g4);
    tap_is_str(history(carol, SESSION_TYPE_GROUP, gid, buf, sizeof buf), want,
               "her history starts at the new join: what was said while she was out stays hidden");
    snprintf(want, sizeof want, "%u,%u,%u,%u,%u", g4, g3, g2, g1, g1 - 1);
    tap_is_str(history(bob, SESSION_TYPE_GROUP, gid, buf, sizeof buf), want, "bob, a member throughout, reads all five");
    imgate_client_close(alice);
    imgate_client_close(bob);
    imgate_client_close(carol);
}

int main(void)
{
    h = harness_start("message_sessions");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "login,buddy,group,message", NULL) != 0)
        tap_bail("imgated did not start");
    const char *names[] = {"alice", "bob", "carol"};
    for (unsigned i = 0; i < 3; i++)
        group_add_user(h, ALICE + i, names[i], 0);
    test_single();
    test_group();
    harness_stop(h);
    return tap_done();
}
