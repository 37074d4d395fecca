/*
 * account.c — the login service's other commands: logout (0x0105), device
 * token (0x0108), push shield set/query (0x010c, 0x010e), mobile kicks PC
 * (0x010a), the "which server" query (0x0101), and PC presence for the
 * user's mobiles (IMPCLoginStatusNotify, 0x020e).
 */
#include <errmsg.h>
#include <hiredis/hiredis.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "IM.Login.pb-c.h"
#include "login.h"

#define CID_LOGIN_RES_MSGSERVER 0x0102
#define CID_LOGIN_RES_LOGINOUT 0x0106
#define CID_LOGIN_RES_DEVICETOKEN 0x0109
#define CID_LOGIN_RES_KICKPCCLIENT 0x010b
#define CID_LOGIN_RES_PUSH_SHIELD 0x010d
#define CID_LOGIN_RES_QUERY_PUSH_SHIELD 0x010f
#define CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY 0x020e

#define IS_MOBILE(client_type) (((client_type)&0x10) != 0)

/*
 * The reference's device-token keys (spec E): device_<uid> holds
 * "ios:<token>", "android:<token>" or the bare token; device_<token> maps
 * back to the uid, and a token the user no longer has is set to "".
 * ARGV[1] = new value for device_<uid> ("" clears), ARGV[2] = bare token, ARGV[3] = uid.
 */
static const char TOKEN_SCRIPT[] =
    "local old = redis.call('GET', KEYS[1]) "
    "if old and old ~= '' then "
    "  local t = string.match(old, '^ios:(.*)$') or string.match(old, '^android:(.*)$') or old "
    "  if t ~= ARGV[2] then redis.call('SET', 'device_' .. t, '') end "
    "end "
    "if ARGV[1] == '' then redis.call('DEL', KEYS[1]) return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1]) "
    "redis.call('SET', 'device_' .. ARGV[2], ARGV[3]) "
    "return 1";

typedef struct pending_reply {
    login_plugin *lp;
    uint64_t conn_id;
    uint16_t seq;
    uint32_t user_id;
    uint32_t shield_status;
    int result_code;
    int close_after; /* logout: reply, then close */
} pending_reply;

static void set_device_token(login_plugin *lp, uint32_t user_id, const char *value, const char *token,
                             imgate_redis_fn cb, void *arg)
{
    char key[32], uid[16];
    snprintf(key, sizeof key, "device_%u", user_id);
    snprintf(uid, sizeof uid, "%u", user_id);
    const char *argv[] = {"EVAL", TOKEN_SCRIPT, "1", key, value, token, uid};
    if (lp->api->redis(lp->self, cb, arg, 7, argv, NULL) != IMGATE_OK && cb)
        cb(lp, NULL, arg);
}

/* --- logout ---------------------------------------------------------------- */

static void logout_token_cleared(void *state, const void *reply, void *arg)
{
    pending_reply *p = arg;
    IM__Login__IMLogoutRsp rsp = IM__LOGIN__IMLOGOUT_RSP__INIT;
    rsp.result_code = 0;
    p->lp->api->send_message(p->lp->self, p->conn_id, SID_LOGIN, CID_LOGIN_RES_LOGINOUT, p->seq, &rsp.base);
    p->lp->api->close(p->lp->self, p->conn_id, "logout");
    p->lp->api->metric_add(p->lp->self, "logouts", 1);
    free(p);
}

void login_on_logout(void *state, const imgate_request *req)
{
    login_plugin *lp = state;
    pending_reply *p = calloc(1, sizeof *p);
    if (p == NULL)
        return;
    p->lp = lp;
    p->conn_id = req->conn_id;
    p->seq = req->seq_num;
    /* Logging out clears the push token (spec H.1 step 7), then replies and closes. */
    set_device_token(lp, req->user_id, "", "", logout_token_cleared, p);
}

/* --- device token ------------------------------------------------------------ */

static void token_stored(void *state, const void *reply_, void *arg)
{
    pending_reply *p = arg;
    const redisReply *reply = reply_;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        p->lp->api->log(p->lp->self, IMGATE_LOG_WARN, "event=device_token_failed user_id=%u reason=\"%s\"", p->user_id,
                        reply ? reply->str : "redis unreachable");
    /* The reference answers with an empty body (spec J.2); user_id is required, so we fill it. */
    IM__Login__IMDeviceTokenRsp rsp = IM__LOGIN__IMDEVICE_TOKEN_RSP__INIT;
    rsp.user_id = p->user_id;
    p->lp->api->send_message(p->lp->self, p->conn_id, SID_LOGIN, CID_LOGIN_RES_DEVICETOKEN, p->seq, &rsp.base);
    free(p);
}

void login_on_device_token(void *state, const imgate_request *req)
{
    login_plugin *lp = state;
    IM__Login__IMDeviceTokenReq *in = im__login__imdevice_token_req__unpack(NULL, req->body_len, req->body);
    if (in == NULL || strlen(in->device_token) > 256) {
        lp->api->metric_add(lp->self, "bad_requests", 1);
        if (in)
            im__login__imdevice_token_req__free_unpacked(in, NULL);
        return;
    }
    pending_reply *p = calloc(1, sizeof *p);
    if (p != NULL) {
        p->lp = lp;
        p->conn_id = req->conn_id;
        p->seq = req->seq_num;
        p->user_id = req->user_id; /* the authenticated user, whatever the body claims */
        uint32_t type = in->has_client_type ? (uint32_t)in->client_type : req->client_type;
        char value[300];
        const char *prefix = type == IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_IOS       ? "ios:"
                             : type == IM__BASE_DEFINE__CLIENT_TYPE__CLIENT_TYPE_ANDROID ? "android:"
                                                                                          : "";
        snprintf(value, sizeof value, "%s%s", in->device_token[0] ? prefix : "", in->device_token);
        set_device_token(lp, req->user_id, value, in->device_token, token_stored, p);
    }
    im__login__imdevice_token_req__free_unpacked(in, NULL);
}

/* --- push shield (IMUser.push_shield_status) ----------------------------------- */

static void shield_work(imgate_worker *w, void *arg, int update)
{
    pending_reply *p = arg;
    const imgate_core_api *api = p->lp->api;
    p->result_code = 1;
    int pool = update ? IMGATE_DB_MASTER : IMGATE_DB_REPLICA;
    MYSQL_BIND in[2], out[1];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    in[0].buffer_type = MYSQL_TYPE_LONG;
    in[0].is_unsigned = 1;
    in[0].buffer = update ? &p->shield_status : &p->user_id;
    in[1].buffer_type = MYSQL_TYPE_LONG;
    in[1].is_unsigned = 1;
    in[1].buffer = &p->user_id;
    out[0].buffer_type = MYSQL_TYPE_LONG;
    out[0].is_unsigned = 1;
    out[0].buffer = &p->shield_status;
    MYSQL_STMT *st;
    /* One retry on a fresh connection when the pooled one went stale (server restart). */
    for (int attempt = 0;; attempt++) {
        st = api->db_stmt(w, pool, update ? "UPDATE IMUser SET push_shield_status = ? WHERE id = ?"
                                          : "SELECT push_shield_status FROM IMUser WHERE id = ?");
        if (st == NULL)
            return;
        if (mysql_stmt_bind_param(st, in) == 0 && mysql_stmt_execute(st) == 0)
            break;
        unsigned err = mysql_stmt_errno(st);
        int retry = attempt == 0 && (err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST);
        api->log(p->lp->self, IMGATE_LOG_WARN, "event=push_shield_failed user_id=%u error=\"%s\" retry=%d", p->user_id,
                 mysql_stmt_error(st), retry);
        api->db_discard(w, pool);
        if (!retry)
            return;
    }
    if (update) {
        /* 0 affected rows just means the value did not change (the row is the logged-in user's). */
        p->result_code = 0;
        return;
    }
    if (mysql_stmt_bind_result(st, out) == 0 && mysql_stmt_fetch(st) == 0)
        p->result_code = 0;
    mysql_stmt_free_result(st);
}

static void shield_set_work(imgate_worker *w, void *arg) { shield_work(w, arg, 1); }
static void shield_query_work(imgate_worker *w, void *arg) { shield_work(w, arg, 0); }

static void shield_set_done(void *state, void *arg)
{
    pending_reply *p = arg;
    IM__Login__IMPushShieldRsp rsp = IM__LOGIN__IMPUSH_SHIELD_RSP__INIT;
    rsp.user_id = p->user_id;
    rsp.result_code = (uint32_t)p->result_code;
    rsp.has_shield_status = 1;
    rsp.shield_status = p->shield_status;
    p->lp->api->send_message(p->lp->self, p->conn_id, SID_LOGIN, CID_LOGIN_RES_PUSH_SHIELD, p->seq, &rsp.base);
    free(p);
}

static void shield_query_done(void *state, void *arg)
{
    pending_reply *p = arg;
    IM__Login__IMQueryPushShieldRsp rsp = IM__LOGIN__IMQUERY_PUSH_SHIELD_RSP__INIT;
    rsp.user_id = p->user_id;
    rsp.result_code = (uint32_t)p->result_code;
    rsp.has_shield_status = p->result_code == 0;
    rsp.shield_status = p->shield_status;
    p->lp->api->send_message(p->lp->self, p->conn_id, SID_LOGIN, CID_LOGIN_RES_QUERY_PUSH_SHIELD, p->seq, &rsp.base);
    free(p);
}

static pending_reply *new_reply(login_plugin *lp, const imgate_request *req)
{
    pending_reply *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->lp = lp;
    p->conn_id = req->conn_id;
    p->seq = req->seq_num;
    p->user_id = req->user_id;
    return p;
}

void login_on_push_shield(void *state, const imgate_request *req)
{
    login_plugin *lp = state;
    IM__Login__IMPushShieldReq *in = im__login__impush_shield_req__unpack(NULL, req->body_len, req->body);
    if (in == NULL) {
        lp->api->metric_add(lp->self, "bad_requests", 1);
        return;
    }
    pending_reply *p = new_reply(lp, req);
    if (p != NULL) {
        p->shield_status = in->shield_status;
        if (in->shield_status > 1) {
            /* Only 0 (off) and 1 (do not disturb) exist: refuse, do not store junk. */
            p->result_code = 1;
            shield_set_done(lp, p);
        } else if (lp->api->submit(lp->self, req->conn_id, shield_set_work, shield_set_done, p) != IMGATE_OK) {
            p->result_code = 1;
            shield_set_done(lp, p);
        }
    }
    im__login__impush_shield_req__free_unpacked(in, NULL);
}

void login_on_query_push_shield(void *state, const imgate_request *req)
{
    login_plugin *lp = state;
    pending_reply *p = new_reply(lp, req);
    if (p == NULL)
        return;
    if (lp->api->submit(lp->self, req->conn_id, shield_query_work, shield_query_done, p) != IMGATE_OK) {
        p->result_code = 1;
        shield_query_done(lp, p);
    }
}

/* --- mobile kicks PC ------------------------------------------------------------- */

void login_on_kick_pc(void *state, const imgate_request *req)
{
    login_plugin *lp = state;
    if (!IS_MOBILE(req->client_type))
        return; /* only a mobile may do this (spec H.3); the reference ignores it from a PC */
    int kicked = lp->api->session_kick(lp->self, req->user_id, IMGATE_CLASS_PC, req->conn_id, 2);
    IM__Login__IMKickPCClientRsp rsp = IM__LOGIN__IMKICK_PCCLIENT_RSP__INIT;
    rsp.user_id = req->user_id;
    rsp.result_code = 0;
    lp->api->send_message(lp->self, req->conn_id, SID_LOGIN, CID_LOGIN_RES_KICKPCCLIENT, req->seq_num, &rsp.base);
    lp->api->log(lp->self, IMGATE_LOG_INFO, "event=mobile_kicked_pc user_id=%u kicked=%d", req->user_id, kicked);
}

/* --- which server -------------------------------------------------------------------- */

void login_on_server_query(void *state, const imgate_request *req)
{
    login_plugin *lp = state;
    imgate_node_info node;
    lp->api->node_info(lp->self, &node);
    IM__Login__IMMsgServRsp rsp = IM__LOGIN__IMMSG_SERV_RSP__INIT;
    int full = node.connections >= node.max_connections;
    rsp.result_code = full ? IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_MSG_SERVER_FULL
                           : IM__BASE_DEFINE__RESULT_TYPE__REFUSE_REASON_NONE;
    if (!full) {
        rsp.prior_ip = (char *)node.public_ip;
        rsp.backip_ip = (char *)node.backup_ip;
        rsp.has_port = 1;
        rsp.port = node.public_port;
    }
    lp->api->send_message(lp->self, req->conn_id, SID_LOGIN, CID_LOGIN_RES_MSGSERVER, req->seq_num, &rsp.base);
    /* As the reference login_server: one answer per connection. */
    lp->api->close(lp->self, req->conn_id, "server_query_done");
}

/* --- PC presence for the user's mobiles ----------------------------------------------- */

void login_notify_pc_status(login_plugin *lp, uint32_t user_id, int online)
{
    IM__Buddy__IMPCLoginStatusNotify n = IM__BUDDY__IMPCLOGIN_STATUS_NOTIFY__INIT;
    n.user_id = user_id;
    n.login_stat = online ? IM__BASE_DEFINE__USER_STAT_TYPE__USER_STATUS_ONLINE
                          : IM__BASE_DEFINE__USER_STAT_TYPE__USER_STATUS_OFFLINE;
    lp->api->send_to_user(lp->self, user_id, IMGATE_CLASS_MOBILE, 0, SID_BUDDY_LIST,
                          CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, 0, &n.base);
}

void login_on_close(void *state, const imgate_conn_info *conn)
{
    login_plugin *lp = state;
    if (!conn->logged_in || IS_MOBILE(conn->client_type))
        return;
    /* The PC side went offline only if no other PC connection of the user remains
     * (a PC kicked by a newer PC login leaves the user online). */
    uint64_t ids[8];
    int n = lp->api->session_conns(lp->self, conn->user_id, IMGATE_CLASS_PC, ids, 8);
    for (int i = 0; i < n && i < 8; i++)
        if (ids[i] != conn->conn_id)
            return;
    login_notify_pc_status(lp, conn->user_id, 0);
}
