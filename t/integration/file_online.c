/*
 * file_online.c — the file plugin's requests and online relay over the real
 * protocol: IMFileReq -> IMFileRsp + IMFileNotify; file logins with roles
 * (a third user, a wrong task id, a second sender, a message connection, a
 * malformed body refused); transfers of a small file, exactly 32 KiB and
 * several MiB with a checksum; cancel and refuse; a receiver who is offline
 * (switched to offline); a peer vanishing mid-transfer; an oversized block;
 * pulls before login; a receiver that stops reading does not grow the
 * daemon's memory and catches up afterwards; a reload mid-transfer.
 */
#include <signal.h>

#include "file_util.h"

#define ALICE 201
#define BOB 202
#define CAROL 203
#define DAVE 204

static harness *h;
static imgate_client *alice, *bob, *carol;

/* A request from alice to bob, bob's notify, both file logins and PEER_READY. */
static int start_online(uint32_t size, char **task_out, imgate_client **s_out, imgate_client **r_out)
{
    uint32_t mode = 0;
    char *task = file_task(alice, ALICE, BOB, "photo.jpg", size, FILE_TYPE_ONLINE, &mode);
    if (task == NULL || mode != FILE_TYPE_ONLINE) {
        free(task);
        return 0;
    }
    IM__File__IMFileNotify *n = wait_file_notify(bob, 3000);
    int ok = n && strcmp(n->task_id, task) == 0;
    if (n)
        im__file__imfile_notify__free_unpacked(n, NULL);
    imgate_client *s = ok ? file_conn(h, 0, ALICE, task, CLIENT_REALTIME_SENDER) : NULL;
    imgate_client *r = s ? file_conn(h, 0, BOB, task, CLIENT_REALTIME_RECVER) : NULL;
    uint32_t who = 0;
    if (r == NULL || file_wait_state(r, &who, 3000) != CLIENT_FILE_PEER_READY || who != ALICE) {
        imgate_client_close(s);
        imgate_client_close(r);
        free(task);
        return 0;
    }
    *task_out = task;
    *s_out = s;
    *r_out = r;
    return 1;
}

static void test_request_and_notify(void)
{
    IM__File__IMFileRsp *rsp = file_request(alice, ALICE, BOB, "报告.pdf", 1000, FILE_TYPE_ONLINE);
    tap_ok(rsp != NULL, "IMFileReq answered with a parseable IMFileRsp");
    if (rsp == NULL)
        return;
    tap_is_int(rsp->result_code, 0, "result 0");
    tap_is_int(rsp->from_user_id, ALICE, "from_user_id");
    tap_is_int(rsp->to_user_id, BOB, "to_user_id");
    tap_is_str(rsp->file_name, "报告.pdf", "file_name");
    tap_is_int(rsp->trans_mode, FILE_TYPE_ONLINE, "trans_mode stays online: bob has a PC online");
    tap_is_int(strlen(rsp->task_id), 36, "task id is a 36-character UUID");
    tap_ok(rsp->n_ip_addr_list == 1 && strcmp(rsp->ip_addr_list[0]->ip, "127.0.0.1") == 0 &&
               rsp->ip_addr_list[0]->port == harness_node_port(h, 0),
           "ip_addr_list: this node's advertised address and client port (the main listener)");
    IM__File__IMFileNotify *n = wait_file_notify(bob, 3000);
    tap_ok(n != NULL, "the receiver's PC connection gets IMFileNotify");
    if (n) {
        tap_ok(strcmp(n->task_id, rsp->task_id) == 0 && n->from_user_id == ALICE && n->to_user_id == BOB &&
                   n->file_size == 1000 && n->trans_mode == FILE_TYPE_ONLINE && n->offline_ready == 0 &&
                   n->n_ip_addr_list == 1 && strcmp(n->file_name, "报告.pdf") == 0,
               "IMFileNotify carries the task, the parties, name, size, mode, addresses, offline_ready 0");
        im__file__imfile_notify__free_unpacked(n, NULL);
    }
    char *second = file_task(alice, ALICE, BOB, "报告.pdf", 1000, FILE_TYPE_ONLINE, NULL);
    tap_ok(second && strcmp(second, rsp->task_id) != 0, "each request gets its own task id");
    IM__File__IMFileNotify *n2 = wait_file_notify(bob, 3000);
    if (n2)
        im__file__imfile_notify__free_unpacked(n2, NULL);
    free(second);
    im__file__imfile_rsp__free_unpacked(rsp, NULL);
}

static void expect_refused_request(uint32_t from, uint32_t to, const char *name, uint32_t size, const char *what)
{
    IM__File__IMFileRsp *rsp = file_request(alice, from, to, name, size, FILE_TYPE_ONLINE);
    tap_ok(rsp && rsp->result_code == 1 && rsp->task_id[0] == '\0' && rsp->n_ip_addr_list == 0,
           "%s: result 1, no task id", what);
    if (rsp)
        im__file__imfile_rsp__free_unpacked(rsp, NULL);
}

static void test_bad_requests(void)
{
    expect_refused_request(BOB, CAROL, "x.txt", 10, "from_user_id is not the caller");
    expect_refused_request(ALICE, ALICE, "x.txt", 10, "a file to oneself");
    expect_refused_request(ALICE, 99999, "x.txt", 10, "a receiver that does not exist");
    expect_refused_request(ALICE, BOB, "", 10, "an empty name");
    char long_name[600];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    expect_refused_request(ALICE, BOB, long_name, 10, "a 599-byte name (limit 512)");
    expect_refused_request(ALICE, BOB, "bad\xff\xfe.txt", 10, "a name that is not UTF-8");
    expect_refused_request(ALICE, BOB, "x.txt", 0, "size 0");
    expect_refused_request(ALICE, BOB, "x.txt", 64u * 1024 * 1024 + 1, "size over max_file_size");
    /* A body that does not decode: no answer (as the reference), and the connection stays. */
    uint16_t seq;
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff};
    imgate_client_send(alice, SID_FILE, CID_FILE_REQUEST, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(alice, CID_FILE_RESPONSE, seq, &pdu, 1000), IMGATE_CLIENT_TIMEOUT,
               "a malformed IMFileReq gets no answer");
    tap_ok(heartbeat_ok(alice), "... and the connection stays");
    /* Before login, a file request is refused by the gate and the connection closed. */
    imgate_client *anon = harness_connect(h, 0);
    IM__File__IMFileReq req = IM__FILE__IMFILE_REQ__INIT;
    req.from_user_id = ALICE;
    req.to_user_id = BOB;
    req.file_name = (char *)"x";
    req.file_size = 1;
    req.trans_mode = FILE_TYPE_ONLINE;
    imgate_client_send_msg(anon, SID_FILE, CID_FILE_REQUEST, &req.base, NULL);
    tap_is_int(imgate_client_wait_closed(anon, 3000), IMGATE_CLIENT_CLOSED,
               "a file request before login closes the connection");
    imgate_client_close(anon);
}

static void transfer_of(uint32_t size, unsigned window, const char *what)
{
    char *task;
    imgate_client *s, *r;
    if (!start_online(size, &task, &s, &r)) {
        tap_ok(0, "%s: transfer set up", what);
        return;
    }
    uint8_t *data = pattern(size, size), *got = calloc(1, size);
    long long n = relay_range(s, r, task, ALICE, BOB, data, 0, size, SEG, window, got);
    tap_is_int(n, size, "%s: every byte relayed", what);
    tap_ok(checksum(got, size) == checksum(data, size) && memcmp(got, data, size) == 0, "%s: checksum matches", what);
    file_send_state(r, CLIENT_FILE_DONE, task, BOB);
    uint32_t who = 0;
    tap_is_int(file_wait_state(s, &who, 3000), CLIENT_FILE_DONE, "%s: DONE reaches the sender", what);
    tap_is_int(imgate_client_wait_closed(r, 3000), IMGATE_CLIENT_CLOSED,
               "%s: the receiver's file connection is closed after DONE", what);
    imgate_client_close(s);
    imgate_client_close(r);
    free(data);
    free(got);
    free(task);
}

static void test_roles(void)
{
    char *task = file_task(alice, ALICE, BOB, "roles.bin", 100, FILE_TYPE_ONLINE, NULL);
    IM__File__IMFileNotify *n = wait_file_notify(bob, 3000);
    if (n)
        im__file__imfile_notify__free_unpacked(n, NULL);
    imgate_client *c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, CAROL, task, CLIENT_REALTIME_RECVER), 1, "a third user is refused as receiver");
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "... and the connection closed");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, BOB, task, CLIENT_REALTIME_SENDER), 1, "the receiver is refused as sender");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, ALICE, task, CLIENT_OFFLINE_UPLOAD), 1, "an offline role on an online task is refused");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, ALICE, "00000000-0000-4000-8000-000000000000", CLIENT_REALTIME_SENDER), 1,
               "an unknown task id is refused");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, ALICE, "../../etc/passwd", CLIENT_REALTIME_SENDER), 1,
               "a task id that is no UUID is refused");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    char long_task[4000];
    memset(long_task, 'a', sizeof long_task - 1);
    long_task[sizeof long_task - 1] = '\0';
    tap_is_int(file_login_rc(c, ALICE, long_task, CLIENT_REALTIME_SENDER), 1, "a 4000-byte task id is refused");
    imgate_client_close(c);
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, ALICE, "0E9A39AB-62D4-4F6A-9C39-6E2CB1A0E1F1", CLIENT_REALTIME_SENDER), 1,
               "a task id spelled in upper case is not the same task (one spelling only)");
    imgate_client_close(c);
    imgate_client *s = file_conn(h, 0, ALICE, task, CLIENT_REALTIME_SENDER);
    tap_ok(s != NULL, "the sender logs in");
    c = harness_connect(h, 0);
    tap_is_int(file_login_rc(c, ALICE, task, CLIENT_REALTIME_SENDER), 1, "a second sender on the same task is refused");
    imgate_client_close(c);
    /* A file login on a user's message connection: refused, and the user stays logged in. */
    tap_is_int(file_login_rc(alice, ALICE, task, CLIENT_REALTIME_SENDER), 1,
               "a file login on a message connection is refused");
    tap_ok(heartbeat_ok(alice), "... which stays open");
    /* A malformed login: no answer. */
    c = harness_connect(h, 0);
    const uint8_t junk[] = {0x08};
    uint16_t seq;
    imgate_client_send(c, SID_FILE, CID_FILE_LOGIN_REQ, junk, sizeof junk, &seq);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_FILE_LOGIN_RES, seq, &pdu, 1000), IMGATE_CLIENT_TIMEOUT,
               "a malformed file login gets no answer");
    imgate_client_close(c);
    /* A file connection reaches nothing but SID_FILE: a message command closes it. */
    IM__Login__IMLogoutReq lo = IM__LOGIN__IMLOGOUT_REQ__INIT;
    imgate_client_send_msg(s, SID_LOGIN, CID_LOGIN_REQ_LOGINOUT, &lo.base, NULL);
    tap_is_int(imgate_client_wait_closed(s, 3000), IMGATE_CLIENT_CLOSED,
               "a file connection sending a login command is closed");
    imgate_client_close(s);
    /* A pull before any login: the gate closes the connection. */
    c = harness_connect(h, 0);
    file_send_pull(c, task, BOB, FILE_TYPE_ONLINE, 0, 100, NULL);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "a pull before login closes the connection");
    imgate_client_close(c);
    free(task);
}

static void test_bad_pulls(void)
{
    char *task;
    imgate_client *s, *r;
    if (!start_online(100000, &task, &s, &r)) {
        tap_ok(0, "bad pulls: set up");
        return;
    }
    IM__File__IMFilePullDataRsp *d;
    file_send_pull(r, task, BOB, FILE_TYPE_ONLINE, 99990, 100, NULL);
    d = file_wait_data(r, NULL, 3000);
    tap_ok(d && d->result_code == FILE_SERVER_ERRNO_PULL_DATA_SEEK_OFFSET_ERROR,
           "a pull past the end is refused (code 11)");
    if (d)
        im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
    file_send_pull(r, task, BOB, FILE_TYPE_ONLINE, 0, 40000, NULL);
    d = file_wait_data(r, NULL, 3000);
    tap_ok(d && d->result_code == FILE_SERVER_ERRNO_PULL_DATA_SEEK_OFFSET_ERROR,
           "a pull larger than max_block is refused");
    if (d)
        im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
    file_send_pull(r, task, CAROL, FILE_TYPE_ONLINE, 0, 100, NULL);
    d = file_wait_data(r, NULL, 3000);
    tap_ok(d && d->result_code == FILE_SERVER_ERRNO_PULL_DATA_ILLIEAGE_USER,
           "a pull naming another user is refused (code 6)");
    if (d)
        im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
    file_send_pull(s, task, ALICE, FILE_TYPE_ONLINE, 0, 100, NULL);
    d = file_wait_data(s, NULL, 3000);
    tap_ok(d && d->result_code != 0, "the sender cannot pull");
    if (d)
        im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
    /* Data nobody asked for is dropped, not relayed. */
    uint8_t junk[100] = {0};
    file_send_data(s, 0, task, ALICE, 500, junk, sizeof junk, 0);
    tap_ok(file_wait_data(r, NULL, 500) == NULL, "data nobody pulled is not relayed");
    /* After all that, the transfer still works. */
    uint8_t *data = pattern(100000, 7), *got = calloc(1, 100000);
    tap_is_int(relay_range(s, r, task, ALICE, BOB, data, 0, 100000, SEG, 1, got), 100000,
               "the transfer goes on after refused pulls");
    tap_ok(memcmp(got, data, 100000) == 0, "... with the right bytes");
    imgate_client_close(s);
    imgate_client_close(r);
    free(data);
    free(got);
    free(task);
}

static void test_cancel_and_refuse(void)
{
    char *task;
    imgate_client *s, *r;
    uint32_t who = 0;
    if (start_online(5000, &task, &s, &r)) {
        file_send_state(s, CLIENT_FILE_CANCEL, task, BOB);
        tap_is_int(file_wait_state(r, &who, 500), -1, "a state naming another user is not relayed");
        file_send_state(s, CLIENT_FILE_CANCEL, "00000000-0000-4000-8000-000000000000", ALICE);
        tap_is_int(file_wait_state(r, &who, 500), -1, "a state naming another task is not relayed");
        file_send_state(s, CLIENT_FILE_CANCEL, task, ALICE);
        tap_is_int(file_wait_state(r, &who, 3000), CLIENT_FILE_CANCEL, "the sender's CANCEL reaches the receiver");
        tap_is_int(who, ALICE, "... naming the sender");
        tap_is_int(imgate_client_wait_closed(s, 3000), IMGATE_CLIENT_CLOSED, "the canceller's connection is closed");
        imgate_client *again = harness_connect(h, 0);
        tap_is_int(file_login_rc(again, ALICE, task, CLIENT_REALTIME_SENDER), 1,
                   "a cancelled task cannot be used again");
        imgate_client_close(again);
        imgate_client_close(s);
        imgate_client_close(r);
        free(task);
    } else {
        tap_ok(0, "cancel: set up");
    }
    if (start_online(5000, &task, &s, &r)) {
        file_send_state(r, CLIENT_FILE_REFUSE, task, BOB);
        tap_is_int(file_wait_state(s, &who, 3000), CLIENT_FILE_REFUSE, "the receiver's REFUSE reaches the sender");
        tap_is_int(imgate_client_wait_closed(r, 3000), IMGATE_CLIENT_CLOSED, "the refuser's connection is closed");
        imgate_client_close(s);
        imgate_client_close(r);
        free(task);
    } else {
        tap_ok(0, "refuse: set up");
    }
}

static void test_receiver_offline(void)
{
    IM__File__IMFileRsp *rsp = file_request(alice, ALICE, DAVE, "for-dave.zip", 4096, FILE_TYPE_ONLINE);
    tap_ok(
        rsp && rsp->result_code == 0 && rsp->trans_mode == FILE_TYPE_OFFLINE && strlen(rsp->task_id) == 36 &&
            rsp->n_ip_addr_list == 1,
        "an online request to a receiver who is not online becomes offline: result 0, trans_mode 2, task, addresses");
    if (rsp) {
        imgate_client *u = file_conn(h, 0, ALICE, rsp->task_id, CLIENT_OFFLINE_UPLOAD);
        tap_ok(u != NULL, "... and the sender may upload it offline");
        imgate_client_close(u);
        im__file__imfile_rsp__free_unpacked(rsp, NULL);
    }
}

static void test_task_cap(void)
{
    /* max_tasks = 30 for this node: carol's 31st live task is refused. */
    int accepted = 0;
    for (int i = 0; i < 31; i++) {
        IM__File__IMFileRsp *rsp = file_request(carol, CAROL, DAVE, "many.txt", 10, FILE_TYPE_ONLINE);
        if (rsp && rsp->result_code == 0)
            accepted++;
        if (rsp && i == 30)
            tap_is_int(rsp->result_code, 1, "a request over max_tasks live tasks is refused");
        if (rsp)
            im__file__imfile_rsp__free_unpacked(rsp, NULL);
    }
    tap_is_int(accepted, 30, "max_tasks tasks are accepted");
    char *t = file_task(alice, ALICE, DAVE, "other.txt", 10, FILE_TYPE_ONLINE, NULL);
    tap_ok(t != NULL, "the cap is per sender: another user still gets a task");
    free(t);
}

static void test_peer_vanishes(void)
{
    char *task;
    imgate_client *s, *r;
    if (!start_online(500000, &task, &s, &r)) {
        tap_ok(0, "vanishing peer: set up");
        return;
    }
    uint8_t *data = pattern(500000, 3), *got = calloc(1, 500000);
    tap_is_int(relay_range(s, r, task, ALICE, BOB, data, 0, 3 * SEG, SEG, 2, got), 3 * SEG, "three blocks relayed");
    imgate_client_close(s);
    uint32_t who = 0;
    tap_is_int(file_wait_state(r, &who, 3000), CLIENT_FILE_CANCEL,
               "the sender vanishing mid-transfer: the receiver gets CANCEL");
    tap_is_int(imgate_client_wait_closed(r, 3000), IMGATE_CLIENT_CLOSED, "... and is let go");
    imgate_client_close(r);
    free(task);

    if (!start_online(500000, &task, &s, &r)) {
        tap_ok(0, "vanishing receiver: set up");
        return;
    }
    tap_is_int(relay_range(s, r, task, ALICE, BOB, data, 0, 2 * SEG, SEG, 1, got), 2 * SEG, "two blocks relayed");
    imgate_client_close(r);
    tap_is_int(file_wait_state(s, &who, 3000), CLIENT_FILE_CANCEL, "the receiver vanishing: the sender gets CANCEL");
    imgate_client_close(s);
    free(task);
    free(data);
    free(got);
}

static void test_oversized_block(void)
{
    char *task;
    imgate_client *s, *r;
    if (!start_online(100000, &task, &s, &r)) {
        tap_ok(0, "oversized block: set up");
        return;
    }
    file_send_pull(r, task, BOB, FILE_TYPE_ONLINE, 0, SEG, NULL);
    uint16_t seq;
    IM__File__IMFilePullDataReq *p = file_wait_pull(s, &seq, 3000);
    if (p)
        im__file__imfile_pull_data_req__free_unpacked(p, NULL);
    uint8_t *big = pattern(48 * 1024, 9);
    file_send_data(s, seq, task, ALICE, 0, big, 48 * 1024, 0);
    tap_is_int(imgate_client_wait_closed(s, 3000), IMGATE_CLIENT_CLOSED,
               "a block over the frame cap closes the sender");
    uint32_t who;
    tap_is_int(file_wait_state(r, &who, 3000), CLIENT_FILE_CANCEL, "... and the receiver is told CANCEL");
    imgate_client_close(s);
    imgate_client_close(r);
    free(big);
    free(task);
}

/* The receiver pulls 64 MiB but does not read: the relay must stall, not buffer it. */
static void test_slow_receiver(void)
{
    const uint32_t blocks = 2048, size = blocks * SEG;
    char *task;
    imgate_client *s, *r;
    if (!start_online(size, &task, &s, &r)) {
        tap_ok(0, "slow receiver: set up");
        return;
    }
    pid_t pid = harness_node_pid(h, 0);
    long before = rss_kib(pid);
    uint8_t *data = pattern(size, 11);
    for (uint32_t i = 0; i < blocks; i++)
        if (file_send_pull(r, task, BOB, FILE_TYPE_ONLINE, i * SEG, SEG, NULL) != 0)
            break;
    /* Answer every pull that reaches the sender until none comes for a second. */
    uint32_t answered = 0;
    for (;;) {
        uint16_t seq;
        IM__File__IMFilePullDataReq *p = file_wait_pull(s, &seq, 1000);
        if (p == NULL)
            break;
        file_send_data(s, seq, task, ALICE, p->offset, data + p->offset, p->data_size, 0);
        im__file__imfile_pull_data_req__free_unpacked(p, NULL);
        answered++;
    }
    long during = rss_kib(pid);
    tap_diag("pulls relayed while the receiver did not read: %u of %u; imgated RSS %ld -> %ld KiB", answered, blocks,
             before, during);
    tap_ok(answered < blocks / 2, "the relay stops pulling from the sender while the receiver does not read");
    tap_ok(during - before < 16 * 1024, "imgated's memory grows by less than 16 MiB for 64 MiB offered");
    /* Now the receiver reads: the drain hook lets its pulls through again, and everything arrives. */
    uint8_t *got = calloc(1, size);
    uint32_t received = 0;
    int ok = 1;
    while (received < size) {
        IM__File__IMFilePullDataRsp *d = file_wait_data(r, NULL, 50);
        if (d == NULL) {
            uint16_t seq;
            IM__File__IMFilePullDataReq *p = file_wait_pull(s, &seq, 5000);
            if (p == NULL) {
                ok = 0;
                break;
            }
            file_send_data(s, seq, task, ALICE, p->offset, data + p->offset, p->data_size, 0);
            im__file__imfile_pull_data_req__free_unpacked(p, NULL);
            continue;
        }
        memcpy(got + d->offset, d->file_data.data, d->file_data.len);
        received += (uint32_t)d->file_data.len;
        im__file__imfile_pull_data_rsp__free_unpacked(d, NULL);
    }
    tap_ok(ok && received == size, "once the receiver reads, every pulled block arrives");
    tap_ok(memcmp(got, data, size) == 0, "... with the right bytes");
    imgate_client_close(s);
    imgate_client_close(r);
    free(got);
    free(data);
    free(task);
}

static void test_reload_mid_transfer(void)
{
    const uint32_t size = 3 * 1024 * 1024 + 17;
    char *task;
    imgate_client *s, *r;
    if (!start_online(size, &task, &s, &r)) {
        tap_ok(0, "reload: set up");
        return;
    }
    uint8_t *data = pattern(size, 5), *got = calloc(1, size);
    uint32_t half = 48 * SEG;
    tap_is_int(relay_range(s, r, task, ALICE, BOB, data, 0, half, SEG, 2, got), half, "half the file relayed");
    harness_node_signal(h, 0, SIGHUP);
    tap_ok(wait_log(h, 0, "reload gen=2 status=done", 10000), "the plugins are reloaded mid-transfer");
    tap_ok(wait_log(h, 0, "event=generation_freed gen=1", 10000), "the old generation is unloaded");
    tap_is_int(relay_range(s, r, task, ALICE, BOB, data, half, size, SEG, 2, got), size - half,
               "the rest is relayed by the new generation");
    tap_ok(checksum(got, size) == checksum(data, size), "the whole file arrives intact across the reload");
    file_send_state(r, CLIENT_FILE_DONE, task, BOB);
    tap_is_int(file_wait_state(s, NULL, 3000), CLIENT_FILE_DONE, "DONE after the reload reaches the sender");
    imgate_client_close(s);
    imgate_client_close(r);
    free(data);
    free(got);
    free(task);
}

int main(void)
{
    h = harness_start("file_online");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    add_user(h, CAROL, "carol", "carol123", 0);
    add_user(h, DAVE, "dave", "dave123", 0);
    char ini[4096];
    snprintf(ini, sizeof ini, "[plugin.file]\nstorage_dir = %s/offline\nmax_file_size = 64m\nmax_tasks = 30\n",
             harness_dir(h));
    if (harness_node_start(h, "login,file", ini) != 0)
        tap_bail("imgated did not start");
    alice = pc_login(h, 0, "alice", "alice123");
    bob = pc_login(h, 0, "bob", "bob123");
    carol = pc_login(h, 0, "carol", "carol123");

    test_request_and_notify();
    test_bad_requests();
    test_roles();
    transfer_of(100, 1, "a 100-byte file");
    transfer_of(SEG, 1, "exactly 32 KiB");
    transfer_of(5 * 1024 * 1024 + 321, 4, "5 MiB + 321 bytes, 4 pulls in flight");
    test_bad_pulls();
    test_cancel_and_refuse();
    test_receiver_offline();
    test_task_cap();
    test_peer_vanishes();
    test_oversized_block();
    test_slow_receiver();
    test_reload_mid_transfer();
    tap_ok(heartbeat_ok(alice) && heartbeat_ok(bob), "the daemon is alive and the users still connected");
    return tap_done();
}
