/*
 * user_info.c — CID_BUDDY_LIST_USER_INFO_REQUEST -> IMUsersInfoRsp: the
 * UserInfo of each listed id that exists (unknown ids are skipped, users who
 * left included: a client still shows old conversations with them).
 *
 * At most user_info_max ids are answered (the rest are ignored, counted and
 * logged). Its ceiling, 400, keeps the reply under a 1 MiB frame even when
 * every field of every row is as long as its column allows (about 2.3 KB a
 * user). Duplicates are answered once; the reply lists users by id.
 */
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "buddy.h"
#include "user_row.h"

/* Ids per SELECT: a fixed-length IN list (short chunks repeat their last id) is one prepared
 * statement for every request size. */
#define IN_CHUNK 32
#define Q4 "?,?,?,?"
#define Q32 Q4 "," Q4 "," Q4 "," Q4 "," Q4 "," Q4 "," Q4 "," Q4
#define SELECT_USERS "SELECT " USER_ROW_COLUMNS " FROM IMUser WHERE id IN (" Q32 ")"

typedef struct info_call {
    buddy_plugin *bp;
    imgate_reply_to to;
    uint32_t *ids; /* sorted, distinct */
    size_t n_ids;
    imgate_user *users; /* n_ids slots */
    size_t n_users;
    imgate_user *row; /* the row being fetched (the worker's) */
    int failed;
} info_call;

static int by_value(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* --- worker thread ---------------------------------------------------------------------------- */

static int keep_row(void *ctx)
{
    info_call *call = ctx;
    if (call->n_users < call->n_ids)
        call->users[call->n_users++] = *call->row;
    return 0;
}

static int by_user_id(const void *a, const void *b)
{
    uint32_t x = ((const imgate_user *)a)->id, y = ((const imgate_user *)b)->id;
    return x < y ? -1 : x > y;
}

static void read_users(imgate_worker *w, void *state, void *arg)
{
    info_call *call = arg;
    /* Allocated here, not when queued: a queued request holds only its ids. */
    call->users = calloc(call->n_ids, sizeof *call->users);
    if (call->users == NULL) {
        call->failed = IMGATE_ENOMEM;
        return;
    }
    imgate_user row;
    call->row = &row;
    imgate_db_bind cols[USER_ROW_NCOLS];
    user_row_binds(&row, cols);
    for (size_t start = 0; start < call->n_ids; start += IN_CHUNK) {
        uint32_t chunk[IN_CHUNK];
        imgate_db_bind params[IN_CHUNK];
        for (size_t i = 0; i < IN_CHUNK; i++) {
            size_t k = start + i < call->n_ids ? start + i : call->n_ids - 1;
            chunk[i] = call->ids[k];
            params[i] = (imgate_db_bind)IMGATE_DB_U32(&chunk[i]);
        }
        int rc = buddy_api->db_query_rows(w, IMGATE_DB_REPLICA, SELECT_USERS, params, IN_CHUNK, cols, USER_ROW_NCOLS,
                                          keep_row, call);
        if (rc < 0) {
            call->failed = rc;
            return;
        }
    }
    qsort(call->users, call->n_users, sizeof *call->users, by_user_id);
}

/* --- loop thread ------------------------------------------------------------------------------- */

static void free_call(info_call *call)
{
    free(call->ids);
    free(call->users);
    free(call);
}

static void users_read(void *state, void *arg, int status)
{
    info_call *call = arg;
    buddy_plugin *bp = call->bp;
    if (status != IMGATE_OK || call->failed) {
        /* Nothing to answer with: the client's own timeout applies, as with the reference's db down. */
        buddy_api->metric_inc(bp->db_failures, 1);
        buddy_api->log_limited(bp->self, IMGATE_LOG_WARN, "user_info_failed", 5,
                               "event=user_info_failed user_id=%u status=%d", call->to.user_id,
                               status != IMGATE_OK ? status : call->failed);
        buddy_api->request_done(&call->to);
        free_call(call);
        return;
    }
    IM__BaseDefine__UserInfo *infos = calloc(call->n_users ? call->n_users : 1, sizeof *infos);
    IM__BaseDefine__UserInfo **list = calloc(call->n_users ? call->n_users : 1, sizeof *list);
    if (infos && list) {
        for (size_t i = 0; i < call->n_users; i++) {
            user_row_to_info(&call->users[i], &infos[i]);
            list[i] = &infos[i];
        }
        IM__Buddy__IMUsersInfoRsp rsp = IM__BUDDY__IMUSERS_INFO_RSP__INIT;
        rsp.user_id = call->to.user_id;
        rsp.n_user_info_list = call->n_users;
        rsp.user_info_list = list;
        buddy_api->reply(&call->to, CID_BUDDY_LIST_USER_INFO_RESPONSE, &rsp.base);
    }
    free(infos);
    free(list);
    buddy_api->request_done(&call->to);
    free_call(call);
}

void buddy_on_users_info(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    buddy_plugin *bp = state;
    const IM__Buddy__IMUsersInfoReq *in = (const IM__Buddy__IMUsersInfoReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    buddy_api->metric_inc(bp->user_info_requests, 1);
    size_t n = buddy_bound_ids(bp, req, in->n_user_id_list, bp->cfg.user_info_max, "user_info");
    info_call *call = calloc(1, sizeof *call);
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (call == NULL || ids == NULL) {
        free(call);
        free(ids);
        buddy_api->request_done(&to);
        return;
    }
    if (n)
        memcpy(ids, in->user_id_list, n * sizeof *ids);
    qsort(ids, n, sizeof *ids, by_value);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (distinct == 0 || ids[distinct - 1] != ids[i])
            ids[distinct++] = ids[i];
    call->bp = bp;
    call->to = to;
    call->ids = ids;
    call->n_ids = distinct;
    if (distinct == 0) {
        users_read(bp, call, IMGATE_OK);
        return;
    }
    buddy_api->submit_job(bp->self, req->conn_id, read_users, users_read, call);
}
