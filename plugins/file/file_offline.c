/*
 * file_offline.c — offline upload and download on file connections (protocol
 * H.9 "Offline upload", "Offline download").
 *
 * Upload (role 3): the server pulls the file in 32 KiB segments, in order,
 * and writes each on a worker thread (jobs ordered by the connection); the
 * next pull goes out as soon as a segment is in, while at most `window`
 * writes wait for the disk. After the last one the file is fsync'd and
 * renamed into place, its IMTransmitFile row is inserted (within the
 * sender's quota), and only then is the uploader told DONE: a stored file is
 * always listed, and a listed file is always complete. Any failure (disk
 * full, read-only directory, a wrong offset or size, a cancel, a vanished
 * client) removes the partial file and tells the uploader CANCEL.
 *
 * Download (role 4): the stored file (ours or a reference file server's) is
 * found by task id; its header must name the user as receiver. Each pull at
 * a segment offset is answered with that segment, read on a worker; DONE
 * follows the last one.
 *
 * The open file lives in a file_xfer on the heap, pointed to by the
 * connection's slot and held by the jobs in flight, so neither a reload nor
 * the connection closing under a job can free it too early.
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

typedef struct file_xfer {
    int fd;            /* worker side: used and closed only by this transfer's jobs (ordered) */
    int worker_failed; /* worker side: a write failed, later writes are skipped */
    int upload;
    uint64_t conn_id;
    char task_id[FILE_TASK_ID_LEN + 1];
    char dir[1025]; /* where the file was opened: a reload may change storage_dir */
    char name[FILE_NAME_MAX + 1];
    uint32_t from_id, to_id, size;
    uint64_t quota;
    /* loop side */
    uint32_t next_offset; /* upload: the next segment to ask for */
    uint32_t writes;      /* upload: segments queued for the disk */
    int pull_open;        /* upload: a pull is out and its data not in */
    int failed;           /* upload: being abandoned */
    int stored;           /* upload: on disk and listed */
    uint32_t jobs;        /* jobs holding this object */
    int abandoned;        /* the connection is gone: the last job frees it */
    int close_refused;    /* the closing job could not be queued: closed when the last job ends */
} file_xfer;

static uint32_t segment_len(uint32_t size, uint32_t offset)
{
    uint32_t left = size - offset;
    return left < FILE_SEGMENT ? left : FILE_SEGMENT;
}

/* --- the closing job: closes the file (and drops a partial upload) once every earlier job ran ------ */

static void close_file(file_xfer *x)
{
    if (x->upload)
        file_store_discard(x->fd, x->dir, x->task_id); /* no-op on a committed upload: fd -1, no .part */
    else if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
}

static void close_job(imgate_worker *w, void *state, void *arg) { close_file(arg); }

static void xfer_release(file_xfer *x)
{
    if (--x->jobs > 0 || !x->abandoned)
        return;
    if (x->close_refused)
        close_file(x); /* no job can touch the descriptor any more: close it here, once */
    free(x);
}

static void close_done(void *state, void *arg, int status)
{
    file_xfer *x = arg;
    if (status != IMGATE_OK)
        x->close_refused = 1; /* the queue was full: the last job holding x closes it (xfer_release) */
    xfer_release(x);
}

void file_offline_closed(file_plugin *fp, uint64_t conn_id, file_slot *s)
{
    file_xfer *x = s->xfer;
    if (x == NULL)
        return;
    s->xfer = NULL;
    if (x->upload && !x->failed && !x->stored && s->phase == FILE_PHASE_ACTIVE) {
        /* gone mid-upload: its file is dropped below and the task may be uploaded again */
        x->failed = 1;
        file_api->metric_inc(fp->m_uploads_failed, 1);
        file_task_release(fp, x->task_id, CLIENT_OFFLINE_UPLOAD, conn_id);
    }
    x->abandoned = 1;
    x->jobs++;
    file_api->submit_job(fp->self, conn_id, close_job, close_done, x);
}

static void abort_upload(file_plugin *fp, uint64_t conn_id, file_slot *s, const char *why)
{
    file_xfer *x = s->xfer;
    if (x->failed)
        return;
    x->failed = 1;
    file_api->metric_inc(fp->m_uploads_failed, 1);
    file_api->log_limited(fp->self, IMGATE_LOG_WARN, "upload_failed", 20,
                          "event=upload_failed conn=%llu task=%s from=%u at=%u size=%u reason=%s",
                          (unsigned long long)conn_id, x->task_id, x->from_id, x->next_offset, x->size, why);
    file_send_state(fp, conn_id, CLIENT_FILE_CANCEL, x->task_id, s->user_id);
    file_task_release(fp, x->task_id, CLIENT_OFFLINE_UPLOAD, conn_id);
    s->phase = FILE_PHASE_FINISHED;
    file_api->close(fp->self, conn_id, "file_upload_failed");
}

/* --- opening: the login of an upload or a download --------------------------------------------- */

typedef struct open_call {
    file_plugin *fp;
    imgate_reply_to to;
    uint32_t file_role, user_id;
    file_xfer *x;
    unsigned long long min_free;
    int rc;          /* errno-style */
    const char *why; /* refusal reason for the log */
} open_call;

/* WORKER. The sender's stored bytes plus this file fit the quota: 1, 0, or < 0. */
static int within_quota(imgate_worker *w, const file_xfer *x)
{
    if (x->quota == 0)
        return 1;
    uint64_t used = 0;
    uint32_t from = x->from_id;
    imgate_db_bind in[] = {IMGATE_DB_U32(&from)};
    imgate_db_bind out[] = {IMGATE_DB_U64(&used)};
    int rc = file_api->db_query(w, IMGATE_DB_MASTER,
                                "SELECT CAST(COALESCE(SUM(size), 0) AS UNSIGNED) FROM IMTransmitFile"
                                " WHERE fromId = ? AND status = 0",
                                in, 1, out, 1);
    if (rc < 0)
        return rc;
    return used + x->size <= x->quota;
}

static void open_job(imgate_worker *w, void *state, void *arg)
{
    open_call *c = arg;
    file_xfer *x = c->x;
    if (!x->upload) {
        file_header h;
        c->rc = file_store_open(x->dir, x->task_id, &h, &x->fd);
        if (c->rc != 0) {
            c->why = c->rc == ENOENT ? "no_stored_file" : "stored_file_unreadable";
            return;
        }
        if (h.to_id != c->user_id) {
            close(x->fd);
            x->fd = -1;
            c->rc = EPERM;
            c->why = "not_the_receiver";
            return;
        }
        x->from_id = h.from_id;
        x->to_id = h.to_id;
        x->size = h.size;
        return;
    }
    int q = within_quota(w, x);
    if (q <= 0) {
        c->rc = q < 0 ? EAGAIN : EDQUOT;
        c->why = q < 0 ? "database_unavailable" : "quota";
        return;
    }
    unsigned long long avail = 0;
    if (file_store_free_space(x->dir, &avail) == 0 &&
        avail < (unsigned long long)x->size + FILE_HEADER_LEN + c->min_free) {
        c->rc = ENOSPC;
        c->why = "storage_full";
        return;
    }
    c->rc = file_store_create(x->dir, x->task_id, x->from_id, x->to_id, x->size, &x->fd);
    if (c->rc != 0)
        c->why = c->rc == EEXIST ? "already_stored" : "storage_unwritable";
}

static void send_pull(file_plugin *fp, file_slot *s)
{
    file_xfer *x = s->xfer;
    IM__File__IMFilePullDataReq pull = IM__FILE__IMFILE_PULL_DATA_REQ__INIT;
    pull.task_id = x->task_id;
    pull.user_id = s->user_id;
    pull.trans_mode = FILE_TYPE_OFFLINE;
    pull.offset = x->next_offset;
    pull.data_size = segment_len(x->size, x->next_offset);
    x->pull_open = 1;
    file_api->send_message(fp->self, x->conn_id, SID_FILE, CID_FILE_PULL_DATA_REQ, 0, &pull.base);
}

static void opened(void *state, void *arg, int status)
{
    open_call *c = arg;
    file_plugin *fp = c->fp;
    file_xfer *x = c->x;
    uint64_t conn_id = c->to.conn_id;
    if (status != IMGATE_OK && c->rc == 0) {
        c->rc = EAGAIN; /* refused: the job never ran, nothing was opened */
        c->why = "overloaded";
    }
    file_slot *s = file_api->conn_data(fp->self, conn_id, sizeof *s);
    int alive = s != NULL && s->layout == FILE_SLOT_LAYOUT && s->phase == FILE_PHASE_LOGGING_IN;
    if (c->rc == 0 && alive && file_authorize(fp, conn_id, c->file_role) != IMGATE_OK) {
        c->rc = EPERM;
        c->why = "authorize_failed";
    }
    if (c->rc != 0 || !alive) {
        char task_id[FILE_TASK_ID_LEN + 1];
        memcpy(task_id, x->task_id, sizeof task_id);
        if (x->upload) {
            if (c->rc == EEXIST)
                file_task_end(fp, x->task_id, x->from_id); /* a stored task is never uploaded again */
            else
                file_task_release(fp, x->task_id, CLIENT_OFFLINE_UPLOAD, conn_id);
        }
        if (x->fd >= 0) {
            /* opened for a client that has gone (or a role refused): close it on a worker */
            x->abandoned = 1;
            x->jobs = 1;
            file_api->submit_job(fp->self, conn_id, close_job, close_done, x);
        } else {
            free(x);
        }
        if (alive) {
            s->phase = FILE_PHASE_FINISHED;
            file_api->log_limited(fp->self, IMGATE_LOG_INFO, "login_refused", 20,
                                  "event=file_login_refused conn=%llu user=%u task=%s role=%u reason=%s",
                                  (unsigned long long)conn_id, c->user_id, task_id, c->file_role, c->why);
            file_login_answer(fp, &c->to, 0, task_id);
        } else {
            file_api->request_done(&c->to);
        }
        free(c);
        return;
    }
    s->xfer = x;
    s->from_id = x->from_id;
    s->to_id = x->to_id;
    s->file_size = x->size;
    s->phase = FILE_PHASE_ACTIVE;
    file_login_answer(fp, &c->to, 1, x->task_id);
    file_api->log_limited(fp->self, IMGATE_LOG_INFO, "xfer_start", 50,
                          "event=%s_start conn=%llu task=%s from=%u to=%u size=%u", x->upload ? "upload" : "download",
                          (unsigned long long)conn_id, x->task_id, x->from_id, x->to_id, x->size);
    if (x->upload)
        send_pull(fp, s); /* protocol H.9: the server pulls, from offset 0 */
    free(c);
}

void file_offline_open(file_plugin *fp, const imgate_reply_to *to, uint32_t file_role, uint32_t user_id,
                       const char *task_id, uint32_t from_id, uint32_t to_id, uint32_t size, const char *name)
{
    imgate_reply_to reply = *to;
    open_call *c = calloc(1, sizeof *c);
    file_xfer *x = calloc(1, sizeof *x);
    if (c == NULL || x == NULL) {
        free(c);
        free(x);
        if (file_role == CLIENT_OFFLINE_UPLOAD)
            file_task_release(fp, task_id, file_role, reply.conn_id);
        file_login_answer(fp, &reply, 0, task_id);
        return;
    }
    x->fd = -1;
    x->upload = file_role == CLIENT_OFFLINE_UPLOAD;
    x->conn_id = reply.conn_id;
    snprintf(x->task_id, sizeof x->task_id, "%s", task_id);
    snprintf(x->dir, sizeof x->dir, "%s", fp->cfg.storage_dir);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->from_id = from_id;
    x->to_id = to_id;
    x->size = size;
    x->quota = fp->cfg.quota_bytes;
    c->fp = fp;
    c->to = reply;
    c->file_role = file_role;
    c->user_id = user_id;
    c->x = x;
    c->min_free = fp->cfg.min_free;
    file_api->submit_job(fp->self, reply.conn_id, open_job, opened, c);
}

/* --- upload ------------------------------------------------------------------------------------ */

typedef struct write_call {
    file_plugin *fp;
    file_xfer *x;
    uint32_t offset;
    uint32_t len;
    int last;
    int rc;       /* errno-style: the disk */
    int recorded; /* the last segment: 1 listed in IMTransmitFile, 0 refused (quota, listed already), < 0 db error */
    uint8_t data[];
} write_call;

static void write_job(imgate_worker *w, void *state, void *arg)
{
    write_call *wc = arg;
    file_xfer *x = wc->x;
    if (x->worker_failed || x->fd < 0) {
        wc->rc = EIO;
        return;
    }
    wc->rc = file_store_write(x->fd, wc->offset, wc->data, wc->len);
    if (wc->rc == 0 && wc->last) {
        wc->rc = file_store_commit(x->fd, x->dir, x->task_id);
        x->fd = -1; /* closed by commit, whatever its outcome */
        if (wc->rc == 0) {
            /* Listed only once it is whole and durable, and never stored without being listed. */
            wc->recorded = file_db_insert_row(w, x->from_id, x->to_id, x->name, x->size, x->task_id, x->quota);
            if (wc->recorded != 1)
                file_store_remove(x->dir, x->task_id);
        }
    }
    if (wc->rc != 0)
        x->worker_failed = 1;
}

static void written(void *state, void *arg, int status)
{
    write_call *wc = arg;
    file_plugin *fp = wc->fp;
    file_xfer *x = wc->x;
    if (status != IMGATE_OK && wc->rc == 0)
        wc->rc = EAGAIN; /* the job was refused: the segment is not on disk */
    x->writes--;
    file_slot *s = x->abandoned ? NULL : file_slot_existing(fp, x->conn_id);
    if (wc->rc != 0) {
        if (s != NULL && s->xfer == x)
            abort_upload(fp, x->conn_id, s, wc->rc == ENOSPC ? "disk_full" : "write_failed");
        if (wc->rc != EIO || !x->failed)
            file_api->log_limited(fp->self, IMGATE_LOG_ERROR, "upload_write", 5,
                                  "event=upload_write_failed task=%s offset=%u error=\"%s\"", x->task_id, wc->offset,
                                  strerror(wc->rc));
    } else if (wc->last && wc->recorded != 1) {
        if (s != NULL && s->xfer == x)
            abort_upload(fp, x->conn_id, s, wc->recorded == 0 ? "quota_or_listed" : "database_unavailable");
        else
            file_api->metric_inc(fp->m_uploads_failed, 1);
    } else if (wc->last) {
        x->stored = 1;
        file_api->metric_inc(fp->m_uploads_stored, 1);
        file_task_end(fp, x->task_id, x->from_id);
        file_api->log_limited(fp->self, IMGATE_LOG_INFO, "stored", 50,
                              "event=upload_stored task=%s from=%u to=%u size=%u", x->task_id, x->from_id, x->to_id,
                              x->size);
        if (s != NULL && s->xfer == x) {
            s->phase = FILE_PHASE_FINISHED;
            file_send_state(fp, x->conn_id, CLIENT_FILE_DONE, x->task_id, s->user_id);
            file_api->close(fp->self, x->conn_id, "file_upload_done");
        }
    } else if (s != NULL && s->xfer == x && !x->failed && !x->pull_open && x->next_offset < x->size &&
               x->writes < fp->cfg.window) {
        send_pull(fp, s);
    }
    xfer_release(x);
    free(wc);
}

void file_offline_data(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataRsp *m)
{
    file_xfer *x = s->xfer;
    if (s->file_role != CLIENT_OFFLINE_UPLOAD || x == NULL || s->phase != FILE_PHASE_ACTIVE || x->failed) {
        file_api->metric_inc(fp->m_dropped, 1);
        return;
    }
    if (m->user_id != s->user_id || strcmp(m->task_id, x->task_id) != 0) {
        abort_upload(fp, req->conn_id, s, "wrong_user_or_task");
        return;
    }
    if (!x->pull_open || m->offset != x->next_offset) {
        abort_upload(fp, req->conn_id, s, "unexpected_offset");
        return;
    }
    if (m->result_code != 0) {
        abort_upload(fp, req->conn_id, s, "client_read_error");
        return;
    }
    uint32_t want = segment_len(x->size, x->next_offset);
    if (m->file_data.len != want) {
        abort_upload(fp, req->conn_id, s, "wrong_segment_size");
        return;
    }
    write_call *wc = malloc(sizeof *wc + want);
    if (wc == NULL) {
        abort_upload(fp, req->conn_id, s, "out_of_memory");
        return;
    }
    wc->fp = fp;
    wc->x = x;
    wc->offset = x->next_offset;
    wc->len = want;
    wc->rc = 0;
    wc->recorded = 0;
    memcpy(wc->data, m->file_data.data, want);
    x->pull_open = 0;
    x->next_offset += want;
    int last = x->next_offset == x->size;
    wc->last = last;
    x->writes++;
    x->jobs++;
    file_api->submit_job(fp->self, req->conn_id, write_job, written, wc); /* wc is the job's now */
    /* The next segment travels while this one is written, within the window of queued writes. */
    if (!last && !x->failed && x->writes < fp->cfg.window)
        send_pull(fp, s);
}

/* --- download ---------------------------------------------------------------------------------- */

typedef struct read_call {
    file_plugin *fp;
    file_xfer *x;
    uint16_t seq;
    uint32_t user_id;
    uint32_t offset;
    uint32_t len;
    int rc;
    uint8_t data[];
} read_call;

static void read_job(imgate_worker *w, void *state, void *arg)
{
    read_call *rc = arg;
    rc->rc = rc->x->fd >= 0 ? file_store_read(rc->x->fd, rc->offset, rc->data, rc->len) : EBADF;
}

static void refuse_pull(file_plugin *fp, uint64_t conn_id, uint16_t seq, const char *task_id, uint32_t user_id,
                        uint32_t offset, uint32_t code)
{
    IM__File__IMFilePullDataRsp rsp = IM__FILE__IMFILE_PULL_DATA_RSP__INIT;
    rsp.result_code = code;
    rsp.task_id = (char *)task_id;
    rsp.user_id = user_id;
    rsp.offset = offset;
    file_api->send_message(fp->self, conn_id, SID_FILE, CID_FILE_PULL_DATA_RSP, seq, &rsp.base);
}

static void read_done(void *state, void *arg, int status)
{
    read_call *rc = arg;
    file_plugin *fp = rc->fp;
    file_xfer *x = rc->x;
    if (status != IMGATE_OK && rc->rc == 0)
        rc->rc = EAGAIN;
    file_slot *s = x->abandoned ? NULL : file_slot_existing(fp, x->conn_id);
    if (s != NULL && s->xfer == x) {
        if (s->in_flight > 0)
            s->in_flight--;
        if (s->phase != FILE_PHASE_ACTIVE) {
            /* finished meanwhile: nothing more goes out */
        } else if (rc->rc != 0) {
            file_api->log_limited(fp->self, IMGATE_LOG_ERROR, "download_read", 5,
                                  "event=download_read_failed task=%s offset=%u error=\"%s\"", x->task_id, rc->offset,
                                  strerror(rc->rc));
            refuse_pull(fp, x->conn_id, rc->seq, x->task_id, rc->user_id, rc->offset,
                        FILE_SERVER_ERRNO_PULL_DATA_OPEN_FILE_ERROR);
            s->phase = FILE_PHASE_FINISHED;
            file_api->close(fp->self, x->conn_id, "file_read_failed");
        } else {
            IM__File__IMFilePullDataRsp rsp = IM__FILE__IMFILE_PULL_DATA_RSP__INIT;
            rsp.task_id = x->task_id;
            rsp.user_id = rc->user_id;
            rsp.offset = rc->offset;
            rsp.file_data.data = rc->data;
            rsp.file_data.len = rc->len;
            file_api->send_message(fp->self, x->conn_id, SID_FILE, CID_FILE_PULL_DATA_RSP, rc->seq, &rsp.base);
            s->relayed += rc->len;
            if (rc->offset + rc->len == x->size) {
                /* protocol H.9: DONE after the last segment (user id: the sender's), then close. */
                file_send_state(fp, x->conn_id, CLIENT_FILE_DONE, x->task_id, x->from_id);
                s->phase = FILE_PHASE_FINISHED;
                file_api->metric_inc(fp->m_downloads, 1);
                file_api->log_limited(fp->self, IMGATE_LOG_INFO, "downloaded", 50,
                                      "event=download_done task=%s to=%u size=%u", x->task_id, x->to_id, x->size);
                file_api->close(fp->self, x->conn_id, "file_download_done");
            } else {
                file_flow_update(fp, x->conn_id, s, s->in_flight);
            }
        }
    }
    xfer_release(x);
    free(rc);
}

void file_offline_pull(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFilePullDataReq *m)
{
    file_xfer *x = s->xfer;
    uint32_t code = 0;
    if (s->file_role != CLIENT_OFFLINE_DOWNLOAD || x == NULL || m->user_id != s->user_id)
        code = FILE_SERVER_ERRNO_PULL_DATA_ILLIEAGE_USER;
    else if (strcmp(m->task_id, x->task_id) != 0)
        code = FILE_SERVER_ERRNO_PULL_DATA_WITH_INVALID_TASK_ID;
    else if (s->phase != FILE_PHASE_ACTIVE)
        code = FILE_SERVER_ERRNO_PULL_DATA_FINISHED;
    else if (m->offset % FILE_SEGMENT != 0 || m->offset >= x->size)
        code = FILE_SERVER_ERRNO_PULL_DATA_SEEK_OFFSET_ERROR; /* protocol H.9: offsets are index * 32768 */
    if (code != 0) {
        file_api->metric_inc(fp->m_dropped, 1);
        file_api->log_limited(fp->self, IMGATE_LOG_INFO, "pull_refused", 20,
                              "event=pull_refused conn=%llu user=%u offset=%u code=%u",
                              (unsigned long long)req->conn_id, m->user_id, m->offset, code);
        refuse_pull(fp, req->conn_id, req->seq_num, m->task_id, m->user_id, m->offset, code);
        return;
    }
    /* The requested data_size is ignored: a segment is always the next 32 KiB (protocol H.9). */
    uint32_t len = segment_len(x->size, m->offset);
    read_call *rc = malloc(sizeof *rc + len);
    if (rc == NULL) {
        refuse_pull(fp, req->conn_id, req->seq_num, m->task_id, m->user_id, m->offset,
                    FILE_SERVER_ERRNO_PULL_DATA_ALLOC_MEM_ERROR);
        return;
    }
    rc->fp = fp;
    rc->x = x;
    rc->seq = req->seq_num;
    rc->user_id = m->user_id;
    rc->offset = m->offset;
    rc->len = len;
    rc->rc = 0;
    x->jobs++;
    s->in_flight++;
    file_api->submit_job(fp->self, req->conn_id, read_job, read_done, rc);
    file_flow_update(fp, req->conn_id, s, s->in_flight);
}

/* --- states from an offline client ------------------------------------------------------------- */

void file_offline_state(file_plugin *fp, const imgate_request *req, file_slot *s, const IM__File__IMFileState *m)
{
    if (m->state == CLIENT_FILE_PEER_READY || s->phase == FILE_PHASE_FINISHED)
        return;
    if (s->file_role == CLIENT_OFFLINE_UPLOAD && s->xfer != NULL && s->phase == FILE_PHASE_ACTIVE) {
        s->xfer->failed = 1; /* the close hook drops the partial file */
        file_api->metric_inc(fp->m_uploads_failed, 1);
        file_task_release(fp, s->task_id, CLIENT_OFFLINE_UPLOAD, req->conn_id);
    }
    s->phase = FILE_PHASE_FINISHED;
    file_api->close(fp->self, req->conn_id, "file_state");
}
