/*
 * file_relay.c — the online transfer between two file connections (protocol
 * H.9 "Online transfer"): once both parties are in, the receiver gets
 * IMFileState{PEER_READY}; its pulls go to the sender unchanged, the sender's
 * data goes back to the receiver with the pull's seq; CANCEL, REFUSE and DONE
 * go to the other party and end the task.
 *
 * Memory per transfer stays a few blocks whatever the file size or the
 * parties' speed: a block is relayed only as the answer to a pull the
 * receiver made, at most `window` pulls are open at once, and the receiver
 * is not read (so makes no new pulls) while its queued output is above the
 * high-water mark; the drain hook reads it again below the low one. Data
 * nobody asked for is dropped.
 *
 * Everything here is in the two connections' slots, so a reload in the
 * middle of a transfer changes only the code that relays the next block.
 */
#include <stdio.h>
#include <string.h>

#include "file.h"
#include "file_task.h"

static void drop(file_plugin *fp, const imgate_request *req, const char *why)
{
    file_api->metric_inc(fp->m_dropped, 1);
    file_api->log_limited(fp->self, IMGATE_LOG_INFO, "relay_drop", 20,
                          "event=relay_dropped conn=%llu command=0x%04x reason=%s", (unsigned long long)req->conn_id,
                          req->command_id, why);
}

/* The other party of an active transfer, or NULL. */
static file_slot *peer_of(file_plugin *fp, const file_slot *s)
{
    if (s->phase != FILE_PHASE_ACTIVE)
        return NULL;
    file_slot *p = file_slot_existing(fp, s->peer_conn);
    if (p == NULL || p->phase != FILE_PHASE_ACTIVE || strcmp(p->task_id, s->task_id) != 0)
        return NULL;
    return p;
}

void file_relay_join(file_plugin *fp, uint64_t conn_id, file_slot *s, const char *peer_ref)
{
    if (peer_ref[0] == '\0')
        return; /* first one in: the other party finds us when it logs in */
    uint64_t peer_id = file_conn_ref_local(fp, peer_ref);
    if (peer_id == 0) {
        /* Both parties must reach the node that holds the task; an address list that sends them to
         * different nodes is a configuration error. */
        file_api->log_limited(fp->self, IMGATE_LOG_WARN, "peer_elsewhere", 5,
                              "event=relay_peer_on_other_node task=%s peer=%s", s->task_id, peer_ref);
        file_send_state(fp, conn_id, CLIENT_FILE_CANCEL, s->task_id, s->user_id);
        s->phase = FILE_PHASE_FINISHED;
        file_task_end(fp, s->task_id, s->from_id);
        file_api->close(fp->self, conn_id, "file_peer_elsewhere");
        return;
    }
    file_slot *p = file_slot_existing(fp, peer_id);
    if (p == NULL || p->phase != FILE_PHASE_WAITING || strcmp(p->task_id, s->task_id) != 0 ||
        p->file_role == s->file_role)
        return; /* gone meanwhile: its close gives the role back, and a new login of it pairs */
    s->peer_conn = peer_id;
    p->peer_conn = conn_id;
    s->phase = p->phase = FILE_PHASE_ACTIVE;
    uint64_t receiver = s->file_role == CLIENT_REALTIME_RECVER ? conn_id : peer_id;
    file_send_state(fp, receiver, CLIENT_FILE_PEER_READY, s->task_id, s->from_id);
    file_api->log_limited(fp->self, IMGATE_LOG_INFO, "relay_start", 50,
                          "event=relay_start task=%s from=%u to=%u size=%u", s->task_id, s->from_id, s->to_id,
                          s->file_size);
}

/* Answers a pull the relay cannot take, with the reason as the reference's FileServerError code. */
static void refuse_pull(file_plugin *fp, const imgate_request *req, const IM__File__IMFilePullDataReq *m, uint32_t code,
                        const char *why)
{
    drop(fp, req, why);
    IM__File__IMFilePullDataRsp rsp = IM__FILE__IMFILE_PULL_DATA_RSP__INIT;
    rsp.result_code = code;
    rsp.task_id = m->task_id;
    rsp.user_id = m->user_id;
    rsp.offset = m->offset;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    file_api->reply(&to, CID_FILE_PULL_DATA_RSP, &rsp.base);
}

void file_relay_pull(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataReq *m)
{
    if (s->file_role != CLIENT_REALTIME_RECVER) {
        refuse_pull(fp, req, m, FILE_SERVER_ERRNO_PULL_DATA_ILLIEAGE_USER, "pull_from_sender");
        return;
    }
    if (m->user_id != s->user_id) {
        refuse_pull(fp, req, m, FILE_SERVER_ERRNO_PULL_DATA_ILLIEAGE_USER, "wrong_user");
        return;
    }
    if (strcmp(m->task_id, s->task_id) != 0) {
        refuse_pull(fp, req, m, FILE_SERVER_ERRNO_PULL_DATA_WITH_INVALID_TASK_ID, "wrong_task");
        return;
    }
    if (m->data_size == 0 || m->data_size > fp->cfg.max_block || m->offset > s->file_size ||
        m->data_size > s->file_size - m->offset) {
        refuse_pull(fp, req, m, FILE_SERVER_ERRNO_PULL_DATA_SEEK_OFFSET_ERROR, "bad_range");
        return;
    }
    if (s->phase == FILE_PHASE_FINISHED) {
        refuse_pull(fp, req, m, FILE_SERVER_ERRNO_PULL_DATA_FINISHED, "finished");
        return;
    }
    if (peer_of(fp, s) == NULL) {
        refuse_pull(fp, req, m, FILE_SERVER_ERRNO_PULL_DATA_WITH_INVALID_TASK_ID, "no_peer");
        return;
    }
    if (s->n_pulls >= fp->cfg.window || s->n_pulls >= FILE_MAX_WINDOW) {
        /* Reading stops at the window; only a shrunken window after a reload gets here. */
        refuse_pull(fp, req, m, FILE_SERVER_ERRNO_PULL_DATA_ALLOC_MEM_ERROR, "window_full");
        return;
    }
    s->pulls[s->n_pulls++] = (file_pull){req->seq_num, m->offset, m->data_size};
    file_api->send(fp->self, s->peer_conn, SID_FILE, CID_FILE_PULL_DATA_REQ, req->seq_num, req->body, req->body_len);
    file_flow_update(fp, req->conn_id, s, s->n_pulls);
}

void file_relay_data(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataRsp *m)
{
    if (s->file_role != CLIENT_REALTIME_SENDER) {
        drop(fp, req, "data_from_receiver");
        return;
    }
    if (m->user_id != s->user_id || strcmp(m->task_id, s->task_id) != 0) {
        drop(fp, req, "wrong_user_or_task");
        return;
    }
    file_slot *r = peer_of(fp, s);
    if (r == NULL) {
        drop(fp, req, "no_peer");
        return;
    }
    uint32_t i = 0;
    while (i < r->n_pulls && r->pulls[i].offset != m->offset)
        i++;
    if (i == r->n_pulls) {
        drop(fp, req, "not_asked_for");
        return;
    }
    file_pull pull = r->pulls[i];
    if (m->file_data.len > pull.size) {
        drop(fp, req, "longer_than_asked");
        return;
    }
    memmove(&r->pulls[i], &r->pulls[i + 1], (r->n_pulls - i - 1) * sizeof r->pulls[0]);
    r->n_pulls--;
    /* Forwarded as the sender wrote it, under the seq of the receiver's pull (protocol H.9). */
    if (file_api->send(fp->self, s->peer_conn, SID_FILE, CID_FILE_PULL_DATA_RSP, pull.seq, req->body, req->body_len) !=
        IMGATE_OK)
        return; /* the receiver is gone or over its output cap: its close ends the transfer */
    r->relayed += m->file_data.len;
    file_api->metric_inc(fp->m_relayed_bytes, m->file_data.len);
    file_flow_update(fp, s->peer_conn, r, r->n_pulls);
}

void file_relay_state(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFileState *m)
{
    if (m->state == CLIENT_FILE_PEER_READY || s->phase == FILE_PHASE_FINISHED)
        return; /* only the server announces readiness; nothing follows the end */
    file_slot *p = peer_of(fp, s);
    if (p != NULL) {
        file_api->send(fp->self, s->peer_conn, SID_FILE, CID_FILE_STATE, req->seq_num, req->body, req->body_len);
        p->phase = FILE_PHASE_FINISHED;
        if (p->paused && file_api->conn_resume(fp->self, s->peer_conn) == IMGATE_OK)
            p->paused = 0; /* let it say goodbye */
    }
    s->phase = FILE_PHASE_FINISHED;
    file_task_end(fp, s->task_id, s->from_id);
    file_api->metric_inc(m->state == CLIENT_FILE_DONE ? fp->m_transfers_done : fp->m_transfers_cancelled, 1);
    file_api->log_limited(fp->self, IMGATE_LOG_INFO, "relay_end", 50,
                          "event=relay_end task=%s state=%u by=%u relayed=%llu", s->task_id, (unsigned)m->state,
                          s->user_id,
                          (unsigned long long)(s->file_role == CLIENT_REALTIME_RECVER ? s->relayed
                                               : p                                    ? p->relayed
                                                                                      : 0));
    /* protocol H.9: the connection that sent the state is closed once its output is out. */
    file_api->close(fp->self, req->conn_id, "file_state");
}

void file_relay_closed(file_plugin *fp, uint64_t conn_id, file_slot *s)
{
    if (s->phase == FILE_PHASE_WAITING) {
        file_task_release(fp, s->task_id, s->file_role, conn_id);
        return;
    }
    if (s->phase != FILE_PHASE_ACTIVE)
        return;
    file_slot *p = peer_of(fp, s);
    if (p != NULL) {
        /* The other party is told, then let go: nothing more can come for it. */
        file_send_state(fp, s->peer_conn, CLIENT_FILE_CANCEL, s->task_id, s->user_id);
        p->phase = FILE_PHASE_FINISHED;
        file_api->close(fp->self, s->peer_conn, "file_peer_gone");
    }
    file_task_end(fp, s->task_id, s->from_id);
    file_api->metric_inc(fp->m_transfers_cancelled, 1);
    file_api->log_limited(fp->self, IMGATE_LOG_INFO, "relay_gone", 50, "event=relay_end task=%s state=peer_gone by=%u",
                          s->task_id, s->user_id);
}
