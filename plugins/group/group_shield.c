/*
 * group_shield.c — IMGroupShieldReq (0x0409 -> 0x040a): a member turns the
 * group's push notifications off (1) or on (0) for themselves. MySQL keeps it
 * (IMGroupMember.shield, migration 020: the reference kept it only in Redis);
 * after the commit the reference's group_set_<gid> field <uid>_1 is written
 * (protocol E), then the answer goes out. Group info reports it (protocol J.8).
 */
#include <stdio.h>
#include <stdlib.h>

#include "IM.Group.pb-c.h"
#include "group.h"

typedef struct shield_job {
    group_plugin *gp;
    imgate_reply_to to;
    uint32_t group_id, shield;
    int result;
} shield_job;

static void answer(shield_job *j, int result)
{
    IM__Group__IMGroupShieldRsp rsp = IM__GROUP__IMGROUP_SHIELD_RSP__INIT;
    rsp.user_id = j->to.user_id;
    rsp.group_id = j->group_id;
    rsp.result_code = (uint32_t)result;
    group_api->reply(&j->to, CID_GROUP_SHIELD_GROUP_RESPONSE, &rsp.base);
    group_api->request_done(&j->to);
    if (result != GROUP_RESULT_OK)
        group_api->metric_inc(j->gp->refused, 1);
    free(j);
}

static int shield_in_db(imgate_worker *w, shield_job *j)
{
    /* The group row lock orders this after (or before) a member change of the same group, so a
     * member removed meanwhile is not shielded behind its back. */
    uint32_t status = 0, members = 0;
    imgate_db_bind g[] = {IMGATE_DB_U32(&j->group_id)};
    imgate_db_bind gs[] = {IMGATE_DB_U32(&status)};
    int rc =
        group_api->db_query(w, IMGATE_DB_MASTER, "SELECT status FROM IMGroup WHERE id = ? FOR UPDATE", g, 1, gs, 1);
    if (rc < 0)
        return GROUP_RESULT_FAILED;
    if (rc == 0 || status != 0)
        return GROUP_RESULT_NO_GROUP;
    imgate_db_bind m[] = {IMGATE_DB_U32(&j->group_id), IMGATE_DB_U32(&j->to.user_id)};
    imgate_db_bind mc[] = {IMGATE_DB_U32(&members)};
    rc = group_api->db_query(w, IMGATE_DB_MASTER,
                             "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = ? AND userId = ? AND status = 0", m, 2,
                             mc, 1);
    if (rc < 0)
        return GROUP_RESULT_FAILED;
    if (members == 0)
        return GROUP_RESULT_NOT_ALLOWED;
    imgate_db_bind u[] = {IMGATE_DB_U32(&j->shield), IMGATE_DB_U32(&j->group_id), IMGATE_DB_U32(&j->to.user_id)};
    if (group_api->db_exec(w, "UPDATE IMGroupMember SET shield = ? WHERE groupId = ? AND userId = ? AND status = 0", u,
                           3, NULL) < 0)
        return GROUP_RESULT_FAILED;
    return GROUP_RESULT_OK;
}

static void shield_work(imgate_worker *w, void *state, void *arg)
{
    shield_job *j = arg;
    if (group_api->db_begin(w) != IMGATE_OK) {
        j->result = GROUP_RESULT_FAILED;
        return;
    }
    j->result = shield_in_db(w, j);
    if (j->result != GROUP_RESULT_OK) {
        group_api->db_rollback(w);
        return;
    }
    if (group_api->db_commit(w) != IMGATE_OK)
        j->result = GROUP_RESULT_FAILED;
}

static void stored(group_plugin *gp, void *arg, int ok) { answer(arg, GROUP_RESULT_OK); }

static void shield_done(void *state, void *arg, int status)
{
    shield_job *j = arg;
    group_plugin *gp = j->gp;
    if (status != IMGATE_OK)
        j->result = GROUP_RESULT_FAILED;
    if (j->result != GROUP_RESULT_OK) {
        if (j->result == GROUP_RESULT_FAILED)
            group_api->metric_inc(gp->db_failures, 1);
        group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_shield_refused", 5,
                               "event=group_shield_refused group_id=%u user_id=%u result=%d status=%d", j->group_id,
                               j->to.user_id, j->result, status);
        answer(j, j->result);
        return;
    }
    group_api->metric_inc(gp->shields, 1);
    char key[40], field[16], value[4];
    group_key_settings(key, sizeof key, j->group_id);
    snprintf(field, sizeof field, "%u_1", j->to.user_id); /* 1 = IM_GROUP_SETTING_PUSH */
    snprintf(value, sizeof value, "%u", j->shield);
    const char *argv[] = {"HSET", key, field, value};
    group_cache_write(gp, 4, argv, stored, j);
}

void group_on_shield(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    group_plugin *gp = state;
    const IM__Group__IMGroupShieldReq *in = (const IM__Group__IMGroupShieldReq *)body;
    shield_job *j = calloc(1, sizeof *j);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (j == NULL) {
        group_api->request_done(&to);
        return;
    }
    j->gp = gp;
    j->to = to;
    j->group_id = in->group_id;
    j->shield = in->shield_status;
    int result = GROUP_RESULT_OK;
    if (in->shield_status > 1)
        result = GROUP_RESULT_INVALID; /* only 0 (push) and 1 (shielded) exist: store no junk */
    else if (in->group_id == 0)
        result = GROUP_RESULT_NO_GROUP;
    else if (group_write_budget(gp, req->conn_id) != 0)
        result = GROUP_RESULT_BUSY;
    if (result != GROUP_RESULT_OK) {
        group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_shield_refused", 5,
                               "event=group_shield_refused group_id=%u user_id=%u result=%d", in->group_id,
                               req->user_id, result);
        answer(j, result);
        return;
    }
    group_api->submit_job(gp->self, j->group_id, shield_work, shield_done, j);
}
