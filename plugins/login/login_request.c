/*
 * login_request.c — CID_LOGIN_REQ_USERLOGIN -> IMLoginRes (protocol H.1).
 *
 * loop:   the core decoded and validated the request; ignore a second one on
 *         the connection; refuse a name not spelled canonically; reserve the
 *         attempt in the lockout windows (Redis)
 * worker: look the user up, verify the password, maybe upgrade the stored
 *         form to Argon2id
 * loop:   settle the reservation, bind the session (kick rules), reply
 *
 * Refusals reply with the reference's codes and then close the connection:
 * 6 (REFUSE_REASON_DB_VALIDATE_FAILED) for a wrong name or password, a
 * malformed request and lockouts, each with its own result_string; 3
 * (REFUSE_REASON_NO_DB_SERVER) when the database cannot be reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#include "IM.Login.pb-c.h"
#include "lockout.h"
#include "login.h"
#include "login_name.h"
#include "password.h"
#include "user_row.h"

/* The reference's strings, and imgate's own for the address throttle and a malformed request. */
#define TEXT_OK "成功"
#define TEXT_BAD_PASSWORD "用户名/密码错误"
#define TEXT_LOCKED "用户名/密码错误次数太多"
#define TEXT_ADDR_LOCKED "该地址登录失败次数太多,请稍后再试"
#define TEXT_NO_DB "服务端异常"
#define TEXT_BAD_REQUEST "登录请求格式错误"

/* Clients send md5hex(plain): 32 bytes. Anything far longer is no password of ours. */
#define PASSWORD_MAX 128

typedef enum verdict { V_OK, V_BAD_PASSWORD, V_DB_DOWN } verdict;

/* Everything one login carries between its steps; freed by finish(). */
typedef struct login_call {
    login_plugin *lp;
    imgate_reply_to to;
    uint32_t client_type;
    uint32_t online_status;
    char password[PASSWORD_MAX + 1]; /* what the client sent: md5hex(plain) */
    lockout_ticket ticket;
    int reserved;       /* the lockout holds a reservation for this attempt */
    unsigned long long argon2_ops;
    size_t argon2_mem;
    int upgrade;
    /* worker results */
    verdict verdict;
    int upgraded;
    imgate_user user;
} login_call;

static void set_pending(login_plugin *lp, uint64_t conn_id, int pending)
{
    login_conn *slot = login_api->conn_data(lp->self, conn_id, sizeof *slot);
    if (slot)
        slot->pending = pending;
}

static void finish(login_call *call)
{
    set_pending(call->lp, call->to.conn_id, 0);
    sodium_memzero(call->password, sizeof call->password);
    free(call);
}

static void refuse(login_plugin *lp, const imgate_reply_to *to, int code, const char *text, imgate_metric *why)
{
    IM__Login__IMLoginRes res = IM__LOGIN__IMLOGIN_RES__INIT;
    res.server_time = (uint32_t)time(NULL);
    res.result_code = (IM__BaseDefine__ResultType)code;
    res.result_string = (char *)text;
    login_api->reply(to, CID_LOGIN_RES_USERLOGIN, &res.base);
    login_api->close(lp->self, to->conn_id, "login_refused");
    login_api->metric_inc(why, 1);
}

/* --- worker thread ------------------------------------------------------- */

#define SELECT_USER \
    "SELECT " USER_ROW_COLUMNS ", password, salt, password_argon2 FROM IMUser WHERE name = ? AND status = 0 LIMIT 1"
#define UPGRADE_USER "UPDATE IMUser SET password_argon2 = ? WHERE id = ? AND password_argon2 = ''"

static void upgrade_password(imgate_worker *w, login_call *call)
{
    char hash[PASSWORD_ARGON2_MAX];
    if (password_hash_argon2(call->password, call->argon2_ops, call->argon2_mem, hash) != 0) {
        login_api->log(call->lp->self, IMGATE_LOG_ERROR, "event=argon2_hash_failed user_id=%u", call->user.id);
        return;
    }
    imgate_db_bind in[] = {IMGATE_DB_STR(hash), IMGATE_DB_U32(&call->user.id)};
    call->upgraded = login_api->db_exec(w, UPGRADE_USER, in, 2, NULL) == 1;
}

static void validate(imgate_worker *w, void *state, void *arg)
{
    login_call *call = arg;
    char stored[129], salt[65], argon[PASSWORD_ARGON2_MAX + 1];
    imgate_db_bind in[] = {IMGATE_DB_STR(call->ticket.user)};
    imgate_db_bind out[USER_ROW_NCOLS + 3];
    user_row_binds(&call->user, out);
    imgate_db_bind extra[] = {IMGATE_DB_STR_OUT(stored), IMGATE_DB_STR_OUT(salt), IMGATE_DB_STR_OUT(argon)};
    memcpy(&out[USER_ROW_NCOLS], extra, sizeof extra);
    int rc = login_api->db_query(w, IMGATE_DB_REPLICA, SELECT_USER, in, 1, out, USER_ROW_NCOLS + 3);
    if (rc < 0) {
        call->verdict = V_DB_DOWN;
        return;
    }
    if (rc == 0) {
        call->verdict = V_BAD_PASSWORD; /* unknown user: same answer as a wrong password */
        return;
    }
    int good = argon[0] ? password_check_argon2(call->password, argon)
                        : password_check_legacy(call->password, salt, stored);
    call->verdict = good ? V_OK : V_BAD_PASSWORD;
    call->user.status = 0; /* only status 0 logs in; the reference forces it too */
    if (good && !argon[0] && call->upgrade)
        upgrade_password(w, call);
    sodium_memzero(stored, sizeof stored);
}

/* --- loop thread ---------------------------------------------------------- */

static void reply_success(login_call *call)
{
    IM__BaseDefine__UserInfo info;
    user_row_to_info(&call->user, &info);
    IM__Login__IMLoginRes res = IM__LOGIN__IMLOGIN_RES__INIT;
    res.server_time = (uint32_t)time(NULL);
    res.result_code = IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NONE;
    res.result_string = (char *)TEXT_OK;
    res.has_online_status = 1;
    res.online_status = (IM__BaseDefine__UserStatType)call->online_status;
    res.user_info = &info;
    login_api->reply(&call->to, CID_LOGIN_RES_USERLOGIN, &res.base);
}

static void validated(void *state, void *arg, int status)
{
    login_call *call = arg;
    login_plugin *lp = call->lp;
    if (status != IMGATE_OK) {
        call->verdict = V_DB_DOWN; /* the job was refused: overloaded */
        login_api->metric_inc(lp->overloaded, 1);
    }
    switch (call->verdict) {
    case V_DB_DOWN:
        if (call->reserved)
            lockout_release(lp, &call->ticket);
        refuse(lp, &call->to, REFUSE_REASON_NO_DB_SERVER, TEXT_NO_DB, lp->db_unavailable);
        break;
    case V_BAD_PASSWORD:
        /* Recorded even if the client already hung up: an attacker gains nothing by closing early. */
        if (call->reserved)
            lockout_failed(lp, &call->ticket);
        refuse(lp, &call->to, REFUSE_REASON_DB_VALIDATE_FAILED, TEXT_BAD_PASSWORD, lp->refused_password);
        login_api->log_limited(lp->self, IMGATE_LOG_INFO, "login_failed", 50,
                               "event=login_failed conn=%llu addr=%s reason=bad_password",
                               (unsigned long long)call->to.conn_id, call->ticket.addr);
        break;
    case V_OK: {
        if (call->reserved)
            lockout_succeeded(lp, &call->ticket);
        /* Cached before the bind: the other plugins' login hooks run inside it and read it. */
        login_users_put(lp, &call->user);
        int kicked = login_api->session_bind(lp->self, call->to.conn_id, call->user.id, call->client_type);
        if (kicked < 0) {
            /* The connection went away meanwhile; the row stays only for the user's other ones. */
            if (login_api->session_conns(lp->self, call->user.id, IMGATE_CLASS_ALL, NULL, 0) == 0)
                login_users_drop(lp, call->user.id);
            break;
        }
        reply_success(call);
        if (imgate_client_class(call->client_type) == IMGATE_CLASS_PC)
            login_notify_pc_status(lp, call->user.id, 1);
        login_api->metric_inc(lp->ok, 1);
        if (call->upgraded) {
            login_api->metric_inc(lp->upgraded, 1);
            login_api->log(lp->self, IMGATE_LOG_INFO, "event=password_upgraded user_id=%u form=argon2id",
                           call->user.id);
        }
        break;
    }
    }
    finish(call);
}

static void reserved(login_plugin *lp, lockout_verdict v, long long attempts, void *arg)
{
    login_call *call = arg;
    switch (v) {
    case LOCKOUT_UNAVAILABLE:
        if (lp->cfg.refuse_without_redis) {
            refuse(lp, &call->to, REFUSE_REASON_NO_DB_SERVER, TEXT_NO_DB, lp->redis_unavailable);
            finish(call);
            return;
        }
        break; /* allowed unchecked, by configuration */
    case LOCKOUT_USER_LOCKED:
        login_api->log_limited(lp->self, IMGATE_LOG_WARN, "login_locked", 20,
                               "event=login_locked conn=%llu addr=%s attempts=%lld", (unsigned long long)call->to.conn_id,
                               call->ticket.addr, attempts);
        refuse(lp, &call->to, REFUSE_REASON_DB_VALIDATE_FAILED, TEXT_LOCKED, lp->refused_locked);
        finish(call);
        return;
    case LOCKOUT_ADDR_LOCKED:
        login_api->log_limited(lp->self, IMGATE_LOG_WARN, "login_throttled", 20,
                               "event=login_throttled conn=%llu addr=%s attempts=%lld",
                               (unsigned long long)call->to.conn_id, call->ticket.addr, attempts);
        refuse(lp, &call->to, REFUSE_REASON_DB_VALIDATE_FAILED, TEXT_ADDR_LOCKED, lp->refused_address);
        finish(call);
        return;
    case LOCKOUT_GO:
        call->reserved = 1;
        break;
    }
    login_api->submit_job(lp->self, call->to.conn_id, validate, validated, call);
}

void login_on_malformed_request(void *state, const imgate_request *req)
{
    /* Clearer than the reference (which says nothing and lets the login deadline close it). */
    login_plugin *lp = state;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    refuse(lp, &to, REFUSE_REASON_DB_VALIDATE_FAILED, TEXT_BAD_REQUEST, lp->refused_name);
}

void login_on_request(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    login_plugin *lp = state;
    const IM__Login__IMLoginReq *in = (const IM__Login__IMLoginReq *)body;
    imgate_conn_info info;
    login_conn *slot = login_api->conn_data(lp->self, req->conn_id, sizeof *slot);
    /* A second login request on the same connection is ignored (protocol H.1). */
    if (slot == NULL || slot->pending || login_api->conn_info(lp->self, req->conn_id, &info) != IMGATE_OK ||
        info.logged_in)
        return;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (!login_name_canonical(in->user_name) || strlen(in->password) > PASSWORD_MAX) {
        /* No row can match such a name; answer as for an unknown user. */
        refuse(lp, &to, REFUSE_REASON_DB_VALIDATE_FAILED, TEXT_BAD_PASSWORD, lp->refused_name);
        return;
    }
    login_call *call = calloc(1, sizeof *call);
    if (call == NULL)
        return;
    call->lp = lp;
    call->to = to;
    call->client_type = in->client_type;
    call->online_status = in->online_status;
    snprintf(call->ticket.user, sizeof call->ticket.user, "%s", in->user_name);
    snprintf(call->password, sizeof call->password, "%s", in->password);
    /* "ip:port" -> "ip": the throttle counts per host, not per connection. */
    snprintf(call->ticket.addr, sizeof call->ticket.addr, "%s", info.address);
    char *colon = strrchr(call->ticket.addr, ':');
    if (colon)
        *colon = '\0';
    call->argon2_ops = lp->cfg.argon2_opslimit;
    call->argon2_mem = lp->cfg.argon2_memlimit;
    call->upgrade = lp->cfg.upgrade_legacy;
    slot->pending = 1;
    if (lockout_reserve(lp, &call->ticket, reserved, call) != 0)
        finish(call);
}
