/*
 * core_api.c — the services plugins call (imgate/plugin.h documents each).
 * Every asynchronous step takes a reference on the caller's generation so
 * its code stays loaded until the step has finished.
 */
#include "core_api.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "plugin_timer.h"
#include "server.h"
#include "session.h"

static int api_register_handler(imgate_instance *self, uint16_t sid, uint16_t cid, uint32_t flags,
                                imgate_handler_fn fn)
{
    return generation_register(self, sid, cid, flags, fn);
}

static int api_register_close_hook(imgate_instance *self, imgate_close_hook_fn fn)
{
    if (!self->in_init)
        return IMGATE_ESTATE;
    self->close_hook = fn;
    return IMGATE_OK;
}

static int api_send(imgate_instance *self, uint64_t conn_id, uint16_t sid, uint16_t cid, uint16_t seq,
                    const void *body, size_t len)
{
    return conn_send(conn_find(conn_id), sid, cid, seq, body, len);
}

static int api_send_message(imgate_instance *self, uint64_t conn_id, uint16_t sid, uint16_t cid, uint16_t seq,
                            const ProtobufCMessage *msg)
{
    return conn_send_message(conn_find(conn_id), sid, cid, seq, msg);
}

static int api_send_to_user(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t except_conn,
                            uint16_t sid, uint16_t cid, uint16_t seq, const ProtobufCMessage *msg)
{
    int n = 0;
    conn *c = session_first(user_id);
    while (c) {
        conn *next = c->user_next; /* a send may close c (output cap), which unlinks it later, not now */
        if (c->id != except_conn && (client_class(c->client_type) & class_mask) &&
            conn_send_message(c, sid, cid, seq, msg) == IMGATE_OK)
            n++;
        c = next;
    }
    return n;
}

static int api_close(imgate_instance *self, uint64_t conn_id, const char *reason)
{
    conn *c = conn_find(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    conn_close(c, reason ? reason : "plugin");
    return IMGATE_OK;
}

static int api_conn_info(imgate_instance *self, uint64_t conn_id, imgate_conn_info *out)
{
    conn *c = conn_find(conn_id);
    if (c == NULL || out == NULL)
        return IMGATE_ENOCONN;
    memset(out, 0, sizeof *out);
    out->conn_id = c->id;
    out->user_id = c->user_id;
    out->client_type = c->client_type;
    out->logged_in = c->logged_in;
    out->kicked = c->kicked;
    snprintf(out->address, sizeof out->address, "%s", c->address);
    return IMGATE_OK;
}

static int api_session_bind(imgate_instance *self, uint64_t conn_id, uint32_t user_id, uint32_t client_type)
{
    conn *c = conn_find(conn_id);
    if (c == NULL || c->closing || c->kicked)
        return IMGATE_ENOCONN;
    if (user_id == 0)
        return IMGATE_EINVAL;
    return session_bind(c, user_id, client_type);
}

static int api_session_kick(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t except_conn,
                            uint32_t reason)
{
    return session_kick(user_id, class_mask, except_conn, reason);
}

static int api_session_conns(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t *out, int max)
{
    return session_conns(user_id, class_mask, out, max);
}

/* --- worker jobs ------------------------------------------------------ */

typedef struct plugin_job {
    imgate_instance *inst;
    imgate_work_fn work;
    imgate_done_fn done;
    void *arg;
} plugin_job;

static void job_work(struct imgate_worker *w, void *p)
{
    plugin_job *j = p;
    j->work(w, j->arg);
}

static void job_done(void *p)
{
    plugin_job *j = p;
    generation *g = j->inst->gen;
    if (j->done)
        j->done(j->inst->state, j->arg);
    free(j);
    generation_unref(g);
}

static int api_submit(imgate_instance *self, uint64_t conn_id, imgate_work_fn work, imgate_done_fn done, void *arg)
{
    if (work == NULL)
        return IMGATE_EINVAL;
    plugin_job *j = malloc(sizeof *j);
    if (j == NULL)
        return IMGATE_ENOMEM;
    j->inst = self;
    j->work = work;
    j->done = done;
    j->arg = arg;
    generation_ref(self->gen);
    if (g_server.workers == NULL || worker_pool_submit(g_server.workers, conn_id, job_work, job_done, j) != 0) {
        metrics_add("imgate_worker_jobs_refused_total", "", 1);
        generation_unref(self->gen);
        free(j);
        return IMGATE_ELIMIT;
    }
    return IMGATE_OK;
}

static void *api_db(imgate_worker *w, int pool)
{
    if (pool != IMGATE_DB_MASTER && pool != IMGATE_DB_REPLICA)
        return NULL;
    return db_conn_get(&w->db[pool]);
}

static void *api_db_stmt(imgate_worker *w, int pool, const char *sql)
{
    if (pool != IMGATE_DB_MASTER && pool != IMGATE_DB_REPLICA)
        return NULL;
    return db_conn_stmt(&w->db[pool], sql);
}

static void api_db_discard(imgate_worker *w, int pool)
{
    if (pool == IMGATE_DB_MASTER || pool == IMGATE_DB_REPLICA)
        db_conn_discard(&w->db[pool]);
}

/* --- Redis ------------------------------------------------------------ */

typedef struct plugin_redis_call {
    imgate_instance *inst;
    imgate_redis_fn cb;
    void *arg;
} plugin_redis_call;

static void redis_done(const redisReply *reply, void *p)
{
    plugin_redis_call *call = p;
    generation *g = call->inst->gen;
    if (call->cb)
        call->cb(call->inst->state, reply, call->arg);
    free(call);
    generation_unref(g);
}

static void redis_failed_later(evutil_socket_t fd, short what, void *p) { redis_done(NULL, p); }

static int api_redis(imgate_instance *self, imgate_redis_fn cb, void *arg, int argc, const char **argv,
                     const size_t *argvlen)
{
    if (argc <= 0 || argv == NULL)
        return IMGATE_EINVAL;
    plugin_redis_call *call = malloc(sizeof *call);
    if (call == NULL)
        return IMGATE_ENOMEM;
    call->inst = self;
    call->cb = cb;
    call->arg = arg;
    generation_ref(self->gen);
    if (redis_link_command(g_server.redis, redis_done, call, argc, argv, argvlen) == 0)
        return IMGATE_OK;
    /* Unreachable: the callback still runs once, with NULL, on the next loop turn. */
    metrics_add("imgate_redis_errors_total", "kind=\"unavailable\"", 1);
    if (event_base_once(g_server.base, -1, EV_TIMEOUT, redis_failed_later, call, NULL) != 0) {
        free(call);
        generation_unref(self->gen);
        return IMGATE_ENOMEM;
    }
    return IMGATE_OK;
}

/* --- timers, config, log, metrics -------------------------------------- */

static imgate_timer *api_timer_start(imgate_instance *self, uint32_t ms, int repeat, imgate_timer_fn fn, void *arg)
{
    return plugin_timer_start(self, ms, repeat, fn, arg);
}

static void api_timer_cancel(imgate_instance *self, imgate_timer *t) { plugin_timer_cancel(self, t); }

static const char *api_config_get(imgate_instance *self, const char *key)
{
    return config_lookup(self->gen->cfg, self->section, key);
}

static long long api_config_get_int(imgate_instance *self, const char *key, long long fallback)
{
    const char *v = config_lookup(self->gen->cfg, self->section, key);
    if (v == NULL || *v == '\0')
        return fallback;
    char *end;
    long long n = strtoll(v, &end, 10);
    return *end == '\0' ? n : fallback;
}

static void api_log(imgate_instance *self, int level, const char *fmt, ...)
{
    char component[96];
    snprintf(component, sizeof component, "plugin plugin=%s", self->name);
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, component, fmt, ap);
    va_end(ap);
}

static void api_metric_add(imgate_instance *self, const char *name, uint64_t delta)
{
    char metric[128], labels[96];
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return; /* an invalid name would corrupt the exposition format */
    snprintf(metric, sizeof metric, "imgate_plugin_%s_total", name);
    snprintf(labels, sizeof labels, "plugin=\"%s\"", self->name);
    metrics_add(metric, labels, delta);
}

static int api_node_info(imgate_instance *self, imgate_node_info *out)
{
    const config *cfg = server_cfg();
    if (out == NULL)
        return IMGATE_EINVAL;
    out->node = cfg->node;
    out->public_ip = cfg->public_ip;
    out->backup_ip = cfg->backup_ip;
    out->public_port = (uint16_t)cfg->public_port;
    out->connections = g_server.n_conns;
    out->max_connections = cfg->max_connections;
    return IMGATE_OK;
}

static const imgate_core_api api_table = {
    .size = sizeof(imgate_core_api),
    .abi_major = IMGATE_ABI_MAJOR,
    .abi_minor = IMGATE_ABI_MINOR,
    .register_handler = api_register_handler,
    .register_close_hook = api_register_close_hook,
    .send = api_send,
    .send_message = api_send_message,
    .send_to_user = api_send_to_user,
    .close = api_close,
    .conn_info = api_conn_info,
    .session_bind = api_session_bind,
    .session_kick = api_session_kick,
    .session_conns = api_session_conns,
    .submit = api_submit,
    .db = api_db,
    .db_stmt = api_db_stmt,
    .db_discard = api_db_discard,
    .redis = api_redis,
    .timer_start = api_timer_start,
    .timer_cancel = api_timer_cancel,
    .config_get = api_config_get,
    .config_get_int = api_config_get_int,
    .log = api_log,
    .metric_add = api_metric_add,
    .node_info = api_node_info,
};

const imgate_core_api *core_api(void) { return &api_table; }
