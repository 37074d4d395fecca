/*
 * msg_p2p.c — IMP2PCmdMsg (SID_SWITCH_SERVICE, protocol H.8): "typing" and
 * the like, relayed to every connection of the peer and to the sender's other
 * connections, never stored. The command text goes as sent; the sender is the
 * session's user (a claimed from_user_id would let anyone speak for anyone).
 */
#include <string.h>

#include "IM.SwitchService.pb-c.h"
#include "message.h"

void msg_on_p2p(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    msg_plugin *mp = state;
    const IM__SwitchService__IMP2PCmdMsg *in = (const IM__SwitchService__IMP2PCmdMsg *)body;
    size_t len = in->cmd_msg_data ? strlen(in->cmd_msg_data) : 0;
    if (in->to_user_id == 0 || len > mp->cfg.p2p_max) {
        msg_api->log_limited(mp->self, IMGATE_LOG_INFO, "p2p_refused", 20,
                             "event=p2p_refused user=%u to=%u len=%zu", req->user_id, in->to_user_id, len);
        return;
    }
    IM__SwitchService__IMP2PCmdMsg out = IM__SWITCH_SERVICE__IMP2_PCMD_MSG__INIT;
    out.from_user_id = req->user_id;
    out.to_user_id = in->to_user_id;
    out.cmd_msg_data = in->cmd_msg_data;
    if (in->to_user_id != req->user_id)
        msg_api->deliver(mp->self, in->to_user_id, IMGATE_CLASS_ALL, 0, SID_SWITCH_SERVICE, CID_SWITCH_P2P_CMD,
                         &out.base);
    msg_api->deliver(mp->self, req->user_id, IMGATE_CLASS_ALL, req->conn_id, SID_SWITCH_SERVICE, CID_SWITCH_P2P_CMD,
                     &out.base);
    msg_api->metric_inc(mp->p2p_relayed, 1);
}
