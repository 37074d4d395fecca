/*
 * cli_file.c — imgate-cli's file transfer commands, speaking the file
 * protocol as a TeamTalk PC client does (protocol H.9):
 *
 *   file-send USER PASS TO_ID PATH [online|offline]
 *       asks to send PATH to user TO_ID; online (the default) waits for the
 *       receiver to accept and serves its pulls; when the receiver has no PC
 *       online the server makes it offline: the file is uploaded, then
 *       announced with IMFileAddOfflineReq
 *   file-recv USER PASS [DIR [WAIT_SECONDS]]
 *       downloads (and then deletes) every offline file waiting for USER into
 *       DIR (default .), then waits up to WAIT_SECONDS (default 30) for a
 *       file sent to USER and receives it
 *
 * File connections go to the first address the server advertises; if that
 * cannot be reached, to -H/-p.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "IM.File.pb-c.h"
#include "IM.Other.pb-c.h"
#include "cli.h"
#include "imgate/teamtalk.h"

#define SEGMENT 32768u
#define HEARTBEAT_MS 30000
#define CLIENT_WINDOWS 1

/* A file connection to the advertised address (or -H/-p), logged in with `role`. */
static imgate_client *file_connect(const cli_options *opt, const char *ip, uint32_t port, uint32_t user,
                                   const char *task, uint32_t role)
{
    imgate_client *c = NULL;
    if (ip && *ip && port > 0 && port <= 65535)
        c = imgate_client_connect(ip, (uint16_t)port, opt->timeout_ms);
    if (c == NULL)
        c = cli_connect(opt);
    if (c == NULL)
        return NULL;
    IM__File__IMFileLoginReq req = IM__FILE__IMFILE_LOGIN_REQ__INIT;
    req.user_id = user;
    req.task_id = (char *)task;
    req.file_role = (IM__BaseDefine__ClientFileRole)role;
    IM__File__IMFileLoginRsp *rsp = (IM__File__IMFileLoginRsp *)cli_call(
        opt, c, "file login", SID_FILE, CID_FILE_LOGIN_REQ, &req.base, CID_FILE_LOGIN_RES,
        &im__file__imfile_login_rsp__descriptor);
    if (rsp == NULL || rsp->result_code != 0) {
        if (rsp) {
            fprintf(stderr, "imgate-cli: file login (role %u) refused\n", role);
            protobuf_c_message_free_unpacked(&rsp->base, NULL);
        }
        imgate_client_close(c);
        return NULL;
    }
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    return c;
}

static const char *state_name(int st)
{
    switch (st) {
    case CLIENT_FILE_PEER_READY: return "peer ready";
    case CLIENT_FILE_CANCEL: return "cancelled";
    case CLIENT_FILE_REFUSE: return "refused";
    case CLIENT_FILE_DONE: return "done";
    default: return "?";
    }
}

static int read_at(int fd, uint8_t *buf, size_t len, off_t at)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, at);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

static int write_at(int fd, const uint8_t *buf, size_t len, off_t at)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, at);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

/* The sending side: answers every pull from `fd` until an IMFileState ends it. Returns the final
 * state, or -1 when the connection ends without one. */
static int serve_pulls(imgate_client *c, imgate_client *msg, int fd, const char *task, uint32_t user, uint32_t size,
                       uint64_t *served)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    double last_beat = cli_now_seconds();
    for (;;) {
        if (cli_now_seconds() - last_beat >= HEARTBEAT_MS / 1000.0) {
            /* The message connection is idle meanwhile: keep it (it announces an offline file). */
            imgate_client_send(msg, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL);
            last_beat = cli_now_seconds();
        }
        imgate_client_pdu pdu = {0};
        int rc = imgate_client_recv(c, &pdu, HEARTBEAT_MS);
        if (rc == IMGATE_CLIENT_TIMEOUT) {
            imgate_client_send(c, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL); /* keep it open while we wait */
            continue;
        }
        if (rc != IMGATE_CLIENT_OK) {
            free(buf);
            return -1;
        }
        if (pdu.h.command_id == CID_FILE_STATE) {
            IM__File__IMFileState *st = im__file__imfile_state__unpack(NULL, pdu.body_len, pdu.body);
            int s = st ? (int)st->state : -1;
            if (st)
                im__file__imfile_state__free_unpacked(st, NULL);
            imgate_client_pdu_free(&pdu);
            if (s == CLIENT_FILE_PEER_READY)
                continue;
            free(buf);
            return s;
        }
        if (pdu.h.command_id != CID_FILE_PULL_DATA_REQ) {
            imgate_client_pdu_free(&pdu);
            continue;
        }
        IM__File__IMFilePullDataReq *p = im__file__imfile_pull_data_req__unpack(NULL, pdu.body_len, pdu.body);
        imgate_client_pdu_free(&pdu);
        if (p == NULL)
            continue;
        IM__File__IMFilePullDataRsp rsp = IM__FILE__IMFILE_PULL_DATA_RSP__INIT;
        rsp.task_id = (char *)task;
        rsp.user_id = user;
        rsp.offset = p->offset;
        uint32_t len = p->data_size;
        if (p->offset > size || len > size - p->offset || len > 64u * 1024 * 1024) {
            rsp.result_code = 1;
        } else {
            if (len > cap) {
                uint8_t *grown = realloc(buf, len);
                if (grown == NULL) {
                    im__file__imfile_pull_data_req__free_unpacked(p, NULL);
                    free(buf);
                    return -1;
                }
                buf = grown;
                cap = len;
            }
            if (read_at(fd, buf, len, p->offset) != 0) {
                rsp.result_code = 1;
            } else {
                rsp.file_data.data = buf;
                rsp.file_data.len = len;
                *served += len;
            }
        }
        im__file__imfile_pull_data_req__free_unpacked(p, NULL);
        if (imgate_client_send_msg(c, SID_FILE, CID_FILE_PULL_DATA_RSP, &rsp.base, NULL) != IMGATE_CLIENT_OK) {
            free(buf);
            return -1;
        }
    }
}

static int cmd_file_send(const cli_options *opt, int argc, char **argv)
{
    uint32_t to_id;
    if (cli_parse_u32(argv[2], &to_id) != 0 || to_id == 0) {
        fprintf(stderr, "imgate-cli: file-send: TO_ID must be a user id\n");
        return 2;
    }
    uint32_t mode = FILE_TYPE_ONLINE;
    if (argc == 5) {
        if (strcmp(argv[4], "offline") == 0)
            mode = FILE_TYPE_OFFLINE;
        else if (strcmp(argv[4], "online") != 0) {
            fprintf(stderr, "imgate-cli: file-send: the mode is online or offline\n");
            return 2;
        }
    }
    int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size > 0xffffffffLL) {
        fprintf(stderr, "imgate-cli: file-send: %s: %s\n", argv[3],
                fd < 0 ? strerror(errno) : "not a non-empty regular file under 4 GiB");
        if (fd >= 0)
            close(fd);
        return 1;
    }
    uint32_t size = (uint32_t)st.st_size;
    const char *name = strrchr(argv[3], '/') ? strrchr(argv[3], '/') + 1 : argv[3];
    uint32_t me = 0;
    imgate_client *msg = cli_login(opt, argv[0], argv[1], CLIENT_WINDOWS, &me);
    if (msg == NULL) {
        close(fd);
        return 1;
    }
    IM__File__IMFileReq req = IM__FILE__IMFILE_REQ__INIT;
    req.from_user_id = me;
    req.to_user_id = to_id;
    req.file_name = (char *)name;
    req.file_size = size;
    req.trans_mode = (IM__BaseDefine__TransferFileType)mode;
    IM__File__IMFileRsp *rsp = (IM__File__IMFileRsp *)cli_call(
        opt, msg, "file-send", SID_FILE, CID_FILE_REQUEST, &req.base, CID_FILE_RESPONSE,
        &im__file__imfile_rsp__descriptor);
    if (rsp == NULL || rsp->result_code != 0) {
        if (rsp) {
            fprintf(stderr, "imgate-cli: file-send: request refused\n");
            protobuf_c_message_free_unpacked(&rsp->base, NULL);
        }
        imgate_client_close(msg);
        close(fd);
        return 1;
    }
    int offline = rsp->trans_mode == FILE_TYPE_OFFLINE;
    const char *ip = rsp->n_ip_addr_list ? rsp->ip_addr_list[0]->ip : NULL;
    uint32_t port = rsp->n_ip_addr_list ? rsp->ip_addr_list[0]->port : 0;
    printf("task: %s\nmode: %s%s\naddress: %s:%u\n", rsp->task_id, offline ? "offline" : "online",
           offline && mode == FILE_TYPE_ONLINE ? " (the receiver has no PC online)" : "", ip ? ip : "", port);
    fflush(stdout);
    double started = cli_now_seconds();
    imgate_client *fc =
        file_connect(opt, ip, port, me, rsp->task_id, offline ? CLIENT_OFFLINE_UPLOAD : CLIENT_REALTIME_SENDER);
    int final = -1;
    uint64_t served = 0;
    if (fc != NULL) {
        if (!offline)
            printf("waiting for user %u to accept\n", to_id);
        fflush(stdout);
        final = serve_pulls(fc, msg, fd, rsp->task_id, me, size, &served);
        imgate_client_close(fc);
    }
    double secs = cli_now_seconds() - started;
    int ok = final == CLIENT_FILE_DONE;
    if (ok && offline) {
        /* protocol H.9: after DONE the sender announces the stored file; the receiver is notified */
        IM__File__IMFileAddOfflineReq add = IM__FILE__IMFILE_ADD_OFFLINE_REQ__INIT;
        add.from_user_id = me;
        add.to_user_id = to_id;
        add.task_id = rsp->task_id;
        add.file_name = (char *)name;
        add.file_size = size;
        imgate_client_send_msg(msg, SID_FILE, CID_FILE_ADD_OFFLINE_REQ, &add.base, NULL);
        imgate_client_send(msg, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL);
        imgate_client_pdu pdu = {0};
        imgate_client_wait(msg, CID_OTHER_HEARTBEAT, -1, &pdu, opt->timeout_ms); /* it has been read */
        imgate_client_pdu_free(&pdu);
    }
    printf("result: %s, %llu bytes in %.2f s%s\n", final < 0 ? "connection closed" : state_name(final),
           (unsigned long long)served, secs, ok && offline ? " (stored offline)" : "");
    protobuf_c_message_free_unpacked(&rsp->base, NULL);
    imgate_client_close(msg);
    close(fd);
    return ok ? 0 : 1;
}

/* --- receiving ------------------------------------------------------------------------------ */

/* DIR/NAME, never outside DIR and never over an existing file (then NAME.TASK). */
static int create_output(const char *dir, const char *name, const char *task, char *path, size_t len)
{
    const char *base = name;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        base = task;
    snprintf(path, len, "%s/%s", dir, base);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        snprintf(path, len, "%s/%s.%s", dir, base, task);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        fprintf(stderr, "imgate-cli: file-recv: %s: %s\n", path, strerror(errno));
    return fd;
}

/* Pulls the whole file over `c` (online: block by block; offline: segment by segment). */
static int pull_file(const cli_options *opt, imgate_client *c, int fd, const char *task, uint32_t me, uint32_t size,
                     uint32_t mode)
{
    for (uint32_t off = 0; off < size;) {
        uint32_t want = size - off < SEGMENT ? size - off : SEGMENT;
        IM__File__IMFilePullDataReq req = IM__FILE__IMFILE_PULL_DATA_REQ__INIT;
        req.task_id = (char *)task;
        req.user_id = me;
        req.trans_mode = (IM__BaseDefine__TransferFileType)mode;
        req.offset = off;
        req.data_size = want;
        imgate_client_pdu pdu = {0};
        int rc = imgate_client_call(c, SID_FILE, CID_FILE_PULL_DATA_REQ, &req.base, CID_FILE_PULL_DATA_RSP, &pdu,
                                    opt->timeout_ms > 30000 ? opt->timeout_ms : 30000);
        IM__File__IMFilePullDataRsp *d =
            rc == 0 ? im__file__imfile_pull_data_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
        imgate_client_pdu_free(&pdu);
        if (d == NULL || d->result_code != 0 || d->offset != off || d->file_data.len == 0 ||
            d->file_data.len > size - off || write_at(fd, d->file_data.data, d->file_data.len, off) != 0) {
            fprintf(stderr, "imgate-cli: file-recv: block at %u failed (%s)\n", off,
                    d ? "bad answer or write error" : "no answer");
            if (d)
                im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
            return -1;
        }
        off += (uint32_t)d->file_data.len;
        im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
    }
    return 0;
}

static int wait_state(imgate_client *c, int timeout_ms)
{
    imgate_client_pdu pdu = {0};
    if (imgate_client_wait(c, CID_FILE_STATE, -1, &pdu, timeout_ms) != 0)
        return -1;
    IM__File__IMFileState *st = im__file__imfile_state__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int s = st ? (int)st->state : -1;
    if (st)
        im__file__imfile_state__free_unpacked(st, NULL);
    return s;
}

/* Receives one file; 0 on success. */
static int receive(const cli_options *opt, imgate_client *msg, const char *dir, uint32_t me, uint32_t from,
                   const char *task, const char *name, uint32_t size, int offline, const char *ip, uint32_t port)
{
    char path[4096];
    int fd = create_output(dir, name, task, path, sizeof path);
    if (fd < 0)
        return -1;
    double started = cli_now_seconds();
    imgate_client *c =
        file_connect(opt, ip, port, me, task, offline ? CLIENT_OFFLINE_DOWNLOAD : CLIENT_REALTIME_RECVER);
    int ok = 0;
    if (c != NULL) {
        int ready =
            offline || wait_state(c, opt->timeout_ms > 30000 ? opt->timeout_ms : 30000) == CLIENT_FILE_PEER_READY;
        if (ready && pull_file(opt, c, fd, task, me, size, offline ? FILE_TYPE_OFFLINE : FILE_TYPE_ONLINE) == 0) {
            if (offline) {
                ok = wait_state(c, opt->timeout_ms) == CLIENT_FILE_DONE;
            } else {
                IM__File__IMFileState done = IM__FILE__IMFILE_STATE__INIT;
                done.state = CLIENT_FILE_DONE;
                done.task_id = (char *)task;
                done.user_id = me;
                ok = imgate_client_send_msg(c, SID_FILE, CID_FILE_STATE, &done.base, NULL) == 0;
                imgate_client_wait_closed(c, opt->timeout_ms); /* the server closes it once DONE is relayed */
            }
        }
        imgate_client_close(c);
    }
    close(fd);
    if (!ok) {
        unlink(path);
        fprintf(stderr, "imgate-cli: file-recv: %s from user %u failed\n", name, from);
        return -1;
    }
    if (offline) {
        IM__File__IMFileDelOfflineReq del = IM__FILE__IMFILE_DEL_OFFLINE_REQ__INIT;
        del.from_user_id = from;
        del.to_user_id = me;
        del.task_id = (char *)task;
        imgate_client_send_msg(msg, SID_FILE, CID_FILE_DEL_OFFLINE_REQ, &del.base, NULL);
    }
    printf("received: %s (%u bytes from user %u, %s, %.2f s)\n", path, size, from, offline ? "offline" : "online",
           cli_now_seconds() - started);
    fflush(stdout);
    return 0;
}

static int cmd_file_recv(const cli_options *opt, int argc, char **argv)
{
    const char *dir = argc >= 3 ? argv[2] : ".";
    uint32_t wait_s = 30;
    if (argc >= 4 && cli_parse_u32(argv[3], &wait_s) != 0) {
        fprintf(stderr, "imgate-cli: file-recv: WAIT_SECONDS must be a number\n");
        return 2;
    }
    uint32_t me = 0;
    imgate_client *msg = cli_login(opt, argv[0], argv[1], CLIENT_WINDOWS, &me);
    if (msg == NULL)
        return 1;
    int received = 0, failed = 0;
    IM__File__IMFileHasOfflineReq has = IM__FILE__IMFILE_HAS_OFFLINE_REQ__INIT;
    has.user_id = me;
    /* Without the list, still wait for a file sent now. */
    IM__File__IMFileHasOfflineRsp *list = (IM__File__IMFileHasOfflineRsp *)cli_call(
        opt, msg, "file-recv", SID_FILE, CID_FILE_HAS_OFFLINE_REQ, &has.base, CID_FILE_HAS_OFFLINE_RES,
        &im__file__imfile_has_offline_rsp__descriptor);
    if (list) {
        const char *ip = list->n_ip_addr_list ? list->ip_addr_list[0]->ip : NULL;
        uint32_t port = list->n_ip_addr_list ? list->ip_addr_list[0]->port : 0;
        printf("offline files waiting: %zu\n", list->n_offline_file_list);
        for (size_t i = 0; i < list->n_offline_file_list; i++) {
            IM__BaseDefine__OfflineFileInfo *f = list->offline_file_list[i];
            if (receive(opt, msg, dir, me, f->from_user_id, f->task_id, f->file_name, f->file_size, 1, ip, port) == 0)
                received++;
            else
                failed++;
        }
        protobuf_c_message_free_unpacked(&list->base, NULL);
    }
    fflush(stdout);
    /* Then a file sent now: IMFileNotify, online (offline_ready 0) or stored (offline_ready 1). */
    imgate_client_pdu pdu = {0};
    double deadline = cli_now_seconds() + wait_s;
    while (wait_s > 0 && cli_now_seconds() < deadline) {
        int left_ms = (int)((deadline - cli_now_seconds()) * 1000);
        if (left_ms <= 0)
            break;
        int rc = imgate_client_wait(msg, CID_FILE_NOTIFY, -1, &pdu, left_ms < HEARTBEAT_MS ? left_ms : HEARTBEAT_MS);
        if (rc == IMGATE_CLIENT_TIMEOUT) {
            imgate_client_send(msg, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL);
            continue;
        }
        if (rc != 0)
            break;
        IM__File__IMFileNotify *n = im__file__imfile_notify__unpack(NULL, pdu.body_len, pdu.body);
        imgate_client_pdu_free(&pdu);
        if (n == NULL)
            continue;
        int offline = n->trans_mode == FILE_TYPE_OFFLINE;
        if (offline && !n->offline_ready) {
            /* announced before the upload: the stored file comes with offline_ready 1 */
            im__file__imfile_notify__free_unpacked(n, NULL);
            continue;
        }
        const char *ip = n->n_ip_addr_list ? n->ip_addr_list[0]->ip : NULL;
        uint32_t port = n->n_ip_addr_list ? n->ip_addr_list[0]->port : 0;
        if (receive(opt, msg, dir, me, n->from_user_id, n->task_id, n->file_name, n->file_size, offline, ip, port) == 0)
            received++;
        else
            failed++;
        im__file__imfile_notify__free_unpacked(n, NULL);
        break;
    }
    /* Let the server read what was sent last (a delete) before the connection goes. */
    imgate_client_send(msg, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, NULL);
    imgate_client_wait(msg, CID_OTHER_HEARTBEAT, -1, &pdu, opt->timeout_ms);
    imgate_client_pdu_free(&pdu);
    imgate_client_close(msg);
    printf("files received: %d%s\n", received, failed ? " (some failed)" : "");
    return received > 0 && failed == 0 ? 0 : 1;
}

const cli_command cli_file_commands[] = {
    {"file-send", "USER PASS TO_ID PATH [online|offline]", 4, 5, cmd_file_send,
     "send a file (online if the receiver has a PC online, else stored offline); exit 0 when done"},
    {"file-recv", "USER PASS [DIR [WAIT_SECONDS]]", 2, 4, cmd_file_recv,
     "receive waiting offline files into DIR, then one file sent within WAIT_SECONDS (30)"},
    {NULL, NULL, 0, 0, NULL, NULL},
};
