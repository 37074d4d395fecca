/*
 * file_login.c — CID_FILE_LOGIN_REQ -> IMFileLoginRsp on a file connection
 * (protocol H.9 "File login").
 *
 * A file connection never logs in as a user: the task id it names is what
 * admits it. Roles 1-3 claim their role of the task in Redis (file_task.c:
 * only the task's sender may send or upload, only its receiver receive, and
 * each role is taken once); role 4 finds the stored file on disk, whose
 * header names the receiver. A success gives the connection a file role
 * (conn_authorize: its own frame cap and idle timeout, only SID_FILE commands
 * and heartbeats); a refusal answers result 1 and closes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "file_task.h"

typedef struct login_call {
    imgate_reply_to to;
    uint32_t user_id, file_role;
    char task_id[FILE_TASK_ID_LEN + 1];
    int retried;
} login_call;

static void refuse(file_plugin *fp, imgate_reply_to *to, const char *task_id, uint32_t user_id, const char *why)
{
    file_api->log_limited(fp->self, IMGATE_LOG_INFO, "login_refused", 20,
                          "event=file_login_refused conn=%llu user=%u task=%s reason=%s",
                          (unsigned long long)to->conn_id, user_id, task_id, why);
    file_login_answer(fp, to, 0, task_id);
}

static const char *claim_reason(file_claim_status st)
{
    switch (st) {
    case FILE_CLAIM_UNKNOWN: return "unknown_task";
    case FILE_CLAIM_NOT_PARTY: return "not_a_party";
    case FILE_CLAIM_WRONG_MODE: return "wrong_mode";
    case FILE_CLAIM_TAKEN: return "role_taken";
    case FILE_CLAIM_UNAVAILABLE: return "task_store_unavailable";
    default: return "ok";
    }
}

static void claimed(file_plugin *fp, void *arg, const file_claim *claim);

static void claim(file_plugin *fp, login_call *call, const char *stale_ref)
{
    file_task_claim(fp, call->task_id, call->user_id, call->file_role, call->to.conn_id, stale_ref, claimed, call);
}

/* A holder on this node that is not a live file connection of this task is left over from before
 * a restart (connection ids start again at 1): its claim may be taken over. */
static int holder_is_stale(file_plugin *fp, const char *ref, const char *task_id)
{
    uint64_t id = file_conn_ref_local(fp, ref);
    if (id == 0)
        return 0; /* another node's connection: not ours to judge */
    file_slot *s = file_slot_existing(fp, id);
    return s == NULL || strcmp(s->task_id, task_id) != 0 || s->phase == FILE_PHASE_FINISHED;
}

static void claimed(file_plugin *fp, void *arg, const file_claim *c)
{
    login_call *call = arg;
    uint64_t conn_id = call->to.conn_id;
    if (c->status == FILE_CLAIM_TAKEN && !call->retried && holder_is_stale(fp, c->peer_ref, call->task_id)) {
        call->retried = 1;
        char stale[FILE_CONN_REF_MAX];
        snprintf(stale, sizeof stale, "%s", c->peer_ref);
        claim(fp, call, stale);
        return;
    }
    file_slot *s = file_api->conn_data(fp->self, conn_id, sizeof *s);
    if (s == NULL || s->phase != FILE_PHASE_LOGGING_IN) {
        /* The client went while Redis answered: give the role back for its next attempt. */
        if (c->status == FILE_CLAIM_OK)
            file_task_release(fp, call->task_id, call->file_role, conn_id);
        file_api->request_done(&call->to);
        free(call);
        return;
    }
    if (c->status != FILE_CLAIM_OK) {
        s->phase = FILE_PHASE_FINISHED;
        refuse(fp, &call->to, call->task_id, call->user_id, claim_reason(c->status));
        free(call);
        return;
    }
    if (call->file_role == CLIENT_OFFLINE_UPLOAD) {
        file_offline_open(fp, &call->to, call->file_role, call->user_id, call->task_id, c->from_id, c->to_id, c->size,
                          c->name);
        free(call);
        return;
    }
    if (file_authorize(fp, conn_id, call->file_role) != IMGATE_OK) {
        file_task_release(fp, call->task_id, call->file_role, conn_id);
        s->phase = FILE_PHASE_FINISHED;
        refuse(fp, &call->to, call->task_id, call->user_id, "authorize_failed");
        free(call);
        return;
    }
    s->from_id = c->from_id;
    s->to_id = c->to_id;
    s->file_size = c->size;
    s->phase = FILE_PHASE_WAITING;
    file_login_answer(fp, &call->to, 1, call->task_id);
    file_relay_join(fp, conn_id, s, c->peer_ref);
    free(call);
}

void file_on_login(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    const IM__File__IMFileLoginReq *m = (const IM__File__IMFileLoginReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (req->user_id != 0) {
        /* A user's message connection is not a file connection: answer, but leave it open. */
        refuse(fp, &to, m->task_id, m->user_id, "user_connection");
        return;
    }
    if (!file_task_id_valid(m->task_id) || m->user_id == 0) {
        refuse(fp, &to, "", m->user_id, "bad_task_id");
        return;
    }
    file_slot *s = file_slot_get(fp, req->conn_id);
    if (s == NULL) {
        file_api->request_done(&to);
        return;
    }
    if (s->phase != FILE_PHASE_NONE) {
        refuse(fp, &to, m->task_id, m->user_id, "second_login");
        return;
    }
    s->phase = FILE_PHASE_LOGGING_IN;
    s->file_role = m->file_role;
    s->user_id = m->user_id;
    snprintf(s->task_id, sizeof s->task_id, "%s", m->task_id);
    if (m->file_role == CLIENT_OFFLINE_DOWNLOAD) {
        file_offline_open(fp, &to, m->file_role, m->user_id, m->task_id, 0, 0, 0, "");
        return;
    }
    login_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        s->phase = FILE_PHASE_FINISHED;
        refuse(fp, &to, m->task_id, m->user_id, "out_of_memory");
        return;
    }
    call->to = to;
    call->user_id = m->user_id;
    call->file_role = m->file_role;
    snprintf(call->task_id, sizeof call->task_id, "%s", m->task_id);
    claim(fp, call, NULL);
}
