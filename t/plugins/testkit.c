/*
 * testkit — a test-only plugin that drives every core service through the
 * real protocol. Never installed. Service TESTKIT_SERVICE (0x7F00); requests
 * marked (pre) may come before login. Req/Rsp/Typed are in testkit.proto.
 *
 *   0x0001 (pre) IMLoginReq{user_name = decimal user id, client_type} -> session_bind;
 *          0x0002 IMLoginRes{result_code = how many were kicked}
 *   0x0003 session_kick(user, PC, reason 2), like a mobile kicking its PC
 *   SID_MSG/CID_MSG_DATA (rate-limited) -> IMMsgDataAck{msg_id = n-th accepted message}
 *   0x0005 (pre) a worker job that sleeps 2 s, then 0x0006 (keeps a generation busy)
 *   0x0007 (pre, tracked) IMLoginReq -> counts "tracked_started", a 1 s worker job, then 0x0008
 *          and the request ends; a malformed body ends it in on_malformed, as the SDK asks of
 *          every tracked request
 *   0x0010 (pre) Typed -> 0x0011 Rsp{a = kind, b = other or 0, c = count of many, s = text};
 *          a malformed Typed gets nothing (the core drops it)
 *   0x0012 (pre) Req{a = jobs, b = ms each} -> 0x0013 Rsp{a = ran, b = refused} once all completed
 *   0x0014 (pre) Req{s = name} -> a job inserts an IMDepart row named s and reads it back:
 *          0x0015 Rsp{a = db_exec result (id, or error), b = rows read, s = name read back}
 *   0x0016 (pre) Req{ids, s} -> one batched write per id inserting IMDepart "s<id>" (id 0: a
 *          name too long for the column), queued behind a 100 ms job so they run as one batch:
 *          0x0017 Rsp{values = each write's status, in order}
 *   0x0018 (pre) -> 0x0019 Rsp{a = testkit.peer's value or -1 when not imported, s = [plugin.testkit] label}
 *   0x001a (pre) -> 0x001b Rsp{a = this connection's request count (conn_data)}
 *   0x001c (pre) Req{a = max_frame} -> conn_authorize(role 7); 0x001d Rsp{a = result}
 *   0x001e (role only) Req{a, s} -> 0x001f Rsp{a, s}
 *   0x0020 (pre, tracked) Req{a = ms} -> 0x0021 Rsp{a = most requests held at once} after a ms
 *   0x0022 Req{ids} -> presence -> 0x0023 Rsp{values = class masks}
 *   0x0024 Req{ids, s} -> deliver_many 0x0025 Rsp{s} to those users; 0x0026 Rsp{a = local count}
 *   0x0027 Req{s} -> broadcast 0x0025 Rsp{s} to everyone else; 0x0028 Rsp{a = local count}
 *   0x0029 (pre) Req{a = lines} -> log_limited at 5/s; 0x002a
 *   0x002b (pre) Req{a = 1} opens /dev/null until the descriptors run out (kept), Req{a = 0}
 *          closes them again: 0x002c Rsp{a = how many}
 * It also tries to take the example plugin's command (0x1000/0x0001), ignoring
 * the answer, so a generation enabling both must be refused by the core.
 * Built with -DTESTKIT_REQUIRE_PEER it needs testkit.peer (the load fails without).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <imgate/plugin.h>
#include <imgate/teamtalk.h>

#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"
#include "testkit.pb-c.h"
#include "example_ids.h"
#include "testkit_ids.h"
#include "testkit_peer.h"

#define ROLE_TEST 7

static const imgate_core_api *api;

typedef struct testkit {
    imgate_instance *self;
    uint32_t accepted;
    int held, most_held; /* tracked requests held right now, and the most at once */
    imgate_service peer;
    imgate_metric *closed, *closed_kicked, *roles_closed, *logins_seen, *tracked_started;
    int *hogged; /* descriptors held by TK_HOG_FDS */
    int n_hogged;
} testkit;

/* A reply body from the generic Rsp. */
static void reply_rsp(const imgate_reply_to *to, uint16_t cid, const Imgate__Testkit__Rsp *rsp)
{
    api->reply(to, cid, &rsp->base);
}

static void on_bind(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const IM__Login__IMLoginReq *in = (const IM__Login__IMLoginReq *)body;
    int kicked = api->session_bind(st->self, req->conn_id, (uint32_t)strtoul(in->user_name, NULL, 10), in->client_type);
    IM__Login__IMLoginRes out = IM__LOGIN__IMLOGIN_RES__INIT;
    out.server_time = (uint32_t)time(NULL);
    out.result_code = kicked < 0 ? 0 : (IM__BaseDefine__ResultType)kicked;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    api->reply(&to, TK_BIND_RSP, &out.base);
}

static void on_kick_pc(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    api->session_kick(st->self, req->user_id, IMGATE_CLASS_PC, req->conn_id, KICK_REASON_MOBILE_KICK);
}

static void on_msg_data(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    IM__Message__IMMsgDataAck ack = IM__MESSAGE__IMMSG_DATA_ACK__INIT;
    ack.user_id = req->user_id;
    ack.msg_id = ++st->accepted;
    ack.session_type = SESSION_TYPE_SINGLE;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    api->reply(&to, CID_MSG_DATA_ACK, &ack.base);
}

/* --- jobs ------------------------------------------------------------------------------------- */

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

typedef struct slow_job {
    imgate_reply_to to;
} slow_job;

static void sleep_two_seconds(imgate_worker *w, void *state, void *arg) { sleep_ms(2000); }

static void slow_done(void *state, void *arg, int status)
{
    slow_job *job = arg;
    api->reply(&job->to, TK_SLOW_RSP, NULL);
    free(job);
}

static void on_slow(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    slow_job *job = malloc(sizeof *job);
    if (job == NULL)
        return;
    job->to = IMGATE_REPLY_TO(req);
    api->submit_job(st->self, req->conn_id, sleep_two_seconds, slow_done, job);
}

/* A tracked request that takes a second, and ends (request_done) once answered. */
typedef struct tracked_job {
    imgate_reply_to to;
} tracked_job;

static void sleep_one_second(imgate_worker *w, void *state, void *arg) { sleep_ms(1000); }

static void tracked_job_done(void *state, void *arg, int status)
{
    tracked_job *job = arg;
    api->reply(&job->to, TK_TRACKED_JOB_RSP, NULL);
    api->request_done(&job->to);
    free(job);
}

static void on_tracked_job(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    api->metric_inc(st->tracked_started, 1);
    tracked_job *job = malloc(sizeof *job);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    if (job == NULL) {
        api->request_done(&to);
        return;
    }
    job->to = to;
    api->submit_job(st->self, 0, sleep_one_second, tracked_job_done, job);
}

static void on_tracked_job_malformed(void *st_, const imgate_request *req)
{
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    api->request_done(&to); /* never in flight: a no-op, which is the point of the test */
}

/* Several jobs share one batch record: the last completion answers. */
typedef struct job_batch {
    imgate_reply_to to;
    uint32_t pending, ran, refused, sleep_ms;
} job_batch;

static void batch_work(imgate_worker *w, void *state, void *arg) { sleep_ms(((job_batch *)arg)->sleep_ms); }

static void batch_done(void *state, void *arg, int status)
{
    job_batch *b = arg;
    if (status == IMGATE_OK)
        b->ran++;
    else
        b->refused++;
    if (--b->pending > 0)
        return;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = rsp.has_b = 1;
    rsp.a = b->ran;
    rsp.b = b->refused;
    reply_rsp(&b->to, TK_JOBS_RSP, &rsp);
    free(b);
}

static void on_jobs(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    if (in->a == 0 || in->a > 1000)
        return;
    job_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return;
    b->to = IMGATE_REPLY_TO(req);
    b->pending = in->a;
    b->sleep_ms = in->b;
    uint32_t n = in->a;
    for (uint32_t i = 0; i < n; i++)
        api->submit_job(st->self, 0, batch_work, batch_done, b); /* b may be freed by the last done */
}

/* --- the database ------------------------------------------------------------------------------ */

typedef struct db_call {
    imgate_reply_to to;
    char name[512];
    int64_t inserted;
    int rows;
    char back[300];
} db_call;

static void db_work(imgate_worker *w, void *state, void *arg)
{
    db_call *c = arg;
    uint64_t id = 0;
    imgate_db_bind in[] = {IMGATE_DB_STR(c->name)};
    int64_t rc = api->db_exec(w, "INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) "
                                 "VALUES (?, 0, 0, 0, 0, 0)", in, 1, &id);
    c->inserted = rc == 1 ? (int64_t)id : rc;
    if (rc != 1)
        return;
    uint32_t id32 = (uint32_t)id;
    imgate_db_bind key[] = {IMGATE_DB_U32(&id32)};
    imgate_db_bind out[] = {IMGATE_DB_STR_OUT(c->back)};
    c->rows = api->db_query(w, IMGATE_DB_MASTER, "SELECT departName FROM IMDepart WHERE id = ?", key, 1, out, 1);
}

static void db_done(void *state, void *arg, int status)
{
    db_call *c = arg;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = rsp.has_b = 1;
    rsp.a = status == IMGATE_OK ? c->inserted : status;
    rsp.b = c->rows;
    rsp.s = c->back;
    reply_rsp(&c->to, TK_DB_RSP, &rsp);
    free(c);
}

static void on_db(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    db_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->to = IMGATE_REPLY_TO(req);
    snprintf(c->name, sizeof c->name, "%s", in->s ? in->s : "");
    api->submit_job(st->self, req->conn_id, db_work, db_done, c);
}

typedef struct write_set {
    imgate_reply_to to;
    size_t n, done;
    int64_t *status;
} write_set;

typedef struct one_write {
    write_set *set;
    size_t index;
    char name[128];
} one_write;

static int write_one(imgate_worker *w, void *state, void *arg)
{
    one_write *o = arg;
    imgate_db_bind in[] = {IMGATE_DB_STR(o->name)};
    int64_t rc = api->db_exec(w, "INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) "
                                 "VALUES (?, 0, 0, 0, 0, 0)", in, 1, NULL);
    return rc < 0 ? (int)rc : 0;
}

static void written(void *state, void *arg, int status)
{
    one_write *o = arg;
    write_set *set = o->set;
    set->status[o->index] = status;
    free(o);
    if (++set->done < set->n)
        return;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.n_values = set->n;
    rsp.values = set->status;
    reply_rsp(&set->to, TK_WRITES_RSP, &rsp);
    free(set->status);
    free(set);
}

static void hold_worker(imgate_worker *w, void *state, void *arg) { sleep_ms(100); }

static void on_writes(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    if (in->n_ids == 0 || in->n_ids > 1000)
        return;
    write_set *set = calloc(1, sizeof *set);
    if (set == NULL || (set->status = calloc(in->n_ids, sizeof *set->status)) == NULL) {
        free(set);
        return;
    }
    set->to = IMGATE_REPLY_TO(req);
    set->n = in->n_ids;
    /* A short job first on the same worker: the writes queue up behind it and go as one batch. */
    api->submit_job(st->self, 1, hold_worker, NULL, NULL);
    for (size_t i = 0; i < in->n_ids; i++) {
        one_write *o = calloc(1, sizeof *o);
        if (o == NULL)
            return; /* the set never completes: acceptable in a test plugin */
        o->set = set;
        o->index = i;
        if (in->ids[i] == 0)
            snprintf(o->name, sizeof o->name, "%0100d", 0); /* longer than departName's 64 characters */
        else
            snprintf(o->name, sizeof o->name, "%s%u", in->s ? in->s : "", in->ids[i]);
        api->submit_write(st->self, 1, write_one, written, o);
    }
}

/* --- services, config, connection data, roles -------------------------------------------------- */

static void on_service(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = st->peer.table ? (int64_t)((const testkit_peer_v1 *)st->peer.table)->value(st->peer.state) : -1;
    rsp.s = (char *)api->config_str(st->self, "label");
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_SERVICE_RSP, &rsp);
}

static void on_conn_data(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    uint32_t *count = api->conn_data(st->self, req->conn_id, sizeof *count);
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = count ? (int64_t)++*count : -1;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_CONN_DATA_RSP, &rsp);
}

static void on_authorize(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    imgate_role role = {ROLE_TEST, in->a, 0, 0};
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = api->conn_authorize(st->self, req->conn_id, &role);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_AUTHORIZE_RSP, &rsp);
}

static void on_role_echo(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = in->a;
    rsp.s = in->s;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_ROLE_ECHO_RSP, &rsp);
}

/* --- in-flight tracking ---------------------------------------------------------------------------- */

typedef struct held {
    testkit *st;
    imgate_reply_to to;
} held;

static void release_held(void *state, void *arg)
{
    held *h = arg;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = h->st->most_held;
    reply_rsp(&h->to, TK_TRACKED_RSP, &rsp);
    h->st->held--;
    api->request_done(&h->to);
    free(h);
}

static void on_tracked(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    held *h = calloc(1, sizeof *h);
    if (h == NULL)
        return;
    h->st = st;
    h->to = IMGATE_REPLY_TO(req);
    if (++st->held > st->most_held)
        st->most_held = st->held;
    if (api->timer_start(st->self, in->a ? in->a : 1, 0, release_held, h) == NULL)
        release_held(st, h);
}

/* --- delivery and presence ---------------------------------------------------------------------- */

static void presence_answer(void *state, void *arg, const uint32_t *ids, const uint32_t *masks, size_t n)
{
    imgate_reply_to *to = arg;
    int64_t *values = calloc(n ? n : 1, sizeof *values);
    if (values != NULL) {
        for (size_t i = 0; i < n; i++)
            values[i] = masks[i];
        Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
        rsp.n_values = n;
        rsp.values = values;
        reply_rsp(to, TK_PRESENCE_RSP, &rsp);
    }
    free(values);
    free(to);
}

static void on_presence(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    imgate_reply_to *to = malloc(sizeof *to);
    if (to == NULL)
        return;
    *to = IMGATE_REPLY_TO(req);
    if (api->presence(st->self, in->ids, in->n_ids, presence_answer, to) != IMGATE_OK)
        free(to);
}

static void on_deliver(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    Imgate__Testkit__Rsp push = IMGATE__TESTKIT__RSP__INIT;
    push.s = in->s;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = api->deliver_many(st->self, in->ids, in->n_ids, IMGATE_CLASS_ALL, 0, TESTKIT_SERVICE, TK_PUSH, &push.base);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_DELIVER_RSP, &rsp);
}

static void on_broadcast(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    Imgate__Testkit__Rsp push = IMGATE__TESTKIT__RSP__INIT;
    push.s = in->s;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = api->broadcast(st->self, IMGATE_CLASS_ALL, req->conn_id, TESTKIT_SERVICE, TK_PUSH, &push.base);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_BROADCAST_RSP, &rsp);
}

static void on_log_flood(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    for (uint32_t i = 0; i < in->a && i < 100000; i++)
        api->log_limited(st->self, IMGATE_LOG_WARN, "flood", 5, "event=flood line=%u", i);
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    api->reply(&to, TK_LOG_FLOOD_RSP, NULL);
}

static void on_hog_fds(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    testkit *st = st_;
    const Imgate__Testkit__Req *in = (const Imgate__Testkit__Req *)body;
    int count = st->n_hogged;
    if (in->a == 1 && st->hogged == NULL) {
        st->hogged = malloc(65536 * sizeof *st->hogged);
        int fd;
        while (st->hogged && st->n_hogged < 65536 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
            st->hogged[st->n_hogged++] = fd;
        count = st->n_hogged;
    } else if (in->a == 0) {
        for (int i = 0; i < st->n_hogged; i++)
            close(st->hogged[i]);
        free(st->hogged);
        st->hogged = NULL;
        st->n_hogged = 0;
    }
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = 1;
    rsp.a = count;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_HOG_FDS_RSP, &rsp);
}

static void on_typed(void *st_, const imgate_request *req, const ProtobufCMessage *body)
{
    const Imgate__Testkit__Typed *in = (const Imgate__Testkit__Typed *)body;
    Imgate__Testkit__Rsp rsp = IMGATE__TESTKIT__RSP__INIT;
    rsp.has_a = rsp.has_b = rsp.has_c = 1;
    rsp.a = in->kind;
    rsp.b = in->has_other ? in->other : 0;
    rsp.c = (int64_t)in->n_many;
    rsp.s = in->text;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    reply_rsp(&to, TK_TYPED_RSP, &rsp);
}

/* --- hooks ---------------------------------------------------------------------------------------- */

static void on_close(void *st_, const imgate_conn_info *conn)
{
    testkit *st = st_;
    if (conn->role == ROLE_TEST)
        api->metric_inc(st->roles_closed, 1);
    else if (conn->logged_in)
        api->metric_inc(conn->kicked ? st->closed_kicked : st->closed, 1);
}

static void on_login(void *st_, const imgate_conn_info *conn)
{
    testkit *st = st_;
    api->metric_inc(st->logins_seen, 1);
}

#define PRE IMGATE_HANDLER_PRE_LOGIN
static const imgate_handler_def handlers[] = {
    {TESTKIT_SERVICE, TK_BIND, PRE, &im__login__imlogin_req__descriptor, on_bind, NULL},
    {TESTKIT_SERVICE, TK_KICK_PC, 0, NULL, on_kick_pc, NULL},
    /* Rate-limited like the message plugin's CID_MSG_DATA: the core enforces the per-second budget. */
    {SID_MSG, CID_MSG_DATA, IMGATE_HANDLER_RATE_LIMITED, NULL, on_msg_data, NULL},
    {TESTKIT_SERVICE, TK_SLOW, PRE, NULL, on_slow, NULL},
    {TESTKIT_SERVICE, TK_TRACKED_JOB, PRE | IMGATE_HANDLER_TRACKED, &im__login__imlogin_req__descriptor, on_tracked_job,
     on_tracked_job_malformed},
    {TESTKIT_SERVICE, TK_TYPED, PRE, &imgate__testkit__typed__descriptor, on_typed, NULL},
    {TESTKIT_SERVICE, TK_JOBS, PRE, &imgate__testkit__req__descriptor, on_jobs, NULL},
    {TESTKIT_SERVICE, TK_DB, PRE, &imgate__testkit__req__descriptor, on_db, NULL},
    {TESTKIT_SERVICE, TK_WRITES, PRE, &imgate__testkit__req__descriptor, on_writes, NULL},
    {TESTKIT_SERVICE, TK_SERVICE, PRE, NULL, on_service, NULL},
    {TESTKIT_SERVICE, TK_CONN_DATA, PRE, NULL, on_conn_data, NULL},
    {TESTKIT_SERVICE, TK_AUTHORIZE, PRE, &imgate__testkit__req__descriptor, on_authorize, NULL},
    {TESTKIT_SERVICE, TK_ROLE_ECHO, IMGATE_HANDLER_ROLE_ONLY, &imgate__testkit__req__descriptor, on_role_echo, NULL},
    {TESTKIT_SERVICE, TK_TRACKED, PRE | IMGATE_HANDLER_TRACKED, &imgate__testkit__req__descriptor, on_tracked, NULL},
    {TESTKIT_SERVICE, TK_PRESENCE, 0, &imgate__testkit__req__descriptor, on_presence, NULL},
    {TESTKIT_SERVICE, TK_DELIVER, 0, &imgate__testkit__req__descriptor, on_deliver, NULL},
    {TESTKIT_SERVICE, TK_BROADCAST, 0, &imgate__testkit__req__descriptor, on_broadcast, NULL},
    {TESTKIT_SERVICE, TK_LOG_FLOOD, PRE, &imgate__testkit__req__descriptor, on_log_flood, NULL},
    {TESTKIT_SERVICE, TK_HOG_FDS, PRE, &imgate__testkit__req__descriptor, on_hog_fds, NULL},
};

static void on_taken(void *st_, const imgate_request *req) {}

static const imgate_config_key config[] = {
    {"label", IMGATE_CFG_STRING, 0, 32, "testkit", NULL},
    {"limit", IMGATE_CFG_INT, 1, 100, "10", NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

static int testkit_init(imgate_instance *self, const imgate_core_api *core, void **state)
{
    api = core;
    testkit *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->self = self;
    st->closed = api->metric_counter(self, "closed");
    st->closed_kicked = api->metric_counter(self, "closed_kicked");
    st->roles_closed = api->metric_counter(self, "roles_closed");
    st->logins_seen = api->metric_counter(self, "logins_seen");
    st->tracked_started = api->metric_counter(self, "tracked_started");
#ifdef TESTKIT_REQUIRE_PEER
    uint32_t import_flags = 0;
#else
    uint32_t import_flags = IMGATE_IMPORT_OPTIONAL;
#endif
    if (api->register_handlers(self, handlers, sizeof handlers / sizeof handlers[0]) != 0 ||
        api->register_close_hook(self, on_close) != 0 || api->register_login_hook(self, on_login) != 0 ||
        api->import_service(self, TESTKIT_PEER_SERVICE, 1, import_flags, &st->peer) != 0) {
        free(st);
        return -1;
    }
    /* Deliberately unchecked: alone it succeeds; next to `example` the core refuses the load. */
    (void)api->register_handler(self, EXAMPLE_SERVICE, EXAMPLE_CMD_REQ, PRE, on_taken);
    *state = st;
    return 0;
}

static void testkit_fini(void *state)
{
    testkit *st = state;
    for (int i = 0; i < st->n_hogged; i++)
        close(st->hogged[i]);
    free(st->hogged);
    free(st);
}

IMGATE_PLUGIN(.name = "testkit", .version = "test", .init = testkit_init, .fini = testkit_fini, .config = config);
