/*
 * core_api.c — the services plugins call (imgate/plugin.h documents each).
 * Every asynchronous step takes a reference on the caller's generation so
 * its code stays loaded until the step has finished.
 */
#include "core_api.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "conn.h"
#include "generation.h"
#include "imgate/teamtalk.h"
#include "log.h"
#include "metrics.h"
#include "plugin_config.h"
#include "plugin_timer.h"
#include "server.h"
#include "session.h"

/* Runs fn(arg) on a later turn of the loop, never under the caller. 0 or -1. */
static int later(void (*fn)(evutil_socket_t, short, void *), void *arg)
{
    return event_base_once(g_server.base, -1, EV_TIMEOUT, fn, arg, NULL);
}

/* --- registration --------------------------------------------------------------------------- */

static int api_register_handler(imgate_instance *self, uint16_t sid, uint16_t cid, uint32_t flags,
                                imgate_handler_fn fn)
{
    return generation_register(self, sid, cid, flags, fn);
}

static int api_register_handlers(imgate_instance *self, const imgate_handler_def *defs, size_t n)
{
    if (defs == NULL && n > 0)
        return IMGATE_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = generation_register_typed(self, &defs[i]);
        if (rc != IMGATE_OK)
            return rc;
    }
    return IMGATE_OK;
}

static int api_register_close_hook(imgate_instance *self, imgate_close_hook_fn fn)
{
    if (!self->in_init)
        return IMGATE_ESTATE;
    self->close_hook = fn;
    return IMGATE_OK;
}

static int api_register_login_hook(imgate_instance *self, imgate_close_hook_fn fn)
{
    if (!self->in_init)
        return IMGATE_ESTATE;
    self->login_hook = fn;
    return IMGATE_OK;
}

static int api_register_kick_hook(imgate_instance *self, imgate_close_hook_fn fn)
{
    if (!self->in_init)
        return IMGATE_ESTATE;
    self->kick_hook = fn;
    return IMGATE_OK;
}

static int api_register_drain_hook(imgate_instance *self, imgate_drain_hook_fn fn)
{
    if (!self->in_init)
        return IMGATE_ESTATE;
    self->drain_hook = fn;
    return IMGATE_OK;
}

static int api_export_service(imgate_instance *self, const char *name, uint32_t version, const void *table)
{
    return generation_export(self, name, version, table);
}

static int api_import_service(imgate_instance *self, const char *name, uint32_t min_version, uint32_t flags,
                              imgate_service *slot)
{
    return generation_import(self, name, min_version, flags, slot);
}

/* --- sending ---------------------------------------------------------------------------------- */

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

static int api_reply(const imgate_reply_to *to, uint16_t cid, const ProtobufCMessage *msg)
{
    if (to == NULL)
        return IMGATE_EINVAL;
    return conn_send_message(conn_find(to->conn_id), to->service_id, cid, to->seq_num, msg);
}

static void api_request_done(imgate_reply_to *to)
{
    if (to == NULL || !to->tracked)
        return;
    to->tracked = 0;
    conn_inflight_end(to->conn_id);
}

/* A packed body: on the stack when small, else malloc'd. */
typedef struct packed {
    uint8_t *data;
    size_t len;
    uint8_t small[1024];
} packed;

static int pack(packed *p, const ProtobufCMessage *msg)
{
    p->len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    if (p->len == 0) {
        p->data = NULL; /* an empty body: nothing to point at */
        return IMGATE_OK;
    }
    p->data = p->len <= sizeof p->small ? p->small : malloc(p->len);
    if (p->data == NULL)
        return IMGATE_ENOMEM;
    protobuf_c_message_pack(msg, p->data);
    return IMGATE_OK;
}

static void unpack_free(packed *p)
{
    if (p->data != p->small)
        free(p->data); /* NULL for an empty body */
}

static int deliver_users(const uint32_t *ids, size_t n, uint32_t class_mask, uint64_t except_conn, uint16_t sid,
                         uint16_t cid, uint16_t seq, const ProtobufCMessage *msg)
{
    packed p;
    if (pack(&p, msg) != IMGATE_OK)
        return IMGATE_ENOMEM;
    int count = 0;
    if (seq == 0)
        cluster_deliver(ids, n, class_mask, sid, cid, p.data, p.len); /* the users' other nodes */
    for (size_t i = 0; i < n; i++) {
        if (seq == 0) {
            count += session_deliver(ids[i], class_mask, except_conn, sid, cid, p.data, p.len);
            continue;
        }
        /* The 1.0 send_to_user carried a seq: rare, so through the connection list. */
        uint64_t conns[16];
        int total = session_conns(ids[i], class_mask, conns, 16);
        for (int k = 0; k < total && k < 16; k++)
            if (conns[k] != except_conn && conn_send(conn_find(conns[k]), sid, cid, seq, p.data, p.len) == IMGATE_OK)
                count++;
    }
    unpack_free(&p);
    return count;
}

static int api_send_to_user(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t except_conn,
                            uint16_t sid, uint16_t cid, uint16_t seq, const ProtobufCMessage *msg)
{
    return deliver_users(&user_id, 1, class_mask, except_conn, sid, cid, seq, msg);
}

static int api_deliver(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t except_conn,
                       uint16_t sid, uint16_t cid, const ProtobufCMessage *msg)
{
    return deliver_users(&user_id, 1, class_mask, except_conn, sid, cid, 0, msg);
}

static int api_deliver_many(imgate_instance *self, const uint32_t *user_ids, size_t n, uint32_t class_mask,
                            uint64_t except_conn, uint16_t sid, uint16_t cid, const ProtobufCMessage *msg)
{
    if (user_ids == NULL && n > 0)
        return IMGATE_EINVAL;
    return deliver_users(user_ids, n, class_mask, except_conn, sid, cid, 0, msg);
}

static int api_broadcast(imgate_instance *self, uint32_t class_mask, uint64_t except_conn, uint16_t sid,
                         uint16_t cid, const ProtobufCMessage *msg)
{
    packed p;
    if (pack(&p, msg) != IMGATE_OK)
        return IMGATE_ENOMEM;
    int n = session_broadcast(class_mask, except_conn, sid, cid, p.data, p.len);
    cluster_broadcast(class_mask, sid, cid, p.data, p.len);
    unpack_free(&p);
    return n;
}

typedef struct presence_call {
    imgate_instance *inst;
    imgate_presence_fn cb;
    void *arg;
    size_t n;
    uint32_t *ids;
    uint32_t *masks;
} presence_call;

static void presence_answer(evutil_socket_t fd, short what, void *p)
{
    presence_call *call = p;
    generation *g = call->inst->gen;
    /* Asked on a later turn, so the answer is as fresh as the registry. */
    for (size_t i = 0; i < call->n; i++)
        call->masks[i] = session_presence(call->ids[i]) | cluster_remote_presence(call->ids[i]);
    call->cb(call->inst->state, call->arg, call->ids, call->masks, call->n);
    free(call->ids);
    free(call);
    generation_unref(g);
}

static int api_presence(imgate_instance *self, const uint32_t *ids, size_t n, imgate_presence_fn cb, void *arg)
{
    if (cb == NULL || (ids == NULL && n > 0))
        return IMGATE_EINVAL;
    presence_call *call = calloc(1, sizeof *call);
    uint32_t *buf = malloc(2 * (n ? n : 1) * sizeof *buf);
    if (call == NULL || buf == NULL) {
        free(call);
        free(buf);
        return IMGATE_ENOMEM;
    }
    if (n)
        memcpy(buf, ids, n * sizeof *buf);
    call->inst = self;
    call->cb = cb;
    call->arg = arg;
    call->n = n;
    call->ids = buf;
    call->masks = buf + n;
    generation_ref(self->gen);
    if (later(presence_answer, call) != 0) {
        generation_unref(self->gen);
        free(buf);
        free(call);
        return IMGATE_ENOMEM;
    }
    return IMGATE_OK;
}

static int api_close(imgate_instance *self, uint64_t conn_id, const char *reason)
{
    conn *c = conn_find(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    conn_close(c, reason ? reason : "plugin");
    return IMGATE_OK;
}

/* --- connections and sessions ------------------------------------------------------------------ */

static int api_conn_info(imgate_instance *self, uint64_t conn_id, imgate_conn_info *out)
{
    conn *c = conn_find(conn_id);
    if (c == NULL || out == NULL)
        return IMGATE_ENOCONN;
    /* A plugin built for 1.0/1.1 passes the smaller struct: fill only what it has. */
    size_t size = self->desc->abi_minor >= 2 ? sizeof *out : offsetof(imgate_conn_info, role);
    memset(out, 0, size);
    out->conn_id = c->id;
    out->user_id = c->user_id;
    out->client_type = c->client_type;
    out->logged_in = c->logged_in;
    out->kicked = c->kicked;
    snprintf(out->address, sizeof out->address, "%s", c->address);
    if (self->desc->abi_minor >= 2) {
        out->role = c->role;
        out->output_queued = evbuffer_get_length(bufferevent_get_output(c->bev));
    }
    return IMGATE_OK;
}

static int api_session_bind(imgate_instance *self, uint64_t conn_id, uint32_t user_id, uint32_t client_type)
{
    conn *c = conn_find(conn_id);
    if (c == NULL || c->closing || c->kicked || c->role)
        return IMGATE_ENOCONN;
    if (user_id == 0)
        return IMGATE_EINVAL;
    int kicked = session_bind(c, user_id, client_type);
    if (kicked < 0)
        return IMGATE_ENOMEM;
    /* The same rule for the user's connections on other nodes (they are told, not counted here). */
    cluster_kick(user_id, imgate_client_class(client_type), KICK_REASON_DUPLICATE_USER);
    conn_run_login_hooks(c);
    return kicked;
}

static int api_session_kick(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t except_conn,
                            uint32_t reason)
{
    cluster_kick(user_id, class_mask, reason);
    return session_kick(user_id, class_mask, except_conn, reason);
}

static int api_session_conns(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t *out, int max)
{
    return session_conns(user_id, class_mask, out, max);
}

static int api_conn_authorize(imgate_instance *self, uint64_t conn_id, const imgate_role *role)
{
    conn *c = conn_find(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    return conn_authorize(c, self->name, role);
}

static void *api_conn_data(imgate_instance *self, uint64_t conn_id, size_t size)
{
    conn *c = conn_find(conn_id);
    return c ? conn_data(c, self->name, size) : NULL;
}

static int api_conn_pause(imgate_instance *self, uint64_t conn_id)
{
    conn *c = conn_find(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    conn_pause(c);
    return IMGATE_OK;
}

static int api_conn_resume(imgate_instance *self, uint64_t conn_id)
{
    conn *c = conn_find(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    conn_resume(c);
    return IMGATE_OK;
}

static int api_conn_watch_drain(imgate_instance *self, uint64_t conn_id, size_t low_water)
{
    if (self->drain_hook == NULL)
        return IMGATE_ESTATE;
    conn *c = conn_find(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    return conn_watch_drain(c, self->name, low_water);
}

/* --- worker jobs ------------------------------------------------------------------------------ */

typedef struct plugin_job {
    imgate_instance *inst;
    imgate_work_fn work;        /* 1.0 */
    imgate_done_fn done;        /* 1.0 */
    imgate_job_fn job;          /* 1.2 */
    imgate_write_fn write;      /* 1.2 */
    imgate_job_done_fn done2;   /* 1.2 */
    void *arg;
    int status;                 /* a refusal, delivered on a later loop turn */
} plugin_job;

static metric_series *refused_jobs;

static void job_work(struct imgate_worker *w, void *p)
{
    plugin_job *j = p;
    if (j->job)
        j->job(w, j->inst->state, j->arg);
    else
        j->work(w, j->arg);
}

static int job_write(struct imgate_worker *w, void *p)
{
    plugin_job *j = p;
    return j->write(w, j->inst->state, j->arg);
}

static void job_done(void *p, int status)
{
    plugin_job *j = p;
    generation *g = j->inst->gen;
    if (j->done2)
        j->done2(j->inst->state, j->arg, status);
    else if (j->done)
        j->done(j->inst->state, j->arg);
    free(j);
    generation_unref(g);
}

static void job_refused_later(evutil_socket_t fd, short what, void *p)
{
    plugin_job *j = p;
    job_done(j, j->status);
}

/* Queues the job; a refusal of a 1.2 job still completes it, on a later loop turn. */
static int queue_job(imgate_instance *self, uint64_t order_key, plugin_job *j)
{
    generation_ref(self->gen);
    int rc = IMGATE_ELIMIT;
    if (g_server.workers != NULL) {
        rc = j->write ? worker_pool_submit_write(g_server.workers, order_key, job_write, job_done, j)
                      : worker_pool_submit(g_server.workers, order_key, job_work, job_done, j);
        rc = rc == 0 ? IMGATE_OK : IMGATE_ELIMIT;
    }
    if (rc == IMGATE_OK)
        return IMGATE_OK;
    if (refused_jobs == NULL)
        refused_jobs = metrics_counter("imgate_worker_jobs_refused_total", "");
    metrics_inc(refused_jobs, 1);
    if (j->done2 != NULL) {
        j->status = rc;
        if (later(job_refused_later, j) == 0)
            return rc;
        /* Not even a deferred call could be set up: complete now rather than never. */
        job_done(j, rc);
        return rc;
    }
    generation_unref(self->gen);
    free(j);
    return rc;
}

static int api_submit(imgate_instance *self, uint64_t conn_id, imgate_work_fn work, imgate_done_fn done, void *arg)
{
    if (work == NULL)
        return IMGATE_EINVAL;
    plugin_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return IMGATE_ENOMEM;
    j->inst = self;
    j->work = work;
    j->done = done;
    j->arg = arg;
    return queue_job(self, conn_id, j);
}

static int submit2(imgate_instance *self, uint64_t order_key, imgate_job_fn job, imgate_write_fn write,
                   imgate_job_done_fn done, void *arg)
{
    plugin_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        /* Nothing to carry a deferred completion in: there is no memory for it either. */
        log_limited(LOG_ERROR, "core", "job_alloc_failed", NULL, 5, "event=job_alloc_failed plugin=%s", self->name);
        if (done)
            done(self->state, arg, IMGATE_ENOMEM);
        return IMGATE_ENOMEM;
    }
    j->inst = self;
    j->job = job;
    j->write = write;
    j->done2 = done;
    j->arg = arg;
    return queue_job(self, order_key, j);
}

static int api_submit_job(imgate_instance *self, uint64_t order_key, imgate_job_fn work, imgate_job_done_fn done,
                          void *arg)
{
    if (work == NULL)
        return IMGATE_EINVAL;
    return submit2(self, order_key, work, NULL, done, arg);
}

static int api_submit_write(imgate_instance *self, uint64_t order_key, imgate_write_fn write,
                            imgate_job_done_fn done, void *arg)
{
    if (write == NULL)
        return IMGATE_EINVAL;
    return submit2(self, order_key, NULL, write, done, arg);
}

static int valid_pool(int pool) { return pool == IMGATE_DB_MASTER || pool == IMGATE_DB_REPLICA; }

static void *api_db(imgate_worker *w, int pool) { return valid_pool(pool) ? db_conn_get(&w->db[pool]) : NULL; }

static void *api_db_stmt(imgate_worker *w, int pool, const char *sql)
{
    return valid_pool(pool) ? db_conn_stmt(&w->db[pool], sql) : NULL;
}

static void api_db_discard(imgate_worker *w, int pool)
{
    if (valid_pool(pool))
        db_conn_discard(&w->db[pool]);
}

static int api_db_query(imgate_worker *w, int pool, const char *sql, imgate_db_bind *params, size_t n_params,
                        imgate_db_bind *cols, size_t n_cols)
{
    if (!valid_pool(pool) || sql == NULL)
        return IMGATE_EINVAL;
    return db_query(&w->db[pool], sql, params, n_params, cols, n_cols, NULL, NULL, 0);
}

static int api_db_query_rows(imgate_worker *w, int pool, const char *sql, imgate_db_bind *params, size_t n_params,
                             imgate_db_bind *cols, size_t n_cols, imgate_db_row_fn row, void *ctx)
{
    if (!valid_pool(pool) || sql == NULL)
        return IMGATE_EINVAL;
    return db_query(&w->db[pool], sql, params, n_params, cols, n_cols, row, ctx, 1);
}

static int64_t api_db_exec(imgate_worker *w, const char *sql, imgate_db_bind *params, size_t n_params,
                           uint64_t *insert_id)
{
    if (sql == NULL)
        return IMGATE_EINVAL;
    return db_exec(&w->db[IMGATE_DB_MASTER], sql, params, n_params, insert_id);
}

static int api_db_begin(imgate_worker *w)
{
    if (w->in_batch)
        return IMGATE_ESTATE; /* submit_write already runs one */
    return db_begin(&w->db[IMGATE_DB_MASTER]);
}

static int api_db_commit(imgate_worker *w)
{
    if (w->in_batch)
        return IMGATE_ESTATE;
    return db_commit(&w->db[IMGATE_DB_MASTER]);
}

static void api_db_rollback(imgate_worker *w)
{
    if (!w->in_batch)
        db_rollback(&w->db[IMGATE_DB_MASTER]);
}

/* --- Redis ------------------------------------------------------------------------------------ */

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
    if (later(redis_failed_later, call) != 0) {
        free(call);
        generation_unref(self->gen);
        return IMGATE_ENOMEM;
    }
    return IMGATE_OK;
}

/* --- timers, config, log, metrics ------------------------------------------------------------- */

static imgate_timer *api_timer_start(imgate_instance *self, uint32_t ms, int repeat, imgate_timer_fn fn, void *arg)
{
    return plugin_timer_start(self, ms, repeat, fn, arg);
}

static void api_timer_cancel(imgate_instance *self, imgate_timer *t) { plugin_timer_cancel(self, t); }

/* The raw value of a key: as written, else the declared default. */
static const char *config_value(imgate_instance *self, const char *key, const imgate_config_key **decl)
{
    *decl = plugin_config_find(self->config, key);
    const char *v = config_lookup(self->gen->cfg, self->section, key);
    if (v == NULL && *decl != NULL)
        v = (*decl)->def;
    return v;
}

static const char *api_config_get(imgate_instance *self, const char *key)
{
    const imgate_config_key *decl;
    return config_value(self, key, &decl);
}

static long long api_config_get_int(imgate_instance *self, const char *key, long long fallback)
{
    const imgate_config_key *decl;
    const char *v = config_value(self, key, &decl);
    if (v == NULL || *v == '\0')
        return fallback;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end == '\0')
        return n;
    log_error("event=bad_config plugin=%s key=%s value=\"%s\" reason=\"not a number, using %lld\"", self->name, key, v,
              fallback);
    return fallback;
}

/* A declared key's checked value as a number (INT, SIZE, BOOL; ENUM: the choice's index). */
static long long declared_number(imgate_instance *self, const char *key, int want_type)
{
    const imgate_config_key *decl;
    const char *v = config_value(self, key, &decl);
    if (decl == NULL || (want_type != 0 && decl->type != want_type &&
                         !(want_type == IMGATE_CFG_INT && decl->type == IMGATE_CFG_SIZE))) {
        log_error("event=plugin_bug plugin=%s key=%s reason=\"asks for a key it does not declare (with that type)\"",
                  self->name, key);
        return 0;
    }
    if (v == NULL)
        return 0;
    long long out = 0;
    char why[160];
    if (plugin_config_parse(decl, v, &out, why, sizeof why) != 0) {
        log_error("event=plugin_bug plugin=%s key=%s reason=\"its default '%s' is invalid: %s\"", self->name, key, v,
                  why);
        return 0;
    }
    return out;
}

static long long api_config_int(imgate_instance *self, const char *key)
{
    return declared_number(self, key, IMGATE_CFG_INT);
}

static int api_config_bool(imgate_instance *self, const char *key)
{
    return (int)declared_number(self, key, IMGATE_CFG_BOOL);
}

static const char *api_config_str(imgate_instance *self, const char *key)
{
    const imgate_config_key *decl;
    const char *v = config_value(self, key, &decl);
    if (decl == NULL) {
        log_error("event=plugin_bug plugin=%s key=%s reason=\"asks for a key it does not declare\"", self->name, key);
        return "";
    }
    return v ? v : "";
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

static void api_log_limited(imgate_instance *self, int level, const char *key, int per_second, const char *fmt, ...)
{
    char component[96], scoped[64];
    snprintf(component, sizeof component, "plugin plugin=%s", self->name);
    snprintf(scoped, sizeof scoped, "%s.%s", self->name, key ? key : "");
    va_list ap;
    va_start(ap, fmt);
    log_vlimited(level, component, scoped, NULL, per_second, fmt, ap);
    va_end(ap);
}

static int valid_metric_name(const char *name)
{
    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0; /* an invalid name would corrupt the exposition format */
    return 1;
}

static imgate_metric *api_metric_counter(imgate_instance *self, const char *name)
{
    if (!valid_metric_name(name))
        return NULL;
    char metric[128], labels[96];
    snprintf(metric, sizeof metric, "imgate_plugin_%s_total", name);
    snprintf(labels, sizeof labels, "plugin=\"%s\"", self->name);
    return metrics_counter(metric, labels);
}

static void api_metric_inc(imgate_metric *m, uint64_t delta) { metrics_inc(m, delta); }

static void api_metric_add(imgate_instance *self, const char *name, uint64_t delta)
{
    metrics_inc(api_metric_counter(self, name), delta);
}

static int api_node_info(imgate_instance *self, imgate_node_info *out)
{
    /* The caller's generation's settings: during the first init no generation is current yet,
     * and during a reload the new one is the one being set up. */
    const config *cfg = self->gen->cfg;
    if (out == NULL)
        return IMGATE_EINVAL;
    out->node = cfg->node;
    out->public_ip = cfg->public_ip;
    out->backup_ip = cfg->backup_ip;
    out->public_port = (uint16_t)cfg->public_port;
    out->connections = conn_count();
    out->max_connections = cfg->max_connections;
    return IMGATE_OK;
}

static int api_node_choose(imgate_instance *self, imgate_node_info *out)
{
    const config *cfg = self->gen->cfg;
    if (out == NULL)
        return IMGATE_EINVAL;
    cluster_choice choice;
    cluster_choose(cfg, &choice);
    out->node = choice.node;
    out->public_ip = choice.public_ip;
    out->backup_ip = choice.backup_ip;
    out->public_port = (uint16_t)choice.port;
    out->connections = choice.connections;
    out->max_connections = choice.max_connections;
    return choice.full ? IMGATE_ELIMIT : IMGATE_OK;
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
    .register_handlers = api_register_handlers,
    .export_service = api_export_service,
    .import_service = api_import_service,
    .reply = api_reply,
    .request_done = api_request_done,
    .deliver = api_deliver,
    .deliver_many = api_deliver_many,
    .broadcast = api_broadcast,
    .presence = api_presence,
    .conn_authorize = api_conn_authorize,
    .conn_data = api_conn_data,
    .conn_pause = api_conn_pause,
    .conn_resume = api_conn_resume,
    .submit_job = api_submit_job,
    .submit_write = api_submit_write,
    .db_query = api_db_query,
    .db_query_rows = api_db_query_rows,
    .db_exec = api_db_exec,
    .db_begin = api_db_begin,
    .db_commit = api_db_commit,
    .db_rollback = api_db_rollback,
    .config_int = api_config_int,
    .config_bool = api_config_bool,
    .config_str = api_config_str,
    .metric_counter = api_metric_counter,
    .metric_inc = api_metric_inc,
    .log_limited = api_log_limited,
    .register_login_hook = api_register_login_hook,
    .register_kick_hook = api_register_kick_hook,
    .register_drain_hook = api_register_drain_hook,
    .conn_watch_drain = api_conn_watch_drain,
    .node_choose = api_node_choose,
};

const imgate_core_api *core_api(void) { return &api_table; }
