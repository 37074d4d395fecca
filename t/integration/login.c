/*
 * login.c — the login plugin over the real protocol against real MariaDB and
 * Redis: success with every UserInfo field, refusals (wrong password, unknown
 * user, status != 0, injection-shaped names, malformed request), a second
 * request on the same connection, lockout (shared by two nodes, cleared by a
 * success after the window), the per-address throttle, kick rules, logout,
 * device tokens, push shield, the server query, and the Argon2id upgrade.
 */
#include <time.h>

#include "login_util.h"

static harness *h;

static void test_success(void)
{
    imgate_client *c = connect_from(h, 0, "127.0.0.2");
    time_t before = time(NULL);
    IM__Login__IMLoginRes *res = login_as(c, "alice", "alice123", CLIENT_WINDOWS, 3 /* LEAVE */);
    tap_ok(res != NULL, "login answered with a parseable IMLoginRes (all required fields present)");
    if (res == NULL)
        return;
    tap_is_int(res->result_code, 0, "result_code 0");
    tap_ok(res->server_time >= before && res->server_time <= time(NULL) + 1, "server_time is now");
    tap_ok(res->has_online_status && res->online_status == 3, "online_status echoes the requested one");
    IM__BaseDefine__UserInfo *u = res->user_info;
    tap_ok(u != NULL, "user_info present");
    if (u) {
        tap_is_int(u->user_id, 101, "user_id");
        tap_is_int(u->user_gender, 2, "user_gender");
        tap_is_str(u->user_nick_name, "Nick alice", "user_nick_name");
        tap_is_str(u->avatar_url, "http://av/alice.png", "avatar_url");
        tap_is_int(u->department_id, 7, "department_id");
        tap_is_str(u->email, "alice@example.com", "email");
        tap_is_str(u->user_real_name, "alice", "user_real_name is the login name, as the reference");
        tap_is_str(u->user_tel, "13800000101", "user_tel");
        tap_is_str(u->user_domain, "alice_domain", "user_domain");
        tap_is_int(u->status, 0, "status");
        tap_is_str(u->sign_info, "sign of alice", "sign_info");
    }
    im__login__imlogin_res__free_unpacked(res, NULL);

    /* A second login request on the same connection is ignored. */
    char pw[33];
    md5hex("alice123", pw);
    IM__Login__IMLoginReq again = IM__LOGIN__IMLOGIN_REQ__INIT;
    again.user_name = (char *)"alice";
    again.password = pw;
    again.online_status = 1;
    again.client_type = CLIENT_WINDOWS;
    uint16_t seq;
    imgate_client_send_msg(c, SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, &again.base, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_LOGIN_RES_USERLOGIN, seq, &pdu, 1000), IMGATE_CLIENT_TIMEOUT,
               "a second login request on the same connection is ignored");
    tap_ok(heartbeat_ok(c), "the connection stays logged in and usable");
    imgate_client_close(c);
}

static void expect_refusal(const char *user, const char *plain, int code, const char *text, const char *what)
{
    imgate_client *c = connect_from(h, 0, "127.0.0.2");
    char got[256];
    int rc = login_result(c, user, plain, got, sizeof got);
    tap_is_int(rc, code, "%s: result_code %d", what, code);
    tap_is_str(got, text, "%s: result_string", what);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "%s: connection closed", what);
    imgate_client_close(c);
}

static void test_refusals(void)
{
    expect_refusal("alice", "wrong", 6, "用户名/密码错误", "wrong password");
    expect_refusal("nobody", "whatever", 6, "用户名/密码错误", "unknown user");
    expect_refusal("gone", "gone123", 6, "用户名/密码错误", "a user with status != 0");
    expect_refusal("alice' OR '1'='1", "x", 6, "用户名/密码错误", "injection-shaped name (OR 1=1)");
    expect_refusal("alice'; DROP TABLE IMUser; --", "x", 6, "用户名/密码错误", "injection-shaped name (DROP TABLE)");
    char out[64] = "";
    harness_sql(h, "SELECT COUNT(*) FROM IMUser WHERE name = 'alice'", out, sizeof out);
    tap_is_str(out, "1", "IMUser is intact");

    imgate_client *c = connect_from(h, 0, "127.0.0.2");
    uint16_t seq;
    imgate_client_send(c, SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, "\xff\xff\xff", 3, &seq);
    imgate_client_pdu pdu;
    int rc = imgate_client_wait(c, CID_LOGIN_RES_USERLOGIN, seq, &pdu, 3000);
    IM__Login__IMLoginRes *res = rc == 0 ? im__login__imlogin_res__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(res && res->result_code == 6, "a malformed login request gets a refusal, not silence");
    if (res)
        im__login__imlogin_res__free_unpacked(res, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "and is closed");
    imgate_client_close(c);

    /* Values outside the protocol's enums: the reference's parser refuses them, so do we. */
    const struct {
        uint32_t client_type, online_status;
        const char *what;
    } bad[] = {{99, USER_STATUS_ONLINE, "client_type 99"}, {CLIENT_WINDOWS, 0, "online_status 0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = connect_from(h, 0, "127.0.0.2");
        IM__Login__IMLoginRes *r = login_as(c, "alice", "alice123", bad[i].client_type, bad[i].online_status);
        tap_ok(r && r->result_code == 6 && r->user_info == NULL && strcmp(r->result_string, "登录请求格式错误") == 0,
               "a login with %s is refused as malformed, even with the right password", bad[i].what);
        if (r)
            im__login__imlogin_res__free_unpacked(r, NULL);
        imgate_client_close(c);
    }
    /* Spellings the database would match to another name are refused before any lockout window. */
    const char *spellings[] = {"alice ", "alice\t", "ali\001ce"};
    for (size_t i = 0; i < 3; i++) {
        c = connect_from(h, 0, "127.0.0.2");
        char text[128];
        tap_is_int(login_result(c, spellings[i], "alice123", text, sizeof text), 6,
                   "the name spelled '%s' does not log in as alice", i == 0 ? "alice<space>" : i == 1 ? "alice<tab>" : "ali<0x01>ce");
        imgate_client_close(c);
    }
    char n[64] = "";
    harness_redis(h, "KEYS imgate:login:fail:user:alice?", n, sizeof n); /* "alice " or "alice\t" */
    tap_is_str(n, "", "and opened no lockout window of its own");
}

static void test_lockout(void)
{
    char text[256];
    for (int i = 1; i <= 10; i++) {
        imgate_client *c = connect_from(h, 0, "127.0.0.3");
        int rc = login_result(c, "dave", "bad-guess", text, sizeof text);
        if (i == 1 || i == 10)
            tap_ok(rc == 6 && strcmp(text, "用户名/密码错误") == 0, "failure %d is a plain wrong password", i);
        imgate_client_close(c);
    }
    imgate_client *c = connect_from(h, 0, "127.0.0.3");
    int rc = login_result(c, "dave", "dave123", text, sizeof text);
    tap_ok(rc == 6 && strcmp(text, "用户名/密码错误次数太多") == 0,
           "the 11th attempt in the window is refused even with the right password (%d %s)", rc, text);
    imgate_client_close(c);

    c = connect_from(h, 1, "127.0.0.9");
    rc = login_result(c, "dave", "dave123", text, sizeof text);
    tap_ok(rc == 6 && strcmp(text, "用户名/密码错误次数太多") == 0,
           "a second node sharing the Redis sees the same lockout, from another address too");
    imgate_client_close(c);

    char out[64] = "";
    harness_redis(h, "ZCARD imgate:login:fail:user:dave", out, sizeof out);
    tap_is_str(out, "10", "the failures are counted in Redis");

    struct timespec ts = {3, 200 * 1000000}; /* the test window is 3 s */
    nanosleep(&ts, NULL);
    c = connect_from(h, 0, "127.0.0.3");
    tap_ok(login_ok(c, "dave", "dave123", CLIENT_WINDOWS), "after the window the right password logs in");
    imgate_client_close(c);
    c = connect_from(h, 0, "127.0.0.3");
    rc = login_result(c, "dave", "bad-again", text, sizeof text);
    imgate_client_close(c);
    harness_redis(h, "ZCARD imgate:login:fail:user:dave", out, sizeof out);
    tap_is_str(out, "1", "the success cleared the count: one new failure is one");
}

static void test_lockout_race(void)
{
    /* 40 wrong guesses in flight at once: the check and the record are one step, so at most
     * lockout_failures (10) of them are ever verified; the rest are refused as locked. */
    enum { N = 40 };
    imgate_client *c[N];
    uint16_t seq[N];
    char pw[33];
    md5hex("not-hank", pw);
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = (char *)"hank";
    req.password = pw;
    req.online_status = USER_STATUS_ONLINE;
    req.client_type = CLIENT_WINDOWS;
    for (int i = 0; i < N; i++)
        c[i] = connect_from(h, 0, "127.0.0.11");
    for (int i = 0; i < N; i++)
        imgate_client_send_msg(c[i], SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, &req.base, &seq[i]);
    int checked = 0, locked = 0;
    for (int i = 0; i < N; i++) {
        imgate_client_pdu pdu;
        if (imgate_client_wait(c[i], CID_LOGIN_RES_USERLOGIN, seq[i], &pdu, 10000) == 0) {
            IM__Login__IMLoginRes *r = im__login__imlogin_res__unpack(NULL, pdu.body_len, pdu.body);
            if (r && strcmp(r->result_string, "用户名/密码错误") == 0)
                checked++;
            else if (r && strcmp(r->result_string, "用户名/密码错误次数太多") == 0)
                locked++;
            if (r)
                im__login__imlogin_res__free_unpacked(r, NULL);
            imgate_client_pdu_free(&pdu);
        }
        imgate_client_close(c[i]);
    }
    tap_is_int(checked, 10, "40 simultaneous wrong guesses: exactly 10 were checked");
    tap_is_int(locked, 30, "and 30 refused as locked without a check");
    char out[64] = "";
    harness_redis(h, "ZCARD imgate:login:fail:user:hank", out, sizeof out);
    tap_is_str(out, "10", "10 failures recorded");
}

static void test_address_throttle(void)
{
    char text[256], name[32];
    for (int i = 0; i < 12; i++) {
        imgate_client *c = connect_from(h, 0, "127.0.0.4");
        snprintf(name, sizeof name, "guess%d", i); /* spraying many user names from one host */
        login_result(c, name, "123456", text, sizeof text);
        imgate_client_close(c);
    }
    imgate_client *c = connect_from(h, 0, "127.0.0.4");
    int rc = login_result(c, "erin", "erin123", text, sizeof text);
    tap_ok(rc == 6 && strcmp(text, "该地址登录失败次数太多,请稍后再试") == 0,
           "after 12 failures from one address, even a right password from there is refused (%s)", text);
    imgate_client_close(c);
    c = connect_from(h, 0, "127.0.0.5");
    tap_ok(login_ok(c, "erin", "erin123", CLIENT_WINDOWS), "the same user logs in from another address");
    imgate_client_close(c);
    char out[64] = "";
    harness_redis(h, "EXISTS imgate:login:fail:user:erin", out, sizeof out);
    tap_is_str(out, "0", "the sprayed failures did not lock out erin's name");
}

/* 30 users behind one address log in at once: with addr_failures = 12, attempts in flight must not
 * count as failures (addr_concurrency, default 200), or a NAT's reconnect storm would be refused. */
static void test_address_burst(void)
{
    enum { N = 30 };
    imgate_client *c[N];
    uint16_t seq[N];
    char name[32], plain[40], pw[N][33];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "nat%d", i);
        snprintf(plain, sizeof plain, "nat%d-pw", i);
        add_user(h, 300 + i, name, plain, 0);
        md5hex(plain, pw[i]);
    }
    for (int i = 0; i < N; i++)
        c[i] = connect_from(h, 0, "127.0.0.12");
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "nat%d", i);
        IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
        req.user_name = name;
        req.password = pw[i];
        req.online_status = USER_STATUS_ONLINE;
        req.client_type = CLIENT_WINDOWS;
        imgate_client_send_msg(c[i], SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, &req.base, &seq[i]);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        imgate_client_pdu pdu;
        if (imgate_client_wait(c[i], CID_LOGIN_RES_USERLOGIN, seq[i], &pdu, 10000) == 0) {
            IM__Login__IMLoginRes *r = im__login__imlogin_res__unpack(NULL, pdu.body_len, pdu.body);
            ok += r && r->result_code == 0;
            if (r)
                im__login__imlogin_res__free_unpacked(r, NULL);
            imgate_client_pdu_free(&pdu);
        }
        imgate_client_close(c[i]);
    }
    tap_is_int(ok, N, "30 users behind one address (addr_failures 12) log in at once: all 30 succeed");
}

static int wait_pc_status(imgate_client *c, uint32_t uid)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, -1, &pdu, 3000) != 0)
        return -1;
    IM__Buddy__IMPCLoginStatusNotify *n = im__buddy__impclogin_status_notify__unpack(NULL, pdu.body_len, pdu.body);
    int r = n && n->user_id == uid ? (int)n->login_stat : -1;
    if (n)
        im__buddy__impclogin_status_notify__free_unpacked(n, NULL);
    imgate_client_pdu_free(&pdu);
    return r;
}

static void test_kicks(void)
{
    imgate_client *mobile = connect_from(h, 0, "127.0.0.6");
    imgate_client *pc1 = connect_from(h, 0, "127.0.0.6");
    imgate_client *pc2 = connect_from(h, 0, "127.0.0.6");
    tap_ok(login_ok(mobile, "bob", "bob123", CLIENT_ANDROID), "bob logs in on Android");
    tap_ok(login_ok(pc1, "bob", "bob123", CLIENT_WINDOWS), "bob logs in on Windows: PC + mobile both stay");
    tap_is_int(wait_pc_status(mobile, 102), 1, "the mobile is told the PC came online (IMPCLoginStatusNotify)");
    tap_ok(heartbeat_ok(mobile) && heartbeat_ok(pc1), "both connections work");

    tap_ok(login_ok(pc2, "bob", "bob123", CLIENT_MAC), "bob logs in on a Mac");
    tap_is_int(wait_kick(pc1, 102), 1, "the older PC gets IMKickUser reason 1");
    tap_is_int(imgate_client_wait_closed(pc1, 3000), IMGATE_CLIENT_CLOSED, "and is closed");
    tap_ok(heartbeat_ok(mobile) && heartbeat_ok(pc2), "the Mac and the mobile stay");

    /* From a PC, CID_LOGIN_REQ_KICKPCCLIENT is ignored. */
    IM__Login__IMKickPCClientReq kreq = IM__LOGIN__IMKICK_PCCLIENT_REQ__INIT;
    kreq.user_id = 102;
    uint16_t seq;
    imgate_client_pdu pdu;
    imgate_client_send_msg(pc2, SID_LOGIN, CID_LOGIN_REQ_KICKPCCLIENT, &kreq.base, &seq);
    tap_is_int(imgate_client_wait(pc2, CID_LOGIN_RES_KICKPCCLIENT, seq, &pdu, 800), IMGATE_CLIENT_TIMEOUT, "a PC cannot kick PCs");
    tap_ok(heartbeat_ok(pc2), "and stays logged in");

    /* Drain the PC-online notice the Mac login sent to the mobile. */
    wait_pc_status(mobile, 102);
    imgate_client_send_msg(mobile, SID_LOGIN, CID_LOGIN_REQ_KICKPCCLIENT, &kreq.base, &seq);
    int rc = imgate_client_wait(mobile, CID_LOGIN_RES_KICKPCCLIENT, seq, &pdu, 3000);
    IM__Login__IMKickPCClientRsp *krsp = rc == 0 ? im__login__imkick_pcclient_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(krsp && krsp->user_id == 102 && krsp->result_code == 0, "the mobile's kick is answered IMKickPCClientRsp{102, 0}");
    if (krsp)
        im__login__imkick_pcclient_rsp__free_unpacked(krsp, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_is_int(wait_kick(pc2, 102), 2, "the PC gets IMKickUser reason 2 (mobile kick)");
    tap_is_int(imgate_client_wait_closed(pc2, 3000), IMGATE_CLIENT_CLOSED, "and is closed");
    tap_is_int(wait_pc_status(mobile, 102), 2, "the mobile is told the PC went offline");
    tap_ok(heartbeat_ok(mobile), "the mobile stays");
    imgate_client_close(pc1);
    imgate_client_close(pc2);
    imgate_client_close(mobile);
}

static void test_device_token_and_logout(void)
{
    imgate_client *c = connect_from(h, 0, "127.0.0.7");
    tap_ok(login_ok(c, "frank", "frank123", CLIENT_ANDROID), "frank logs in on Android");
    char out[128] = "";
    for (int round = 1; round <= 2; round++) {
        IM__Login__IMDeviceTokenReq req = IM__LOGIN__IMDEVICE_TOKEN_REQ__INIT;
        req.user_id = 999; /* ignored: the connection's user counts */
        req.device_token = round == 1 ? (char *)"tok-one" : (char *)"tok-two";
        imgate_client_pdu pdu;
        int rc = imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_DEVICETOKEN, &req.base, CID_LOGIN_RES_DEVICETOKEN, &pdu, 3000);
        IM__Login__IMDeviceTokenRsp *rsp = rc == 0 ? im__login__imdevice_token_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
        tap_ok(rsp && rsp->user_id == 106, "IMDeviceTokenRsp %d carries user_id (the reference sends an empty body)", round);
        if (rsp)
            im__login__imdevice_token_rsp__free_unpacked(rsp, NULL);
        if (rc == 0)
            imgate_client_pdu_free(&pdu);
    }
    harness_redis(h, "GET device_106", out, sizeof out);
    tap_is_str(out, "android:tok-two", "device_<uid> holds the current token with its platform");
    harness_redis(h, "GET device_tok-two", out, sizeof out);
    tap_is_str(out, "106", "device_<token> maps back to the user");
    harness_redis(h, "GET device_tok-one", out, sizeof out);
    tap_is_str(out, "", "the replaced token is emptied, as the reference does");

    imgate_client_pdu pdu;
    int rc = imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_LOGINOUT, NULL, CID_LOGIN_RES_LOGINOUT, &pdu, 3000);
    IM__Login__IMLogoutRsp *lrsp = rc == 0 ? im__login__imlogout_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(lrsp && lrsp->result_code == 0, "logout answered IMLogoutRsp{0}");
    if (lrsp)
        im__login__imlogout_rsp__free_unpacked(lrsp, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "then the connection is closed");
    harness_redis(h, "EXISTS device_106", out, sizeof out);
    tap_is_str(out, "0", "logout cleared the user's device token");
    harness_redis(h, "GET device_tok-two", out, sizeof out);
    tap_is_str(out, "", "and emptied the token's reverse key");
    imgate_client_close(c);
}

static void test_push_shield(void)
{
    imgate_client *c = connect_from(h, 0, "127.0.0.7");
    tap_ok(login_ok(c, "grace", "grace123", CLIENT_IOS), "grace logs in on iOS");
    IM__Login__IMPushShieldReq set = IM__LOGIN__IMPUSH_SHIELD_REQ__INIT;
    set.user_id = 107;
    set.shield_status = 1;
    imgate_client_pdu pdu;
    int rc = imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_PUSH_SHIELD, &set.base, CID_LOGIN_RES_PUSH_SHIELD, &pdu, 3000);
    IM__Login__IMPushShieldRsp *rsp = rc == 0 ? im__login__impush_shield_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(rsp && rsp->user_id == 107 && rsp->result_code == 0 && rsp->has_shield_status && rsp->shield_status == 1,
           "push shield on: IMPushShieldRsp{107, 0, 1}");
    if (rsp)
        im__login__impush_shield_rsp__free_unpacked(rsp, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    char out[64] = "";
    harness_sql(h, "SELECT push_shield_status FROM IMUser WHERE id = 107", out, sizeof out);
    tap_is_str(out, "1", "stored in IMUser.push_shield_status");

    IM__Login__IMQueryPushShieldReq q = IM__LOGIN__IMQUERY_PUSH_SHIELD_REQ__INIT;
    q.user_id = 107;
    rc = imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_QUERY_PUSH_SHIELD, &q.base, CID_LOGIN_RES_QUERY_PUSH_SHIELD, &pdu, 3000);
    IM__Login__IMQueryPushShieldRsp *qr = rc == 0 ? im__login__imquery_push_shield_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(qr && qr->result_code == 0 && qr->has_shield_status && qr->shield_status == 1, "query answers 1");
    if (qr)
        im__login__imquery_push_shield_rsp__free_unpacked(qr, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);

    set.shield_status = 7;
    rc = imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_PUSH_SHIELD, &set.base, CID_LOGIN_RES_PUSH_SHIELD, &pdu, 3000);
    rsp = rc == 0 ? im__login__impush_shield_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(rsp && rsp->result_code == 1, "an invalid shield value is refused (result 1)");
    if (rsp)
        im__login__impush_shield_rsp__free_unpacked(rsp, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    harness_sql(h, "SELECT push_shield_status FROM IMUser WHERE id = 107", out, sizeof out);
    tap_is_str(out, "1", "and not stored");
    imgate_client_close(c);
}

static void test_server_query(void)
{
    imgate_client *c = connect_from(h, 0, "127.0.0.8");
    imgate_client_pdu pdu;
    int rc = imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_MSGSERVER, NULL, CID_LOGIN_RES_MSGSERVER, &pdu, 3000);
    IM__Login__IMMsgServRsp *rsp = rc == 0 ? im__login__immsg_serv_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(rsp && rsp->result_code == 0 && rsp->prior_ip && strcmp(rsp->prior_ip, "127.0.0.1") == 0 &&
               rsp->backip_ip && rsp->has_port &&
               (rsp->port == harness_node_port(h, 0) || rsp->port == harness_node_port(h, 1)),
           "IMMsgServReq before login answers a live node's address and port (the least loaded of the two)");
    if (rsp)
        im__login__immsg_serv_rsp__free_unpacked(rsp, NULL);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "then closes, as the reference login_server");
    imgate_client_close(c);
}

static void test_argon2_upgrade(void)
{
    imgate_client *c = connect_from(h, 1, "127.0.0.10");
    tap_ok(login_ok(c, "carol", "carol123", CLIENT_WINDOWS), "legacy login on a node with upgrade_legacy = yes");
    imgate_client_close(c);
    char out[256] = "";
    harness_sql(h, "SELECT LEFT(password_argon2, 10) FROM IMUser WHERE id = 103", out, sizeof out);
    tap_is_str(out, "$argon2id$", "the row now holds an Argon2id hash");
    harness_sql(h, "SELECT password = MD5(CONCAT(MD5('carol123'), salt)) FROM IMUser WHERE id = 103", out, sizeof out);
    tap_is_str(out, "1", "the reference column is kept (the reference servers can share the database)");
    c = connect_from(h, 0, "127.0.0.10");
    tap_ok(login_ok(c, "carol", "carol123", CLIENT_WINDOWS), "the upgraded row logs in (verified with Argon2id)");
    imgate_client_close(c);
    c = connect_from(h, 0, "127.0.0.10");
    char text[128];
    tap_is_int(login_result(c, "carol", "carol124", text, sizeof text), 6, "a wrong password fails against Argon2id");
    imgate_client_close(c);
    /* Prove the Argon2id form is what is checked: break the legacy column. */
    harness_sql(h, "UPDATE IMUser SET password = 'x' WHERE id = 103", out, sizeof out);
    c = connect_from(h, 0, "127.0.0.10");
    tap_ok(login_ok(c, "carol", "carol123", CLIENT_WINDOWS), "with the MD5 column broken, Argon2id alone logs in");
    imgate_client_close(c);
}

int main(void)
{
    h = harness_start("login");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    const char *common = "[gateway]\nkick_linger_ms = 300\n"
                         "[plugin.login]\nlockout_failures = 10\nlockout_window_s = 3\naddr_failures = 12\n"
                         "addr_window_s = 600\n";
    char node1[512];
    snprintf(node1, sizeof node1, "%supgrade_legacy = yes\nargon2_opslimit = 1\nargon2_memlimit_kib = 8192\n", common);
    if (harness_node_start(h, "login", common) != 0 || harness_node_start(h, "login", node1) != 1)
        tap_bail("imgated did not start");
    add_user(h, 101, "alice", "alice123", 0);
    add_user(h, 102, "bob", "bob123", 0);
    add_user(h, 103, "carol", "carol123", 0);
    add_user(h, 104, "dave", "dave123", 0);
    add_user(h, 105, "erin", "erin123", 0);
    add_user(h, 106, "frank", "frank123", 0);
    add_user(h, 107, "grace", "grace123", 0);
    add_user(h, 108, "gone", "gone123", 3);
    add_user(h, 109, "hank", "hank123", 0);
    test_success();
    test_refusals();
    test_lockout();
    test_lockout_race();
    test_address_throttle();
    test_address_burst();
    test_kicks();
    test_device_token_and_logout();
    test_push_shield();
    test_server_query();
    test_argon2_upgrade();
    harness_stop(h);
    return tap_done();
}
