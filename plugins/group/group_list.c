/*
 * group_list.c — IMNormalGroupListReq (0x0401 -> 0x0402): the user's groups
 * of type NORMAL as (id, version), from MySQL (protocol H.7). Temporary
 * groups are never listed: clients learn them from messages and sessions.
 */
#include <stdlib.h>

#include "IM.Group.pb-c.h"
#include "group.h"

typedef struct list_job {
    group_plugin *gp;
    imgate_reply_to to;
    uint32_t limit;
    IM__BaseDefine__GroupVersionInfo *items;
    size_t n, cap;
    uint32_t row_id, row_version;
    int rc;
} list_job;

static int on_row(void *ctx)
{
    list_job *j = ctx;
    if (j->n == j->cap) {
        size_t ncap = j->cap ? j->cap * 2 : 16;
        IM__BaseDefine__GroupVersionInfo *n = realloc(j->items, ncap * sizeof *n);
        if (n == NULL)
            return 1;
        j->items = n;
        j->cap = ncap;
    }
    IM__BaseDefine__GroupVersionInfo *v = &j->items[j->n++];
    im__base_define__group_version_info__init(v);
    v->group_id = j->row_id;
    v->version = j->row_version;
    return 0;
}

static void list_work(imgate_worker *w, void *state, void *arg)
{
    list_job *j = arg;
    uint32_t normal = GROUP_TYPE_NORMAL, limit = j->limit + 1;
    imgate_db_bind in[] = {IMGATE_DB_U32(&j->to.user_id), IMGATE_DB_U32(&normal), IMGATE_DB_U32(&limit)};
    imgate_db_bind cols[] = {IMGATE_DB_U32(&j->row_id), IMGATE_DB_U32(&j->row_version)};
    /* DISTINCT: an old database may hold two membership rows of one user in one group. Master, not
     * replica: a client lists right after a change notification and must see that change. */
    j->rc = group_api->db_query_rows(w, IMGATE_DB_MASTER,
                                     "SELECT DISTINCT g.id, g.version FROM IMGroupMember m JOIN IMGroup g ON g.id = "
                                     "m.groupId WHERE m.userId = ? AND m.status = 0 AND g.status = 0 AND g.type = ? "
                                     "ORDER BY g.id LIMIT ?",
                                     in, 3, cols, 2, on_row, j);
}

static void list_done(void *state, void *arg, int status)
{
    list_job *j = arg;
    group_plugin *gp = j->gp;
    if (status != IMGATE_OK || j->rc < 0) {
        /* The response has no result code: an empty list would read as "in no group" and make
         * the client drop its groups. Silence lets it keep what it knows and ask again. */
        group_api->metric_inc(gp->db_failures, 1);
        group_api->log_limited(gp->self, IMGATE_LOG_WARN, "normal_list_failed", 5,
                               "event=normal_list_failed user_id=%u status=%d rc=%d", j->to.user_id, status, j->rc);
    } else {
        if (j->n > j->limit) {
            j->n = j->limit;
            group_api->log_limited(gp->self, IMGATE_LOG_WARN, "normal_list_cut", 5,
                                   "event=normal_list_cut user_id=%u max_list_groups=%u", j->to.user_id, j->limit);
        }
        IM__Group__IMNormalGroupListRsp rsp = IM__GROUP__IMNORMAL_GROUP_LIST_RSP__INIT;
        IM__BaseDefine__GroupVersionInfo **ptrs = j->n ? malloc(j->n * sizeof *ptrs) : NULL;
        rsp.user_id = j->to.user_id;
        if (ptrs != NULL || j->n == 0) {
            for (size_t i = 0; i < j->n; i++)
                ptrs[i] = &j->items[i];
            rsp.n_group_version_list = j->n;
            rsp.group_version_list = ptrs;
            group_api->reply(&j->to, CID_GROUP_NORMAL_LIST_RESPONSE, &rsp.base);
        }
        free(ptrs);
    }
    group_api->request_done(&j->to);
    free(j->items);
    free(j);
}

void group_on_normal_list(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    group_plugin *gp = state;
    list_job *j = calloc(1, sizeof *j);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (j == NULL) {
        group_api->request_done(&to);
        return;
    }
    /* The body's user_id is the client's claim; the session's user id counts. */
    j->gp = gp;
    j->to = to;
    j->limit = gp->cfg.max_list_groups;
    group_api->submit_job(gp->self, req->conn_id, list_work, list_done, j);
}
