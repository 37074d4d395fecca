/*
 * buddy_profile.c — signatures and avatars over the real protocol: stored in
 * IMUser with `updated` bumped (so the next incremental user sync carries
 * them), answered, and pushed to every other connected client (PC and
 * mobile, the user's own other connections too). Refusals change nothing and
 * push nothing: a signature over 128 bytes, an avatar over 255 characters,
 * text that is not UTF-8, changes too close together; malformed bodies.
 */
#include "buddy_util.h"

static harness *h;

#define QUIET_MS 700

static int change_sign(imgate_client *c, const char *text, char *echo, size_t len)
{
    IM__Buddy__IMChangeSignInfoReq req = IM__BUDDY__IMCHANGE_SIGN_INFO_REQ__INIT;
    req.sign_info = (char *)text;
    imgate_client_pdu *pdu = buddy_call_pdu(c, CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, &req.base,
                                            CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE, 5000);
    IM__Buddy__IMChangeSignInfoRsp *r = pdu ? im__buddy__imchange_sign_info_rsp__unpack(NULL, pdu->body_len, pdu->body) : NULL;
    if (r == NULL)
        return -1;
    int code = (int)r->result_code;
    if (echo)
        snprintf(echo, len, "%s", r->sign_info ? r->sign_info : "(absent)");
    im__buddy__imchange_sign_info_rsp__free_unpacked(r, NULL);
    return code;
}

static int change_avatar(imgate_client *c, const char *url)
{
    IM__Buddy__IMChangeAvatarReq req = IM__BUDDY__IMCHANGE_AVATAR_REQ__INIT;
    req.avatar_url = (char *)url;
    imgate_client_pdu *pdu = buddy_call_pdu(c, CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST, &req.base,
                                            CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE, 5000);
    IM__Buddy__IMChangeAvatarRsp *r = pdu ? im__buddy__imchange_avatar_rsp__unpack(NULL, pdu->body_len, pdu->body) : NULL;
    if (r == NULL)
        return -1;
    int code = (int)r->result_code;
    im__buddy__imchange_avatar_rsp__free_unpacked(r, NULL);
    return code;
}

/* The sign-info notify about `uid` on c within timeout_ms: 1 with its text in out, else 0. */
static int got_sign_notify(imgate_client *c, uint32_t uid, char *out, size_t len, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (!buddy_wait_push(c, CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, &pdu, timeout_ms))
        return 0;
    IM__Buddy__IMSignInfoChangedNotify *n = im__buddy__imsign_info_changed_notify__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int ok = n && n->changed_user_id == uid;
    if (ok && out)
        snprintf(out, len, "%s", n->sign_info);
    if (n)
        im__buddy__imsign_info_changed_notify__free_unpacked(n, NULL);
    return ok;
}

static int got_avatar_notify(imgate_client *c, uint32_t uid, char *out, size_t len, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (!buddy_wait_push(c, CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY, &pdu, timeout_ms))
        return 0;
    IM__Buddy__IMAvatarChangedNotify *n = im__buddy__imavatar_changed_notify__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int ok = n && n->changed_user_id == uid;
    if (ok && out)
        snprintf(out, len, "%s", n->avatar_url);
    if (n)
        im__buddy__imavatar_changed_notify__free_unpacked(n, NULL);
    return ok;
}

static void db_text(const char *sql, char *out, size_t len)
{
    out[0] = '\0';
    harness_sql(h, sql, out, len);
}

/* The sign of user `uid` as the next incremental sync from `since` delivers it ("" if absent). */
static void synced_sign(imgate_client *c, uint32_t since, uint32_t uid, char *out, size_t len, int avatar)
{
    out[0] = '\0';
    buddy_pages pages;
    buddy_all_users(c, since, &pages);
    for (size_t p = 0; p < pages.n; p++) {
        IM__Buddy__IMAllUserRsp *r = im__buddy__imall_user_rsp__unpack(NULL, pages.pdu[p].body_len, pages.pdu[p].body);
        for (size_t i = 0; r && i < r->n_user_list; i++)
            if (r->user_list[i]->user_id == uid)
                snprintf(out, len, "%s", avatar ? r->user_list[i]->avatar_url : r->user_list[i]->sign_info);
        if (r)
            im__buddy__imall_user_rsp__free_unpacked(r, NULL);
    }
    buddy_pages_free(&pages);
}

static void test_sign_info(void)
{
    imgate_client *me = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    imgate_client *my_phone = buddy_login(h, 0, "alice", CLIENT_ANDROID);
    imgate_client *bob_pc = buddy_login(h, 0, "bob", CLIENT_MAC);
    imgate_client *carol_phone = buddy_login(h, 0, "carol", CLIENT_IOS);
    long long before = sql_num(h, "SELECT UNIX_TIMESTAMP()");

    const char *text = "新的签名 \xe2\x9c\x93 on the road";
    char echo[256], got[256];
    tap_is_int(change_sign(me, text, echo, sizeof echo), 0, "sign info: result_code 0");
    tap_is_str(echo, text, "the answer carries the stored signature");
    tap_ok(got_sign_notify(my_phone, 101, got, sizeof got, 3000) && strcmp(got, text) == 0,
           "the user's other connection is told (IMSignInfoChangedNotify)");
    tap_ok(got_sign_notify(bob_pc, 101, got, sizeof got, 3000) && strcmp(got, text) == 0, "another user's PC is told");
    tap_ok(got_sign_notify(carol_phone, 101, got, sizeof got, 3000), "another user's mobile is told");
    tap_ok(!got_sign_notify(me, 101, NULL, 0, QUIET_MS), "the requesting connection has the answer, no notify");
    db_text("SELECT sign_info FROM IMUser WHERE id = 101", got, sizeof got);
    tap_is_str(got, text, "stored in IMUser.sign_info");
    tap_ok(sql_num(h, "SELECT updated FROM IMUser WHERE id = 101") >= before, "IMUser.updated is bumped");
    synced_sign(bob_pc, (uint32_t)before, 101, got, sizeof got, 0);
    tap_is_str(got, text, "so the next incremental user sync carries it");

    /* 128 bytes exactly: 42 three-byte characters and two ASCII ones. */
    char max[256] = "";
    for (int i = 0; i < 42; i++)
        strcat(max, "\xe4\xb8\xad");
    strcat(max, "ab");
    tap_is_int(change_sign(me, max, NULL, 0), 0, "128 bytes are accepted");
    buddy_drain(bob_pc, 300);
    strcat(max, "c");
    tap_is_int(change_sign(me, max, echo, sizeof echo), 1, "129 bytes are refused (result_code 1)");
    tap_is_str(echo, "(absent)", "a refusal echoes no signature");
    tap_ok(!got_sign_notify(bob_pc, 101, NULL, 0, QUIET_MS), "a refusal is pushed to nobody");
    db_text("SELECT CHAR_LENGTH(sign_info) FROM IMUser WHERE id = 101", got, sizeof got);
    tap_is_str(got, "44", "and changes nothing");
    tap_is_int(change_sign(me, "bad \xff\xfe utf-8", NULL, 0), 1, "text that is not UTF-8 is refused");
    tap_is_int(change_sign(me, "\xc0\xaf", NULL, 0), 1, "an overlong UTF-8 form is refused");
    db_text("SELECT CHAR_LENGTH(sign_info) FROM IMUser WHERE id = 101", got, sizeof got);
    tap_is_str(got, "44", "neither changed anything");
    /* The body's user_id is not trusted: the change is the connection's user's. */
    IM__Buddy__IMChangeSignInfoReq foreign = IM__BUDDY__IMCHANGE_SIGN_INFO_REQ__INIT;
    foreign.user_id = 102;
    foreign.sign_info = (char *)"not bob's";
    imgate_client_pdu *fp = buddy_call_pdu(me, CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, &foreign.base,
                                           CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE, 5000);
    IM__Buddy__IMChangeSignInfoRsp *fr = fp ? im__buddy__imchange_sign_info_rsp__unpack(NULL, fp->body_len, fp->body) : NULL;
    tap_ok(fr && fr->result_code == 0 && fr->user_id == 101, "a request naming another user_id answers for the connection's user");
    if (fr)
        im__buddy__imchange_sign_info_rsp__free_unpacked(fr, NULL);
    db_text("SELECT sign_info FROM IMUser WHERE id = 102", got, sizeof got);
    tap_is_str(got, "sign of bob", "and leaves that other user alone");
    db_text("SELECT sign_info FROM IMUser WHERE id = 101", got, sizeof got);
    tap_is_str(got, "not bob's", "the change is the connection's user's");
    tap_is_int(change_sign(me, "", NULL, 0), 0, "an empty signature clears it");
    db_text("SELECT CONCAT('[', sign_info, ']') FROM IMUser WHERE id = 101", got, sizeof got);
    tap_is_str(got, "[]", "cleared in IMUser");

    uint16_t seq;
    const uint8_t junk[] = {0x08, 0x65}; /* user_id only: the required sign_info is missing */
    imgate_client_send(me, SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(me, CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE, seq, &pdu, QUIET_MS),
               IMGATE_CLIENT_TIMEOUT, "sign info: a malformed body gets no answer");
    tap_ok(heartbeat_ok(me), "sign info: the connection stays usable");
    imgate_client_close(carol_phone);
    imgate_client_close(bob_pc);
    imgate_client_close(my_phone);
    imgate_client_close(me);
}

static void test_avatar(void)
{
    imgate_client *me = buddy_login(h, 0, "bob", CLIENT_ANDROID);
    imgate_client *alice = buddy_login(h, 0, "alice", CLIENT_WINDOWS);
    long long before = sql_num(h, "SELECT UNIX_TIMESTAMP()");
    const char *url = "https://cdn.example.com/avatar/bob-2.png";
    tap_is_int(change_avatar(me, url), 0, "avatar: answered (the reference never answers, J.3), result_code 0");
    char got[2048];
    tap_ok(got_avatar_notify(alice, 102, got, sizeof got, 3000) && strcmp(got, url) == 0,
           "other clients get IMAvatarChangedNotify with the new URL");
    tap_ok(!got_avatar_notify(me, 102, NULL, 0, QUIET_MS), "the requesting connection gets the answer only");
    db_text("SELECT avatar FROM IMUser WHERE id = 102", got, sizeof got);
    tap_is_str(got, url, "stored in IMUser.avatar");
    synced_sign(alice, (uint32_t)before, 102, got, sizeof got, 1);
    tap_is_str(got, url, "the next incremental user sync carries it");

    /* The column holds 255 characters: 255 four-byte ones are accepted, 256 ASCII ones are not. */
    char longest[1100] = "";
    for (int i = 0; i < 255; i++)
        strcat(longest, "\xf0\x9f\x98\x80");
    tap_is_int(change_avatar(me, longest), 0, "255 characters (1020 bytes) are accepted");
    db_text("SELECT CHAR_LENGTH(avatar) FROM IMUser WHERE id = 102", got, sizeof got);
    tap_is_str(got, "255", "and stored whole");
    buddy_drain(alice, 300);
    char too_long[300];
    memset(too_long, 'x', 256);
    too_long[256] = '\0';
    tap_is_int(change_avatar(me, too_long), 1, "256 characters are refused");
    tap_ok(!got_avatar_notify(alice, 102, NULL, 0, QUIET_MS), "a refusal is pushed to nobody");
    db_text("SELECT CHAR_LENGTH(avatar) FROM IMUser WHERE id = 102", got, sizeof got);
    tap_is_str(got, "255", "and changes nothing");
    tap_is_int(change_avatar(me, "http://\xed\xa0\x80/"), 1, "an encoded surrogate (not UTF-8) is refused");
    uint16_t seq;
    const uint8_t junk[] = {0x08, 0x66}; /* user_id only: the required avatar_url is missing */
    imgate_client_send(me, SID_BUDDY_LIST, CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(me, CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE, seq, &pdu, QUIET_MS),
               IMGATE_CLIENT_TIMEOUT, "avatar: a malformed body gets no answer");
    tap_ok(heartbeat_ok(me), "avatar: the connection stays usable");
    imgate_client_close(alice);
    imgate_client_close(me);
}

/* Node 1 keeps the default profile_min_interval_ms (1000): each change is pushed to everyone. */
static void test_rate(void)
{
    imgate_client *me = buddy_login(h, 1, "carol", CLIENT_WINDOWS);
    tap_is_int(change_sign(me, "first", NULL, 0), 0, "a change is accepted");
    tap_is_int(change_avatar(me, "http://av/too-soon.png"), 1, "another change right after it is refused");
    char got[64];
    db_text("SELECT avatar FROM IMUser WHERE id = 103", got, sizeof got);
    tap_is_str(got, "http://av/carol.png", "and changes nothing");
    struct timespec pause = {1, 100 * 1000000};
    nanosleep(&pause, NULL);
    tap_is_int(change_avatar(me, "http://av/later.png"), 0, "after the interval it is accepted");
    imgate_client_close(me);
}

int main(void)
{
    h = harness_start("buddy_profile");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "login,buddy", "[plugin.buddy]\nprofile_min_interval_ms = 0\n") != 0 ||
        harness_node_start(h, "login,buddy", NULL) != 1)
        tap_bail("imgated did not start");
    buddy_add_user(h, 101, "alice", 1, 0, 1700000000);
    buddy_add_user(h, 102, "bob", 1, 0, 1700000000);
    buddy_add_user(h, 103, "carol", 2, 0, 1700000000);
    test_sign_info();
    test_avatar();
    test_rate();
    harness_stop(h);
    return tap_done();
}
