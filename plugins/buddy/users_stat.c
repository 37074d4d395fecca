/*
 * users_stat.c — CID_BUDDY_LIST_USERS_STATUS_REQUEST -> IMUsersStatRsp: ONLINE
 * for a user with any connection (PC or mobile), OFFLINE otherwise, unknown
 * ids included (protocol H.3: route answers from its table of online users).
 *
 * The answer comes from the core's presence(): asynchronous, so that the
 * day presence spans several nodes this code does not change. At most
 * status_max ids are answered, in the order asked (duplicates too).
 */
#include <stdlib.h>

#include "IM.Buddy.pb-c.h"
#include "buddy.h"

typedef struct stat_call {
    buddy_plugin *bp;
    imgate_reply_to to;
} stat_call;

static void answer(void *state, void *arg, const uint32_t *ids, const uint32_t *masks, size_t n)
{
    stat_call *call = arg;
    IM__BaseDefine__UserStat *stats = calloc(n ? n : 1, sizeof *stats);
    IM__BaseDefine__UserStat **list = calloc(n ? n : 1, sizeof *list);
    if (stats && list) {
        for (size_t i = 0; i < n; i++) {
            im__base_define__user_stat__init(&stats[i]);
            stats[i].user_id = ids[i];
            stats[i].status = (IM__BaseDefine__UserStatType)(masks[i] ? USER_STATUS_ONLINE : USER_STATUS_OFFLINE);
            list[i] = &stats[i];
        }
        IM__Buddy__IMUsersStatRsp rsp = IM__BUDDY__IMUSERS_STAT_RSP__INIT;
        rsp.user_id = call->to.user_id;
        rsp.n_user_stat_list = n;
        rsp.user_stat_list = list;
        buddy_api->reply(&call->to, CID_BUDDY_LIST_USERS_STATUS_RESPONSE, &rsp.base);
    }
    free(stats);
    free(list);
    buddy_api->request_done(&call->to);
    free(call);
}

void buddy_on_users_stat(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    buddy_plugin *bp = state;
    const IM__Buddy__IMUsersStatReq *in = (const IM__Buddy__IMUsersStatReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    buddy_api->metric_inc(bp->status_requests, 1);
    size_t n = buddy_bound_ids(bp, req, in->n_user_id_list, bp->cfg.status_max, "users_stat");
    stat_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        buddy_api->request_done(&to);
        return;
    }
    call->bp = bp;
    call->to = to;
    /* presence() copies the ids and always answers on a later loop turn. */
    if (buddy_api->presence(bp->self, in->user_id_list, n, answer, call) != IMGATE_OK) {
        buddy_api->request_done(&to);
        free(call);
    }
}
