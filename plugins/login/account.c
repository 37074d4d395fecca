/*
 * account.c — the login service's other commands: logout, device token, push
 * shield set and query, mobile kicks PC, the "which server" query, and PC
 * presence for the user's mobiles (IMPCLoginStatusNotify).
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "IM.Login.pb-c.h"
#include "login.h"

/* Longest device token stored (APNs tokens are 64 hex digits, FCM ones about 160 bytes). */
#define DEVICE_TOKEN_MAX 256

/*
 * The reference's device-token keys (protocol E): device_<uid> holds
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

/* A request waiting for Redis or a worker: its reply handle and what the answer needs. */
typedef struct pending_reply {
    login_plugin *lp;
    imgate_reply_to to;
    uint32_t shield_status;
    int result_code;
} pending_reply;

static pending_reply *new_reply(login_plugin *lp, const imgate_request *req)
{
    pending_reply *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->lp = lp;
    p->to = IMGATE_REPLY_TO(req);
    return p;
}

static void set_device_token(login_plugin *lp, uint32_t user_id, const char *value, const char *token,
                             imgate_redis_fn cb, void *arg)
{
    char key[32], uid[16];
    snprintf(key, sizeof key, "device_%u", user_id);
    snprintf(uid, sizeof uid, "%u", user_id);
    const char *argv[] = {"EVAL", TOKEN_SCRIPT, "1", key, value, token, uid};
    if (login_api->redis(lp->self, cb, arg, 7, argv, NULL) != IMGATE_OK && cb)
        cb(lp, NULL, arg);
}

/* --- logout ---------------------------------------------------------------- */

static void logout_token_cleared(void *state, const void *reply, void *arg)
{
    pending_reply *p = arg;
    IM__Login__IMLogoutRsp rsp = IM__LOGIN__IMLOGOUT_RSP__INIT;
    rsp.result_code = 0;
    login_api->reply(&p->to, CID_LOGIN_RES_LOGINOUT, &rsp.base);
    login_api->close(p->lp->self, p->to.conn_id, "logout");
    login_api->metric_inc(p->lp->logouts, 1);
    free(p);
}

void login_on_logout(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    login_plugin *lp = state;
    pending_reply *p = new_reply(lp, req);
    if (p == NULL)
        return;
    /* Logging out clears the push token (protocol H.1 step 7), then replies and closes. */
    set_device_token(lp, req->user_id, "", "", logout_token_cleared, p);
}

/* --- device token ------------------------------------------------------------ */

static void token_stored(void *state, const void *reply_, void *arg)
{
    pending_reply *p = arg;
    const redisReply *reply = reply_;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        login_api->log_limited(p->lp->self, IMGATE_LOG_WARN, "device_token_failed", 5,
                               "event=device_token_failed user_id=%u reason=\"%s\"", p->to.user_id,
                               reply ? reply->str : "redis unreachable");
    /* The reference answers with an empty body (protocol J.2); user_id is required, so we fill it. */
    IM__Login__IMDeviceTokenRsp rsp = IM__LOGIN__IMDEVICE_TOKEN_RSP__INIT;
    rsp.user_id = p->to.user_id;
    login_api->reply(&p->to, CID_LOGIN_RES_DEVICETOKEN, &rsp.base);
    free(p);
}

void login_on_device_token(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    login_plugin *lp = state;
    const IM__Login__IMDeviceTokenReq *in = (const IM__Login__IMDeviceTokenReq *)body;
    if (strlen(in->device_token) > DEVICE_TOKEN_MAX) {
        login_api->log_limited(lp->self, IMGATE_LOG_INFO, "device_token_too_long", 5,
                               "event=device_token_refused user_id=%u reason=too_long", req->user_id);
        return;
    }
    pending_reply *p = new_reply(lp, req);
    if (p == NULL)
        return;
    /* The authenticated user counts, whatever the body claims. */
    uint32_t type = in->has_client_type ? (uint32_t)in->client_type : req->client_type;
    char value[DEVICE_TOKEN_MAX + 16];
    const char *prefix = type == CLIENT_TYPE_IOS ? "ios:" : type == CLIENT_TYPE_ANDROID ? "android:" : "";
    snprintf(value, sizeof value, "%s%s", in->device_token[0] ? prefix : "", in->device_token);
    set_device_token(lp, req->user_id, value, in->device_token, token_stored, p);
}

/* --- push shield (IMUser.push_shield_status) ----------------------------------- */

static void shield_set_work(imgate_worker *w, void *state, void *arg)
{
    pending_reply *p = arg;
    imgate_db_bind in[] = {IMGATE_DB_U32(&p->shield_status), IMGATE_DB_U32(&p->to.user_id)};
    /* 0 affected rows just means the value did not change (the row is the logged-in user's). */
    p->result_code = login_api->db_exec(w, "UPDATE IMUser SET push_shield_status = ? WHERE id = ?", in, 2, NULL) < 0;
}

static void shield_query_work(imgate_worker *w, void *state, void *arg)
{
    pending_reply *p = arg;
    imgate_db_bind in[] = {IMGATE_DB_U32(&p->to.user_id)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&p->shield_status)};
    p->result_code = login_api->db_query(w, IMGATE_DB_REPLICA, "SELECT push_shield_status FROM IMUser WHERE id = ?",
                                         in, 1, out, 1) != 1;
}

static void shield_set_done(void *state, void *arg, int status)
{
    pending_reply *p = arg;
    IM__Login__IMPushShieldRsp rsp = IM__LOGIN__IMPUSH_SHIELD_RSP__INIT;
    rsp.user_id = p->to.user_id;
    rsp.result_code = status == IMGATE_OK ? (uint32_t)p->result_code : 1;
    rsp.has_shield_status = 1;
    rsp.shield_status = p->shield_status;
    login_api->reply(&p->to, CID_LOGIN_RES_PUSH_SHIELD, &rsp.base);
    free(p);
}

static void shield_query_done(void *state, void *arg, int status)
{
    pending_reply *p = arg;
    IM__Login__IMQueryPushShieldRsp rsp = IM__LOGIN__IMQUERY_PUSH_SHIELD_RSP__INIT;
    rsp.user_id = p->to.user_id;
    rsp.result_code = status == IMGATE_OK ? (uint32_t)p->result_code : 1;
    rsp.has_shield_status = rsp.result_code == 0;
    rsp.shield_status = p->shield_status;
    login_api->reply(&p->to, CID_LOGIN_RES_QUERY_PUSH_SHIELD, &rsp.base);
    free(p);
}

void login_on_push_shield(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    login_plugin *lp = state;
    const IM__Login__IMPushShieldReq *in = (const IM__Login__IMPushShieldReq *)body;
    pending_reply *p = new_reply(lp, req);
    if (p == NULL)
        return;
    p->shield_status = in->shield_status;
    if (in->shield_status > 1) {
        /* Only 0 (off) and 1 (do not disturb) exist: refuse, do not store junk. */
        p->result_code = 1;
        shield_set_done(lp, p, IMGATE_OK);
        return;
    }
    login_api->submit_job(lp->self, req->conn_id, shield_set_work, shield_set_done, p);
}

void login_on_query_push_shield(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    login_plugin *lp = state;
    pending_reply *p = new_reply(lp, req);
    if (p != NULL)
        login_api->submit_job(lp->self, req->conn_id, shield_query_work, shield_query_done, p);
}

/* --- mobile kicks PC ------------------------------------------------------------- */

void login_on_kick_pc(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    login_plugin *lp = state;
    if (imgate_client_class(req->client_type) != IMGATE_CLASS_MOBILE)
        return; /* only a mobile may do this (protocol H.3); the reference ignores it from a PC */
    int kicked = login_api->session_kick(lp->self, req->user_id, IMGATE_CLASS_PC, req->conn_id,
                                         KICK_REASON_MOBILE_KICK);
    IM__Login__IMKickPCClientRsp rsp = IM__LOGIN__IMKICK_PCCLIENT_RSP__INIT;
    rsp.user_id = req->user_id;
    rsp.result_code = 0;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    login_api->reply(&to, CID_LOGIN_RES_KICKPCCLIENT, &rsp.base);
    login_api->log(lp->self, IMGATE_LOG_INFO, "event=mobile_kicked_pc user_id=%u kicked=%d", req->user_id, kicked);
    if (kicked > 0)
        login_notify_pc_status(lp, req->user_id, 0);
}

/* --- which server -------------------------------------------------------------------- */

void login_on_server_query(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    login_plugin *lp = state;
    imgate_node_info node;
    /* The least loaded node of the service (this one when alone), as GET /msg_server answers. */
    int full = login_api->node_choose(lp->self, &node) == IMGATE_ELIMIT;
    IM__Login__IMMsgServRsp rsp = IM__LOGIN__IMMSG_SERV_RSP__INIT;
    rsp.result_code = full ? REFUSE_REASON_MSG_SERVER_FULL : REFUSE_REASON_NONE;
    if (!full) {
        rsp.prior_ip = (char *)node.public_ip;
        rsp.backip_ip = (char *)node.backup_ip;
        rsp.has_port = 1;
        rsp.port = node.public_port;
    }
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    login_api->reply(&to, CID_LOGIN_RES_MSGSERVER, &rsp.base);
    /* As the reference login_server: one answer per connection. */
    login_api->close(lp->self, req->conn_id, "server_query_done");
}

/* --- PC presence for the user's mobiles ----------------------------------------------- */

void login_notify_pc_status(login_plugin *lp, uint32_t user_id, int online)
{
    IM__Buddy__IMPCLoginStatusNotify n = IM__BUDDY__IMPCLOGIN_STATUS_NOTIFY__INIT;
    n.user_id = user_id;
    n.login_stat = online ? USER_STATUS_ONLINE : USER_STATUS_OFFLINE;
    login_api->deliver(lp->self, user_id, IMGATE_CLASS_MOBILE, 0, SID_BUDDY_LIST, CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY,
                       &n.base);
}

/* How many connections of the user in `class_mask` remain on this node besides `conn_id`. */
static int others(uint32_t user_id, uint32_t class_mask, uint64_t conn_id, login_plugin *lp)
{
    uint64_t ids[8];
    int n = login_api->session_conns(lp->self, user_id, class_mask, ids, 8);
    int count = n;
    for (int i = 0; i < n && i < 8; i++)
        count -= ids[i] == conn_id;
    return count;
}

void login_on_close(void *state, const imgate_conn_info *conn)
{
    login_plugin *lp = state;
    if (!conn->logged_in)
        return;
    /* A kicked connection already left the registry: the counts are the user's live ones. */
    if (others(conn->user_id, IMGATE_CLASS_ALL, conn->conn_id, lp) == 0)
        login_users_drop(lp, conn->user_id);
    /* The PC side went offline only if no other PC connection of the user remains. A PC kicked
     * by a newer PC leaves the user online; one kicked by the mobile was announced at the kick. */
    if (imgate_client_class(conn->client_type) == IMGATE_CLASS_PC && !conn->kicked &&
        others(conn->user_id, IMGATE_CLASS_PC, conn->conn_id, lp) == 0)
        login_notify_pc_status(lp, conn->user_id, 0);
}
