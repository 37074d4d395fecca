/*
 * login_handlers.c — the login plugin's handlers against the fake core
 * (t/lib/fakecore.h): no daemon, no MariaDB, no Redis. Checks what each
 * handler says and does through the SDK: the "which server" answer, the
 * mobile-kicks-PC rules, refusals of malformed requests and of names spelled
 * so the database would match another name, a second request while one is
 * pending, and the outcomes with Redis or MySQL unreachable.
 */
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "IM.Login.pb-c.h"
#include "fakecore.h"
#include "imgate/teamtalk.h"
#include "tap.h"

extern const imgate_plugin imgate_plugin_descriptor;

static IM__Login__IMLoginRes *login_reply(void)
{
    const fake_event *e = fakecore_find(FAKE_SEND, CID_LOGIN_RES_USERLOGIN);
    return e ? im__login__imlogin_res__unpack(NULL, e->body_len, e->body) : NULL;
}

static void send_login(uint64_t conn, const char *name, int client_type)
{
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = (char *)name;
    req.password = (char *)"0123456789abcdef0123456789abcdef";
    req.online_status = USER_STATUS_ONLINE;
    req.client_type = (IM__BaseDefine__ClientType)client_type;
    fakecore_call(SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, 9, conn, &req.base);
}

/* Expects one refusal with `code` and `text` on `conn`, then its close. */
static void expect_refusal(uint64_t conn, int code, const char *text, const char *what)
{
    IM__Login__IMLoginRes *res = login_reply();
    tap_ok(res && (int)res->result_code == code && res->result_string && strcmp(res->result_string, text) == 0 &&
               res->user_info == NULL,
           "%s: IMLoginRes{%d, %s}", what, code, text);
    if (res)
        im__login__imlogin_res__free_unpacked(res, NULL);
    const fake_event *c = fakecore_find(FAKE_CLOSE, 0);
    tap_ok(c && c->conn_id == conn, "%s: then the connection is closed", what);
}

static void test_config(void)
{
    tap_is_int(fakecore_start(&imgate_plugin_descriptor, "lockout_failures = 0\n"), -1,
               "a declared key out of range refuses the start");
    fakecore_stop();
    tap_is_int(fakecore_start(&imgate_plugin_descriptor, "lockout_failure = 3\n"), -1, "an undeclared key refuses it");
    fakecore_stop();
}

static void test_server_query(void)
{
    fakecore_node("10.0.0.7", 8123, 5, 10);
    fakecore_conn(1, 0, 0, 0, "192.0.2.1:5000");
    IM__Login__IMMsgServReq q = IM__LOGIN__IMMSG_SERV_REQ__INIT;
    tap_is_int(fakecore_call(SID_LOGIN, CID_LOGIN_REQ_MSGSERVER, 3, 1, &q.base), 0, "the server query is handled");
    const fake_event *e = fakecore_find(FAKE_SEND, CID_LOGIN_RES_MSGSERVER);
    IM__Login__IMMsgServRsp *rsp = e ? im__login__immsg_serv_rsp__unpack(NULL, e->body_len, e->body) : NULL;
    tap_ok(rsp && rsp->result_code == 0 && strcmp(rsp->prior_ip, "10.0.0.7") == 0 && rsp->port == 8123 &&
               e->seq_num == 3,
           "it answers this node's address and port with the request's seq");
    if (rsp)
        im__login__immsg_serv_rsp__free_unpacked(rsp, NULL);
    tap_ok(fakecore_find(FAKE_CLOSE, 0) != NULL, "and closes, as the reference login_server");
    fakecore_clear();
    fakecore_node("10.0.0.7", 8123, 10, 10);
    fakecore_call(SID_LOGIN, CID_LOGIN_REQ_MSGSERVER, 4, 1, &q.base);
    e = fakecore_find(FAKE_SEND, CID_LOGIN_RES_MSGSERVER);
    rsp = e ? im__login__immsg_serv_rsp__unpack(NULL, e->body_len, e->body) : NULL;
    tap_ok(rsp && rsp->result_code == REFUSE_REASON_MSG_SERVER_FULL && rsp->prior_ip == NULL,
           "a full node answers code 2 and no address");
    if (rsp)
        im__login__immsg_serv_rsp__free_unpacked(rsp, NULL);
    fakecore_clear();
}

static void test_kick_pc(void)
{
    fakecore_conn(2, 5, CLIENT_TYPE_WINDOWS, 1, NULL);
    fakecore_conn(3, 5, CLIENT_TYPE_ANDROID, 1, NULL);
    IM__Login__IMKickPCClientReq req = IM__LOGIN__IMKICK_PCCLIENT_REQ__INIT;
    req.user_id = 5;
    fakecore_call(SID_LOGIN, CID_LOGIN_REQ_KICKPCCLIENT, 1, 2, &req.base);
    tap_is_int((long long)fakecore_count(), 0, "from a PC, kick-PC does nothing at all (as the reference)");
    fakecore_call(SID_LOGIN, CID_LOGIN_REQ_KICKPCCLIENT, 2, 3, &req.base);
    const fake_event *k = fakecore_find(FAKE_KICK, 0);
    tap_ok(k && k->user_id == 5 && k->class_mask == IMGATE_CLASS_PC && k->except_conn == 3 &&
               k->reason == KICK_REASON_MOBILE_KICK,
           "from the mobile, the user's PC connections are kicked with reason 2");
    const fake_event *r = fakecore_find(FAKE_SEND, CID_LOGIN_RES_KICKPCCLIENT);
    IM__Login__IMKickPCClientRsp *rsp = r ? im__login__imkick_pcclient_rsp__unpack(NULL, r->body_len, r->body) : NULL;
    tap_ok(rsp && rsp->user_id == 5 && rsp->result_code == 0 && r->conn_id == 3, "the mobile is answered {5, 0}");
    if (rsp)
        im__login__imkick_pcclient_rsp__free_unpacked(rsp, NULL);
    const fake_event *d = fakecore_find(FAKE_DELIVER, CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY);
    IM__Buddy__IMPCLoginStatusNotify *n =
        d ? im__buddy__impclogin_status_notify__unpack(NULL, d->body_len, d->body) : NULL;
    tap_ok(n && d->user_id == 5 && d->class_mask == IMGATE_CLASS_MOBILE && n->login_stat == USER_STATUS_OFFLINE,
           "and the user's mobiles hear the PC went offline");
    if (n)
        im__buddy__impclogin_status_notify__free_unpacked(n, NULL);
    fakecore_clear();
}

static void test_login_refusals(void)
{
    fakecore_conn(10, 0, 0, 0, "192.0.2.10:4000");
    send_login(10, "pu5 ", CLIENT_TYPE_WINDOWS);
    expect_refusal(10, REFUSE_REASON_DB_VALIDATE_FAILED, "用户名/密码错误", "a name with a trailing space");
    tap_ok(fakecore_find(FAKE_REDIS, 0) == NULL, "is refused before any lockout bookkeeping (no second window)");
    fakecore_clear();

    fakecore_conn(11, 0, 0, 0, NULL);
    send_login(11, "pu\x01x", CLIENT_TYPE_WINDOWS);
    expect_refusal(11, REFUSE_REASON_DB_VALIDATE_FAILED, "用户名/密码错误", "a name with a control character");
    fakecore_clear();

    fakecore_conn(12, 0, 0, 0, NULL);
    send_login(12, "abcdefghijklmnopqrstuvwxyz0123456", CLIENT_TYPE_WINDOWS);
    expect_refusal(12, REFUSE_REASON_DB_VALIDATE_FAILED, "用户名/密码错误", "a 33-character name");
    fakecore_clear();

    fakecore_conn(13, 0, 0, 0, NULL);
    send_login(13, "pu5", 99);
    expect_refusal(13, REFUSE_REASON_DB_VALIDATE_FAILED, "登录请求格式错误", "client_type 99 (malformed)");
    fakecore_clear();
}

static void test_login_backends_down(void)
{
    /* redis_down = allow (the default): Redis unreachable, the lookup runs and MySQL is down too. */
    fakecore_conn(20, 0, 0, 0, "192.0.2.20:4000");
    send_login(20, "pu5", CLIENT_TYPE_WINDOWS);
    const fake_event *r = fakecore_find(FAKE_REDIS, 0);
    tap_ok(r && strstr(r->text, "imgate:login:fail:user:pu5") && strstr(r->text, "imgate:login:fail:addr:192.0.2.20"),
           "the attempt is reserved under the name and the host address");
    send_login(20, "pu5", CLIENT_TYPE_WINDOWS);
    size_t redis_calls = 0;
    for (size_t i = 0; i < fakecore_count(); i++)
        redis_calls += fakecore_event(i)->kind == FAKE_REDIS;
    tap_is_int((long long)redis_calls, 1, "a second request while the first is pending is ignored");
    fakecore_run_pending();
    expect_refusal(20, REFUSE_REASON_NO_DB_SERVER, "服务端异常", "MySQL unreachable");
    tap_ok(fakecore_find(FAKE_BIND, 0) == NULL, "and nobody is logged in");
    fakecore_clear();
    fakecore_stop();

    tap_is_int(fakecore_start(&imgate_plugin_descriptor, "redis_down = refuse\n"), 0, "restart with redis_down = refuse");
    fakecore_conn(21, 0, 0, 0, NULL);
    send_login(21, "pu5", CLIENT_TYPE_WINDOWS);
    fakecore_run_pending();
    expect_refusal(21, REFUSE_REASON_NO_DB_SERVER, "服务端异常", "Redis unreachable with redis_down = refuse");
    tap_ok(fakecore_find(FAKE_JOB, 0) == NULL, "without looking the user up");
    fakecore_clear();
}

static void test_device_token(void)
{
    fakecore_conn(30, 7, CLIENT_TYPE_IOS, 1, NULL);
    char token[300];
    memset(token, 'a', sizeof token - 1);
    token[sizeof token - 1] = '\0';
    IM__Login__IMDeviceTokenReq req = IM__LOGIN__IMDEVICE_TOKEN_REQ__INIT;
    req.user_id = 7;
    req.device_token = token;
    fakecore_call(SID_LOGIN, CID_LOGIN_REQ_DEVICETOKEN, 1, 30, &req.base);
    tap_ok(fakecore_find(FAKE_REDIS, 0) == NULL && fakecore_find(FAKE_SEND, 0) == NULL,
           "an oversized device token is refused: nothing stored, nothing answered");
    fakecore_clear();
    req.device_token = (char *)"tok";
    req.user_id = 999;
    fakecore_call(SID_LOGIN, CID_LOGIN_REQ_DEVICETOKEN, 2, 30, &req.base);
    const fake_event *r = fakecore_find(FAKE_REDIS, 0);
    tap_ok(r && strstr(r->text, "device_7 ios:tok tok 7"), "a token is stored for the connection's user, not the claimed one");
    fakecore_clear();
}

int main(void)
{
    test_config();
    tap_is_int(fakecore_start(&imgate_plugin_descriptor, ""), 0, "the login plugin starts on the fake core");
    test_server_query();
    test_kick_pc();
    test_login_refusals();
    test_device_token();
    test_login_backends_down();
    fakecore_stop();
    return tap_done();
}
