/*
 * file_request.c — CID_FILE_REQUEST -> IMFileRsp (+ IMFileNotify), on the
 * sender's message connection (protocol H.9 "Request").
 *
 * loop:   check the request; for an online transfer ask whether the receiver
 *         has a PC online: if not, the transfer becomes offline (result 0,
 *         trans_mode 2), as the reference does
 * worker: the receiver must be an active user; an offline transfer must fit
 *         the sender's quota
 * loop:   create the task in Redis; answer with the task id and this node's
 *         file addresses; tell the receiver's PC connections
 *
 * Every refusal is IMFileRsp{result_code 1, task_id ""}: the reference knows
 * no other failure code for a request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "file_task.h"

typedef struct request_call {
    file_plugin *fp;
    imgate_reply_to to;
    uint32_t from_id, to_id, size, mode;
    char name[FILE_NAME_MAX + 1];
    char task_id[FILE_TASK_ID_LEN + 1];
    /* worker results */
    int receiver_ok;
    int quota_ok;
    int db_ok;
} request_call;

int file_name_valid(const char *s)
{
    /* Non-empty, at most FILE_NAME_MAX bytes of well-formed UTF-8 (MariaDB refuses anything else
     * in a utf8mb4 column, and a client would show garbage). */
    size_t n = strlen(s);
    if (n == 0 || n > FILE_NAME_MAX)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int more;
        unsigned min;
        if (c < 0x80) {
            if (c < 0x20)
                return 0; /* control characters have no place in a file name */
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            more = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        p++;
        for (int i = 0; i < more; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (*p & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
    }
    return 1;
}

static void answer(request_call *call, int ok)
{
    file_plugin *fp = call->fp;
    IM__File__IMFileRsp rsp = IM__FILE__IMFILE_RSP__INIT;
    rsp.result_code = ok ? 0 : 1;
    rsp.from_user_id = call->from_id;
    rsp.to_user_id = call->to_id;
    rsp.file_name = call->name;
    rsp.task_id = ok ? call->task_id : (char *)"";
    rsp.trans_mode = (IM__BaseDefine__TransferFileType)call->mode;
    if (ok) {
        rsp.n_ip_addr_list = fp->n_addrs;
        rsp.ip_addr_list = fp->addr_list;
    }
    file_api->reply(&call->to, CID_FILE_RESPONSE, &rsp.base);
    file_api->request_done(&call->to);
    if (!ok) {
        file_api->metric_inc(fp->m_requests_refused, 1);
        return;
    }
    file_api->metric_inc(call->mode == FILE_TYPE_OFFLINE ? fp->m_requests_offline : fp->m_requests, 1);
    IM__File__IMFileNotify note = IM__FILE__IMFILE_NOTIFY__INIT;
    note.from_user_id = call->from_id;
    note.to_user_id = call->to_id;
    note.file_name = call->name;
    note.file_size = call->size;
    note.task_id = call->task_id;
    note.n_ip_addr_list = fp->n_addrs;
    note.ip_addr_list = fp->addr_list;
    note.trans_mode = (IM__BaseDefine__TransferFileType)call->mode;
    note.offline_ready = 0;
    file_api->deliver(fp->self, call->to_id, IMGATE_CLASS_PC, 0, SID_FILE, CID_FILE_NOTIFY, &note.base);
    file_api->log_limited(fp->self, IMGATE_LOG_INFO, "task_created", 50,
                          "event=task_created task=%s from=%u to=%u size=%u mode=%u", call->task_id, call->from_id,
                          call->to_id, call->size, call->mode);
}

static void refuse(request_call *call, const char *why)
{
    file_api->log_limited(call->fp->self, IMGATE_LOG_INFO, "request_refused", 20,
                          "event=request_refused from=%u to=%u size=%u reason=%s", call->from_id, call->to_id,
                          call->size, why);
    answer(call, 0);
    free(call);
}

static void task_created(file_plugin *fp, void *arg, int status)
{
    request_call *call = arg;
    if (status != FILE_CREATE_OK) {
        refuse(call, status == FILE_CREATE_TOO_MANY ? "too_many_tasks" : "task_store_unavailable");
        return;
    }
    answer(call, 1);
    free(call);
}

/* worker */
static void check_parties(imgate_worker *w, void *state, void *arg)
{
    request_call *call = arg;
    file_plugin *fp = call->fp;
    uint32_t found = 0;
    imgate_db_bind in[] = {IMGATE_DB_U32(&call->to_id)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&found)};
    int rc =
        file_api->db_query(w, IMGATE_DB_REPLICA, "SELECT id FROM IMUser WHERE id = ? AND status = 0", in, 1, out, 1);
    if (rc < 0)
        return;
    call->receiver_ok = rc == 1;
    call->quota_ok = 1;
    if (call->mode == FILE_TYPE_OFFLINE && fp->cfg.quota_bytes > 0) {
        uint64_t used = 0;
        imgate_db_bind qin[] = {IMGATE_DB_U32(&call->from_id)};
        imgate_db_bind qout[] = {IMGATE_DB_U64(&used)};
        rc = file_api->db_query(w, IMGATE_DB_MASTER,
                                "SELECT CAST(COALESCE(SUM(size), 0) AS UNSIGNED) FROM IMTransmitFile"
                                " WHERE fromId = ? AND status = 0",
                                qin, 1, qout, 1);
        if (rc < 0)
            return;
        call->quota_ok = used + call->size <= fp->cfg.quota_bytes;
    }
    call->db_ok = 1;
}

static void parties_checked(void *state, void *arg, int status)
{
    request_call *call = arg;
    if (status != IMGATE_OK || !call->db_ok) {
        refuse(call, "database_unavailable");
        return;
    }
    if (!call->receiver_ok) {
        refuse(call, "no_such_receiver");
        return;
    }
    if (!call->quota_ok) {
        refuse(call, "quota");
        return;
    }
    file_task_id_new(call->task_id);
    file_task_create(call->fp, call->task_id, call->from_id, call->to_id, call->size, call->mode, call->name,
                     task_created, call);
}

static void check_in_worker(request_call *call)
{
    /* Ordered per sender: a burst of offline requests sees each other's quota checks in turn. */
    file_api->submit_job(call->fp->self, call->from_id, check_parties, parties_checked, call);
}

static void receiver_presence(void *state, void *arg, const uint32_t *ids, const uint32_t *masks, size_t n)
{
    request_call *call = arg;
    if (n != 1 || !(masks[0] & IMGATE_CLASS_PC)) {
        /* protocol H.9: an online request to a receiver without a PC online becomes offline. */
        call->mode = FILE_TYPE_OFFLINE;
    }
    check_in_worker(call);
}

void file_on_request(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    const IM__File__IMFileReq *m = (const IM__File__IMFileReq *)body;
    request_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        imgate_reply_to to = IMGATE_REPLY_TO(req);
        file_api->request_done(&to);
        return;
    }
    call->fp = fp;
    call->to = IMGATE_REPLY_TO(req);
    call->from_id = req->user_id;
    call->to_id = m->to_user_id;
    call->size = m->file_size;
    call->mode = m->trans_mode;
    snprintf(call->name, sizeof call->name, "%s", m->file_name);
    if (m->from_user_id != req->user_id) {
        refuse(call, "not_the_sender");
        return;
    }
    if (m->to_user_id == 0 || m->to_user_id == req->user_id) {
        refuse(call, "bad_receiver");
        return;
    }
    if (!file_name_valid(m->file_name)) {
        refuse(call, "bad_name");
        return;
    }
    if (m->file_size == 0 || m->file_size > fp->cfg.max_file_size) {
        refuse(call, "bad_size");
        return;
    }
    if (call->mode == FILE_TYPE_ONLINE) {
        uint32_t id = call->to_id;
        if (file_api->presence(fp->self, &id, 1, receiver_presence, call) != IMGATE_OK)
            refuse(call, "presence_unavailable");
        return;
    }
    check_in_worker(call);
}
