/*
 * login_request.c — CID_LOGIN_REQ_USERLOGIN (0x0103) -> IMLoginRes (0x0104).
 *
 * loop:   parse, ignore a second request on the connection, lockout check (Redis)
 * worker: look the user up (prepared statement), verify the password, maybe
 *         upgrade the stored form to Argon2id
 * loop:   record or clear failures, bind the session (kick rules), reply
 *
 * Refusals reply with the reference's codes and then close the connection:
 * 6 (REFUSE_REASON_DB_VALIDATE_FAILED) for a wrong name or password and for
 * lockouts, each with its own result_string; 3 (REFUSE_REASON_NO_DB_SERVER)
 * when the database cannot be reached.
 */
#include <errmsg.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Login.pb-c.h"
#include "lockout.h"
#include "login.h"
#include "password.h"

#define CID_LOGIN_RES_USERLOGIN 0x0104

/* The reference's strings (db_proxy Login.cpp, msg_server), and imgate's own for the address throttle. */
#define TEXT_OK "成功"
#define TEXT_BAD_PASSWORD "用户名/密码错误"
#define TEXT_LOCKED "用户名/密码错误次数太多"
#define TEXT_ADDR_LOCKED "该地址登录失败次数太多,请稍后再试"
#define TEXT_NO_DB "服务端异常"
#define TEXT_BAD_REQUEST "登录请求格式错误"

typedef enum verdict { V_OK, V_BAD_PASSWORD, V_DB_DOWN } verdict;

/* Everything one login carries between its steps; freed by finish(). */
typedef struct login_call {
    login_plugin *lp;
    uint64_t conn_id;
    uint16_t seq;
    uint32_t client_type;
    uint32_t online_status;
    char user_name[129];
    char password[129]; /* what the client sent: md5hex(plain) */
    char addr[64];
    unsigned long long argon2_ops;
    size_t argon2_mem;
    int upgrade;
    int clear_failures; /* the user had failures in the window: a success clears them */
    /* worker results */
    verdict verdict;
    int upgraded;
    uint32_t id, sex, depart_id, status;
    char name[129], domain[129], nick[129], phone[64], email[257], avatar[1021], sign_info[513];
} login_call;

static void finish(login_call *call)
{
    conn_set_remove(&call->lp->pending, call->conn_id);
    memset(call->password, 0, sizeof call->password);
    free(call);
}

static void refuse(login_plugin *lp, uint64_t conn_id, uint16_t seq, int code, const char *text, const char *why)
{
    IM__Login__IMLoginRes res = IM__LOGIN__IMLOGIN_RES__INIT;
    res.server_time = (uint32_t)time(NULL);
    res.result_code = (IM__BaseDefine__ResultType)code;
    res.result_string = (char *)text;
    lp->api->send_message(lp->self, conn_id, SID_LOGIN, CID_LOGIN_RES_USERLOGIN, seq, &res.base);
    lp->api->close(lp->self, conn_id, "login_refused");
    lp->api->metric_add(lp->self, why, 1);
}

/* --- worker thread ------------------------------------------------------- */

#define SELECT_USER                                                                                  \
    "SELECT id, sex, name, domain, nick, password, salt, password_argon2, phone, email, avatar, departId, " \
    "status, sign_info FROM IMUser WHERE name = ? AND status = 0 LIMIT 1"
#define UPGRADE_USER "UPDATE IMUser SET password_argon2 = ? WHERE id = ? AND password_argon2 = ''"

static void bind_str(MYSQL_BIND *b, char *buf, size_t cap, unsigned long *len)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = buf;
    b->buffer_length = cap - 1;
    b->length = len;
}

static void bind_u32(MYSQL_BIND *b, uint32_t *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_LONG;
    b->buffer = v;
    b->is_unsigned = 1;
}

static void terminate(char *buf, unsigned long len, size_t cap) { buf[len < cap ? len : cap - 1] = '\0'; }

static void upgrade_password(imgate_worker *w, login_call *call)
{
    const imgate_core_api *api = call->lp->api;
    char hash[PASSWORD_ARGON2_MAX];
    if (password_hash_argon2(call->password, call->argon2_ops, call->argon2_mem, hash) != 0) {
        api->log(call->lp->self, IMGATE_LOG_ERROR, "event=argon2_hash_failed user_id=%u", call->id);
        return;
    }
    MYSQL_STMT *st = api->db_stmt(w, IMGATE_DB_MASTER, UPGRADE_USER);
    if (st == NULL)
        return;
    MYSQL_BIND in[2];
    unsigned long hlen = strlen(hash);
    bind_str(&in[0], hash, sizeof hash, &hlen);
    bind_u32(&in[1], &call->id);
    if (mysql_stmt_bind_param(st, in) != 0 || mysql_stmt_execute(st) != 0) {
        api->log(call->lp->self, IMGATE_LOG_WARN, "event=password_upgrade_failed user_id=%u error=\"%s\"", call->id,
                 mysql_stmt_error(st));
        api->db_discard(w, IMGATE_DB_MASTER);
        return;
    }
    call->upgraded = mysql_stmt_affected_rows(st) == 1;
}

/* A pooled connection can be stale (the server restarted since its last use):
 * such an error earns one retry on a fresh connection. */
static int connection_lost(MYSQL_STMT *st)
{
    unsigned e = mysql_stmt_errno(st);
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST;
}

static void validate(imgate_worker *w, void *arg)
{
    login_call *call = arg;
    const imgate_core_api *api = call->lp->api;
    call->verdict = V_DB_DOWN;
    MYSQL_BIND in[1], out[14];
    unsigned long name_len = strlen(call->user_name);
    bind_str(&in[0], call->user_name, sizeof call->user_name, &name_len);
    char stored[129], salt[65], argon[PASSWORD_ARGON2_MAX + 1];
    unsigned long len[14] = {0};
    bind_u32(&out[0], &call->id);
    bind_u32(&out[1], &call->sex);
    bind_str(&out[2], call->name, sizeof call->name, &len[2]);
    bind_str(&out[3], call->domain, sizeof call->domain, &len[3]);
    bind_str(&out[4], call->nick, sizeof call->nick, &len[4]);
    bind_str(&out[5], stored, sizeof stored, &len[5]);
    bind_str(&out[6], salt, sizeof salt, &len[6]);
    bind_str(&out[7], argon, sizeof argon, &len[7]);
    bind_str(&out[8], call->phone, sizeof call->phone, &len[8]);
    bind_str(&out[9], call->email, sizeof call->email, &len[9]);
    bind_str(&out[10], call->avatar, sizeof call->avatar, &len[10]);
    bind_u32(&out[11], &call->depart_id);
    bind_u32(&out[12], &call->status);
    bind_str(&out[13], call->sign_info, sizeof call->sign_info, &len[13]);
    my_bool nulls[14] = {0};
    for (int i = 0; i < 14; i++)
        out[i].is_null = &nulls[i];
    MYSQL_STMT *st = NULL;
    for (int attempt = 0;; attempt++) {
        st = api->db_stmt(w, IMGATE_DB_REPLICA, SELECT_USER);
        if (st == NULL)
            return;
        if (mysql_stmt_bind_param(st, in) == 0 && mysql_stmt_execute(st) == 0 && mysql_stmt_bind_result(st, out) == 0)
            break;
        int retry = attempt == 0 && connection_lost(st);
        api->log(call->lp->self, retry ? IMGATE_LOG_INFO : IMGATE_LOG_WARN, "event=login_query_failed error=\"%s\" retry=%d",
                 mysql_stmt_error(st), retry);
        api->db_discard(w, IMGATE_DB_REPLICA);
        if (!retry)
            return;
    }
    int rc = mysql_stmt_fetch(st);
    mysql_stmt_free_result(st);
    if (rc == MYSQL_NO_DATA) {
        call->verdict = V_BAD_PASSWORD; /* unknown user: same answer as a wrong password */
        return;
    }
    if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) {
        api->log(call->lp->self, IMGATE_LOG_WARN, "event=login_fetch_failed error=\"%s\"", mysql_stmt_error(st));
        api->db_discard(w, IMGATE_DB_REPLICA);
        return;
    }
    char *strs[] = {NULL, NULL, call->name, call->domain, call->nick, stored, salt, argon, call->phone,
                    call->email, call->avatar, NULL, NULL, call->sign_info};
    size_t caps[] = {0, 0, sizeof call->name, sizeof call->domain, sizeof call->nick, sizeof stored, sizeof salt,
                     sizeof argon, sizeof call->phone, sizeof call->email, sizeof call->avatar, 0, 0,
                     sizeof call->sign_info};
    for (int i = 0; i < 14; i++)
        if (strs[i])
            terminate(strs[i], nulls[i] ? 0 : len[i], caps[i]);

    int good = argon[0] ? password_check_argon2(call->password, argon)
                        : password_check_legacy(call->password, salt, stored);
    call->verdict = good ? V_OK : V_BAD_PASSWORD;
    if (good && !argon[0] && call->upgrade)
        upgrade_password(w, call);
    memset(stored, 0, sizeof stored);
}

/* --- loop thread ---------------------------------------------------------- */

static void reply_success(login_call *call)
{
    login_plugin *lp = call->lp;
    IM__BaseDefine__UserInfo info = IM__BASE_DEFINE__USER_INFO__INIT;
    info.user_id = call->id;
    info.user_gender = call->sex;
    info.user_nick_name = call->nick;
    info.avatar_url = call->avatar;
    info.department_id = call->depart_id;
    info.email = call->email;
    info.user_real_name = call->name; /* the reference returns the login name here */
    info.user_tel = call->phone;
    info.user_domain = call->domain;
    info.status = call->status;
    info.sign_info = call->sign_info;
    IM__Login__IMLoginRes res = IM__LOGIN__IMLOGIN_RES__INIT;
    res.server_time = (uint32_t)time(NULL);
    res.result_code = IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NONE;
    res.result_string = (char *)TEXT_OK;
    res.has_online_status = 1;
    res.online_status = (IM__BaseDefine__UserStatType)call->online_status;
    res.user_info = &info;
    lp->api->send_message(lp->self, call->conn_id, SID_LOGIN, CID_LOGIN_RES_USERLOGIN, call->seq, &res.base);
}

static void validated(void *state, void *arg)
{
    login_call *call = arg;
    login_plugin *lp = call->lp;
    switch (call->verdict) {
    case V_DB_DOWN:
        refuse(lp, call->conn_id, call->seq, IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NO_DB_SERVER, TEXT_NO_DB,
               "logins_db_unavailable");
        break;
    case V_BAD_PASSWORD:
        /* Counted even if the client already hung up: an attacker gains nothing by closing early. */
        lockout_record_failure(lp, call->user_name, call->addr);
        refuse(lp, call->conn_id, call->seq, IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_DB_VALIDATE_FAILED,
               TEXT_BAD_PASSWORD, "logins_refused_password");
        lp->api->log(lp->self, IMGATE_LOG_INFO, "event=login_failed conn=%llu addr=%s reason=bad_password",
                     (unsigned long long)call->conn_id, call->addr);
        break;
    case V_OK: {
        int kicked = lp->api->session_bind(lp->self, call->conn_id, call->id, call->client_type);
        if (kicked < 0)
            break; /* the connection went away meanwhile */
        reply_success(call);
        if ((call->client_type & 0x10) == 0)
            login_notify_pc_status(lp, call->id, 1);
        if (call->clear_failures)
            lockout_clear_user(lp, call->user_name);
        lp->api->metric_add(lp->self, "logins_ok", 1);
        if (call->upgraded) {
            lp->api->metric_add(lp->self, "passwords_upgraded", 1);
            lp->api->log(lp->self, IMGATE_LOG_INFO, "event=password_upgraded user_id=%u form=argon2id", call->id);
        }
        break;
    }
    }
    finish(call);
}

static void counted(login_plugin *lp, const lockout_counts *counts, void *arg)
{
    login_call *call = arg;
    if (!counts->ok && lp->cfg.refuse_without_redis) {
        refuse(lp, call->conn_id, call->seq, IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NO_DB_SERVER, TEXT_NO_DB,
               "logins_redis_unavailable");
        finish(call);
        return;
    }
    /* Attempts 1..N are checked; with N failures in the window the next one is refused unchecked. */
    if (counts->user >= lp->cfg.lockout_failures) {
        lp->api->log(lp->self, IMGATE_LOG_WARN, "event=login_locked conn=%llu addr=%s failures=%lld",
                     (unsigned long long)call->conn_id, call->addr, counts->user);
        refuse(lp, call->conn_id, call->seq, IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_DB_VALIDATE_FAILED,
               TEXT_LOCKED, "logins_refused_locked");
        finish(call);
        return;
    }
    if (counts->addr >= lp->cfg.addr_failures) {
        lp->api->log(lp->self, IMGATE_LOG_WARN, "event=login_throttled conn=%llu addr=%s failures=%lld",
                     (unsigned long long)call->conn_id, call->addr, counts->addr);
        refuse(lp, call->conn_id, call->seq, IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_DB_VALIDATE_FAILED,
               TEXT_ADDR_LOCKED, "logins_refused_address");
        finish(call);
        return;
    }
    /* Nothing to clear after a success when there were no failures: saves a round trip. */
    call->clear_failures = counts->user > 0;
    if (lp->api->submit(lp->self, call->conn_id, validate, validated, call) != IMGATE_OK) {
        refuse(lp, call->conn_id, call->seq, IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NO_DB_SERVER, TEXT_NO_DB,
               "logins_overloaded");
        finish(call);
    }
}

void login_on_request(void *state, const imgate_request *req)
{
    login_plugin *lp = state;
    imgate_conn_info info;
    /* A second login request on the same connection is ignored (spec H.1). */
    if (lp->api->conn_info(lp->self, req->conn_id, &info) != IMGATE_OK || info.logged_in ||
        conn_set_has(&lp->pending, req->conn_id))
        return;
    IM__Login__IMLoginReq *in = im__login__imlogin_req__unpack(NULL, req->body_len, req->body);
    if (in == NULL || strlen(in->user_name) == 0 || strlen(in->user_name) >= 129 || strlen(in->password) >= 129) {
        if (in)
            im__login__imlogin_req__free_unpacked(in, NULL);
        refuse(lp, req->conn_id, req->seq_num, IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_DB_VALIDATE_FAILED,
               TEXT_BAD_REQUEST, "logins_bad_request");
        return;
    }
    login_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        im__login__imlogin_req__free_unpacked(in, NULL);
        return;
    }
    call->lp = lp;
    call->conn_id = req->conn_id;
    call->seq = req->seq_num;
    call->client_type = in->client_type;
    /* The reference forces an online_status outside 1..3 to ONLINE. */
    call->online_status = (in->online_status >= 1 && in->online_status <= 3) ? in->online_status : 1;
    snprintf(call->user_name, sizeof call->user_name, "%s", in->user_name);
    snprintf(call->password, sizeof call->password, "%s", in->password);
    im__login__imlogin_req__free_unpacked(in, NULL);
    /* "ip:port" -> "ip": the throttle counts per host, not per connection. */
    snprintf(call->addr, sizeof call->addr, "%s", info.address);
    char *colon = strrchr(call->addr, ':');
    if (colon)
        *colon = '\0';
    call->argon2_ops = lp->cfg.argon2_opslimit;
    call->argon2_mem = lp->cfg.argon2_memlimit;
    call->upgrade = lp->cfg.upgrade_legacy;
    conn_set_add(&lp->pending, call->conn_id);
    if (lockout_check(lp, call->user_name, call->addr, counted, call) != 0)
        finish(call);
}
