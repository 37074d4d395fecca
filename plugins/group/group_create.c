/*
 * group_create.c — IMGroupCreateReq (0x0405 -> 0x0406), protocol H.7.
 *
 * Clients create TEMPORARY groups only (a NORMAL request is refused, nothing
 * is created); a name and at least one member are required; every member id
 * must be a user (else the whole request is refused); the creator is added
 * only when the client lists it, as reference clients do. One transaction
 * writes IMGroup (version 1, userCnt) and the IMGroupMember rows; after the
 * commit the cache is published, group_msg_id_<gid> starts at 0 and the
 * members' unread marks are reset, and only then does the creator get the
 * answer, so whatever it does next sees the group everywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Group.pb-c.h"
#include "group.h"

typedef struct create_job {
    group_plugin *gp;
    imgate_reply_to to;
    char *name, *avatar;
    uint32_t *ids;
    size_t n;
    /* worker results */
    int result;
    uint32_t group_id, now;
    int redis_pending;
} create_job;

static void create_free(create_job *j)
{
    free(j->name);
    free(j->avatar);
    free(j->ids);
    free(j);
}

static void answer(group_plugin *gp, imgate_reply_to *to, int result, uint32_t group_id, const char *name,
                   uint32_t *ids, size_t n)
{
    IM__Group__IMGroupCreateRsp rsp = IM__GROUP__IMGROUP_CREATE_RSP__INIT;
    rsp.user_id = to->user_id;
    rsp.result_code = (uint32_t)result;
    rsp.has_group_id = result == GROUP_RESULT_OK;
    rsp.group_id = group_id;
    rsp.group_name = (char *)name;
    rsp.n_user_id_list = result == GROUP_RESULT_OK ? n : 0;
    rsp.user_id_list = ids;
    group_api->reply(to, CID_GROUP_CREATE_RESPONSE, &rsp.base);
    group_api->request_done(to);
    if (result != GROUP_RESULT_OK)
        group_api->metric_inc(gp->refused, 1);
}

/* --- worker ---------------------------------------------------------------------------------------- */

static int create_in_db(imgate_worker *w, create_job *j)
{
    int rc = group_db_count_users(w, j->ids, j->n);
    if (rc < 0)
        return GROUP_RESULT_FAILED;
    if ((size_t)rc != j->n)
        return GROUP_RESULT_UNKNOWN_USER;
    uint32_t type = GROUP_TYPE_TMP, count = (uint32_t)j->n;
    imgate_db_bind g[] = {IMGATE_DB_STR(j->name), IMGATE_DB_STR(j->avatar), IMGATE_DB_U32(&j->to.user_id),
                          IMGATE_DB_U32(&type),   IMGATE_DB_U32(&count),    IMGATE_DB_U32(&j->now),
                          IMGATE_DB_U32(&j->now)};
    uint64_t id = 0;
    if (group_api->db_exec(w,
                           "INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, lastChated, "
                           "updated, created) VALUES (?, ?, ?, ?, ?, 0, 1, 0, ?, ?)",
                           g, 7, &id) != 1 ||
        id == 0 || id > UINT32_MAX)
        return GROUP_RESULT_FAILED;
    j->group_id = (uint32_t)id;
    for (size_t i = 0; i < j->n; i++) {
        imgate_db_bind m[] = {IMGATE_DB_U32(&j->group_id), IMGATE_DB_U32(&j->ids[i]), IMGATE_DB_U32(&j->now),
                              IMGATE_DB_U32(&j->now)};
        if (group_api->db_exec(w,
                               "INSERT INTO IMGroupMember (groupId, userId, status, shield, created, updated) "
                               "VALUES (?, ?, 0, 0, ?, ?)",
                               m, 4, NULL) != 1)
            return GROUP_RESULT_FAILED;
    }
    return GROUP_RESULT_OK;
}

static void create_work(imgate_worker *w, void *state, void *arg)
{
    create_job *j = arg;
    j->now = (uint32_t)time(NULL);
    if (group_api->db_begin(w) != IMGATE_OK) {
        j->result = GROUP_RESULT_FAILED;
        return;
    }
    j->result = create_in_db(w, j);
    if (j->result != GROUP_RESULT_OK) {
        group_api->db_rollback(w);
        return;
    }
    if (group_api->db_commit(w) != IMGATE_OK)
        j->result = GROUP_RESULT_FAILED;
}

/* --- after the commit -------------------------------------------------------------------------------- */

static void redis_settled(group_plugin *gp, void *arg, int stored)
{
    create_job *j = arg;
    if (--j->redis_pending > 0)
        return;
    answer(gp, &j->to, GROUP_RESULT_OK, j->group_id, j->name, j->ids, j->n);
    create_free(j);
}

static void create_done(void *state, void *arg, int status)
{
    create_job *j = arg;
    group_plugin *gp = j->gp;
    if (status != IMGATE_OK)
        j->result = GROUP_RESULT_FAILED;
    if (j->result != GROUP_RESULT_OK) {
        if (j->result == GROUP_RESULT_FAILED) {
            group_api->metric_inc(gp->db_failures, 1);
            group_api->log_limited(gp->self, IMGATE_LOG_WARN, "group_create_failed", 5,
                                   "event=group_create_failed user_id=%u status=%d", j->to.user_id, status);
        } else {
            group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_create_refused", 5,
                                   "event=group_create_refused user_id=%u result=%d", j->to.user_id, j->result);
        }
        answer(gp, &j->to, j->result, 0, j->name, NULL, 0);
        create_free(j);
        return;
    }
    group_api->metric_inc(gp->created, 1);
    /* Bounded by writes_per_minute per connection; limited across connections all the same. */
    group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_created", 100,
                           "event=group_created group_id=%u creator=%u members=%zu", j->group_id, j->to.user_id, j->n);
    group_state s = {0};
    s.group_id = j->group_id;
    s.type = GROUP_TYPE_TMP;
    s.creator = j->to.user_id;
    s.version = 1;
    s.status = 0;
    for (size_t i = 0; i < j->n; i++)
        if (group_state_add_member(&s, j->ids[i], j->now) != 0)
            s.status = 1; /* out of memory: publish nothing wrong; the next read rebuilds */
    j->redis_pending = 3;
    if (s.status == 0)
        group_cache_put(gp, &s, redis_settled, j);
    else
        j->redis_pending--;
    group_state_free(&s);
    /* The message id counter starts at 0 (protocol E), unless something already counts there. */
    char key[40];
    snprintf(key, sizeof key, "group_msg_id_%u", j->group_id);
    const char *argv[] = {"SET", key, "0", "NX"};
    group_cache_write(gp, 4, argv, redis_settled, j);
    group_cache_reset_unread(gp, j->group_id, j->ids, j->n, redis_settled, j);
}

/* --- the request -------------------------------------------------------------------------------------- */

static int check_request(group_plugin *gp, const IM__Group__IMGroupCreateReq *in)
{
    if (in->group_type != GROUP_TYPE_TMP)
        return GROUP_RESULT_NOT_ALLOWED; /* NORMAL groups are an administrator's (protocol H.7) */
    long name = group_utf8_chars(in->group_name), avatar = group_utf8_chars(in->group_avatar);
    if (name <= 0 || name > GROUP_NAME_MAX_CHARS || !group_text_has_content(in->group_name))
        return GROUP_RESULT_INVALID;
    if (avatar < 0 || avatar > GROUP_AVATAR_MAX_CHARS)
        return GROUP_RESULT_INVALID;
    if (in->n_member_id_list == 0)
        return GROUP_RESULT_INVALID;
    if (in->n_member_id_list > (size_t)gp->cfg.max_members * 2)
        return GROUP_RESULT_TOO_MANY; /* more ids than any group may hold, even spelled twice: not copied */
    return GROUP_RESULT_OK;
}

void group_on_create(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    group_plugin *gp = state;
    const IM__Group__IMGroupCreateReq *in = (const IM__Group__IMGroupCreateReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    /* The name echoed in a refusal must be valid UTF-8 for the client's parser. */
    const char *echo = group_utf8_chars(in->group_name) >= 0 ? in->group_name : "";
    int result = check_request(gp, in);
    uint32_t *ids = NULL;
    size_t n = 0;
    if (result == GROUP_RESULT_OK) {
        ids = malloc(in->n_member_id_list * sizeof *ids);
        if (ids == NULL) {
            group_api->request_done(&to);
            return;
        }
        memcpy(ids, in->member_id_list, in->n_member_id_list * sizeof *ids);
        n = group_ids_unique(ids, in->n_member_id_list);
        if (ids[0] == 0)
            result = GROUP_RESULT_UNKNOWN_USER; /* sorted: a 0 comes first */
        else if (n > gp->cfg.max_members)
            result = GROUP_RESULT_TOO_MANY;
        else if (group_write_budget(gp, req->conn_id) != 0)
            result = GROUP_RESULT_BUSY;
    }
    if (result != GROUP_RESULT_OK) {
        group_api->log_limited(gp->self, IMGATE_LOG_INFO, "group_create_refused", 5,
                               "event=group_create_refused user_id=%u result=%d members=%zu", req->user_id, result,
                               in->n_member_id_list);
        answer(gp, &to, result, 0, echo, NULL, 0);
        free(ids);
        return;
    }
    create_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->name = strdup(in->group_name)) == NULL || (j->avatar = strdup(in->group_avatar)) == NULL) {
        if (j)
            free(j->name);
        free(j);
        free(ids);
        group_api->request_done(&to);
        return;
    }
    j->gp = gp;
    j->to = to;
    j->ids = ids;
    j->n = n;
    group_api->submit_job(gp->self, req->conn_id, create_work, create_done, j);
}
