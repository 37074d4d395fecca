/*
 * example — the plugin third parties copy.
 *
 * It answers one command, service 0x1000 / command 0x0001, which it flags as
 * allowed before login, with an ExampleRsp (its own .proto, next to this
 * file) carrying a greeting compiled into the code and a version string read
 * from its [plugin.example] section. Everything a real plugin does is here in
 * small: the descriptor, init/fini, registering a handler, reading config,
 * unpacking a request, replying with the request's seq, logging, a metric.
 */
/* strdup is POSIX, not C11. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <hiredis/hiredis.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>

#include <imgate/plugin.h>

#include "example.pb-c.h"

#define EXAMPLE_SERVICE 0x1000
#define EXAMPLE_CMD_REQ 0x0001
#define EXAMPLE_CMD_RSP 0x0002
#define EXAMPLE_CMD_STATS_REQ 0x0003
#define EXAMPLE_CMD_STATS_RSP 0x0004

/* Rebuilding with -DEXAMPLE_GREETING='"..."' changes the reply: the reload tests use it. */
#ifndef EXAMPLE_GREETING
#define EXAMPLE_GREETING "hello from the example plugin"
#endif

/* Per-instance state: what init read and what the handlers need. */
typedef struct example_state {
    imgate_instance *self;
    const imgate_core_api *api;
    char *version;
    uint32_t served;
} example_state;

static void on_example_request(void *state_, const imgate_request *req)
{
    example_state *st = state_;
    /* A body that does not parse is the client's mistake: say so, count it, stay up. */
    Imgate__Example__ExampleReq *in = imgate__example__example_req__unpack(NULL, req->body_len, req->body);
    if (in == NULL) {
        st->api->log(st->self, IMGATE_LOG_INFO, "event=bad_request conn=%llu", (unsigned long long)req->conn_id);
        st->api->metric_add(st->self, "bad_requests", 1);
        return;
    }
    Imgate__Example__ExampleRsp out = IMGATE__EXAMPLE__EXAMPLE_RSP__INIT;
    out.greeting = (char *)EXAMPLE_GREETING;
    out.version = st->version;
    out.node = (in->name && *in->name) ? in->name : (char *)"stranger";
    out.served = ++st->served;
    st->api->send_message(st->self, req->conn_id, EXAMPLE_SERVICE, EXAMPLE_CMD_RSP, req->seq_num, &out.base);
    st->api->metric_add(st->self, "requests", 1);
    imgate__example__example_req__free_unpacked(in, NULL);
}

/*
 * The stats command: a worker job counts users with a prepared statement,
 * then (back on the loop) a Redis INCR, then the reply. The request's
 * connection id and seq travel in `stats_call`, which the last step frees.
 */
typedef struct stats_call {
    example_state *st;
    uint64_t conn_id;
    uint16_t seq;
    int32_t user_count;
} stats_call;

static void count_users(imgate_worker *w, void *arg)
{
    stats_call *call = arg;
    const imgate_core_api *api = call->st->api;
    call->user_count = -1;
    MYSQL_STMT *stmt = api->db_stmt(w, IMGATE_DB_REPLICA, "SELECT COUNT(*) FROM IMUser");
    if (stmt == NULL)
        return;
    long long count = 0;
    MYSQL_BIND out;
    memset(&out, 0, sizeof out);
    out.buffer_type = MYSQL_TYPE_LONGLONG;
    out.buffer = &count;
    if (mysql_stmt_execute(stmt) != 0 || mysql_stmt_bind_result(stmt, &out) != 0 || mysql_stmt_fetch(stmt) != 0) {
        api->log(call->st->self, IMGATE_LOG_WARN, "event=count_failed error=\"%s\"", mysql_stmt_error(stmt));
        api->db_discard(w, IMGATE_DB_REPLICA);
        return;
    }
    mysql_stmt_free_result(stmt);
    call->user_count = (int32_t)count;
}

static void stats_counted(void *state, const void *reply_, void *arg)
{
    (void)state; /* the call carries the state: it was allocated by the handler */
    stats_call *call = arg;
    const redisReply *reply = reply_;
    Imgate__Example__ExampleStatsRsp out = IMGATE__EXAMPLE__EXAMPLE_STATS_RSP__INIT;
    out.user_count = call->user_count;
    out.counter = (reply && reply->type == REDIS_REPLY_INTEGER) ? reply->integer : -1;
    call->st->api->send_message(call->st->self, call->conn_id, EXAMPLE_SERVICE, EXAMPLE_CMD_STATS_RSP, call->seq,
                                &out.base);
    free(call);
}

static void users_counted(void *state, void *arg)
{
    (void)state;
    stats_call *call = arg;
    static const char *argv[] = {"INCR", "imgate:example:counter"};
    if (call->st->api->redis(call->st->self, stats_counted, call, 2, argv, NULL) != IMGATE_OK)
        free(call);
}

static void on_stats_request(void *state_, const imgate_request *req)
{
    example_state *st = state_;
    stats_call *call = calloc(1, sizeof *call);
    if (call == NULL)
        return;
    call->st = st;
    call->conn_id = req->conn_id;
    call->seq = req->seq_num;
    if (st->api->submit(st->self, req->conn_id, count_users, users_counted, call) != IMGATE_OK)
        free(call); /* queue full: the client times out, the daemon stays up */
}

static int example_init(imgate_instance *self, const imgate_core_api *api, void **state)
{
    example_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    st->self = self;
    st->api = api;
    const char *version = api->config_get(self, "version");
    st->version = strdup(version ? version : "unversioned");
    if (st->version == NULL) {
        free(st);
        return -1;
    }
#ifdef EXAMPLE_FAIL_INIT
    /* Test build: a plugin whose init refuses, to prove a failed reload changes nothing. */
    api->log(self, IMGATE_LOG_ERROR, "event=init_refused reason=\"built to fail\"");
    free(st->version);
    free(st);
    return -1;
#endif
    int rc = api->register_handler(self, EXAMPLE_SERVICE, EXAMPLE_CMD_REQ, IMGATE_HANDLER_PRE_LOGIN,
                                   on_example_request);
    if (rc == IMGATE_OK)
        rc = api->register_handler(self, EXAMPLE_SERVICE, EXAMPLE_CMD_STATS_REQ, IMGATE_HANDLER_PRE_LOGIN,
                                   on_stats_request);
    if (rc != IMGATE_OK) {
        free(st->version);
        free(st);
        return rc;
    }
    api->log(self, IMGATE_LOG_INFO, "event=init greeting=\"%s\" version=\"%s\"", EXAMPLE_GREETING, st->version);
    *state = st;
    return 0;
}

static void example_fini(void *state)
{
    example_state *st = state;
    free(st->version);
    free(st);
}

#ifdef EXAMPLE_BAD_ABI
/* Test build: claims an ABI major the core does not speak, so the core must refuse it unrun. */
__attribute__((visibility("default"))) const imgate_plugin imgate_plugin_descriptor = {
    IMGATE_PLUGIN_MAGIC, IMGATE_ABI_MAJOR + 1, 0, sizeof(imgate_plugin), IMGATE_BUILD_SIGNATURE,
    "example", "bad-abi", example_init, example_fini};
#else
IMGATE_PLUGIN_DEFINE("example", "1.0", example_init, example_fini);
#endif
