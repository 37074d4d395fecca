/*
 * bench_scenario_file.c — the `file` scenario: K pairs of users relay files
 * through one node, as TeamTalk clients do (protocol H.9), then one offline
 * upload and download.
 *
 * Pair k is PREFIX(2k+1) -> PREFIX(2k+2), both logged in as PC clients. Each
 * transfer: IMFileReq (online) on the sender's message connection, the
 * receiver's IMFileNotify, both file logins and PEER_READY (set up blocking,
 * not measured); then the receiver pulls --size bytes in 32 KiB blocks with
 * --window pulls open and the sender answers each from memory; DONE ends it
 * and the pair starts the next one. All pairs run from one thread over
 * non-blocking sockets and poll(2), with the PDUs framed by hand so the bench
 * costs as little CPU as it can (it shares the machine with the server).
 *
 * Measured: every block whose data arrives inside the measured window (one
 * operation; its latency is pull sent -> data received), and the bytes they
 * carry (MB/s relayed). With -n the run ends after that many transfers.
 * Afterwards: one offline upload of --size bytes (the server pulls) and its
 * download, each timed on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "IM.File.pb-c.h"
#include "IM.Login.pb-c.h"
#include "bench_login_request.h"
#include "bench_scenario.h"
#include "imgate/pdu.h"
#include "imgate/teamtalk.h"
#include "imgate_client.h"

#define BLOCK 32768u
#define MAX_WINDOW 16u
#define TASK_LEN 36
#define HEARTBEAT_NS (30ull * 1000000000ull)

typedef struct iobuf {
    uint8_t *data;
    size_t off, len, cap;
} iobuf;

typedef struct pair {
    imgate_client *smsg, *rmsg;   /* message connections */
    uint32_t sid, rid;            /* user ids */
    imgate_client *sfile, *rfile; /* file connections (their fds are driven here) */
    int sfd, rfd;
    char task[TASK_LEN + 1];
    uint32_t next_pull, received, open;
    uint64_t sent_ns[MAX_WINDOW]; /* pull send times, oldest first (a ring) */
    uint32_t ring_head;
    iobuf sin, sout, rin, rout;
    int active, done_sent;
} pair;

typedef struct file_state {
    const bench_options *opt;
    char password_md5[BENCH_MD5HEX_LEN];
    uint8_t block[BLOCK];
    pair *pairs;
    uint32_t n;
    uint32_t window; /* pulls in flight per transfer (--window, default 4) */
    uint64_t transfers_started, transfers_done, bytes_measured;
} file_state;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- wire: hand-framed PDUs -------------------------------------------------------------------- */

static int iobuf_reserve(iobuf *b, size_t more)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + more <= b->cap)
        return 0;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Field `want` (varint, or the length of a length-delimited one) of a protobuf body. */
static int body_field(const uint8_t *p, size_t len, unsigned want, uint64_t *out)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t key, v;
        if (get_varint(&p, end, &key) < 0)
            return -1;
        unsigned field = (unsigned)(key >> 3), type = (unsigned)(key & 7);
        if (type == 0) {
            if (get_varint(&p, end, &v) < 0)
                return -1;
        } else if (type == 2) {
            if (get_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            p += v;
        } else {
            return -1;
        }
        if (field == want) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Appends header + body prefix (+ `data`) to `out`. */
static int put_frame(iobuf *out, uint16_t cid, uint16_t seq, const uint8_t *body, size_t body_len, const uint8_t *data,
                     size_t data_len)
{
    size_t total = IMGATE_PDU_HEADER_LEN + body_len + data_len;
    if (iobuf_reserve(out, total) < 0)
        return -1;
    imgate_pdu_header h;
    imgate_pdu_header_make(&h, SID_FILE, cid, seq, body_len + data_len);
    imgate_pdu_header_encode(&h, out->data + out->len);
    memcpy(out->data + out->len + IMGATE_PDU_HEADER_LEN, body, body_len);
    if (data_len)
        memcpy(out->data + out->len + IMGATE_PDU_HEADER_LEN + body_len, data, data_len);
    out->len += total;
    return 0;
}

static int put_pull(pair *p, uint32_t offset, uint32_t size)
{
    uint8_t b[128];
    size_t n = 0;
    b[n++] = 0x0a;
    b[n++] = TASK_LEN;
    memcpy(b + n, p->task, TASK_LEN);
    n += TASK_LEN;
    b[n++] = 0x10;
    n += put_varint(b + n, p->rid);
    b[n++] = 0x18;
    b[n++] = FILE_TYPE_ONLINE;
    b[n++] = 0x20;
    n += put_varint(b + n, offset);
    b[n++] = 0x28;
    n += put_varint(b + n, size);
    return put_frame(&p->rout, CID_FILE_PULL_DATA_REQ, (uint16_t)(offset / BLOCK + 1), b, n, NULL, 0);
}

static int put_data(file_state *st, pair *p, uint16_t seq, uint32_t offset, uint32_t size)
{
    uint8_t b[128];
    size_t n = 0;
    b[n++] = 0x08;
    b[n++] = 0;
    b[n++] = 0x12;
    b[n++] = TASK_LEN;
    memcpy(b + n, p->task, TASK_LEN);
    n += TASK_LEN;
    b[n++] = 0x18;
    n += put_varint(b + n, p->sid);
    b[n++] = 0x20;
    n += put_varint(b + n, offset);
    b[n++] = 0x2a;
    n += put_varint(b + n, size);
    return put_frame(&p->sout, CID_FILE_PULL_DATA_RSP, seq, b, n, st->block, size);
}

static int put_done(pair *p)
{
    uint8_t b[64];
    size_t n = 0;
    b[n++] = 0x08;
    b[n++] = CLIENT_FILE_DONE;
    b[n++] = 0x12;
    b[n++] = TASK_LEN;
    memcpy(b + n, p->task, TASK_LEN);
    n += TASK_LEN;
    b[n++] = 0x18;
    n += put_varint(b + n, p->rid);
    return put_frame(&p->rout, CID_FILE_STATE, 0, b, n, NULL, 0);
}

/* Writes what it can; -1 on a dead socket. */
static int flush_out(int fd, iobuf *b)
{
    while (b->off < b->len) {
        ssize_t n = write(fd, b->data + b->off, b->len - b->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        b->off += (size_t)n;
    }
    return 0;
}

/* Reads what there is; -1 on close or error. */
static int fill_in(int fd, iobuf *b)
{
    for (;;) {
        if (iobuf_reserve(b, 65536) < 0)
            return -1;
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
        if (n > 0) {
            b->len += (size_t)n;
            continue;
        }
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

/* The next complete frame in `b`, or 0. */
static int next_frame(iobuf *b, imgate_pdu_header *h, const uint8_t **body)
{
    if (b->len - b->off < IMGATE_PDU_HEADER_LEN)
        return 0;
    imgate_pdu_header_decode(b->data + b->off, h);
    if (h->length < IMGATE_PDU_HEADER_LEN || b->len - b->off < h->length)
        return 0;
    *body = b->data + b->off + IMGATE_PDU_HEADER_LEN;
    b->off += h->length;
    return 1;
}

/* --- set-up, blocking -------------------------------------------------------------------------- */

static imgate_client *login(file_state *st, uint32_t number, uint32_t *uid)
{
    const bench_options *opt = st->opt;
    char name[256];
    snprintf(name, sizeof name, "%s%u", opt->prefix, (unsigned)number);
    imgate_client *c = imgate_client_connect(opt->host, opt->port, opt->timeout_ms);
    if (c == NULL)
        return NULL;
    IM__Login__IMLoginReq req;
    bench_login_request_init(&req, name, st->password_md5, CLIENT_TYPE_WINDOWS, "imgate-bench");
    imgate_client_pdu pdu = {0};
    IM__Login__IMLoginRes *res = NULL;
    if (imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, &req.base, CID_LOGIN_RES_USERLOGIN, &pdu,
                           opt->timeout_ms) == 0)
        res = im__login__imlogin_res__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int ok = res && res->result_code == 0 && res->user_info;
    if (ok)
        *uid = res->user_info->user_id;
    if (res)
        im__login__imlogin_res__free_unpacked(res, NULL);
    if (!ok) {
        fprintf(stderr, "imgate-bench: file: cannot log in as %s\n", name);
        imgate_client_close(c);
        return NULL;
    }
    return c;
}

static imgate_client *file_login(file_state *st, uint32_t uid, const char *task, uint32_t role)
{
    imgate_client *c = imgate_client_connect(st->opt->host, st->opt->port, st->opt->timeout_ms);
    if (c == NULL)
        return NULL;
    IM__File__IMFileLoginReq req = IM__FILE__IMFILE_LOGIN_REQ__INIT;
    req.user_id = uid;
    req.task_id = (char *)task;
    req.file_role = (IM__BaseDefine__ClientFileRole)role;
    imgate_client_pdu pdu = {0};
    IM__File__IMFileLoginRsp *rsp = NULL;
    if (imgate_client_call(c, SID_FILE, CID_FILE_LOGIN_REQ, &req.base, CID_FILE_LOGIN_RES, &pdu, st->opt->timeout_ms) ==
        0)
        rsp = im__file__imfile_login_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int ok = rsp && rsp->result_code == 0;
    if (rsp)
        im__file__imfile_login_rsp__free_unpacked(rsp, NULL);
    if (!ok) {
        imgate_client_close(c);
        return NULL;
    }
    return c;
}

/* A task from the pair's sender to its receiver (mode: the wanted trans_mode); 0 or -1. */
static int request_task(file_state *st, pair *p, uint32_t mode, bench_results *r)
{
    IM__File__IMFileReq req = IM__FILE__IMFILE_REQ__INIT;
    req.from_user_id = p->sid;
    req.to_user_id = p->rid;
    req.file_name = (char *)"imgate-bench.bin";
    req.file_size = (uint32_t)st->opt->file_size;
    req.trans_mode = (IM__BaseDefine__TransferFileType)mode;
    imgate_client_pdu pdu = {0};
    IM__File__IMFileRsp *rsp = NULL;
    if (imgate_client_call(p->smsg, SID_FILE, CID_FILE_REQUEST, &req.base, CID_FILE_RESPONSE, &pdu,
                           st->opt->timeout_ms) == 0)
        rsp = im__file__imfile_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int ok = rsp && rsp->result_code == 0 && rsp->trans_mode == mode && strlen(rsp->task_id) == TASK_LEN;
    if (ok)
        memcpy(p->task, rsp->task_id, TASK_LEN + 1);
    else
        bench_results_fail(r, rsp ? BENCH_FAIL_RESULT_CODE : BENCH_FAIL_TIMEOUT, rsp ? rsp->result_code : 0,
                           rsp ? "IMFileReq refused (or not in the mode asked)" : "IMFileRsp");
    if (rsp)
        im__file__imfile_rsp__free_unpacked(rsp, NULL);
    /* The receiver's notify: read it so the message connection's queue stays empty. */
    if (ok && imgate_client_wait(p->rmsg, CID_FILE_NOTIFY, -1, &pdu, st->opt->timeout_ms) == 0)
        imgate_client_pdu_free(&pdu);
    return ok ? 0 : -1;
}

static void close_files(pair *p)
{
    imgate_client_close(p->sfile);
    imgate_client_close(p->rfile);
    p->sfile = p->rfile = NULL;
    p->sfd = p->rfd = -1;
    p->sin.off = p->sin.len = p->sout.off = p->sout.len = 0;
    p->rin.off = p->rin.len = p->rout.off = p->rout.len = 0;
    p->active = 0;
}

static void send_pulls(file_state *st, pair *p)
{
    uint32_t size = (uint32_t)st->opt->file_size;
    while (p->open < st->window && p->next_pull < size) {
        uint32_t n = size - p->next_pull < BLOCK ? size - p->next_pull : BLOCK;
        put_pull(p, p->next_pull, n);
        p->sent_ns[(p->ring_head + p->open) % MAX_WINDOW] = now_ns();
        p->open++;
        p->next_pull += n;
    }
}

/* Sets up the pair's next online transfer (blocking) and primes its pulls; 0 or -1. */
static int start_transfer(file_state *st, pair *p, bench_results *r)
{
    if (request_task(st, p, FILE_TYPE_ONLINE, r) < 0)
        return -1;
    p->sfile = file_login(st, p->sid, p->task, CLIENT_REALTIME_SENDER);
    p->rfile = p->sfile ? file_login(st, p->rid, p->task, CLIENT_REALTIME_RECVER) : NULL;
    imgate_client_pdu pdu = {0};
    if (p->rfile == NULL || imgate_client_wait(p->rfile, CID_FILE_STATE, -1, &pdu, st->opt->timeout_ms) != 0) {
        bench_results_fail(r, BENCH_FAIL_PROTOCOL, 0, "file login or PEER_READY");
        close_files(p);
        return -1;
    }
    imgate_client_pdu_free(&pdu);
    p->sfd = imgate_client_fd(p->sfile);
    p->rfd = imgate_client_fd(p->rfile);
    fcntl(p->sfd, F_SETFL, fcntl(p->sfd, F_GETFL) | O_NONBLOCK);
    fcntl(p->rfd, F_SETFL, fcntl(p->rfd, F_GETFL) | O_NONBLOCK);
    p->next_pull = p->received = p->open = p->ring_head = 0;
    p->done_sent = 0;
    p->active = 1;
    st->transfers_started++;
    send_pulls(st, p);
    return 0;
}

/* --- the relay loop ---------------------------------------------------------------------------- */

typedef struct window {
    uint64_t start, end; /* measured window, ns */
} window;

static int on_sender_input(file_state *st, pair *p)
{
    imgate_pdu_header h;
    const uint8_t *body;
    while (next_frame(&p->sin, &h, &body)) {
        size_t len = h.length - IMGATE_PDU_HEADER_LEN;
        if (h.command_id == CID_FILE_PULL_DATA_REQ) {
            uint64_t off, size;
            if (body_field(body, len, 4, &off) < 0 || body_field(body, len, 5, &size) < 0 || size > BLOCK)
                return -1;
            if (put_data(st, p, h.seq_num, (uint32_t)off, (uint32_t)size) < 0)
                return -1;
        } else if (h.command_id == CID_FILE_STATE) {
            uint64_t state = 99;
            body_field(body, len, 1, &state);
            return state == CLIENT_FILE_DONE ? 1 : -1;
        }
    }
    return 0;
}

static int on_receiver_input(file_state *st, pair *p, const window *w, bench_results *r)
{
    imgate_pdu_header h;
    const uint8_t *body;
    uint32_t size = (uint32_t)st->opt->file_size;
    while (next_frame(&p->rin, &h, &body)) {
        size_t len = h.length - IMGATE_PDU_HEADER_LEN;
        if (h.command_id == CID_FILE_PULL_DATA_RSP) {
            uint64_t result = 1, data_len = 0;
            body_field(body, len, 1, &result);
            if (result != 0 || body_field(body, len, 5, &data_len) < 0 || p->open == 0)
                return -1;
            uint64_t t = now_ns();
            uint64_t sent = p->sent_ns[p->ring_head];
            p->ring_head = (p->ring_head + 1) % MAX_WINDOW;
            p->open--;
            p->received += (uint32_t)data_len;
            if (t >= w->start && t < w->end) {
                r->completed++;
                st->bytes_measured += data_len;
                bench_histogram_record(r->latency_us, (t - sent) / 1000);
            }
            send_pulls(st, p);
            if (p->received >= size && !p->done_sent) {
                put_done(p);
                p->done_sent = 1;
            }
        } else if (h.command_id == CID_FILE_STATE) {
            return -1; /* a CANCEL: the transfer is over */
        }
    }
    return 0;
}

static int relay(file_state *st, bench_results *r, window *w, int by_total)
{
    struct pollfd *fds = calloc(2 * (size_t)st->n, sizeof *fds);
    if (fds == NULL)
        return -1;
    uint64_t last_beat = now_ns();
    for (;;) {
        uint64_t t = now_ns();
        if (!by_total && t >= w->end)
            break;
        if (by_total && st->transfers_done + r->failed >= st->opt->total)
            break;
        if (t - last_beat > HEARTBEAT_NS) {
            /* message connections idle during a long run must not time out */
            for (uint32_t i = 0; i < st->n; i++) {
                imgate_client_send(st->pairs[i].smsg, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL);
                imgate_client_send(st->pairs[i].rmsg, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL);
            }
            last_beat = t;
        }
        /* write first: most rounds have output ready */
        for (uint32_t i = 0; i < st->n; i++) {
            pair *p = &st->pairs[i];
            if (p->active && (flush_out(p->sfd, &p->sout) < 0 || flush_out(p->rfd, &p->rout) < 0)) {
                bench_results_fail(r, BENCH_FAIL_RESET, 0, "file connection");
                close_files(p);
            }
        }
        size_t n = 0;
        for (uint32_t i = 0; i < st->n; i++) {
            pair *p = &st->pairs[i];
            if (!p->active)
                continue;
            fds[n++] = (struct pollfd){p->sfd, (short)(POLLIN | (p->sout.off < p->sout.len ? POLLOUT : 0)), 0};
            fds[n++] = (struct pollfd){p->rfd, (short)(POLLIN | (p->rout.off < p->rout.len ? POLLOUT : 0)), 0};
        }
        if (n == 0)
            break;
        if (poll(fds, n, 100) < 0 && errno != EINTR)
            break;
        size_t k = 0;
        for (uint32_t i = 0; i < st->n; i++) {
            pair *p = &st->pairs[i];
            if (!p->active)
                continue;
            short se = fds[k++].revents, re = fds[k++].revents;
            int rc = 0;
            if ((se & (POLLIN | POLLHUP | POLLERR)) && fill_in(p->sfd, &p->sin) < 0 && p->sin.len == p->sin.off)
                rc = -1;
            if (rc == 0 && (se & (POLLIN | POLLHUP | POLLERR)))
                rc = on_sender_input(st, p);
            if (rc == 0 && (re & (POLLIN | POLLHUP | POLLERR))) {
                if (fill_in(p->rfd, &p->rin) < 0 && p->rin.len == p->rin.off && !p->done_sent)
                    rc = -1;
                else
                    rc = on_receiver_input(st, p, w, r);
            }
            if (rc == 1) {
                /* DONE reached the sender: the transfer is complete */
                st->transfers_done++;
                close_files(p);
                uint64_t now = now_ns();
                int more = by_total ? st->transfers_started < st->opt->total : now < w->end;
                if (more)
                    start_transfer(st, p, r);
            } else if (rc < 0) {
                bench_results_fail(r, BENCH_FAIL_PROTOCOL, 0, "transfer broken (cancel, close or bad PDU)");
                close_files(p);
            }
        }
    }
    free(fds);
    return 0;
}

/* --- offline: one upload, one download, timed ------------------------------------------------- */

static double offline_upload(file_state *st, pair *p, bench_results *r)
{
    if (request_task(st, p, FILE_TYPE_OFFLINE, r) < 0)
        return -1;
    uint64_t t0 = now_ns();
    imgate_client *u = file_login(st, p->sid, p->task, CLIENT_OFFLINE_UPLOAD);
    if (u == NULL)
        return -1;
    uint32_t size = (uint32_t)st->opt->file_size;
    IM__File__IMFilePullDataRsp rsp = IM__FILE__IMFILE_PULL_DATA_RSP__INIT;
    rsp.task_id = p->task;
    rsp.user_id = p->sid;
    int ok = 0;
    for (;;) {
        imgate_client_pdu pdu = {0};
        if (imgate_client_recv(u, &pdu, 10000) != 0)
            break;
        if (pdu.h.command_id == CID_FILE_STATE) {
            uint64_t state = 99;
            body_field(pdu.body, pdu.body_len, 1, &state);
            imgate_client_pdu_free(&pdu);
            ok = state == CLIENT_FILE_DONE;
            break;
        }
        uint64_t off = 0, want = 0;
        int is_pull = pdu.h.command_id == CID_FILE_PULL_DATA_REQ && body_field(pdu.body, pdu.body_len, 4, &off) == 0 &&
                      body_field(pdu.body, pdu.body_len, 5, &want) == 0 && want <= BLOCK && off + want <= size;
        imgate_client_pdu_free(&pdu);
        if (!is_pull)
            continue;
        rsp.offset = (uint32_t)off;
        rsp.file_data.data = st->block;
        rsp.file_data.len = want;
        if (imgate_client_send_msg(u, SID_FILE, CID_FILE_PULL_DATA_RSP, &rsp.base, NULL) != 0)
            break;
    }
    imgate_client_close(u);
    if (!ok) {
        bench_results_fail(r, BENCH_FAIL_PROTOCOL, 0, "offline upload");
        return -1;
    }
    return (double)(now_ns() - t0) / 1e9;
}

static double offline_download(file_state *st, pair *p, bench_results *r)
{
    uint64_t t0 = now_ns();
    imgate_client *d = file_login(st, p->rid, p->task, CLIENT_OFFLINE_DOWNLOAD);
    if (d == NULL) {
        bench_results_fail(r, BENCH_FAIL_PROTOCOL, 0, "offline download login");
        return -1;
    }
    uint32_t size = (uint32_t)st->opt->file_size, next = 0, got = 0, open = 0;
    int ok = 1;
    IM__File__IMFilePullDataReq req = IM__FILE__IMFILE_PULL_DATA_REQ__INIT;
    req.task_id = p->task;
    req.user_id = p->rid;
    req.trans_mode = FILE_TYPE_OFFLINE;
    req.data_size = BLOCK;
    while (ok && got < size) {
        while (open < st->window && next < size) {
            req.offset = next;
            imgate_client_send_msg(d, SID_FILE, CID_FILE_PULL_DATA_REQ, &req.base, NULL);
            next += BLOCK;
            open++;
        }
        imgate_client_pdu pdu = {0};
        if (imgate_client_wait(d, CID_FILE_PULL_DATA_RSP, -1, &pdu, 10000) != 0) {
            ok = 0;
            break;
        }
        uint64_t result = 1, len = 0;
        body_field(pdu.body, pdu.body_len, 1, &result);
        ok = result == 0 && body_field(pdu.body, pdu.body_len, 5, &len) == 0;
        got += (uint32_t)len;
        open--;
        imgate_client_pdu_free(&pdu);
    }
    imgate_client_pdu pdu = {0};
    ok = ok && imgate_client_wait(d, CID_FILE_STATE, -1, &pdu, 10000) == 0;
    imgate_client_pdu_free(&pdu);
    double secs = (double)(now_ns() - t0) / 1e9;
    imgate_client_close(d);
    /* leave the server's storage as it was */
    IM__File__IMFileDelOfflineReq del = IM__FILE__IMFILE_DEL_OFFLINE_REQ__INIT;
    del.from_user_id = p->sid;
    del.to_user_id = p->rid;
    del.task_id = p->task;
    imgate_client_send_msg(p->rmsg, SID_FILE, CID_FILE_DEL_OFFLINE_REQ, &del.base, NULL);
    if (!ok) {
        bench_results_fail(r, BENCH_FAIL_PROTOCOL, 0, "offline download");
        return -1;
    }
    return secs;
}

/* --- the scenario ------------------------------------------------------------------------------ */

static void *file_create(const bench_options *opt)
{
    if (opt->users < 2 * (uint64_t)opt->concurrency) {
        fprintf(stderr, "imgate-bench: file: -c %u pairs need --users >= %llu (PREFIX1..PREFIX%llu)\n",
                (unsigned)opt->concurrency, 2ull * opt->concurrency, 2ull * opt->concurrency);
        return NULL;
    }
    if (opt->window > MAX_WINDOW) {
        fprintf(stderr, "imgate-bench: file: --window is 1..%u\n", MAX_WINDOW);
        return NULL;
    }
    file_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->opt = opt;
    st->window = opt->window ? opt->window : 4;
    st->n = opt->concurrency;
    st->pairs = calloc(st->n, sizeof *st->pairs);
    if (st->pairs == NULL || bench_md5hex(opt->password, st->password_md5) < 0) {
        free(st->pairs);
        free(st);
        return NULL;
    }
    for (uint32_t i = 0; i < BLOCK; i++)
        st->block[i] = (uint8_t)(i * 131u + 7u);
    return st;
}

static void file_destroy(void *state)
{
    file_state *st = state;
    if (st == NULL)
        return;
    for (uint32_t i = 0; i < st->n; i++) {
        pair *p = &st->pairs[i];
        close_files(p);
        imgate_client_close(p->smsg);
        imgate_client_close(p->rmsg);
        free(p->sin.data);
        free(p->sout.data);
        free(p->rin.data);
        free(p->rout.data);
    }
    free(st->pairs);
    free(st);
}

static int file_run(const bench_options *opt, void *state, bench_results *r)
{
    file_state *st = state;
    for (uint32_t i = 0; i < st->n; i++) {
        pair *p = &st->pairs[i];
        p->sfd = p->rfd = -1;
        p->smsg = login(st, 2 * i + 1, &p->sid);
        p->rmsg = p->smsg ? login(st, 2 * i + 2, &p->rid) : NULL;
        if (p->rmsg == NULL)
            return -1;
    }
    int by_total = opt->total > 0;
    window w;
    uint64_t t0 = now_ns();
    w.start = by_total ? t0 : t0 + (uint64_t)(opt->warmup_s * 1e9);
    w.end = by_total ? UINT64_MAX : w.start + (uint64_t)(opt->duration_s * 1e9);
    for (uint32_t i = 0; i < st->n; i++)
        if (!by_total || st->transfers_started < opt->total)
            start_transfer(st, &st->pairs[i], r);
    relay(st, r, &w, by_total);
    uint64_t end = by_total ? now_ns() : w.end;
    r->measured_s = (double)(end - w.start) / 1e9;
    for (uint32_t i = 0; i < st->n; i++)
        if (st->pairs[i].active) {
            r->abandoned++;
            close_files(&st->pairs[i]);
        }
    double mb = (double)st->bytes_measured / (1024.0 * 1024.0);
    printf("  %-14s %.1f MiB/s relayed online (%.1f MiB in %.2f s; %llu transfers of %llu bytes completed,"
           " %u pairs, %u pulls in flight each)\n",
           "relay", r->measured_s > 0 ? mb / r->measured_s : 0.0, mb, r->measured_s,
           (unsigned long long)st->transfers_done, (unsigned long long)opt->file_size, (unsigned)st->n,
           (unsigned)st->window);

    double up = offline_upload(st, &st->pairs[0], r);
    double down = up > 0 ? offline_download(st, &st->pairs[0], r) : -1;
    double size_mb = (double)opt->file_size / (1024.0 * 1024.0);
    if (up > 0)
        printf("  %-14s upload %.1f MiB/s (%.2f s)", "offline", size_mb / up, up);
    else
        printf("  %-14s upload failed", "offline");
    if (down > 0)
        printf(", download %.1f MiB/s (%.2f s) of %llu bytes\n", size_mb / down, down,
               (unsigned long long)opt->file_size);
    else
        printf(", download failed\n");
    fflush(stdout);
    return 0;
}

static bench_step_result file_next_step(void *state, uint32_t client, unsigned step, bench_step *out)
{
    return BENCH_STEP_DONE; /* file_run drives the connections */
}

static bench_reply_verdict file_judge_reply(void *state, unsigned step, const uint8_t *body, size_t len, uint32_t *code,
                                            char *detail, size_t detail_cap)
{
    return BENCH_REPLY_OK;
}

const bench_scenario bench_scenario_file = {
    .name = "file",
    .operation = "blocks",
    .create = file_create,
    .destroy = file_destroy,
    .next_step = file_next_step,
    .judge_reply = file_judge_reply,
    .run = file_run,
};
