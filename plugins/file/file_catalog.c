/*
 * file_catalog.c — the offline file list on the user's message connection
 * (protocol H.9, D "IMTransmitFile"):
 *
 *   0x0509 IMFileHasOfflineReq -> IMFileHasOfflineRsp: the caller's waiting
 *          files (status 0, oldest first, at most max_list) and the addresses
 *          that serve them;
 *   0x050b IMFileAddOfflineReq (no reply): the sender says an upload is
 *          complete; the receiver's PC connections get IMFileNotify
 *          {offline_ready 1}. The row is normally there already (the upload
 *          inserts it before DONE); for a file stored by a reference file
 *          server it is inserted here, once its header is checked;
 *   0x050c IMFileDelOfflineReq (no reply): the sender or the receiver drops
 *          the file: its row and the file on disk.
 *
 * The caller is always the logged-in user; ids in the body that name someone
 * else are refused, not trusted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "file_store.h"
#include "file_task.h"

/* --- the row of a stored file ------------------------------------------------------------------- */

int file_db_insert_row(imgate_worker *w, uint32_t from_id, uint32_t to_id, const char *name, uint32_t size,
                       const char *task_id, uint64_t quota)
{
    /* One statement: never a second row for a task, never over the sender's quota. */
    uint32_t now = (uint32_t)time(NULL);
    uint64_t size64 = size;
    imgate_db_bind in[] = {IMGATE_DB_U32(&from_id), IMGATE_DB_U32(&to_id),  IMGATE_DB_STR(name),
                           IMGATE_DB_U32(&size),    IMGATE_DB_STR(task_id), IMGATE_DB_U32(&now),
                           IMGATE_DB_U32(&now),     IMGATE_DB_STR(task_id), IMGATE_DB_U64(&quota),
                           IMGATE_DB_U32(&from_id), IMGATE_DB_U64(&size64), IMGATE_DB_U64(&quota)};
    int64_t n = file_api->db_exec(
        w,
        "INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated)"
        " SELECT ?, ?, ?, ?, ?, 0, ?, ? FROM DUAL"
        " WHERE NOT EXISTS (SELECT 1 FROM IMTransmitFile WHERE taskId = ?)"
        " AND (? = 0 OR (SELECT COALESCE(SUM(size), 0) FROM IMTransmitFile WHERE fromId = ? AND status = 0) + ? <= ?)",
        in, sizeof in / sizeof in[0], NULL);
    return n < 0 ? (int)n : n > 0;
}

/* --- has offline --------------------------------------------------------------------------------- */

typedef struct list_row {
    uint32_t from_id, size;
    char task_id[65];
    char name[FILE_NAME_MAX * 4 + 1];
} list_row;

typedef struct list_call {
    file_plugin *fp;
    imgate_reply_to to;
    uint32_t user_id, max;
    size_t n;
    int ok;
    list_row row; /* the row being fetched */
    list_row *rows;
} list_call;

static int keep_row(void *ctx)
{
    list_call *c = ctx;
    if (c->n < c->max)
        c->rows[c->n++] = c->row;
    return 0;
}

static void list_job(imgate_worker *w, void *state, void *arg)
{
    list_call *c = arg;
    imgate_db_bind in[] = {IMGATE_DB_U32(&c->user_id), IMGATE_DB_U32(&c->max)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&c->row.from_id), IMGATE_DB_STR_OUT(c->row.task_id),
                            IMGATE_DB_STR_OUT(c->row.name), IMGATE_DB_U32(&c->row.size)};
    int rc = file_api->db_query_rows(w, IMGATE_DB_REPLICA,
                                     "SELECT fromId, taskId, fileName, size FROM IMTransmitFile"
                                     " WHERE toId = ? AND status = 0 ORDER BY created, id LIMIT ?",
                                     in, 2, out, 4, keep_row, c);
    c->ok = rc >= 0;
}

static void listed(void *state, void *arg, int status)
{
    list_call *c = arg;
    file_plugin *fp = c->fp;
    if (status != IMGATE_OK || !c->ok) {
        c->n = 0; /* the client waits for an answer: an empty list beats none */
        file_api->log_limited(fp->self, IMGATE_LOG_WARN, "list_failed", 5,
                              "event=offline_list_failed user=%u reason=database_unavailable", c->user_id);
    }
    IM__BaseDefine__OfflineFileInfo *infos = calloc(c->n ? c->n : 1, sizeof *infos);
    IM__BaseDefine__OfflineFileInfo **list = calloc(c->n ? c->n : 1, sizeof *list);
    size_t n = infos && list ? c->n : 0;
    for (size_t i = 0; i < n; i++) {
        IM__BaseDefine__OfflineFileInfo init = IM__BASE_DEFINE__OFFLINE_FILE_INFO__INIT;
        infos[i] = init;
        infos[i].from_user_id = c->rows[i].from_id;
        infos[i].task_id = c->rows[i].task_id;
        infos[i].file_name = c->rows[i].name;
        infos[i].file_size = c->rows[i].size;
        list[i] = &infos[i];
    }
    IM__File__IMFileHasOfflineRsp rsp = IM__FILE__IMFILE_HAS_OFFLINE_RSP__INIT;
    rsp.user_id = c->user_id;
    rsp.n_offline_file_list = n;
    rsp.offline_file_list = list;
    rsp.n_ip_addr_list = fp->n_addrs;
    rsp.ip_addr_list = fp->addr_list;
    file_api->reply(&c->to, CID_FILE_HAS_OFFLINE_RES, &rsp.base);
    file_api->request_done(&c->to);
    free(infos);
    free(list);
    free(c->rows);
    free(c);
}

void file_on_has_offline(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    list_call *c = calloc(1, sizeof *c);
    if (c != NULL)
        c->rows = calloc(fp->cfg.max_list, sizeof *c->rows);
    if (c == NULL || c->rows == NULL) {
        imgate_reply_to to = IMGATE_REPLY_TO(req);
        file_api->request_done(&to);
        free(c);
        return;
    }
    c->fp = fp;
    c->to = IMGATE_REPLY_TO(req);
    /* The caller's own list, whatever user id the body names (the reference trusts the connection). */
    c->user_id = req->user_id;
    c->max = fp->cfg.max_list;
    file_api->submit_job(fp->self, req->user_id, list_job, listed, c);
}

/* --- add offline ------------------------------------------------------------------------------- */

typedef struct add_call {
    file_plugin *fp;
    imgate_reply_to to;
    uint32_t from_id, to_id, size;
    uint64_t quota;
    char task_id[FILE_TASK_ID_LEN + 1];
    char name[FILE_NAME_MAX * 4 + 1];
    char dir[1025];
    int ok;
    const char *why;
} add_call;

static void add_job(imgate_worker *w, void *state, void *arg)
{
    add_call *c = arg;
    uint32_t from = 0, to = 0, size = 0;
    char name[sizeof c->name];
    imgate_db_bind in[] = {IMGATE_DB_STR(c->task_id)};
    imgate_db_bind out[] = {IMGATE_DB_U32(&from), IMGATE_DB_U32(&to), IMGATE_DB_U32(&size), IMGATE_DB_STR_OUT(name)};
    int rc =
        file_api->db_query(w, IMGATE_DB_MASTER,
                           "SELECT fromId, toId, size, fileName FROM IMTransmitFile WHERE taskId = ? AND status = 0"
                           " ORDER BY id LIMIT 1",
                           in, 1, out, 4);
    if (rc < 0) {
        c->why = "database_unavailable";
        return;
    }
    if (rc == 1) {
        if (from != c->from_id || to != c->to_id) {
            c->why = "not_this_senders_file";
            return;
        }
        c->size = size;
        snprintf(c->name, sizeof c->name, "%s", name);
        c->ok = 1;
        return;
    }
    /* Not listed: a complete stored file with the right parties (a reference file server's) is. */
    file_header h;
    int fd = -1;
    if (file_store_open(c->dir, c->task_id, &h, &fd) != 0) {
        c->why = "no_stored_file";
        return;
    }
    close(fd);
    if (h.from_id != c->from_id || h.to_id != c->to_id || h.size != c->size) {
        c->why = "stored_file_differs";
        return;
    }
    int n = file_db_insert_row(w, c->from_id, c->to_id, c->name, c->size, c->task_id, c->quota);
    if (n == 1)
        c->ok = 1;
    else
        c->why = n < 0 ? "database_unavailable" : "quota";
}

static void added(void *state, void *arg, int status)
{
    add_call *c = arg;
    file_plugin *fp = c->fp;
    file_api->request_done(&c->to);
    if (status != IMGATE_OK || !c->ok) {
        file_api->log_limited(fp->self, IMGATE_LOG_INFO, "add_refused", 20,
                              "event=add_offline_refused from=%u to=%u task=%s reason=%s", c->from_id, c->to_id,
                              c->task_id, status != IMGATE_OK ? "overloaded" : c->why);
        free(c);
        return;
    }
    IM__File__IMFileNotify note = IM__FILE__IMFILE_NOTIFY__INIT;
    note.from_user_id = c->from_id;
    note.to_user_id = c->to_id;
    note.file_name = c->name;
    note.file_size = c->size;
    note.task_id = c->task_id;
    note.n_ip_addr_list = fp->n_addrs;
    note.ip_addr_list = fp->addr_list;
    note.trans_mode = FILE_TYPE_OFFLINE;
    note.offline_ready = 1;
    file_api->deliver(fp->self, c->to_id, IMGATE_CLASS_PC, 0, SID_FILE, CID_FILE_NOTIFY, &note.base);
    free(c);
}

void file_on_add_offline(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    const IM__File__IMFileAddOfflineReq *m = (const IM__File__IMFileAddOfflineReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    const char *why = NULL;
    if (m->from_user_id != req->user_id)
        why = "not_the_sender";
    else if (m->to_user_id == 0 || m->to_user_id == req->user_id)
        why = "bad_receiver";
    else if (!file_task_id_valid(m->task_id))
        why = "bad_task_id";
    else if (!file_name_valid(m->file_name))
        why = "bad_name";
    add_call *c = why ? NULL : calloc(1, sizeof *c);
    if (c == NULL) {
        file_api->log_limited(fp->self, IMGATE_LOG_INFO, "add_refused", 20,
                              "event=add_offline_refused user=%u reason=%s", req->user_id, why ? why : "out_of_memory");
        file_api->request_done(&to);
        return;
    }
    c->fp = fp;
    c->to = to;
    c->from_id = m->from_user_id;
    c->to_id = m->to_user_id;
    c->size = m->file_size;
    c->quota = fp->cfg.quota_bytes;
    snprintf(c->task_id, sizeof c->task_id, "%s", m->task_id);
    snprintf(c->name, sizeof c->name, "%s", m->file_name);
    snprintf(c->dir, sizeof c->dir, "%s", fp->cfg.storage_dir);
    file_api->submit_job(fp->self, req->user_id, add_job, added, c);
}

/* --- del offline ------------------------------------------------------------------------------- */

typedef struct del_call {
    file_plugin *fp;
    imgate_reply_to to;
    uint32_t from_id, to_id;
    char task_id[FILE_TASK_ID_LEN + 1];
    char dir[1025];
    int64_t deleted;
} del_call;

static void del_job(imgate_worker *w, void *state, void *arg)
{
    del_call *c = arg;
    imgate_db_bind in[] = {IMGATE_DB_U32(&c->from_id), IMGATE_DB_U32(&c->to_id), IMGATE_DB_STR(c->task_id)};
    c->deleted =
        file_api->db_exec(w, "DELETE FROM IMTransmitFile WHERE fromId = ? AND toId = ? AND taskId = ?", in, 3, NULL);
    /* The file goes with its row; a file whose row is elsewhere (another pair) is not this caller's. */
    if (c->deleted > 0)
        file_store_remove(c->dir, c->task_id);
}

static void deleted(void *state, void *arg, int status)
{
    del_call *c = arg;
    file_api->request_done(&c->to);
    if (status != IMGATE_OK || c->deleted < 0)
        file_api->log_limited(c->fp->self, IMGATE_LOG_WARN, "del_failed", 5,
                              "event=del_offline_failed task=%s reason=database_unavailable", c->task_id);
    else if (c->deleted > 0)
        file_api->log_limited(c->fp->self, IMGATE_LOG_INFO, "deleted", 50,
                              "event=offline_deleted task=%s from=%u to=%u", c->task_id, c->from_id, c->to_id);
    free(c);
}

void file_on_del_offline(void *state, const imgate_request *req, const ProtobufCMessage *body)
{
    file_plugin *fp = state;
    const IM__File__IMFileDelOfflineReq *m = (const IM__File__IMFileDelOfflineReq *)body;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    int party = m->from_user_id == req->user_id || m->to_user_id == req->user_id;
    del_call *c = party && file_task_id_valid(m->task_id) ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        file_api->log_limited(fp->self, IMGATE_LOG_INFO, "del_refused", 20,
                              "event=del_offline_refused user=%u reason=%s", req->user_id,
                              party ? "bad_task_id" : "not_a_party");
        file_api->request_done(&to);
        return;
    }
    c->fp = fp;
    c->to = to;
    c->from_id = m->from_user_id;
    c->to_id = m->to_user_id;
    snprintf(c->task_id, sizeof c->task_id, "%s", m->task_id);
    snprintf(c->dir, sizeof c->dir, "%s", fp->cfg.storage_dir);
    file_api->submit_job(fp->self, m->from_user_id, del_job, deleted, c);
}
