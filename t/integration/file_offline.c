/*
 * file_offline.c — the file plugin's offline transfers over the real
 * protocol, against the real MariaDB, Redis and disk: upload (the server
 * pulls 32 KiB segments), the stored file in the reference's layout and its
 * IMTransmitFile row, IMFileAddOfflineReq notifying the receiver, the
 * has-offline list, download with a checksum, delete; a file a reference
 * file server left on disk downloads; bad uploads (wrong offset, wrong size,
 * an oversized segment, a client error, a cancel, a vanishing uploader, a
 * second uploader, a reused task id) leave nothing half-written listed; the
 * per-sender quota; a full and a read-only storage directory; a reload
 * mid-upload; expiry of old files and abandoned partial uploads.
 */
#include <signal.h>
#include <sys/mount.h>
#include <time.h>
#include <utime.h>

#include "file_util.h"

#define ALICE 301
#define BOB 302
#define CAROL 303
#define ERIN 304

static harness *h;
static char storage[4096];
static imgate_client *alice, *bob, *carol, *erin;

/* Answers the server's pulls with `data` until DONE (1) or anything else (0). `stop_after`
 * segments, if non-zero, ends early (returns 1 once they are sent). */
static int upload_all(imgate_client *u, const char *task, uint32_t user, const uint8_t *data, uint32_t size,
                      uint32_t from_offset, unsigned stop_after)
{
    uint32_t expect = from_offset;
    unsigned sent = 0;
    while (expect < size) {
        uint16_t seq;
        IM__File__IMFilePullDataReq *p = file_wait_pull(u, &seq, 5000);
        if (p == NULL)
            return 0;
        uint32_t want = size - expect < SEG ? size - expect : SEG;
        int ok = p->offset == expect && p->data_size == want && p->trans_mode == FILE_TYPE_OFFLINE &&
                 p->user_id == user && strcmp(p->task_id, task) == 0;
        im__file__imfile_pull_data_req__free_unpacked(p, NULL);
        if (!ok || file_send_data(u, seq, task, user, expect, data + expect, want, 0) != 0)
            return 0;
        expect += want;
        if (stop_after && ++sent == stop_after)
            return 1;
    }
    uint32_t who = 0;
    return file_wait_state(u, &who, 10000) == CLIENT_FILE_DONE;
}

/* Downloads the whole file into `out` (size known); 1 when DONE came after the last segment. */
static int download_all(imgate_client *d, const char *task, uint32_t user, uint8_t *out, uint32_t size,
                        uint32_t *done_user)
{
    for (uint32_t off = 0; off < size; off += SEG) {
        /* data_size is ignored by the server (protocol H.9): ask for something else on purpose */
        if (file_send_pull(d, task, user, FILE_TYPE_OFFLINE, off, 1, NULL) != 0)
            return 0;
        IM__File__IMFilePullDataRsp *r = file_wait_data(d, NULL, 5000);
        if (r == NULL)
            return 0;
        uint32_t want = size - off < SEG ? size - off : SEG;
        int ok = r->result_code == 0 && r->offset == off && r->file_data.len == want;
        if (ok)
            memcpy(out + off, r->file_data.data, want);
        im__file__imfile_pull_data_rsp__free_unpacked(r, NULL);
        if (!ok)
            return 0;
    }
    return file_wait_state(d, done_user, 5000) == CLIENT_FILE_DONE;
}

static void add_offline(imgate_client *c, uint32_t from, uint32_t to, const char *task, const char *name, uint32_t size)
{
    IM__File__IMFileAddOfflineReq m = IM__FILE__IMFILE_ADD_OFFLINE_REQ__INIT;
    m.from_user_id = from;
    m.to_user_id = to;
    m.task_id = (char *)task;
    m.file_name = (char *)name;
    m.file_size = size;
    imgate_client_send_msg(c, SID_FILE, CID_FILE_ADD_OFFLINE_REQ, &m.base, NULL);
}

static void del_offline(imgate_client *c, uint32_t from, uint32_t to, const char *task)
{
    IM__File__IMFileDelOfflineReq m = IM__FILE__IMFILE_DEL_OFFLINE_REQ__INIT;
    m.from_user_id = from;
    m.to_user_id = to;
    m.task_id = (char *)task;
    imgate_client_send_msg(c, SID_FILE, CID_FILE_DEL_OFFLINE_REQ, &m.base, NULL);
}

static IM__File__IMFileHasOfflineRsp *has_offline(imgate_client *c, uint32_t user)
{
    IM__File__IMFileHasOfflineReq m = IM__FILE__IMFILE_HAS_OFFLINE_REQ__INIT;
    m.user_id = user;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_FILE, CID_FILE_HAS_OFFLINE_REQ, &m.base, CID_FILE_HAS_OFFLINE_RES, &pdu, 5000) != 0)
        return NULL;
    IM__File__IMFileHasOfflineRsp *r = im__file__imfile_has_offline_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return r;
}

/* The listed entry for `task` in bob's (or anyone's) has-offline answer, or -1 if absent. */
static int list_index(const IM__File__IMFileHasOfflineRsp *r, const char *task)
{
    for (size_t i = 0; r && i < r->n_offline_file_list; i++)
        if (strcmp(r->offline_file_list[i]->task_id, task) == 0)
            return (int)i;
    return -1;
}

static long long rows_for(const char *task)
{
    return sql_number(h, "SELECT COUNT(*) FROM IMTransmitFile WHERE taskId = '%s'", task);
}

/* Polls until `path` is gone (a worker removes it after the close). */
static int gone_soon(const char *path)
{
    for (int i = 0; i < 60 && path_exists(path); i++) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    return !path_exists(path);
}

static void test_upload_download(void)
{
    const uint32_t size = 3 * SEG + 1234;
    uint32_t mode = 0;
    char *task = file_task(alice, ALICE, BOB, "季度报告.pdf", size, FILE_TYPE_OFFLINE, &mode);
    tap_ok(task && mode == FILE_TYPE_OFFLINE, "an offline request gets a task (trans_mode 2)");
    if (task == NULL)
        return;
    uint8_t *data = pattern(size, 21);
    imgate_client *u = file_conn(h, 0, ALICE, task, CLIENT_OFFLINE_UPLOAD);
    tap_ok(u != NULL, "the sender logs in to upload");
    tap_ok(u && upload_all(u, task, ALICE, data, size, 0, 0),
           "the server pulls 32 KiB segments at index*32768 (the last one shorter), then says DONE");
    tap_is_int(u ? imgate_client_wait_closed(u, 3000) : 0, IMGATE_CLIENT_CLOSED,
               "the uploader's connection is closed after DONE");
    imgate_client_close(u);

    tap_is_int(sql_number(h,
                          "SELECT COUNT(*) FROM IMTransmitFile WHERE taskId = '%s' AND fromId = %d AND toId = %d"
                          " AND size = %u AND status = 0 AND fileName = '季度报告.pdf' AND created > 0",
                          task, ALICE, BOB, size),
               1, "the upload is listed in IMTransmitFile before DONE");
    char path[4096], part[4096];
    stored_path(storage, task, "", path, sizeof path);
    stored_path(storage, task, ".part", part, sizeof part);
    FILE *f = fopen(path, "rb");
    tap_ok(f != NULL, "the file is stored at <dir>/<2 chars>/<task id>");
    if (f) {
        uint8_t *raw = malloc(HEADER_LEN + size + 1);
        size_t n = fread(raw, 1, HEADER_LEN + size + 1, f);
        fclose(f);
        tap_is_int(n, HEADER_LEN + size, "960-byte header + data");
        char num[65];
        tap_ok(strncmp((char *)raw, task, 128) == 0, "header: task id");
        snprintf(num, sizeof num, "%.64s", (char *)raw + 128);
        tap_is_int(atoi(num), ALICE, "header: from_user_id in decimal");
        snprintf(num, sizeof num, "%.64s", (char *)raw + 192);
        tap_is_int(atoi(num), BOB, "header: to_user_id");
        snprintf(num, sizeof num, "%.64s", (char *)raw + 256);
        tap_ok(atoll(num) > 1600000000, "header: create_time");
        tap_ok(raw[384] == 0, "header: file_name written empty, as the reference");
        snprintf(num, sizeof num, "%.64s", (char *)raw + 896);
        tap_is_int(atoi(num), size, "header: file_size");
        tap_ok(memcmp(raw + HEADER_LEN, data, size) == 0, "the data follows the header, intact");
        free(raw);
    }
    tap_ok(!path_exists(part), "no partial file is left");

    bob = pc_login(h, 0, "bob", "bob123");
    add_offline(alice, ALICE, BOB, task, "季度报告.pdf", size);
    IM__File__IMFileNotify *n = wait_file_notify(bob, 3000);
    tap_ok(n && strcmp(n->task_id, task) == 0 && n->offline_ready == 1 && n->trans_mode == FILE_TYPE_OFFLINE &&
               n->from_user_id == ALICE && n->file_size == size && n->n_ip_addr_list == 1,
           "IMFileAddOfflineReq: the receiver gets IMFileNotify{offline_ready 1, trans_mode 2}");
    if (n)
        im__file__imfile_notify__free_unpacked(n, NULL);
    tap_is_int(rows_for(task), 1, "adding it again does not list it twice");

    IM__File__IMFileHasOfflineRsp *r = has_offline(bob, BOB);
    int i = list_index(r, task);
    tap_ok(r && r->user_id == BOB && i >= 0 && r->n_ip_addr_list == 1 &&
               r->ip_addr_list[0]->port == harness_node_port(h, 0),
           "IMFileHasOfflineRsp lists the file and an address that serves it");
    if (i >= 0)
        tap_ok(r->offline_file_list[i]->from_user_id == ALICE && r->offline_file_list[i]->file_size == size &&
                   strcmp(r->offline_file_list[i]->file_name, "季度报告.pdf") == 0,
               "... with its sender, size and name");
    if (r)
        im__file__imfile_has_offline_rsp__free_unpacked(r, NULL);
    IM__File__IMFileHasOfflineRsp *rc = has_offline(carol, BOB);
    tap_ok(rc && list_index(rc, task) < 0 && rc->user_id == CAROL, "another user asking for bob's list gets her own");
    if (rc)
        im__file__imfile_has_offline_rsp__free_unpacked(rc, NULL);

    imgate_client *bad = harness_connect(h, 0);
    tap_is_int(file_login_rc(bad, CAROL, task, CLIENT_OFFLINE_DOWNLOAD), 1, "a third user cannot download it");
    imgate_client_close(bad);
    imgate_client *d = file_conn(h, 0, BOB, task, CLIENT_OFFLINE_DOWNLOAD);
    tap_ok(d != NULL, "the receiver logs in to download");
    uint8_t *got = calloc(1, size);
    uint32_t who = 0;
    tap_ok(d && download_all(d, task, BOB, got, size, &who), "every segment arrives, then DONE");
    tap_is_int(who, ALICE, "DONE names the sender");
    tap_ok(checksum(got, size) == checksum(data, size), "the downloaded file's checksum matches");
    imgate_client_close(d);

    del_offline(carol, ALICE, BOB, task);
    imgate_client *probe = harness_connect(h, 0);
    heartbeat_ok(carol);
    tap_is_int(rows_for(task), 1, "a third user cannot delete it");
    imgate_client_close(probe);
    del_offline(bob, ALICE, BOB, task);
    for (int k = 0; k < 40 && rows_for(task) != 0; k++)
        heartbeat_ok(bob);
    tap_is_int(rows_for(task), 0, "IMFileDelOfflineReq from the receiver deletes the row");
    tap_ok(gone_soon(path), "... and the file");
    r = has_offline(bob, BOB);
    tap_ok(r && list_index(r, task) < 0, "it is no longer listed");
    if (r)
        im__file__imfile_has_offline_rsp__free_unpacked(r, NULL);
    imgate_client *again = harness_connect(h, 0);
    tap_is_int(file_login_rc(again, ALICE, task, CLIENT_OFFLINE_UPLOAD), 1, "its task id cannot be uploaded again");
    imgate_client_close(again);
    add_offline(alice, ALICE, BOB, task, "季度报告.pdf", size);
    tap_ok(wait_file_notify(bob, 1000) == NULL && rows_for(task) == 0, "adding a deleted file lists nothing");
    free(got);
    free(data);
    free(task);
}

/* Writes a file as a reference file server leaves it. */
static void place_reference_file(const char *task, uint32_t from, uint32_t to, const uint8_t *data, uint32_t size,
                                 uint32_t stored_size)
{
    char shard[4096], path[4096];
    if (snprintf(shard, sizeof shard, "%s/%.2s", storage, task) >= (int)sizeof shard)
        tap_bail("path too long");
    mkdir(storage, 0755);
    mkdir(shard, 0755);
    stored_path(storage, task, "", path, sizeof path);
    uint8_t head[HEADER_LEN];
    reference_header(head, task, from, to, 1700000000, size);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        tap_bail("cannot write %s", path);
    fwrite(head, 1, HEADER_LEN, f);
    fwrite(data, 1, stored_size, f);
    fclose(f);
}

static void test_reference_file(void)
{
    const char *task = "5f0c2b7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
    const uint32_t size = 70000;
    uint8_t *data = pattern(size, 33);
    place_reference_file(task, ALICE, BOB, data, size, size);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated)"
             " VALUES (%d, %d, 'old.doc', %u, '%s', 0, 1700000000, 1700000000)",
             ALICE, BOB, size, task);
    harness_sql(h, sql, NULL, 0);
    IM__File__IMFileHasOfflineRsp *r = has_offline(bob, BOB);
    tap_ok(list_index(r, task) >= 0, "a reference server's file is listed from its row");
    if (r)
        im__file__imfile_has_offline_rsp__free_unpacked(r, NULL);
    imgate_client *d = file_conn(h, 0, BOB, task, CLIENT_OFFLINE_DOWNLOAD);
    uint8_t *got = calloc(1, size);
    tap_ok(d && download_all(d, task, BOB, got, size, NULL), "a file in the reference's layout downloads");
    tap_ok(memcmp(got, data, size) == 0, "... intact");
    imgate_client_close(d);

    /* Left on disk without its row: IMFileAddOfflineReq lists it once its header matches. */
    const char *task2 = "6a1d3c8f-2b3c-4d4e-9fa0-1b2c3d4e5f60";
    place_reference_file(task2, ALICE, BOB, data, size, size);
    add_offline(carol, ALICE, BOB, task2, "old2.doc", size);
    tap_ok(wait_file_notify(bob, 1000) == NULL && rows_for(task2) == 0,
           "IMFileAddOfflineReq naming another sender is refused");
    char long_name[600];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    add_offline(alice, ALICE, BOB, task2, long_name, size);
    tap_ok(wait_file_notify(bob, 1000) == NULL && rows_for(task2) == 0, "... and one with a 599-byte name");
    add_offline(alice, ALICE, CAROL, task2, "old2.doc", size);
    tap_ok(wait_file_notify(carol, 1000) == NULL && rows_for(task2) == 0,
           "a header naming another receiver is not listed");
    add_offline(alice, ALICE, BOB, task2, "old2.doc", size);
    IM__File__IMFileNotify *n = wait_file_notify(bob, 3000);
    tap_ok(n && strcmp(n->task_id, task2) == 0 && n->offline_ready == 1,
           "a stored file without a row is listed on add");
    if (n)
        im__file__imfile_notify__free_unpacked(n, NULL);
    tap_is_int(rows_for(task2), 1, "... once");

    /* A file whose length does not match its header is not served (protocol H.9). */
    const char *task3 = "7b2e4d90-3c4d-4e5f-a0b1-2c3d4e5f6071";
    place_reference_file(task3, ALICE, BOB, data, size, size - 100);
    imgate_client *c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, BOB, task3, CLIENT_OFFLINE_DOWNLOAD), 1, "a truncated stored file is refused");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, BOB, "8c3f5ea1-4d5e-4f60-b1c2-3d4e5f607182", CLIENT_OFFLINE_DOWNLOAD), 1,
               "a task with no stored file is refused");
    imgate_client_close(c);

    /* Bad pulls on a download. */
    d = file_conn(h, 0, BOB, task, CLIENT_OFFLINE_DOWNLOAD);
    IM__File__IMFilePullDataRsp *x;
    file_send_pull(d, task, BOB, FILE_TYPE_OFFLINE, 1000, SEG, NULL);
    x = file_wait_data(d, NULL, 3000);
    tap_ok(x && x->result_code == FILE_SERVER_ERRNO_PULL_DATA_SEEK_OFFSET_ERROR && x->file_data.len == 0,
           "a download pull not at a segment offset is refused (code 11)");
    if (x)
        im__file__imfile_pull_data_rsp__free_unpacked(x, NULL);
    file_send_pull(d, task, BOB, FILE_TYPE_OFFLINE, 3 * SEG, SEG, NULL);
    x = file_wait_data(d, NULL, 3000);
    tap_ok(x && x->result_code == FILE_SERVER_ERRNO_PULL_DATA_SEEK_OFFSET_ERROR, "a pull past the end is refused");
    if (x)
        im__file__imfile_pull_data_rsp__free_unpacked(x, NULL);
    file_send_pull(d, task, CAROL, FILE_TYPE_OFFLINE, 0, SEG, NULL);
    x = file_wait_data(d, NULL, 3000);
    tap_ok(x && x->result_code == FILE_SERVER_ERRNO_PULL_DATA_ILLIEAGE_USER, "a pull naming another user is refused");
    if (x)
        im__file__imfile_pull_data_rsp__free_unpacked(x, NULL);
    imgate_client_close(d);
    free(got);
    free(data);
}

/* An upload that goes wrong after `good` segments by `how`; checks the cleanup. */
enum { BAD_OFFSET, BAD_SIZE, BAD_RESULT, BAD_FRAME, BAD_CANCEL, BAD_VANISH };

static void bad_upload(int how, const char *what)
{
    const uint32_t size = 5 * SEG;
    char *task = file_task(alice, ALICE, BOB, "bad.bin", size, FILE_TYPE_OFFLINE, NULL);
    uint8_t *data = pattern(size, 44);
    imgate_client *u = task ? file_conn(h, 0, ALICE, task, CLIENT_OFFLINE_UPLOAD) : NULL;
    if (u == NULL || !upload_all(u, task, ALICE, data, size, 0, 2)) {
        tap_ok(0, "%s: set up", what);
        imgate_client_close(u);
        free(task);
        free(data);
        return;
    }
    uint16_t seq = 0;
    IM__File__IMFilePullDataReq *p = file_wait_pull(u, &seq, 3000);
    uint32_t off = p ? p->offset : 0;
    if (p)
        im__file__imfile_pull_data_req__free_unpacked(p, NULL);
    switch (how) {
    case BAD_OFFSET: file_send_data(u, seq, task, ALICE, off + SEG, data + off, SEG, 0); break;
    case BAD_SIZE: file_send_data(u, seq, task, ALICE, off, data + off, SEG - 1, 0); break;
    case BAD_RESULT: file_send_data(u, seq, task, ALICE, off, NULL, 0, 1); break;
    case BAD_FRAME: {
        uint8_t *big = pattern(40 * 1024, 1);
        file_send_data(u, seq, task, ALICE, off, big, 40 * 1024, 0);
        free(big);
        break;
    }
    case BAD_CANCEL: file_send_state(u, CLIENT_FILE_CANCEL, task, ALICE); break;
    case BAD_VANISH:
        imgate_client_close(u);
        u = NULL;
        break;
    }
    if (how == BAD_OFFSET || how == BAD_SIZE || how == BAD_RESULT)
        tap_is_int(file_wait_state(u, NULL, 3000), CLIENT_FILE_CANCEL, "%s: the uploader is told CANCEL", what);
    if (u)
        tap_is_int(imgate_client_wait_closed(u, 3000), IMGATE_CLIENT_CLOSED, "%s: the upload connection is closed",
                   what);
    imgate_client_close(u);
    char part[4096], path[4096];
    stored_path(storage, task, ".part", part, sizeof part);
    stored_path(storage, task, "", path, sizeof path);
    tap_ok(gone_soon(part) && !path_exists(path), "%s: the partial file is removed", what);
    tap_is_int(rows_for(task), 0, "%s: nothing is listed", what);
    /* The task may be uploaded again, completely. */
    u = file_conn(h, 0, ALICE, task, CLIENT_OFFLINE_UPLOAD);
    tap_ok(u && upload_all(u, task, ALICE, data, size, 0, 0) && rows_for(task) == 1,
           "%s: a new attempt on the same task completes", what);
    imgate_client_close(u);
    free(task);
    free(data);
}

static void test_bad_uploads(void)
{
    bad_upload(BAD_OFFSET, "a segment at the wrong offset");
    bad_upload(BAD_SIZE, "a segment of the wrong size");
    bad_upload(BAD_RESULT, "a client read error (result_code 1)");
    bad_upload(BAD_FRAME, "a segment over the frame cap");
    bad_upload(BAD_CANCEL, "a CANCEL from the uploader");
    bad_upload(BAD_VANISH, "an uploader vanishing mid-upload");

    char *task = file_task(alice, ALICE, BOB, "two.bin", 1000, FILE_TYPE_OFFLINE, NULL);
    imgate_client *u = file_conn(h, 0, ALICE, task, CLIENT_OFFLINE_UPLOAD);
    imgate_client *c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, ALICE, task, CLIENT_OFFLINE_UPLOAD), 1,
               "a second uploader of the same task is refused");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, BOB, task, CLIENT_OFFLINE_UPLOAD), 1, "the receiver cannot upload");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, ALICE, task, CLIENT_REALTIME_SENDER), 1,
               "an online role on an offline task is refused");
    imgate_client_close(c);
    imgate_client_close(u);
    free(task);
    /* Bodies that do not decode: no answer, nothing done, the connection stays. */
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0x01};
    uint16_t cids[] = {CID_FILE_HAS_OFFLINE_REQ, CID_FILE_ADD_OFFLINE_REQ, CID_FILE_DEL_OFFLINE_REQ};
    for (size_t k = 0; k < 3; k++) {
        uint16_t seq;
        imgate_client_send(bob, SID_FILE, cids[k], junk, sizeof junk, &seq);
        imgate_client_pdu pdu;
        tap_is_int(imgate_client_wait(bob, CID_FILE_HAS_OFFLINE_RES, seq, &pdu, 500), IMGATE_CLIENT_TIMEOUT,
                   "a malformed 0x%04x gets no answer", cids[k]);
        tap_ok(heartbeat_ok(bob), "... and the connection stays");
    }
    /* A has-offline request before login: the gate closes the connection. */
    c = harness_connect(h, 0);
    IM__File__IMFileHasOfflineReq m = IM__FILE__IMFILE_HAS_OFFLINE_REQ__INIT;
    m.user_id = BOB;
    imgate_client_send_msg(c, SID_FILE, CID_FILE_HAS_OFFLINE_REQ, &m.base, NULL);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED,
               "IMFileHasOfflineReq before login closes the connection");
    imgate_client_close(c);
}

static void test_quota(void)
{
    /* quota_bytes = 3m for this node: erin stores 2 MiB, then cannot announce 2 MiB more. */
    const uint32_t size = 2 * 1024 * 1024;
    char *task = file_task(erin, ERIN, BOB, "big.iso", size, FILE_TYPE_OFFLINE, NULL);
    uint8_t *data = pattern(size, 55);
    imgate_client *u = task ? file_conn(h, 0, ERIN, task, CLIENT_OFFLINE_UPLOAD) : NULL;
    tap_ok(u && upload_all(u, task, ERIN, data, size, 0, 0), "2 MiB stored within a 3 MiB quota");
    imgate_client_close(u);
    IM__File__IMFileRsp *rsp = file_request(erin, ERIN, BOB, "more.iso", size, FILE_TYPE_OFFLINE);
    tap_ok(rsp && rsp->result_code == 1, "an offline request over the sender's quota is refused");
    if (rsp)
        im__file__imfile_rsp__free_unpacked(rsp, NULL);
    rsp = file_request(erin, ERIN, BOB, "small.txt", 1000, FILE_TYPE_OFFLINE);
    tap_ok(rsp && rsp->result_code == 0, "one within it is accepted");
    if (rsp)
        im__file__imfile_rsp__free_unpacked(rsp, NULL);
    free(data);
    free(task);
}

/* Storage directories that cannot take the upload: a tiny filesystem and a read-only one. */
static char full_dir[4096], ro_dir[4096];
static int mounted_full, mounted_ro;

static void unmount_all(void)
{
    if (mounted_full)
        umount2(full_dir, MNT_DETACH);
    if (mounted_ro)
        umount2(ro_dir, MNT_DETACH);
    mounted_full = mounted_ro = 0;
}

static void test_full_and_readonly(void)
{
    snprintf(full_dir, sizeof full_dir, "%s/full", harness_dir(h));
    snprintf(ro_dir, sizeof ro_dir, "%s/readonly", harness_dir(h));
    mkdir(full_dir, 0755);
    mkdir(ro_dir, 0755);
    atexit(unmount_all);
    /* A real full disk and a real read-only filesystem where the test may mount them (root);
     * otherwise a directory without write permission, and free space short of min_free. */
    mounted_full = mount("tmpfs", full_dir, "tmpfs", 0, "size=256k") == 0;
    mounted_ro = mount("tmpfs", ro_dir, "tmpfs", MS_RDONLY, "size=64k") == 0;
    char ro_storage[4200];
    if (mounted_ro) {
        snprintf(ro_storage, sizeof ro_storage, "%s/offline", ro_dir);
    } else if (geteuid() != 0) {
        chmod(ro_dir, 0555);
        snprintf(ro_storage, sizeof ro_storage, "%s/offline", ro_dir);
    } else {
        /* root without mount(2): permissions do not stop it, but /proc takes no directories */
        snprintf(ro_storage, sizeof ro_storage, "/proc/self/imgate-offline");
    }
    tap_diag("full: %s; read-only: %s", mounted_full ? "a 256 KiB tmpfs" : "min_free above the free space",
             mounted_ro       ? "a read-only tmpfs"
             : geteuid() != 0 ? "mode 0555"
                              : "/proc");
    char ini[8192];
    snprintf(ini, sizeof ini, "[plugin.file]\nstorage_dir = %s\nmin_free = %s\n", full_dir,
             mounted_full ? "0" : "1048576m");
    int full_node = harness_node_start(h, "login,file", ini);
    snprintf(ini, sizeof ini, "[plugin.file]\nstorage_dir = %s\nmin_free = 0\n", ro_storage);
    int ro_node = harness_node_start(h, "login,file", ini);
    if (full_node < 0 || ro_node < 0)
        tap_bail("cannot start the storage nodes");

    imgate_client *a = pc_login(h, full_node, "carol", "carol123");
    const uint32_t small = 200 * 1024, big = 1024 * 1024;
    uint8_t *data = pattern(big, 66);
    if (mounted_full) {
        /* Two uploads each fit the free space when they start; together they do not. */
        char *t1 = file_task(a, CAROL, BOB, "one.bin", small, FILE_TYPE_OFFLINE, NULL);
        char *t2 = file_task(a, CAROL, BOB, "two.bin", small, FILE_TYPE_OFFLINE, NULL);
        imgate_client *u1 = t1 ? file_conn(h, full_node, CAROL, t1, CLIENT_OFFLINE_UPLOAD) : NULL;
        imgate_client *u2 = t2 ? file_conn(h, full_node, CAROL, t2, CLIENT_OFFLINE_UPLOAD) : NULL;
        tap_ok(u1 && u2, "two uploads start on a 256 KiB filesystem");
        int ok1 = u1 && upload_all(u1, t1, CAROL, data, small, 0, 0);
        uint32_t st = 0;
        int cancelled = 0;
        if (u2) {
            /* The second one runs out of space: its pulls stop with CANCEL. */
            uint32_t off = 0;
            for (;;) {
                uint16_t seq;
                IM__File__IMFilePullDataReq *p = file_wait_pull(u2, &seq, 3000);
                if (p == NULL)
                    break;
                off = p->offset;
                file_send_data(u2, seq, t2, CAROL, off, data + off, p->data_size, 0);
                im__file__imfile_pull_data_req__free_unpacked(p, NULL);
            }
            cancelled = file_wait_state(u2, &st, 3000) == CLIENT_FILE_CANCEL;
        }
        tap_ok(ok1, "the first upload is stored");
        tap_ok(cancelled, "the second one fails on the full disk with CANCEL");
        char part[4096];
        stored_path(full_dir, t2 ? t2 : "xx", ".part", part, sizeof part);
        tap_ok(t2 && gone_soon(part) && rows_for(t2) == 0, "... its partial file is removed and nothing is listed");
        imgate_client_close(u1);
        imgate_client_close(u2);
        free(t1);
        free(t2);
    }
    char *t3 = file_task(a, CAROL, BOB, "huge.bin", big, FILE_TYPE_OFFLINE, NULL);
    imgate_client *c = harness_connect(h, full_node);
    tap_is_int(file_login_rc(c, CAROL, t3, CLIENT_OFFLINE_UPLOAD), 1,
               "an upload larger than the free space is refused at login");
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "... and the connection closed");
    tap_is_int(rows_for(t3), 0, "... nothing listed");
    imgate_client_close(c);
    free(t3);
    imgate_client_close(a);

    a = pc_login(h, ro_node, "carol", "carol123");
    char *t4 = file_task(a, CAROL, BOB, "ro.bin", small, FILE_TYPE_OFFLINE, NULL);
    c = harness_connect(h, ro_node);
    tap_is_int(file_login_rc(c, CAROL, t4, CLIENT_OFFLINE_UPLOAD), 1,
               "an upload to a read-only storage directory is refused at login");
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "... and the connection closed");
    tap_is_int(rows_for(t4), 0, "... nothing listed");
    imgate_client_close(c);
    free(t4);
    imgate_client_close(a);
    tap_ok(heartbeat_ok(alice), "the daemon is alive");
    free(data);
}

static void test_reload_mid_upload(void)
{
    const uint32_t size = 40 * SEG + 99;
    char *task = file_task(alice, ALICE, BOB, "reload.bin", size, FILE_TYPE_OFFLINE, NULL);
    uint8_t *data = pattern(size, 77);
    imgate_client *u = task ? file_conn(h, 0, ALICE, task, CLIENT_OFFLINE_UPLOAD) : NULL;
    tap_ok(u && upload_all(u, task, ALICE, data, size, 0, 20), "half uploaded");
    harness_node_signal(h, 0, SIGHUP);
    tap_ok(wait_log(h, 0, "reload gen=2 status=done", 10000), "the plugins are reloaded mid-upload");
    tap_ok(wait_log(h, 0, "event=generation_freed gen=1", 10000), "the old generation is unloaded");
    tap_ok(u && upload_all(u, task, ALICE, data, size, 20 * SEG, 0),
           "the rest is pulled and stored by the new generation");
    imgate_client_close(u);
    imgate_client *d = file_conn(h, 0, BOB, task, CLIENT_OFFLINE_DOWNLOAD);
    uint8_t *got = calloc(1, size);
    tap_ok(d && download_all(d, task, BOB, got, size, NULL) && memcmp(got, data, size) == 0,
           "the file stored across the reload downloads intact");
    imgate_client_close(d);
    free(got);
    free(data);
    free(task);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65000, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_expiry(void)
{
    /* A listed file, and a partial upload a crash left two days ago. */
    const uint32_t size = 1000;
    char *task = file_task(alice, ALICE, BOB, "old.txt", size, FILE_TYPE_OFFLINE, NULL);
    uint8_t *data = pattern(size, 88);
    imgate_client *u = task ? file_conn(h, 0, ALICE, task, CLIENT_OFFLINE_UPLOAD) : NULL;
    tap_ok(u && upload_all(u, task, ALICE, data, size, 0, 0) && rows_for(task) == 1, "a file is stored and listed");
    imgate_client_close(u);
    const char *stale = "9d4a6fb2-5e6f-4a71-82d3-4e5f60718293";
    char part[4096], path[4096], shard[4096];
    if (snprintf(shard, sizeof shard, "%s/%.2s", storage, stale) >= (int)sizeof shard)
        tap_bail("path too long");
    mkdir(shard, 0755);
    stored_path(storage, stale, ".part", part, sizeof part);
    FILE *f = fopen(part, "wb");
    if (f) {
        fwrite(data, 1, 100, f);
        fclose(f);
    }
    struct utimbuf old = {time(NULL) - 2 * 86400, time(NULL) - 2 * 86400};
    utime(part, &old);
    stored_path(storage, task, "", path, sizeof path);

    char ini_path[4096];
    snprintf(ini_path, sizeof ini_path, "%s/imgated.ini", harness_node_dir(h, 0));
    char *ini = read_text(ini_path);
    char *next = malloc(strlen(ini) + 256);
    sprintf(next, "%s[plugin.file]\noffline_ttl_s = 1\nupload_stale_s = 3600\nsweep_interval_s = 1\n", ini);
    harness_node_rewrite_ini(h, 0, next);
    struct timespec ts = {1, 100 * 1000000};
    nanosleep(&ts, NULL); /* the file is now older than a second */
    harness_node_signal(h, 0, SIGHUP);
    tap_ok(wait_log(h, 0, "reload gen=3 status=done", 10000), "reloaded with offline_ttl_s = 1");
    for (int i = 0; i < 100 && (rows_for(task) != 0 || path_exists(path) || path_exists(part)); i++) {
        struct timespec tick = {0, 100 * 1000000};
        nanosleep(&tick, NULL);
    }
    tap_is_int(rows_for(task), 0, "an expired offline file loses its row");
    tap_ok(!path_exists(path), "... and its file");
    tap_ok(!path_exists(part), "a partial upload untouched for two days is removed");
    free(ini);
    free(next);
    free(data);
    free(task);
}

int main(void)
{
    h = harness_start("file_offline");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    add_user(h, CAROL, "carol", "carol123", 0);
    add_user(h, ERIN, "erin", "erin123", 0);
    snprintf(storage, sizeof storage, "%s/offline", harness_dir(h));
    char ini[8192];
    snprintf(ini, sizeof ini, "[plugin.file]\nstorage_dir = %s\nquota_bytes = 3m\nmin_free = 0\n", storage);
    if (harness_node_start(h, "login,file", ini) != 0)
        tap_bail("imgated did not start");
    alice = pc_login(h, 0, "alice", "alice123");
    carol = pc_login(h, 0, "carol", "carol123");
    erin = pc_login(h, 0, "erin", "erin123");

    test_upload_download();
    test_reference_file();
    test_bad_uploads();
    test_quota();
    test_full_and_readonly();
    test_reload_mid_upload();
    test_expiry();
    tap_ok(heartbeat_ok(alice) && heartbeat_ok(bob), "the daemon is alive and the users still connected");
    unmount_all();
    return tap_done();
}
