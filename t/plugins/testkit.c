/*
 * testkit — a test-only plugin that exercises the core's session services
 * before a real login plugin exists. Never installed.
 *
 *   0x7F00/0x0001 (pre-login) IMLoginReq{user_name = decimal user id, client_type}
 *       -> session_bind; replies 0x7F00/0x0002 IMLoginRes{result_code = how many were kicked}
 *   0x7F00/0x0003 -> session_kick(user, PC, reason 2), like a mobile kicking its PC
 *   0x0003/0x0301 CID_MSG_DATA -> IMMsgDataAck{msg_id = n-th accepted message}
 *   0x7F00/0x0005 (pre-login) -> a worker job that sleeps 2 s, then replies 0x7F00/0x0006
 *       (keeps a generation busy past the reload drain deadline)
 *   0x7F00/0x0007 (pre-login, typed IMLoginReq, tracked) -> counts "tracked_started", a 1 s
 *       worker job, then replies 0x7F00/0x0008 and ends the request; a malformed body ends it
 *       in on_malformed, as the SDK asks of every tracked request
 * It also tries to take the example plugin's command (0x1000/0x0001), ignoring
 * the answer, so a generation enabling both must be refused by the core.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <time.h>

#include <imgate/plugin.h>

#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"

#define TESTKIT_SERVICE 0x7F00

typedef struct testkit {
    imgate_instance *self;
    const imgate_core_api *api;
    uint32_t accepted;
} testkit;

static void on_bind(void *st_, const imgate_request *req)
{
    testkit *st = st_;
    IM__Login__IMLoginReq *in = im__login__imlogin_req__unpack(NULL, req->body_len, req->body);
    if (in == NULL)
        return;
    int kicked = st->api->session_bind(st->self, req->conn_id, (uint32_t)strtoul(in->user_name, NULL, 10),
                                       in->client_type);
    IM__Login__IMLoginRes out = IM__LOGIN__IMLOGIN_RES__INIT;
    out.server_time = (uint32_t)time(NULL);
    out.result_code = kicked < 0 ? 0 : (IM__BaseDefine__ResultType)kicked;
    st->api->send_message(st->self, req->conn_id, TESTKIT_SERVICE, 0x0002, req->seq_num, &out.base);
    im__login__imlogin_req__free_unpacked(in, NULL);
}

static void on_kick_pc(void *st_, const imgate_request *req)
{
    testkit *st = st_;
    st->api->session_kick(st->self, req->user_id, IMGATE_CLASS_PC, req->conn_id, 2);
}

static void on_msg_data(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    IM__Message__IMMsgDataAck ack = IM__MESSAGE__IMMSG_DATA_ACK__INIT;
    ack.user_id = req->user_id;
    ack.msg_id = ++st->accepted;
    ack.session_type = IM__BASE_DEFINE__SESSION_TYPE__SESSION_TYPE_SINGLE;
    st->api->send_message(st->self, req->conn_id, 0x0003, 0x0302, req->seq_num, &ack.base);
}

typedef struct slow_job {
    testkit *st;
    uint64_t conn_id;
    uint16_t seq;
} slow_job;

static void sleep_a_while(imgate_worker *w, void *arg)
{
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
}

static void slow_done(void *state, void *arg)
{
    slow_job *job = arg;
    job->st->api->send(job->st->self, job->conn_id, TESTKIT_SERVICE, 0x0006, job->seq, NULL, 0);
    free(job);
}

static void on_slow(void *st_, const imgate_request *req)
{
    testkit *st = st_;
    slow_job *job = malloc(sizeof *job);
    if (job == NULL)
        return;
    job->st = st;
    job->conn_id = req->conn_id;
    job->seq = req->seq_num;
    if (st->api->submit(st->self, req->conn_id, sleep_a_while, slow_done, job) != IMGATE_OK)
        free(job);
}

typedef struct tracked_job {
    testkit *st;
    imgate_reply_to to;
} tracked_job;

static void tracked_sleep(imgate_worker *w, void *state, void *arg)
{
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
}

static void tracked_done(void *state, void *arg, int status)
{
    tracked_job *job = arg;
    job->st->api->reply(&job->to, 0x0008, NULL);
    job->st->api->request_done(&job->to);
    free(job);
}

static void on_tracked(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    st->api->metric_add(st->self, "tracked_started", 1);
    tracked_job *job = malloc(sizeof *job);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (job == NULL) {
        st->api->request_done(&to);
        return;
    }
    job->st = st;
    job->to = to;
    st->api->submit_job(st->self, 0, tracked_sleep, tracked_done, job);
}

static void on_tracked_malformed(void *st_, const imgate_request *req)
{
    testkit *st = st_;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    st->api->request_done(&to);
}

static void on_close(void *st_, const imgate_conn_info *conn)
{
    testkit *st = st_;
    st->api->metric_add(st->self, conn->kicked ? "closed_kicked" : "closed", 1);
}

/* Rate-limited like the message plugin's CID_MSG_DATA: the core enforces the per-second budget. */
static const imgate_handler_def msg_data_handler = {0x0003, 0x0301, IMGATE_HANDLER_RATE_LIMITED, NULL, on_msg_data,
                                                    NULL};
static const imgate_handler_def tracked_handler = {TESTKIT_SERVICE, 0x0007,
                                                   IMGATE_HANDLER_PRE_LOGIN | IMGATE_HANDLER_TRACKED,
                                                   &im__login__imlogin_req__descriptor, on_tracked, on_tracked_malformed};

static int testkit_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    testkit *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->self = self;
    st->api = api;
    if (api->register_handler(self, TESTKIT_SERVICE, 0x0001, IMGATE_HANDLER_PRE_LOGIN, on_bind) != 0 ||
        api->register_handler(self, TESTKIT_SERVICE, 0x0003, 0, on_kick_pc) != 0 ||
        api->register_handlers(self, &msg_data_handler, 1) != 0 ||
        api->register_handlers(self, &tracked_handler, 1) != 0 ||
        api->register_handler(self, TESTKIT_SERVICE, 0x0005, IMGATE_HANDLER_PRE_LOGIN, on_slow) != 0 ||
        api->register_close_hook(self, on_close) != 0) {
        free(st);
        return -1;
    }
    /* Deliberately unchecked: alone it succeeds; next to `example` the core refuses the load. */
    (void)api->register_handler(self, 0x1000, 0x0001, IMGATE_HANDLER_PRE_LOGIN, on_bind);
    *state = st;
    return 0;
}

static void testkit_fini(void *state) { free(state); }

IMGATE_PLUGIN_DEFINE("testkit", "test", testkit_init, testkit_fini);
