/*
 * status_notify.c — IMUserStatNotify (0x0203) when a user's PC connection
 * logs in or goes away (protocol H.3): pushed to PC connections only, never
 * to mobiles, and only for PC status changes.
 *
 * Logging in: the core's login hook, for a PC connection; everyone in scope
 * but that connection itself (it has not even had its login reply yet).
 * Going away: the close hook sees every logged-in connection close, kicked
 * ones included; whether the user is now offline on PC is asked of the
 * core's presence() on the next loop turn, after the closing connection has
 * left the registry. So a PC replaced by a newer PC login stays "online"
 * (the newcomer already announced it), and a PC kicked by the user's mobile
 * is announced offline when its connection closes.
 *
 * Scope ([plugin.buddy] status_scope):
 *   everyone    every PC connection (broadcast), the reference's behaviour;
 *               one event costs O(online PC connections), a login storm
 *               O(users^2): see README.md for the measured figures
 *   department  the PC connections of the users of the same department:
 *               the department from imgate.users (the login plugin's cache
 *               of users logged in on this node) or MySQL, its members from
 *               MySQL (indexed by migration 030), then deliver_many
 *   none        nobody: clients see presence only through IMUsersStatReq
 *
 * Department-scope events of one user run as worker jobs keyed by the user,
 * so "online" and "offline" reach clients in the order they happened.
 */
#include <stdlib.h>
#include <time.h>

#include <imgate/pdu.h>

#include "IM.Buddy.pb-c.h"
#include "buddy.h"

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The notify and what it costs on the loop: /metrics carries the totals (README.md). */
typedef struct stat_notify {
    IM__Buddy__IMUserStatNotify msg;
    IM__BaseDefine__UserStat stat;
} stat_notify;

static void build(stat_notify *n, uint32_t user_id, uint32_t status)
{
    im__buddy__imuser_stat_notify__init(&n->msg);
    im__base_define__user_stat__init(&n->stat);
    n->stat.user_id = user_id;
    n->stat.status = (IM__BaseDefine__UserStatType)status;
    n->msg.user_stat = &n->stat;
}

static void account(buddy_plugin *bp, const stat_notify *n, int delivered, long long started_ns)
{
    long long spent = now_ns() - started_ns;
    size_t frame = IMGATE_PDU_HEADER_LEN + protobuf_c_message_get_packed_size(&n->msg.base);
    buddy_api->metric_inc(bp->status_notifies, 1);
    buddy_api->metric_inc(bp->status_notify_ns, spent > 0 ? (uint64_t)spent : 0);
    if (delivered > 0) {
        buddy_api->metric_inc(bp->status_notify_deliveries, (uint64_t)delivered);
        buddy_api->metric_inc(bp->status_notify_bytes, (uint64_t)delivered * frame);
    }
}

/* --- department scope ---------------------------------------------------------------------------- */

typedef struct depart_call {
    buddy_plugin *bp;
    uint32_t user_id, status;
    uint64_t except_conn;
    uint32_t depart_id;
    int depart_known;
    uint32_t member; /* the row being fetched */
    uint32_t *members;
    size_t n_members, cap_members;
    int failed;
} depart_call;

static int add_member(void *ctx)
{
    depart_call *call = ctx;
    if (call->n_members == call->cap_members) {
        size_t cap = call->cap_members ? call->cap_members * 2 : 64;
        uint32_t *grown = realloc(call->members, cap * sizeof *grown);
        if (grown == NULL) {
            call->failed = IMGATE_ENOMEM;
            return 1;
        }
        call->members = grown;
        call->cap_members = cap;
    }
    call->members[call->n_members++] = call->member;
    return 0;
}

static void read_department(imgate_worker *w, void *state, void *arg) /* worker thread */
{
    depart_call *call = arg;
    if (!call->depart_known) {
        imgate_db_bind in[] = {IMGATE_DB_U32(&call->user_id)};
        imgate_db_bind out[] = {IMGATE_DB_U32(&call->depart_id)};
        int rc = buddy_api->db_query(w, IMGATE_DB_REPLICA, "SELECT departId FROM IMUser WHERE id = ?", in, 1, out, 1);
        if (rc <= 0) {
            call->failed = rc; /* 0: no such user, nobody to tell */
            return;
        }
    }
    imgate_db_bind in[] = {IMGATE_DB_U32(&call->depart_id)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&call->member)};
    int rc = buddy_api->db_query_rows(w, IMGATE_DB_REPLICA,
                                      "SELECT id FROM IMUser WHERE departId = ? AND NOT (status <=> 3)", in, 1, out, 1,
                                      add_member, call);
    if (rc < 0)
        call->failed = rc;
}

static void department_read(void *state, void *arg, int status)
{
    depart_call *call = arg;
    buddy_plugin *bp = call->bp;
    if (status != IMGATE_OK || call->failed < 0) {
        buddy_api->metric_inc(bp->db_failures, 1);
        buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "status_notify_failed", 5,
                               "event=status_notify_failed user_id=%u status=%d", call->user_id,
                               status != IMGATE_OK ? status : call->failed);
    } else if (call->n_members > 0) {
        stat_notify n;
        build(&n, call->user_id, call->status);
        long long started = now_ns();
        int delivered = buddy_api->deliver_many(bp->self, call->members, call->n_members, IMGATE_CLASS_PC,
                                                call->except_conn, SID_BUDDY_LIST, CID_BUDDY_LIST_STATUS_NOTIFY,
                                                &n.msg.base);
        account(bp, &n, delivered, started);
    }
    free(call->members);
    free(call);
}

static void notify_department(buddy_plugin *bp, uint32_t user_id, uint32_t status, uint64_t except_conn)
{
    depart_call *call = calloc(1, sizeof *call);
    if (call == NULL)
        return;
    call->bp = bp;
    call->user_id = user_id;
    call->status = status;
    call->except_conn = except_conn;
    const imgate_users_v1 *users = bp->users.table;
    const imgate_user *u = users ? users->get(bp->users.state, user_id) : NULL;
    if (u != NULL) {
        call->depart_id = u->depart_id;
        call->depart_known = 1;
    }
    buddy_api->submit_job(bp->self, user_id, read_department, department_read, call);
}

/* --- the event ------------------------------------------------------------------------------------ */

static void notify_status(buddy_plugin *bp, uint32_t user_id, uint32_t status, uint64_t except_conn)
{
    switch (bp->cfg.scope) {
    case SCOPE_EVERYONE: {
        stat_notify n;
        build(&n, user_id, status);
        long long started = now_ns();
        int delivered = buddy_api->broadcast(bp->self, IMGATE_CLASS_PC, except_conn, SID_BUDDY_LIST,
                                             CID_BUDDY_LIST_STATUS_NOTIFY, &n.msg.base);
        account(bp, &n, delivered, started);
        break;
    }
    case SCOPE_DEPARTMENT:
        notify_department(bp, user_id, status, except_conn);
        break;
    case SCOPE_NONE:
        break;
    }
}

void buddy_on_login(void *state, const imgate_conn_info *conn)
{
    if (!conn->logged_in || conn->user_id == 0 || imgate_client_class(conn->client_type) != IMGATE_CLASS_PC)
        return;
    notify_status(state, conn->user_id, USER_STATUS_ONLINE, conn->conn_id);
}

static void after_close(void *state, void *arg, const uint32_t *ids, const uint32_t *masks, size_t n)
{
    if (n == 1 && !(masks[0] & IMGATE_CLASS_PC))
        notify_status(state, ids[0], USER_STATUS_OFFLINE, 0);
}

/* A PC left: OFFLINE unless the user still has a PC. Presence is asked on a later loop turn, when
 * a newer PC login that kicked this one is registered. */
static void pc_left(buddy_plugin *bp, const imgate_conn_info *conn)
{
    if (!conn->logged_in || conn->user_id == 0 || imgate_client_class(conn->client_type) != IMGATE_CLASS_PC ||
        bp->cfg.scope == SCOPE_NONE)
        return;
    uint32_t user_id = conn->user_id;
    buddy_api->presence(bp->self, &user_id, 1, after_close, NULL);
}

void buddy_on_close(void *state, const imgate_conn_info *conn)
{
    if (!conn->kicked) /* a kicked connection left the session when it was kicked */
        pc_left(state, conn);
}

void buddy_on_kick(void *state, const imgate_conn_info *conn) { pc_left(state, conn); }
