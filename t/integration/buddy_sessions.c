/*
 * buddy_sessions.c — recent sessions over the real protocol, with the rows
 * written into MySQL as the message plugin writes them (docs/protocol.md D,
 * H.4, H.6): single and group sessions with their latest message and its
 * real sender, audio shown as the encrypted "[语音]", sessions without a
 * readable message left out (none at all, deleted ones, before the user
 * joined the group, after they left it, a type clients do not know), paging
 * by time, the 100-session cap, and removal with its notify.
 */
#include <openssl/evp.h>

#include "buddy_util.h"

static harness *h;

#define T 1700000000u
#define QUIET_MS 700

typedef struct session_view {
    uint32_t id, type, updated, msg_id, msg_type, from;
    char data[256];
    size_t data_len;
} session_view;

typedef struct sessions {
    session_view s[128];
    size_t n;
    int ok;
} sessions;

static void recent(imgate_client *c, uint32_t since, sessions *out)
{
    memset(out, 0, sizeof *out);
    IM__Buddy__IMRecentContactSessionReq req = IM__BUDDY__IMRECENT_CONTACT_SESSION_REQ__INIT;
    req.latest_update_time = since;
    imgate_client_pdu *pdu = buddy_call_pdu(c, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, &req.base,
                                            CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, 5000);
    IM__Buddy__IMRecentContactSessionRsp *r =
        pdu ? im__buddy__imrecent_contact_session_rsp__unpack(NULL, pdu->body_len, pdu->body) : NULL;
    if (r == NULL)
        return;
    out->ok = 1;
    for (size_t i = 0; i < r->n_contact_session_list && out->n < 128; i++) {
        const IM__BaseDefine__ContactSessionInfo *s = r->contact_session_list[i];
        session_view *v = &out->s[out->n++];
        v->id = s->session_id;
        v->type = s->session_type;
        v->updated = s->updated_time;
        v->msg_id = s->latest_msg_id;
        v->msg_type = s->latest_msg_type;
        v->from = s->latest_msg_from_user_id;
        v->data_len = s->latest_msg_data.len < sizeof v->data - 1 ? s->latest_msg_data.len : sizeof v->data - 1;
        memcpy(v->data, s->latest_msg_data.data, v->data_len);
        if (s->session_status != SESSION_STATUS_OK)
            out->ok = 0;
    }
    im__buddy__imrecent_contact_session_rsp__free_unpacked(r, NULL);
}

static const session_view *find(const sessions *l, uint32_t type, uint32_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->s[i].type == type && l->s[i].id == id)
            return &l->s[i];
    return NULL;
}

/* What a client shows for latest_msg_data: protocol A.3 decryption with the clients' key. */
static int client_decrypt(const session_view *v, char *out, size_t len)
{
    unsigned char raw[256], plain[256];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)v->data, (int)v->data_len);
    if (n <= 0)
        return -1;
    /* EVP_DecodeBlock counts the bytes Base64 padding stands for: take them off. */
    for (size_t k = v->data_len; k > 0 && v->data[k - 1] == '='; k--)
        n--;
    if (n % 16 != 0)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int got = 0;
    EVP_DecryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, (const unsigned char *)"12345678901234567890123456789012", NULL);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_DecryptUpdate(ctx, plain, &got, raw, n);
    EVP_CIPHER_CTX_free(ctx);
    if (got != n)
        return -1;
    uint32_t m = ((uint32_t)plain[n - 4] << 24) | ((uint32_t)plain[n - 3] << 16) | ((uint32_t)plain[n - 2] << 8) |
                 plain[n - 1];
    if (m > (uint32_t)n - 4 || m >= len)
        return -1;
    memcpy(out, plain, m);
    out[m] = '\0';
    return 0;
}

static void setup(void)
{
    const char *names[] = {"alice", "bob", "carol", "dave", "erin"};
    for (unsigned i = 0; i < 5; i++)
        buddy_add_user(h, 101 + i, names[i], 1, 0, T);
    /* Relations (one per pair, smallId < bigId) and their messages in IMMessage_<relateId % 8>. */
    sqlf(h, "INSERT INTO IMRelationShip (id, smallId, bigId, status, created, updated) VALUES"
            " (9, 101, 102, 0, %u, %u), (14, 101, 103, 0, %u, %u), (3, 101, 104, 0, %u, %u)",
         T, T, T, T, T, T);
    sqlf(h, "INSERT INTO IMMessage_1 (relateId, fromId, toId, msgId, content, type, status, created, updated) VALUES"
            " (9, 101, 102, 1, 'hello bob', 1, 0, %u, %u), (9, 102, 101, 2, 'hi alice', 1, 0, %u, %u),"
            " (9, 101, 102, 3, 'deleted one', 1, 1, %u, %u)",
         T + 10, T + 10, T + 20, T + 20, T + 30, T + 30);
    sqlf(h, "INSERT INTO IMMessage_6 (relateId, fromId, toId, msgId, content, type, status, created, updated) VALUES"
            " (14, 103, 101, 1, 'from carol', 1, 0, %u, %u), (14, 101, 103, 2, '7', 2, 0, %u, %u)",
         T + 35, T + 35, T + 40, T + 40);
    /* Groups 7, 15 and 23 (all in IMGroupMessage_7). Membership: IMGroupMember.updated is the join time. */
    sqlf(h, "INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, lastChated, updated,"
            " created) VALUES (7, 'g7', '', 101, 1, 2, 0, 1, %u, %u, %u), (15, 'g15', '', 101, 1, 2, 0, 1, %u, %u, %u),"
            " (23, 'g23', '', 101, 1, 1, 0, 1, %u, %u, %u)",
         T, T, T, T, T, T, T, T, T);
    sqlf(h, "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES"
            " (7, 101, 0, %u, %u), (7, 102, 0, %u, %u), (7, 104, 1, %u, %u),"
            " (15, 101, 0, %u, %u), (15, 102, 0, %u, %u), (23, 101, 0, %u, %u)",
         T, T + 5, T, T + 50, T, T + 55, T, T + 5, T, T + 100, T, T + 5);
    sqlf(h, "INSERT INTO IMGroupMessage_7 (groupId, userId, msgId, content, type, status, created, updated) VALUES"
            " (7, 101, 1, 'g7 first', 17, 0, %u, %u), (7, 102, 2, 'g7 second', 17, 0, %u, %u),"
            " (15, 101, 1, 'g15 before bob', 17, 0, %u, %u), (23, 101, 1, 'strange', 9, 0, %u, %u)",
         T + 15, T + 15, T + 60, T + 60, T + 70, T + 70, T + 80, T + 80);
    /* Recent sessions. */
    sqlf(h, "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES"
            " (101, 102, 1, 0, %u, %u), (101, 103, 1, 0, %u, %u), (101, 104, 1, 0, %u, %u),"
            " (101, 7, 2, 0, %u, %u), (101, 15, 2, 0, %u, %u), (101, 23, 2, 0, %u, %u), (101, 105, 1, 1, %u, %u),"
            " (102, 101, 1, 0, %u, %u), (102, 7, 2, 0, %u, %u), (102, 15, 2, 0, %u, %u),"
            " (104, 7, 2, 0, %u, %u)",
         T, T + 20, T, T + 40, T, T + 45, T, T + 60, T, T + 70, T, T + 80, T, T + 90, T, T + 20, T, T + 60, T,
         T + 70, T, T + 60);
}

static void test_list(void)
{
    imgate_client *alice = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    sessions l;
    recent(alice, 0, &l);
    tap_ok(l.ok, "recent sessions: a parseable reply, every session_status 0");
    tap_is_int(l.n, 4, "alice: 4 sessions (no message, unknown type and removed ones left out)");
    if (l.n == 4) {
        tap_ok(l.s[0].id == 15 && l.s[1].id == 7 && l.s[2].id == 103 && l.s[3].id == 102,
               "newest first (by IMRecentSession.updated)");
        tap_ok(l.s[0].updated == T + 70 && l.s[3].updated == T + 20, "updated_time is the session's");
    }
    const session_view *s = find(&l, SESSION_TYPE_SINGLE, 102);
    tap_ok(s && s->msg_id == 2 && s->msg_type == MSG_TYPE_SINGLE_TEXT && s->data_len == 8 &&
               memcmp(s->data, "hi alice", 8) == 0,
           "single: the latest message that is not deleted (id, type, data)");
    tap_ok(s && s->from == 102, "single: sent by the peer");
    s = find(&l, SESSION_TYPE_SINGLE, 103);
    tap_ok(s && s->from == 101, "single: the real sender when it is the user themself (not the peer, J.15)");
    char shown[64];
    tap_ok(s && s->msg_type == MSG_TYPE_SINGLE_AUDIO && client_decrypt(s, shown, sizeof shown) == 0 &&
               strcmp(shown, "[\xe8\xaf\xad\xe9\x9f\xb3]") == 0,
           "audio: latest_msg_data decrypts (client key) to \"[语音]\"");
    s = find(&l, SESSION_TYPE_GROUP, 7);
    tap_ok(s && s->msg_id == 2 && s->from == 102 && s->msg_type == MSG_TYPE_GROUP_TEXT && s->data_len == 9,
           "group: the latest message and its sender");
    tap_ok(find(&l, SESSION_TYPE_SINGLE, 104) == NULL, "a session without any message is left out");
    tap_ok(find(&l, SESSION_TYPE_GROUP, 23) == NULL, "a message type clients do not know leaves the session out");

    recent(alice, T + 40, &l);
    tap_ok(l.n == 2 && l.s[0].id == 15 && l.s[1].id == 7, "paging by time: only sessions updated after it");
    recent(alice, T + 70, &l);
    tap_ok(l.ok && l.n == 0, "nothing newer: an empty list");

    imgate_client *bob = buddy_login(h, 0, "bob", CLIENT_ANDROID);
    recent(bob, 0, &l);
    s = find(&l, SESSION_TYPE_SINGLE, 101);
    tap_ok(s && s->msg_id == 2 && s->from == 102, "bob's side of the pair: he sent the latest, and it says so");
    s = find(&l, SESSION_TYPE_GROUP, 7);
    tap_ok(s && s->msg_id == 2, "bob sees the group message sent after he joined");
    tap_ok(find(&l, SESSION_TYPE_GROUP, 15) == NULL, "a group whose messages all predate his joining is left out");
    imgate_client *dave = buddy_login(h, 0, "dave", CLIENT_WINDOWS);
    recent(dave, 0, &l);
    tap_ok(l.ok && l.n == 0, "a user who left the group does not see its latest message");

    uint16_t seq;
    const uint8_t junk[] = {0x08};
    imgate_client_send(alice, SID_BUDDY_LIST, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(alice, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, seq, &pdu, QUIET_MS),
               IMGATE_CLIENT_TIMEOUT, "recent sessions: a truncated body gets no answer");
    tap_ok(heartbeat_ok(alice), "recent sessions: the connection stays usable");
    imgate_client_close(dave);
    imgate_client_close(bob);
    imgate_client_close(alice);
}

/* erin has 120 sessions: the newest 100 come back. */
static void test_limit(void)
{
    sqlf(h, "INSERT INTO IMRelationShip (id, smallId, bigId, status, created, updated)"
            " SELECT 1000 + seq, 105, 5000 + seq, 0, %u, %u FROM seq_1_to_120",
         T, T);
    for (unsigned k = 0; k < 8; k++)
        sqlf(h, "INSERT INTO IMMessage_%u (relateId, fromId, toId, msgId, content, type, status, created, updated)"
                " SELECT 1000 + seq, 105, 5000 + seq, 1, CONCAT('m', seq), 1, 0, %u, %u FROM seq_1_to_120"
                " WHERE MOD(1000 + seq, 8) = %u",
             k, T, T, k);
    sqlf(h, "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated)"
            " SELECT 105, 5000 + seq, 1, 0, %u, %u + seq FROM seq_1_to_120",
         T, T);
    imgate_client *erin = buddy_login(h, 0, "erin", CLIENT_WINDOWS);
    sessions l;
    recent(erin, 0, &l);
    tap_is_int(l.n, 100, "120 sessions: 100 in the reply");
    int newest = l.n == 100 && l.s[0].id == 5120 && l.s[99].id == 5021;
    for (size_t i = 1; i < l.n; i++)
        newest &= l.s[i].updated < l.s[i - 1].updated;
    tap_ok(newest, "the 100 newest, newest first");
    imgate_client_close(erin);
}

static int remove_session(imgate_client *c, uint32_t type, uint32_t id, uint32_t body_user, IM__Buddy__IMRemoveSessionRsp **out)
{
    IM__Buddy__IMRemoveSessionReq req = IM__BUDDY__IMREMOVE_SESSION_REQ__INIT;
    req.user_id = body_user;
    req.session_type = (IM__BaseDefine__SessionType)type;
    req.session_id = id;
    imgate_client_pdu *pdu = buddy_call_pdu(c, CID_BUDDY_LIST_REMOVE_SESSION_REQ, &req.base,
                                            CID_BUDDY_LIST_REMOVE_SESSION_RES, 5000);
    IM__Buddy__IMRemoveSessionRsp *r = pdu ? im__buddy__imremove_session_rsp__unpack(NULL, pdu->body_len, pdu->body) : NULL;
    int code = r ? (int)r->result_code : -1;
    if (out)
        *out = r;
    else if (r)
        im__buddy__imremove_session_rsp__free_unpacked(r, NULL);
    return code;
}

/* A removal notify on c within timeout_ms: 1 when it names (type, id) for user uid. */
static int got_remove_notify(imgate_client *c, uint32_t uid, uint32_t type, uint32_t id, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (!buddy_wait_push(c, CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY, &pdu, timeout_ms))
        return 0;
    IM__Buddy__IMRemoveSessionNotify *n = im__buddy__imremove_session_notify__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int ok = n && n->user_id == uid && (uint32_t)n->session_type == type && n->session_id == id;
    if (n)
        im__buddy__imremove_session_notify__free_unpacked(n, NULL);
    return ok;
}

static void test_remove(void)
{
    imgate_client *pc = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *phone = buddy_login(h, 0, "alice", CLIENT_IOS);
    imgate_client *bob = buddy_login(h, 0, "bob", CLIENT_WINDOWS);
    IM__Buddy__IMRemoveSessionRsp *r = NULL;
    tap_is_int(remove_session(pc, SESSION_TYPE_SINGLE, 102, 101, &r), 0, "remove: result_code 0");
    tap_ok(r && r->user_id == 101 && r->session_type == SESSION_TYPE_SINGLE && r->session_id == 102,
           "the answer names the user and the session");
    if (r)
        im__buddy__imremove_session_rsp__free_unpacked(r, NULL);
    tap_ok(got_remove_notify(phone, 101, SESSION_TYPE_SINGLE, 102, 3000),
           "the user's other connection gets IMRemoveSessionNotify");
    tap_ok(!got_remove_notify(pc, 101, SESSION_TYPE_SINGLE, 102, QUIET_MS), "the requesting connection does not");
    tap_ok(!buddy_wait_push(bob, CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY, &(imgate_client_pdu){0}, QUIET_MS),
           "nor does anyone else");
    tap_is_int(sql_num(h, "SELECT status FROM IMRecentSession WHERE userId = 101 AND peerId = 102 AND type = 1"), 1,
               "IMRecentSession.status is 1");
    sessions l;
    recent(pc, 0, &l);
    tap_ok(l.n == 3 && find(&l, SESSION_TYPE_SINGLE, 102) == NULL, "a removed session is no longer listed");
    recent(bob, 0, &l);
    tap_ok(find(&l, SESSION_TYPE_SINGLE, 101) != NULL, "the peer's side of the session is untouched");

    tap_is_int(remove_session(pc, SESSION_TYPE_GROUP, 7, 101, NULL), 0, "a group session is removed too");
    tap_ok(got_remove_notify(phone, 101, SESSION_TYPE_GROUP, 7, 3000), "and its removal notified");
    tap_is_int(remove_session(pc, SESSION_TYPE_GROUP, 7, 101, NULL), 0, "removing it again: still result 0");
    tap_ok(!got_remove_notify(phone, 101, SESSION_TYPE_GROUP, 7, QUIET_MS), "but nothing changed, nothing notified");
    tap_is_int(remove_session(pc, SESSION_TYPE_SINGLE, 424242, 101, NULL), 0, "a session that never existed: result 0");

    /* The body's user_id is not trusted: alice cannot remove bob's session. */
    tap_is_int(remove_session(pc, SESSION_TYPE_SINGLE, 101, 102, NULL), 0, "a request naming another user_id");
    tap_is_int(sql_num(h, "SELECT status FROM IMRecentSession WHERE userId = 102 AND peerId = 101"), 0,
               "acts on the connection's user only: bob's session stays");

    /* A new message revives it: the message plugin sets status 0 and bumps updated (here by SQL). */
    sqlf(h, "UPDATE IMRecentSession SET status = 0, updated = UNIX_TIMESTAMP() WHERE userId = 101 AND peerId = 102");
    recent(pc, T + 100, &l);
    tap_ok(l.n == 1 && l.s[0].id == 102, "a revived session is listed again, as the newest");

    uint16_t seq;
    const uint8_t bad_type[] = {0x08, 0x65, 0x10, 0x09, 0x18, 0x66}; /* session_type 9: not a SessionType */
    imgate_client_send(pc, SID_BUDDY_LIST, CID_BUDDY_LIST_REMOVE_SESSION_REQ, bad_type, sizeof bad_type, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(pc, CID_BUDDY_LIST_REMOVE_SESSION_RES, seq, &pdu, QUIET_MS), IMGATE_CLIENT_TIMEOUT,
               "remove: an unknown session_type gets no answer");
    tap_ok(heartbeat_ok(pc), "remove: the connection stays usable");
    imgate_client_close(bob);
    imgate_client_close(phone);
    imgate_client_close(pc);
}

int main(void)
{
    h = harness_start("buddy_sessions");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "login,buddy", NULL) != 0)
        tap_bail("imgated did not start");
    setup();
    test_list();
    test_limit();
    test_remove();
    harness_stop(h);
    return tap_done();
}
