/*
 * example — the plugin third parties copy.
 *
 * Two commands on service 0x1000, both allowed before login:
 *   0x0001 ExampleReq -> ExampleRsp: a greeting compiled into the code, the
 *          [plugin.example] version, and how many requests this connection
 *          made (a per-connection data slot).
 *   0x0003 ExampleStatsReq -> ExampleStatsRsp: a worker job counts IMUser
 *          rows, then a Redis INCR, then the reply.
 * Everything a real plugin does is here in small: the descriptor with its
 * declared configuration, a handler table (the core decodes the requests),
 * reply handles, a worker job whose completion always runs, a typed SQL
 * query, a Redis command, a metric.
 */
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include <imgate/plugin.h>

#include "example.pb-c.h"
#include "example_ids.h"

/* Rebuilding with -DEXAMPLE_GREETING='"..."' changes the reply: the reload tests use it. */
#ifndef EXAMPLE_GREETING
#define EXAMPLE_GREETING "hello from the example plugin"
#endif

static const imgate_core_api *api; /* one table for the daemon's life */

/* Per-instance state: what init read and what the handlers need. */
typedef struct example_state {
    imgate_instance *self;
    imgate_metric *requests;
} example_state;

static void on_example(void *state_, const imgate_request *req, const ProtobufCMessage *body)
{
    example_state *st = state_;
    const Imgate__Example__ExampleReq *in = (const Imgate__Example__ExampleReq *)body;
    /* The connection's own counter: core-owned memory, kept across reloads, freed at close. */
    uint32_t *served = api->conn_data(st->self, req->conn_id, sizeof *served);
    Imgate__Example__ExampleRsp out = IMGATE__EXAMPLE__EXAMPLE_RSP__INIT;
    out.greeting = (char *)EXAMPLE_GREETING;
    out.version = (char *)api->config_str(st->self, "version");
    out.node = (in->name && *in->name) ? in->name : (char *)"stranger";
    out.served = served ? ++*served : 0;
    imgate_reply_to to = IMGATE_REPLY_TO(req);
    api->reply(&to, EXAMPLE_CMD_RSP, &out.base);
    api->metric_inc(st->requests, 1);
}

/* The stats command's steps share one carrier; the reply handle is all it needs of the request. */
typedef struct stats_call {
    imgate_reply_to to;
    uint32_t user_count;
    int counted;
} stats_call;

static void count_users(imgate_worker *w, void *state, void *arg) /* worker thread */
{
    stats_call *call = arg;
    imgate_db_bind out[] = {IMGATE_DB_U32(&call->user_count)};
    call->counted = api->db_query(w, IMGATE_DB_REPLICA, "SELECT COUNT(*) FROM IMUser", NULL, 0, out, 1) == 1;
}

static void stats_counted(void *state, const void *reply_, void *arg)
{
    stats_call *call = arg;
    const redisReply *reply = reply_;
    Imgate__Example__ExampleStatsRsp out = IMGATE__EXAMPLE__EXAMPLE_STATS_RSP__INIT;
    out.user_count = call->counted ? (int32_t)call->user_count : -1;
    out.counter = (reply && reply->type == REDIS_REPLY_INTEGER) ? reply->integer : -1;
    api->reply(&call->to, EXAMPLE_CMD_STATS_RSP, &out.base);
    free(call);
}

static void users_counted(void *state, void *arg, int status) /* runs once, even if the job was refused */
{
    example_state *st = state;
    stats_call *call = arg;
    call->counted = call->counted && status == IMGATE_OK;
    static const char *argv[] = {"INCR", "imgate:example:counter"};
    api->redis(st->self, stats_counted, call, 2, argv, NULL); /* stats_counted runs once, reply or not */
}

static void on_stats(void *state_, const imgate_request *req, const ProtobufCMessage *body)
{
    example_state *st = state_;
    stats_call *call = calloc(1, sizeof *call);
    if (call == NULL)
        return;
    call->to = IMGATE_REPLY_TO(req);
    api->submit_job(st->self, req->conn_id, count_users, users_counted, call);
}

static const imgate_handler_def handlers[] = {
    {EXAMPLE_SERVICE, EXAMPLE_CMD_REQ, IMGATE_HANDLER_PRE_LOGIN, &imgate__example__example_req__descriptor, on_example,
     NULL},
    {EXAMPLE_SERVICE, EXAMPLE_CMD_STATS_REQ, IMGATE_HANDLER_PRE_LOGIN, &imgate__example__example_stats_req__descriptor,
     on_stats, NULL},
};

/* [plugin.example]: checked by the core before init (imgated -t too); anything else there is an error. */
static const imgate_config_key config[] = {
    {"version", IMGATE_CFG_STRING, 0, 64, "unversioned", NULL},
    {NULL, 0, 0, 0, NULL, NULL},
};

static int example_init(imgate_instance *self, const imgate_core_api *core, void **state)
{
    api = core;
#ifdef EXAMPLE_FAIL_INIT
    /* Test build: a plugin whose init refuses, to prove a failed reload changes nothing. */
    api->log(self, IMGATE_LOG_ERROR, "event=init_refused reason=\"built to fail\"");
    return -1;
#endif
    example_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->self = self;
    st->requests = api->metric_counter(self, "requests");
    int rc = api->register_handlers(self, handlers, sizeof handlers / sizeof handlers[0]);
    if (rc != IMGATE_OK) {
        free(st);
        return rc;
    }
    api->log(self, IMGATE_LOG_INFO, "event=init greeting=\"%s\" version=\"%s\"", EXAMPLE_GREETING,
             api->config_str(self, "version"));
    *state = st;
    return 0;
}

static void example_fini(void *state) { free(state); }

#ifdef EXAMPLE_BAD_ABI
/* Test build: claims an ABI major the core does not speak, so the core must refuse it unrun. */
__attribute__((visibility("default"))) const imgate_plugin imgate_plugin_descriptor = {
    .magic = IMGATE_PLUGIN_MAGIC, .abi_major = IMGATE_ABI_MAJOR + 1, .struct_size = sizeof(imgate_plugin),
    .build_signature = IMGATE_BUILD_SIGNATURE, .name = "example", .version = "bad-abi", .init = example_init,
    .fini = example_fini, .config = config};
#else
IMGATE_PLUGIN(.name = "example", .version = "1.2", .init = example_init, .fini = example_fini, .config = config);
#endif
