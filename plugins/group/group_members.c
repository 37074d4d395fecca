/*
 * group_members.c — IMGroupChangeMemberReq (0x0407 -> 0x0408) and
 * IMGroupChangeMemberNotify (0x040b), protocol H.7.
 *
 * Rights, as the reference: in a TEMPORARY group any member (or the creator)
 * may add; removing, and any change to a NORMAL group, is the creator's. One
 * transaction locks the IMGroup row (so changes of one group, from any node,
 * happen one after the other), reads the members, applies the change,
 * bumps the version and userCnt, and marks removed members' group sessions
 * deleted. Asking to add a member who is already in, or to remove one who is
 * not, changes nothing for that id; a request that changes nothing at all
 * succeeds without a new version or a notification. After the commit the
 * cache is republished at the new version (a removed member fails the very
 * next membership check the message plugin makes), the changed users' shield
 * fields and unread marks are reset, and only then come the answer and the
 * notifications: to the changed users and the current members, on every
 * connection except the one that asked (it has the answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Group.pb-c.h"
#include "group.h"

typedef struct change_job {
    group_plugin *gp;
    imgate_reply_to to;
    uint32_t group_id, change_type;
    uint32_t *ids; /* requested, sorted, unique */
    size_t n;
    /* worker results */
    int result;
    uint32_t now;
    group_state after;
    uint32_t *changed;
    size_t n_changed;
    int redis_pending;
} change_job;

static void change_free(change_job *j)
{
    free(j->ids);
    free(j->changed);
    group_state_free(&j->after);
    free(j);
}

static uint32_t *member_ids(const group_state *s)
{
    uint32_t *ids = malloc((s->n_members ? s->n_members : 1) * sizeof *ids);
    if (ids != NULL)
        for (size_t i = 0; i < s->n_members; i++)
            ids[i] = s->members[i].user_id;
    return ids;
}

static void answer(change_job *j, int result)
{
    IM__Group__IMGroupChangeMemberRsp rsp = IM__GROUP__IMGROUP_CHANGE_MEMBER_RSP__INIT;
    uint32_t *cur = result == GROUP_RESULT_OK ? member_ids(&j->after) : NULL;
    rsp.user_id = j->to.user_id;
    rsp.change_type = (IM__BaseDefine__GroupModifyType)j->change_type;
    rsp.result_code = (uint32_t)result;
    rsp.group_id = j->group_id;
    if (cur != NULL) {
        rsp.n_cur_user_id_list = j->after.n_members;
        rsp.cur_user_id_list = cur;
        rsp.n_chg_user_id_list = j->n_changed;
        rsp.chg_user_id_list = j->changed;
    }
    group_api->reply(&j->to, CID_GROUP_CHANGE_MEMBER_RESPONSE, &rsp.base);
    group_api->request_done(&j->to);
    if (result != GROUP_RESULT_OK)
        group_api->metric_inc(j->gp->refused, 1);
    free(cur);
}

static void notify(change_job *j)
{
    uint32_t *cur = member_ids(&j->after);
    uint32_t *to = malloc((j->after.n_members + j->n_changed + 1) * sizeof *to);
    if (cur == NULL || to == NULL) {
        group_api->log_limited(j->gp->self, IMGATE_LOG_ERROR, "out_of_memory", 5,
                               "event=group_notify_lost group_id=%u reason=out_of_memory", j->group_id);
        free(cur);
        free(to);
        return;
    }
    memcpy(to, cur, j->after.n_members * sizeof *to);
    memcpy(to + j->after.n_members, j->changed, j->n_changed * sizeof *to);
    size_t n = group_ids_unique(to, j->after.n_members + j->n_changed);
    IM__Group__IMGroupChangeMemberNotify msg = IM__GROUP__IMGROUP_CHANGE_MEMBER_NOTIFY__INIT;
    msg.user_id = j->to.user_id;
    msg.change_type = (IM__BaseDefine__GroupModifyType)j->change_type;
    msg.group_id = j->group_id;
    msg.n_cur_user_id_list = j->after.n_members;
    msg.cur_user_id_list = cur;
    msg.n_chg_user_id_list = j->n_changed;
    msg.chg_user_id_list = j->changed;
    group_api->deliver_many(j->gp->self, to, n, IMGATE_CLASS_ALL, j->to.conn_id, SID_GROUP,
                            CID_GROUP_CHANGE_MEMBER_NOTIFY, &msg.base);
    free(cur);
    free(to);
}

/* --- worker ------------------------------------------------------------------------------------------ */

static int may_change(const group_state *g, uint32_t user_id, uint32_t change_type)
{
    if (g->creator == user_id)
        return 1;
    /* A TEMPORARY group lets its members invite; nothing else is theirs to do. */
    int member = imgate_group_find_member(&(imgate_group_view){.n_members = g->n_members, .members = g->members},
                                          user_id) != NULL;
    return g->type == GROUP_TYPE_TMP && change_type == GROUP_MODIFY_TYPE_ADD && member;
}

static int add_members(imgate_worker *w, change_job *j, const uint32_t *add, size_t n)
{
    int rc = group_db_count_users(w, add, n);
    if (rc < 0)
        return GROUP_RESULT_FAILED;
    if ((size_t)rc != n)
        return GROUP_RESULT_UNKNOWN_USER;
    if (j->after.n_members + n > j->gp->cfg.max_members)
        return GROUP_RESULT_TOO_MANY;
    for (size_t i = 0; i < n; i++) {
        uint32_t uid = add[i];
        imgate_db_bind b[] = {IMGATE_DB_U32(&j->now), IMGATE_DB_U32(&j->group_id), IMGATE_DB_U32(&uid)};
        /* A returning member's row comes back with a fresh join time (their history starts
         * again there) and the shield cleared; a newcomer gets a row. */
        int64_t revived = group_api->db_exec(w,
                                             "UPDATE IMGroupMember SET status = 0, shield = 0, updated = ? "
                                             "WHERE groupId = ? AND userId = ? AND status <> 0",
                                             b, 3, NULL);
        if (revived < 0)
            return GROUP_RESULT_FAILED;
        if (revived == 0) {
            imgate_db_bind m[] = {IMGATE_DB_U32(&j->group_id), IMGATE_DB_U32(&uid), IMGATE_DB_U32(&j->now),
                                  IMGATE_DB_U32(&j->now)};
            if (group_api->db_exec(w,
                                   "INSERT INTO IMGroupMember (groupId, userId, status, shield, created, updated) "
                                   "VALUES (?, ?, 0, 0, ?, ?)",
                                   m, 4, NULL) != 1)
                return GROUP_RESULT_FAILED;
        }
        if (group_state_add_member(&j->after, uid, j->now) != 0)
            return GROUP_RESULT_FAILED;
    }
    return GROUP_RESULT_OK;
}

static int remove_members(imgate_worker *w, change_job *j, const uint32_t *del, size_t n)
{
    uint32_t session_group = SESSION_TYPE_GROUP;
    for (size_t i = 0; i < n; i++) {
        uint32_t uid = del[i];
        imgate_db_bind b[] = {IMGATE_DB_U32(&j->now), IMGATE_DB_U32(&j->group_id), IMGATE_DB_U32(&uid)};
        if (group_api->db_exec(w,
                               "UPDATE IMGroupMember SET status = 1, updated = ? WHERE groupId = ? AND userId = ? "
                               "AND status = 0",
                               b, 3, NULL) < 0)
            return GROUP_RESULT_FAILED;
        imgate_db_bind s[] = {IMGATE_DB_U32(&j->now), IMGATE_DB_U32(&uid), IMGATE_DB_U32(&j->group_id),
                              IMGATE_DB_U32(&session_group)};
        if (group_api->db_exec(w,
                               "UPDATE IMRecentSession SET status = 1, updated = ? WHERE userId = ? AND peerId = ? "
                               "AND type = ? AND status = 0",
                               s, 4, NULL) < 0)
            return GROUP_RESULT_FAILED;
    }
    /* Keep the others (in order) and their shields. */
    size_t out = 0;
    for (size_t i = 0; i < j->after.n_members; i++)
        if (!group_ids_contain(del, n, j->after.members[i].user_id))
            j->after.members[out++] = j->after.members[i];
    j->after.n_members = out;
    out = 0;
    for (size_t i = 0; i < j->after.n_shielded; i++)
        if (!group_ids_contain(del, n, j->after.shielded[i]))
            j->after.shielded[out++] = j->after.shielded[i];
    j->after.n_shielded = out;
    return GROUP_RESULT_OK;
}

static int change_in_db(imgate_worker *w, change_job *j)
{
    int rc = group_db_load(w, j->gp, j->group_id, 1, &j->after);
    if (rc < 0)
        return GROUP_RESULT_FAILED;
    if (rc == 0 || j->after.status != 0)
        return GROUP_RESULT_NO_GROUP;
    if (!may_change(&j->after, j->to.user_id, j->change_type))
        return GROUP_RESULT_NOT_ALLOWED;
    /* Which requested ids really change: not yet members (add) or members (remove). */
    j->changed = malloc(j->n * sizeof *j->changed);
    if (j->changed == NULL)
        return GROUP_RESULT_FAILED;
    int adding = j->change_type == GROUP_MODIFY_TYPE_ADD;
    imgate_group_view before = {.n_members = j->after.n_members, .members = j->after.members};
    for (size_t i = 0; i < j->n; i++)
        if ((imgate_group_find_member(&before, j->ids[i]) == NULL) == adding)
            j->changed[j->n_changed++] = j->ids[i];
    if (j->n_changed == 0)
        return GROUP_RESULT_OK;
    rc = adding ? add_members(w, j, j->changed, j->n_changed) : remove_members(w, j, j->changed, j->n_changed);
    if (rc != GROUP_RESULT_OK)
        return rc;
    group_state_normalise(&j->after);
    uint32_t count = (uint32_t)j->after.n_members;
    imgate_db_bind g[] = {IMGATE_DB_U32(&count), IMGATE_DB_U32(&j->now), IMGATE_DB_U32(&j->group_id)};
    if (group_api->db_exec(w, "UPDATE IMGroup SET version = version + 1, userCnt = ?, updated = ? WHERE id = ?", g, 3,
                           NULL) != 1)
        return GROUP_RESULT_FAILED;
    j->after.version++;
    return GROUP_RESULT_OK;
}

static void change_work(imgate_worker *w, void *state, void *arg)
{
    change_job *j = arg;
    j->now = (uint32_t)time(NULL);
    if (group_api->db_begin(w) != IMGATE_OK) {
        j->result = GROUP_RESULT_FAILED;
        return;
    }
    j->result = change_in_db(w, j);
    if (j->result != GROUP_RESULT_OK || j->n_changed == 0) {
        group_api->db_rollback(w); /* nothing written, or nothing to keep */
        return;
    }
    if (group_api->db_commit(w) != IMGATE_OK)
        j->result = GROUP_RESULT_FAILED;
}

/* --- after the commit -------------------------------------------------------------------------------- */

static void redis_settled(group_plugin *gp, void *arg, int stored)
{
    change_job *j = arg;
    if (--j->redis_pending > 0)
        return;
    answer(j, GROUP_RESULT_OK);
    notify(j);
    change_free(j);
}

/* group_set_<gid>: a removed member's field goes, an added one starts unshielded (as in MySQL). */
static void reset_shield_fields(change_job *j)
{
    int adding = j->change_type == GROUP_MODIFY_TYPE_ADD;
    size_t argc = 2 + j->n_changed * (adding ? 2 : 1);
    const char **argv = malloc(argc * sizeof *argv);
    char(*fields)[16] = malloc(j->n_changed * sizeof *fields);
    char key[40];
    if (argv == NULL || fields == NULL) {
        free(argv);
        free(fields);
        redis_settled(j->gp, j, 0);
        return;
    }
    group_key_settings(key, sizeof key, j->group_id);
    argv[0] = adding ? "HSET" : "HDEL";
    argv[1] = key;
    size_t k = 2;
    for (size_t i = 0; i < j->n_changed; i++) {
        snprintf(fields[i], sizeof fields[i], "%u_1", j->changed[i]); /* 1 = IM_GROUP_SETTING_PUSH */
        argv[k++] = fields[i];
        if (adding)
            argv[k++] = "0";
    }
    group_cache_write(j->gp, (int)argc, argv, redis_settled, j);
    free(argv);
    free(fields);
}

static void change_done(void *state, void *arg, int status)
{
    change_job *j = arg;
    group_plugin *gp = j->gp;
    if (status != IMGATE_OK)
        j->result = GROUP_RESULT_FAILED;
    if (j->result != GROUP_RESULT_OK) {
        if (j->result == GROUP_RESULT_FAILED) {
            group_api->metric_inc(gp->db_failures, 1);
            group_api->log_limited(gp->self, IMGATE_LOG_WARN, "group_change_failed", 5,
                                   "event=group_change_failed group_id=%u user_id=%u status=%d", j->group_id,
                                   j->to.user_id, status);
        } else {
            group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_change_refused", 5,
                                   "event=group_change_refused group_id=%u user_id=%u change=%u result=%d", j->group_id,
                                   j->to.user_id, j->change_type, j->result);
        }
        answer(j, j->result);
        change_free(j);
        return;
    }
    if (j->n_changed == 0) {
        answer(j, GROUP_RESULT_OK);
        change_free(j);
        return;
    }
    group_api->metric_inc(gp->changed, 1);
    group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_members_changed", 100,
                           "event=group_members_changed group_id=%u user_id=%u change=%u changed=%zu members=%zu "
                           "version=%u",
                           j->group_id, j->to.user_id, j->change_type, j->n_changed, j->after.n_members,
                           j->after.version);
    j->redis_pending = 3;
    group_cache_put(gp, &j->after, redis_settled, j);
    reset_shield_fields(j);
    group_cache_reset_unread(gp, j->group_id, j->changed, j->n_changed, redis_settled, j);
}

/* --- the request ----------------------------------------------------------------------------------------- */

void group_on_change_members(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    group_plugin *gp = state;
    const IM__Group__IMGroupChangeMemberReq *in = (const IM__Group__IMGroupChangeMemberReq *)body;
    change_job *j = calloc(1, sizeof *j);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (j == NULL) {
        group_api->request_done(&to);
        return;
    }
    j->gp = gp;
    j->to = to;
    j->group_id = in->group_id;
    j->change_type = (uint32_t)in->change_type;
    int result = GROUP_RESULT_OK;
    if (in->group_id == 0)
        result = GROUP_RESULT_NO_GROUP;
    else if (in->n_member_id_list == 0)
        result = GROUP_RESULT_INVALID;
    else if (in->n_member_id_list > (size_t)gp->cfg.max_members * 2)
        result = GROUP_RESULT_TOO_MANY; /* more ids than any group may hold, even spelled twice */
    if (result == GROUP_RESULT_OK) {
        j->ids = malloc(in->n_member_id_list * sizeof *j->ids);
        if (j->ids == NULL) {
            group_api->request_done(&to);
            free(j);
            return;
        }
        memcpy(j->ids, in->member_id_list, in->n_member_id_list * sizeof *j->ids);
        j->n = group_ids_unique(j->ids, in->n_member_id_list);
        if (j->n > gp->cfg.max_members)
            result = GROUP_RESULT_TOO_MANY;
        else if (group_write_budget(gp, req->conn_id) != 0)
            result = GROUP_RESULT_BUSY;
    }
    if (result != GROUP_RESULT_OK) {
        group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_change_refused", 5,
                               "event=group_change_refused group_id=%u user_id=%u change=%u result=%d", in->group_id,
                               req->user_id, j->change_type, result);
        answer(j, result);
        change_free(j);
        return;
    }
    /* order_key = the group: this node runs its changes one after the other (the row lock
     * orders them across nodes). */
    group_api->submit_job(gp->self, j->group_id, change_work, change_done, j);
}
