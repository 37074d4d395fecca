/*
 * file_util.h — what the file plugin's tests share: file requests on a
 * message connection, file connections (login, pulls, data, states) as a
 * TeamTalk client speaks them, and the reference's on-disk header.
 */
#ifndef IMGATE_T_FILE_UTIL_H
#define IMGATE_T_FILE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "IM.File.pb-c.h"
#include "imgate/teamtalk.h"
#include "login_util.h"

#define SEG 32768u
#define HEADER_LEN 960

/* A user's message connection, logged in as a Windows (PC) client; bails out on failure. */
static inline imgate_client *pc_login(harness *h, int node, const char *user, const char *plain)
{
    imgate_client *c = harness_connect(h, node);
    if (c == NULL || !login_ok(c, user, plain, CLIENT_WINDOWS))
        tap_bail("cannot log %s in", user);
    return c;
}

/* Bytes that depend on their position (and a seed), so a misplaced block shows. */
static inline uint8_t *pattern(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

/* FNV-1a 64: the checksum both ends of a transfer compare. */
static inline uint64_t checksum(const uint8_t *p, size_t len)
{
    uint64_t hsh = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        hsh ^= p[i];
        hsh *= 1099511628211ull;
    }
    return hsh;
}

/* IMFileReq -> IMFileRsp (unpacked; free with im__file__imfile_rsp__free_unpacked), NULL if none came. */
static inline IM__File__IMFileRsp *file_request(imgate_client *c, uint32_t from, uint32_t to, const char *name,
                                                uint32_t size, uint32_t mode)
{
    IM__File__IMFileReq req = IM__FILE__IMFILE_REQ__INIT;
    req.from_user_id = from;
    req.to_user_id = to;
    req.file_name = (char *)name;
    req.file_size = size;
    req.trans_mode = (IM__BaseDefine__TransferFileType)mode;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_FILE, CID_FILE_REQUEST, &req.base, CID_FILE_RESPONSE, &pdu, 10000) != 0)
        return NULL;
    IM__File__IMFileRsp *rsp = im__file__imfile_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return rsp;
}

/* A successful request's task id (malloc'd), or NULL; `mode_out` gets the reply's trans_mode. */
static inline char *file_task(imgate_client *c, uint32_t from, uint32_t to, const char *name, uint32_t size,
                              uint32_t mode, uint32_t *mode_out)
{
    IM__File__IMFileRsp *rsp = file_request(c, from, to, name, size, mode);
    char *task = NULL;
    if (rsp && rsp->result_code == 0) {
        task = strdup(rsp->task_id);
        if (mode_out)
            *mode_out = rsp->trans_mode;
    }
    if (rsp)
        im__file__imfile_rsp__free_unpacked(rsp, NULL);
    return task;
}

/* Waits for IMFileNotify on `c`; NULL if none came. */
static inline IM__File__IMFileNotify *wait_file_notify(imgate_client *c, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_FILE_NOTIFY, -1, &pdu, timeout_ms) != 0)
        return NULL;
    IM__File__IMFileNotify *n = im__file__imfile_notify__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return n;
}

/* Connects a file connection and logs it in; the result code (-1: no answer). */
static inline int file_login_rc(imgate_client *c, uint32_t user, const char *task, uint32_t role)
{
    IM__File__IMFileLoginReq req = IM__FILE__IMFILE_LOGIN_REQ__INIT;
    req.user_id = user;
    req.task_id = (char *)task;
    req.file_role = (IM__BaseDefine__ClientFileRole)role;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_FILE, CID_FILE_LOGIN_REQ, &req.base, CID_FILE_LOGIN_RES, &pdu, 10000) != 0)
        return -1;
    IM__File__IMFileLoginRsp *rsp = im__file__imfile_login_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int rc = rsp ? (int)rsp->result_code : -1;
    if (rsp)
        im__file__imfile_login_rsp__free_unpacked(rsp, NULL);
    return rc;
}

/* A logged-in file connection, or NULL (closed) when the login is refused. */
static inline imgate_client *file_conn(harness *h, int node, uint32_t user, const char *task, uint32_t role)
{
    imgate_client *c = harness_connect(h, node);
    if (c == NULL)
        tap_bail("cannot connect a file connection");
    if (file_login_rc(c, user, task, role) != 0) {
        imgate_client_close(c);
        return NULL;
    }
    return c;
}

static inline int file_send_pull(imgate_client *c, const char *task, uint32_t user, uint32_t mode, uint32_t offset,
                                 uint32_t size, uint16_t *seq)
{
    IM__File__IMFilePullDataReq req = IM__FILE__IMFILE_PULL_DATA_REQ__INIT;
    req.task_id = (char *)task;
    req.user_id = user;
    req.trans_mode = (IM__BaseDefine__TransferFileType)mode;
    req.offset = offset;
    req.data_size = size;
    return imgate_client_send_msg(c, SID_FILE, CID_FILE_PULL_DATA_REQ, &req.base, seq);
}

/* The next pull request on `c` (and its seq); NULL if none came in time. */
static inline IM__File__IMFilePullDataReq *file_wait_pull(imgate_client *c, uint16_t *seq, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_FILE_PULL_DATA_REQ, -1, &pdu, timeout_ms) != 0)
        return NULL;
    if (seq)
        *seq = pdu.h.seq_num;
    IM__File__IMFilePullDataReq *m = im__file__imfile_pull_data_req__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return m;
}

/* Sends IMFilePullDataRsp with `seq` (the seq of the pull it answers, as clients do). */
static inline int file_send_data(imgate_client *c, uint16_t seq, const char *task, uint32_t user, uint32_t offset,
                                 const uint8_t *data, size_t len, uint32_t result)
{
    IM__File__IMFilePullDataRsp rsp = IM__FILE__IMFILE_PULL_DATA_RSP__INIT;
    rsp.result_code = result;
    rsp.task_id = (char *)task;
    rsp.user_id = user;
    rsp.offset = offset;
    rsp.file_data.data = (uint8_t *)data;
    rsp.file_data.len = len;
    size_t n = protobuf_c_message_get_packed_size(&rsp.base);
    uint8_t *buf = malloc(n + IMGATE_PDU_HEADER_LEN);
    imgate_pdu_header hd;
    imgate_pdu_header_make(&hd, SID_FILE, CID_FILE_PULL_DATA_RSP, seq, n);
    imgate_pdu_header_encode(&hd, buf);
    protobuf_c_message_pack(&rsp.base, buf + IMGATE_PDU_HEADER_LEN);
    int rc = imgate_client_send_raw(c, buf, n + IMGATE_PDU_HEADER_LEN);
    free(buf);
    return rc;
}

/* The next data answer on `c`; NULL if none came in time. */
static inline IM__File__IMFilePullDataRsp *file_wait_data(imgate_client *c, uint16_t *seq, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_FILE_PULL_DATA_RSP, -1, &pdu, timeout_ms) != 0)
        return NULL;
    if (seq)
        *seq = pdu.h.seq_num;
    IM__File__IMFilePullDataRsp *m = im__file__imfile_pull_data_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return m;
}

static inline int file_send_state(imgate_client *c, uint32_t state, const char *task, uint32_t user)
{
    IM__File__IMFileState m = IM__FILE__IMFILE_STATE__INIT;
    m.state = (IM__BaseDefine__ClientFileState)state;
    m.task_id = (char *)task;
    m.user_id = user;
    return imgate_client_send_msg(c, SID_FILE, CID_FILE_STATE, &m.base, NULL);
}

/* The next IMFileState's state on `c` (its user id in *user), or -1. */
static inline int file_wait_state(imgate_client *c, uint32_t *user, int timeout_ms)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_FILE_STATE, -1, &pdu, timeout_ms) != 0)
        return -1;
    IM__File__IMFileState *m = im__file__imfile_state__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int st = m ? (int)m->state : -1;
    if (m && user)
        *user = m->user_id;
    if (m)
        im__file__imfile_state__free_unpacked(m, NULL);
    return st;
}

/*
 * Relays `len` bytes from the sending connection S to the receiving one R,
 * as the two clients would: R pulls `block` bytes at a time with up to
 * `window` pulls open, S answers each pull from `data`. Starts at `from`,
 * stops before `until`. Returns the bytes R received (in `out` at their
 * offsets), or -1 on the first thing that goes wrong.
 */
static inline long long relay_range(imgate_client *s, imgate_client *r, const char *task, uint32_t sender,
                                    uint32_t receiver, const uint8_t *data, uint32_t from, uint32_t until,
                                    uint32_t block, unsigned window, uint8_t *out)
{
    uint32_t next_pull = from, received = 0, total = until - from;
    unsigned open = 0;
    while (received < total) {
        while (open < window && next_pull < until) {
            uint32_t n = until - next_pull < block ? until - next_pull : block;
            if (file_send_pull(r, task, receiver, FILE_TYPE_ONLINE, next_pull, n, NULL) != 0)
                return -1;
            next_pull += n;
            open++;
        }
        uint16_t seq;
        IM__File__IMFilePullDataReq *p = file_wait_pull(s, &seq, 5000);
        if (p == NULL)
            return -1;
        int bad = p->offset + p->data_size > until || p->user_id != receiver || strcmp(p->task_id, task) != 0;
        uint32_t off = p->offset, sz = p->data_size;
        im__file__imfile_pull_data_req__free_unpacked(p, NULL);
        if (bad || file_send_data(s, seq, task, sender, off, data + off, sz, 0) != 0)
            return -1;
        IM__File__IMFilePullDataRsp *d = file_wait_data(r, NULL, 5000);
        if (d == NULL)
            return -1;
        bad = d->result_code != 0 || d->offset + d->file_data.len > until;
        if (!bad)
            memcpy(out + d->offset, d->file_data.data, d->file_data.len);
        received += (uint32_t)d->file_data.len;
        im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
        if (bad)
            return -1;
        open--;
    }
    return received;
}

/* The reference's 960-byte header (protocol H.9), as a reference file server writes it. */
static inline void reference_header(uint8_t out[HEADER_LEN], const char *task, uint32_t from, uint32_t to,
                                    long long created, uint32_t size)
{
    memset(out, 0, HEADER_LEN);
    snprintf((char *)out, 128, "%s", task);
    snprintf((char *)out + 128, 64, "%u", from);
    snprintf((char *)out + 192, 64, "%u", to);
    snprintf((char *)out + 256, 128, "%lld", created);
    snprintf((char *)out + 896, 64, "%u", size);
}

/* <dir>/<2 chars>/<task>[suffix] */
static inline void stored_path(const char *dir, const char *task, const char *suffix, char *out, size_t len)
{
    if (snprintf(out, len, "%s/%.2s/%s%s", dir, task, task, suffix) >= (int)len)
        tap_bail("path too long under %s", dir);
}

static inline int path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* The number printed by one SQL query ("" -> -1). */
static inline long long sql_number(harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline long long sql_number(harness *h, const char *fmt, ...)
{
    char sql[2048], out[64] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (harness_sql(h, sql, out, sizeof out) != 0 || out[0] == '\0')
        return -1;
    return atoll(out);
}

/* VmRSS of a process in KiB, or -1. */
static inline long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

#endif
