/* fakecore.c — see fakecore.h. */
#include "fakecore.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "pb_request.h"
#include "plugin_config.h"

/* The opaque types of the ABI, as this fake core sees them. */
struct imgate_instance {
    const imgate_plugin *desc;
    void *state;
    int in_init;
};
struct imgate_worker {
    int unused;
};
struct imgate_metric {
    uint64_t value;
};

typedef struct fake_handler {
    imgate_handler_def def;
    imgate_handler_fn fn10; /* register_handler (1.0 form) */
} fake_handler;

typedef struct fake_conn {
    uint64_t id;
    uint32_t user_id, client_type;
    int logged_in;
    char address[64];
    void *data;
    size_t data_size;
} fake_conn;

/* A queued asynchronous step. */
typedef struct pending {
    struct pending *next;
    int kind; /* 0 redis, 1 job, 2 write, 3 job 1.0, 4 presence */
    imgate_redis_fn redis_cb;
    imgate_job_fn job;
    imgate_write_fn write;
    imgate_work_fn work10;
    imgate_done_fn done10;
    imgate_job_done_fn done;
    imgate_presence_fn presence_cb;
    uint32_t *ids;
    size_t n_ids;
    void *arg;
} pending;

static struct imgate_instance inst;
static config *cfg;
static char section[80];
static fake_handler handlers[128];
static size_t n_handlers;
static fake_conn conns[64];
static size_t n_conns;
static fake_event *events;
static size_t n_events, cap_events;
static pending *queue_head, *queue_tail;
static struct imgate_metric metrics[256];
static size_t n_metrics;
static imgate_close_hook_fn close_hook, login_hook;
static char node_ip[64] = "127.0.0.1";
static uint16_t node_port = 8000;
static int node_connections, node_max = 10000;
static fake_backend backend = FAKE_BACKEND_DOWN;

void fakecore_backend(fake_backend mode) { backend = mode; }
size_t fakecore_handler_count(void) { return n_handlers; }

void fakecore_handler(size_t i, uint16_t *sid, uint16_t *cid)
{
    *sid = i < n_handlers ? handlers[i].def.service_id : 0;
    *cid = i < n_handlers ? handlers[i].def.command_id : 0;
}

static fake_event *record(fake_kind kind)
{
    if (n_events == cap_events) {
        cap_events = cap_events ? cap_events * 2 : 64;
        events = realloc(events, cap_events * sizeof *events);
    }
    fake_event *e = &events[n_events++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return e;
}

static void enqueue(pending *p)
{
    p->next = NULL;
    if (queue_tail)
        queue_tail->next = p;
    else
        queue_head = p;
    queue_tail = p;
}

static fake_conn *find_conn(uint64_t id)
{
    for (size_t i = 0; i < n_conns; i++)
        if (conns[i].id == id)
            return &conns[i];
    return NULL;
}

static void keep_body(fake_event *e, const ProtobufCMessage *msg)
{
    e->body_len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    e->body = e->body_len ? malloc(e->body_len) : NULL;
    if (e->body)
        protobuf_c_message_pack(msg, e->body);
}

/* --- the table ---------------------------------------------------------------------------------- */

static int f_register_handler(imgate_instance *self, uint16_t sid, uint16_t cid, uint32_t flags, imgate_handler_fn fn)
{
    if (!self->in_init || n_handlers == 128)
        return IMGATE_ESTATE;
    fake_handler *h = &handlers[n_handlers++];
    memset(h, 0, sizeof *h);
    h->def.service_id = sid;
    h->def.command_id = cid;
    h->def.flags = flags;
    h->fn10 = fn;
    return IMGATE_OK;
}

static int f_register_handlers(imgate_instance *self, const imgate_handler_def *defs, size_t n)
{
    if (!self->in_init)
        return IMGATE_ESTATE;
    for (size_t i = 0; i < n && n_handlers < 128; i++) {
        handlers[n_handlers].def = defs[i];
        handlers[n_handlers].fn10 = NULL;
        n_handlers++;
    }
    return IMGATE_OK;
}

static int f_register_close_hook(imgate_instance *self, imgate_close_hook_fn fn)
{
    close_hook = fn;
    return IMGATE_OK;
}

static int f_register_login_hook(imgate_instance *self, imgate_close_hook_fn fn)
{
    login_hook = fn;
    return IMGATE_OK;
}

static int f_register_kick_hook(imgate_instance *self, imgate_close_hook_fn fn) { return IMGATE_OK; }

static int f_send(imgate_instance *self, uint64_t conn_id, uint16_t sid, uint16_t cid, uint16_t seq, const void *body,
                  size_t len)
{
    fake_event *e = record(FAKE_SEND);
    e->conn_id = conn_id;
    e->service_id = sid;
    e->command_id = cid;
    e->seq_num = seq;
    e->body_len = len;
    e->body = len ? malloc(len) : NULL;
    if (e->body)
        memcpy(e->body, body, len);
    return find_conn(conn_id) ? IMGATE_OK : IMGATE_ENOCONN;
}

static int f_send_message(imgate_instance *self, uint64_t conn_id, uint16_t sid, uint16_t cid, uint16_t seq,
                          const ProtobufCMessage *msg)
{
    fake_event *e = record(FAKE_SEND);
    e->conn_id = conn_id;
    e->service_id = sid;
    e->command_id = cid;
    e->seq_num = seq;
    keep_body(e, msg);
    return find_conn(conn_id) ? IMGATE_OK : IMGATE_ENOCONN;
}

static int f_reply(const imgate_reply_to *to, uint16_t cid, const ProtobufCMessage *msg)
{
    return f_send_message(to->self, to->conn_id, to->service_id, cid, to->seq_num, msg);
}

static void f_request_done(imgate_reply_to *to) { to->tracked = 0; }

static int deliver_one(uint32_t user_id, uint32_t mask, uint64_t except, uint16_t sid, uint16_t cid,
                       const ProtobufCMessage *msg)
{
    fake_event *e = record(FAKE_DELIVER);
    e->user_id = user_id;
    e->class_mask = mask;
    e->except_conn = except;
    e->service_id = sid;
    e->command_id = cid;
    keep_body(e, msg);
    return 0;
}

static int f_send_to_user(imgate_instance *self, uint32_t user_id, uint32_t mask, uint64_t except, uint16_t sid,
                          uint16_t cid, uint16_t seq, const ProtobufCMessage *msg)
{
    return deliver_one(user_id, mask, except, sid, cid, msg);
}

static int f_deliver(imgate_instance *self, uint32_t user_id, uint32_t mask, uint64_t except, uint16_t sid,
                     uint16_t cid, const ProtobufCMessage *msg)
{
    return deliver_one(user_id, mask, except, sid, cid, msg);
}

static int f_deliver_many(imgate_instance *self, const uint32_t *ids, size_t n, uint32_t mask, uint64_t except,
                          uint16_t sid, uint16_t cid, const ProtobufCMessage *msg)
{
    for (size_t i = 0; i < n; i++)
        deliver_one(ids[i], mask, except, sid, cid, msg);
    return 0;
}

static int f_broadcast(imgate_instance *self, uint32_t mask, uint64_t except, uint16_t sid, uint16_t cid,
                       const ProtobufCMessage *msg)
{
    return deliver_one(0, mask, except, sid, cid, msg);
}

static int f_presence(imgate_instance *self, const uint32_t *ids, size_t n, imgate_presence_fn cb, void *arg)
{
    pending *p = calloc(1, sizeof *p);
    p->kind = 4;
    p->presence_cb = cb;
    p->ids = malloc((n ? n : 1) * sizeof *ids);
    if (n)
        memcpy(p->ids, ids, n * sizeof *ids);
    p->n_ids = n;
    p->arg = arg;
    enqueue(p);
    return IMGATE_OK;
}

static int f_close(imgate_instance *self, uint64_t conn_id, const char *reason)
{
    fake_event *e = record(FAKE_CLOSE);
    e->conn_id = conn_id;
    snprintf(e->text, sizeof e->text, "%s", reason ? reason : "");
    return IMGATE_OK;
}

static int f_conn_info(imgate_instance *self, uint64_t conn_id, imgate_conn_info *out)
{
    fake_conn *c = find_conn(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    memset(out, 0, sizeof *out);
    out->conn_id = c->id;
    out->user_id = c->user_id;
    out->client_type = c->client_type;
    out->logged_in = c->logged_in;
    snprintf(out->address, sizeof out->address, "%s", c->address);
    return IMGATE_OK;
}

static int f_session_bind(imgate_instance *self, uint64_t conn_id, uint32_t user_id, uint32_t client_type)
{
    fake_event *e = record(FAKE_BIND);
    e->conn_id = conn_id;
    e->user_id = user_id;
    e->reason = client_type;
    fake_conn *c = find_conn(conn_id);
    if (c == NULL)
        return IMGATE_ENOCONN;
    c->user_id = user_id;
    c->client_type = client_type;
    c->logged_in = 1;
    return 0;
}

static int f_session_kick(imgate_instance *self, uint32_t user_id, uint32_t mask, uint64_t except, uint32_t reason)
{
    fake_event *e = record(FAKE_KICK);
    e->user_id = user_id;
    e->class_mask = mask;
    e->except_conn = except;
    e->reason = reason;
    int n = 0;
    for (size_t i = 0; i < n_conns; i++)
        if (conns[i].user_id == user_id && conns[i].logged_in && conns[i].id != except &&
            (imgate_client_class(conns[i].client_type) & mask)) {
            conns[i].logged_in = 0;
            n++;
        }
    return n;
}

static int f_session_conns(imgate_instance *self, uint32_t user_id, uint32_t mask, uint64_t *out, int max)
{
    int n = 0;
    for (size_t i = 0; i < n_conns; i++)
        if (conns[i].user_id == user_id && conns[i].logged_in && (imgate_client_class(conns[i].client_type) & mask)) {
            if (n < max && out)
                out[n] = conns[i].id;
            n++;
        }
    return n;
}

static int f_submit(imgate_instance *self, uint64_t key, imgate_work_fn work, imgate_done_fn done, void *arg)
{
    record(FAKE_JOB);
    pending *p = calloc(1, sizeof *p);
    p->kind = 3;
    p->work10 = work;
    p->done10 = done;
    p->arg = arg;
    enqueue(p);
    return IMGATE_OK;
}

static int f_submit_job(imgate_instance *self, uint64_t key, imgate_job_fn work, imgate_job_done_fn done, void *arg)
{
    record(FAKE_JOB);
    pending *p = calloc(1, sizeof *p);
    p->kind = 1;
    p->job = work;
    p->done = done;
    p->arg = arg;
    enqueue(p);
    return IMGATE_OK;
}

static int f_submit_write(imgate_instance *self, uint64_t key, imgate_write_fn write, imgate_job_done_fn done,
                          void *arg)
{
    record(FAKE_JOB);
    pending *p = calloc(1, sizeof *p);
    p->kind = 2;
    p->write = write;
    p->done = done;
    p->arg = arg;
    enqueue(p);
    return IMGATE_OK;
}

/* The database: "down" (every call fails as an unreachable server would make it) or "empty". */
static void *f_db(imgate_worker *w, int pool) { return NULL; }
static void *f_db_stmt(imgate_worker *w, int pool, const char *sql) { return NULL; }
static void f_db_discard(imgate_worker *w, int pool) {}
static int f_db_query(imgate_worker *w, int pool, const char *sql, imgate_db_bind *p, size_t np, imgate_db_bind *c,
                      size_t nc)
{
    return backend == FAKE_BACKEND_EMPTY ? 0 : IMGATE_EUNAVAIL;
}
static int f_db_query_rows(imgate_worker *w, int pool, const char *sql, imgate_db_bind *p, size_t np,
                           imgate_db_bind *c, size_t nc, imgate_db_row_fn row, void *ctx)
{
    return backend == FAKE_BACKEND_EMPTY ? 0 : IMGATE_EUNAVAIL;
}
static int64_t f_db_exec(imgate_worker *w, const char *sql, imgate_db_bind *p, size_t np, uint64_t *id)
{
    if (backend != FAKE_BACKEND_EMPTY)
        return IMGATE_EUNAVAIL;
    if (id)
        *id = 1;
    return 1;
}
static int f_db_begin(imgate_worker *w) { return backend == FAKE_BACKEND_EMPTY ? IMGATE_OK : IMGATE_EUNAVAIL; }
static int f_db_commit(imgate_worker *w) { return backend == FAKE_BACKEND_EMPTY ? IMGATE_OK : IMGATE_EUNAVAIL; }
static void f_db_rollback(imgate_worker *w) {}

static int f_redis(imgate_instance *self, imgate_redis_fn cb, void *arg, int argc, const char **argv,
                   const size_t *argvlen)
{
    fake_event *e = record(FAKE_REDIS);
    size_t off = 0;
    int eval = argc > 1 && strcmp(argv[0], "EVAL") == 0;
    for (int i = 0; i < argc && off < sizeof e->text - 1; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        /* A script's text says little and would crowd out its keys and arguments. */
        const char *word = eval && i == 1 ? "<script>" : argv[i];
        if (eval && i == 1)
            len = strlen(word);
        int n = snprintf(e->text + off, sizeof e->text - off, "%s%.*s", i ? " " : "", (int)len, word);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    pending *p = calloc(1, sizeof *p);
    p->kind = 0;
    p->redis_cb = cb;
    p->arg = arg;
    enqueue(p);
    return IMGATE_OK;
}

static imgate_timer *f_timer_start(imgate_instance *self, uint32_t ms, int repeat, imgate_timer_fn fn, void *arg)
{
    return NULL; /* no time passes in a fake core */
}
static void f_timer_cancel(imgate_instance *self, imgate_timer *t) {}

static const char *raw_value(const char *key, const imgate_config_key **decl)
{
    *decl = plugin_config_find(inst.desc->config, key);
    const char *v = cfg ? config_lookup(cfg, section, key) : NULL;
    return v ? v : (*decl ? (*decl)->def : NULL);
}

static const char *f_config_get(imgate_instance *self, const char *key)
{
    const imgate_config_key *d;
    return raw_value(key, &d);
}

static long long f_config_get_int(imgate_instance *self, const char *key, long long fallback)
{
    const imgate_config_key *d;
    const char *v = raw_value(key, &d);
    return v ? strtoll(v, NULL, 10) : fallback;
}

static long long f_config_int(imgate_instance *self, const char *key)
{
    const imgate_config_key *d;
    const char *v = raw_value(key, &d);
    long long out = 0;
    char why[128];
    if (d == NULL || v == NULL || plugin_config_parse(d, v, &out, why, sizeof why) != 0)
        return 0;
    return out;
}

static int f_config_bool(imgate_instance *self, const char *key) { return (int)f_config_int(self, key); }

static const char *f_config_str(imgate_instance *self, const char *key)
{
    const imgate_config_key *d;
    const char *v = raw_value(key, &d);
    return v ? v : "";
}

static void f_log(imgate_instance *self, int level, const char *fmt, ...)
{
    fake_event *e = record(FAKE_LOG);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
}

static void f_log_limited(imgate_instance *self, int level, const char *key, int per_second, const char *fmt, ...)
{
    fake_event *e = record(FAKE_LOG);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
}

static imgate_metric *f_metric_counter(imgate_instance *self, const char *name)
{
    return n_metrics < 256 ? &metrics[n_metrics++] : NULL;
}
static void f_metric_inc(imgate_metric *m, uint64_t d)
{
    if (m)
        m->value += d;
}
static void f_metric_add(imgate_instance *self, const char *name, uint64_t d) {}

static int f_node_info(imgate_instance *self, imgate_node_info *out)
{
    out->node = "fake";
    out->public_ip = node_ip;
    out->backup_ip = node_ip;
    out->public_port = node_port;
    out->connections = node_connections;
    out->max_connections = node_max;
    return IMGATE_OK;
}

static int f_register_drain_hook(imgate_instance *self, imgate_drain_hook_fn fn) { return IMGATE_OK; }
static int f_conn_watch_drain(imgate_instance *self, uint64_t conn_id, size_t low_water)
{
    return find_conn(conn_id) ? IMGATE_OK : IMGATE_ENOCONN; /* nothing is ever queued here: never fires */
}

static int f_node_choose(imgate_instance *self, imgate_node_info *out)
{
    f_node_info(self, out);
    return out->connections >= out->max_connections ? IMGATE_ELIMIT : IMGATE_OK;
}

static int f_export(imgate_instance *self, const char *name, uint32_t version, const void *table) { return IMGATE_OK; }
static int f_import(imgate_instance *self, const char *name, uint32_t min_version, uint32_t flags,
                    imgate_service *slot)
{
    memset(slot, 0, sizeof *slot); /* nothing to import here: the plugin must cope, or refuse */
    return IMGATE_OK;
}

static int f_conn_authorize(imgate_instance *self, uint64_t conn_id, const imgate_role *role)
{
    return find_conn(conn_id) ? IMGATE_OK : IMGATE_ENOCONN;
}

static void *f_conn_data(imgate_instance *self, uint64_t conn_id, size_t size)
{
    fake_conn *c = find_conn(conn_id);
    if (c == NULL)
        return NULL;
    if (c->data_size < size) {
        c->data = realloc(c->data, size);
        memset((char *)c->data + c->data_size, 0, size - c->data_size);
        c->data_size = size;
    }
    return c->data;
}

static int f_conn_pause(imgate_instance *self, uint64_t conn_id) { return IMGATE_OK; }
static int f_conn_resume(imgate_instance *self, uint64_t conn_id) { return IMGATE_OK; }

static const imgate_core_api fake_api = {
    .size = sizeof(imgate_core_api),
    .abi_major = IMGATE_ABI_MAJOR,
    .abi_minor = IMGATE_ABI_MINOR,
    .register_handler = f_register_handler,
    .register_close_hook = f_register_close_hook,
    .send = f_send,
    .send_message = f_send_message,
    .send_to_user = f_send_to_user,
    .close = f_close,
    .conn_info = f_conn_info,
    .session_bind = f_session_bind,
    .session_kick = f_session_kick,
    .session_conns = f_session_conns,
    .submit = f_submit,
    .db = f_db,
    .db_stmt = f_db_stmt,
    .db_discard = f_db_discard,
    .redis = f_redis,
    .timer_start = f_timer_start,
    .timer_cancel = f_timer_cancel,
    .config_get = f_config_get,
    .config_get_int = f_config_get_int,
    .log = f_log,
    .metric_add = f_metric_add,
    .node_info = f_node_info,
    .register_handlers = f_register_handlers,
    .export_service = f_export,
    .import_service = f_import,
    .reply = f_reply,
    .request_done = f_request_done,
    .deliver = f_deliver,
    .deliver_many = f_deliver_many,
    .broadcast = f_broadcast,
    .presence = f_presence,
    .conn_authorize = f_conn_authorize,
    .conn_data = f_conn_data,
    .conn_pause = f_conn_pause,
    .conn_resume = f_conn_resume,
    .submit_job = f_submit_job,
    .submit_write = f_submit_write,
    .db_query = f_db_query,
    .db_query_rows = f_db_query_rows,
    .db_exec = f_db_exec,
    .db_begin = f_db_begin,
    .db_commit = f_db_commit,
    .db_rollback = f_db_rollback,
    .config_int = f_config_int,
    .config_bool = f_config_bool,
    .config_str = f_config_str,
    .metric_counter = f_metric_counter,
    .metric_inc = f_metric_inc,
    .log_limited = f_log_limited,
    .register_login_hook = f_register_login_hook,
    .register_kick_hook = f_register_kick_hook,
    .register_drain_hook = f_register_drain_hook,
    .conn_watch_drain = f_conn_watch_drain,
    .node_choose = f_node_choose,
};

/* --- driving it ---------------------------------------------------------------------------------- */

int fakecore_start(const imgate_plugin *desc, const char *ini)
{
    memset(&inst, 0, sizeof inst);
    inst.desc = desc;
    snprintf(section, sizeof section, "plugin.%s", desc->name);
    char path[] = "/tmp/imgate-fakecore-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[%s]\n%s", section, ini ? ini : "");
    fclose(f);
    char err[512];
    cfg = config_load(path, err, sizeof err);
    unlink(path);
    if (cfg == NULL || (desc->config && plugin_config_check(cfg, desc->name, desc->config, err, sizeof err) != 0)) {
        fprintf(stderr, "# fakecore: %s\n", err);
        return -1;
    }
    inst.in_init = 1;
    int rc = desc->init(&inst, &fake_api, &inst.state);
    inst.in_init = 0;
    return rc;
}

void fakecore_stop(void)
{
    fakecore_run_pending();
    if (inst.desc && inst.desc->fini && inst.state)
        inst.desc->fini(inst.state);
    inst.state = NULL;
    config_free(cfg);
    cfg = NULL;
    fakecore_clear();
    free(events);
    events = NULL;
    cap_events = 0;
    for (size_t i = 0; i < n_conns; i++)
        free(conns[i].data);
    n_conns = 0;
    n_handlers = 0;
}

void fakecore_conn(uint64_t conn_id, uint32_t user_id, uint32_t client_type, int logged_in, const char *address)
{
    fake_conn *c = find_conn(conn_id);
    if (c == NULL && n_conns < 64) {
        c = &conns[n_conns++];
        memset(c, 0, sizeof *c);
    }
    if (c == NULL)
        return;
    c->id = conn_id;
    c->user_id = user_id;
    c->client_type = client_type;
    c->logged_in = logged_in;
    snprintf(c->address, sizeof c->address, "%s", address ? address : "127.0.0.1:40000");
}

void fakecore_node(const char *public_ip, uint16_t port, int connections, int max_connections)
{
    snprintf(node_ip, sizeof node_ip, "%s", public_ip);
    node_port = port;
    node_connections = connections;
    node_max = max_connections;
}

int fakecore_call_raw(uint16_t sid, uint16_t cid, uint16_t seq, uint64_t conn_id, const uint8_t *body, size_t len)
{
    const fake_handler *h = NULL;
    for (size_t i = 0; i < n_handlers; i++)
        if (handlers[i].def.service_id == sid && handlers[i].def.command_id == cid)
            h = &handlers[i];
    if (h == NULL)
        return -1;
    fake_conn *c = find_conn(conn_id);
    imgate_request req = {
        .conn_id = conn_id,
        .service_id = sid,
        .command_id = cid,
        .seq_num = seq,
        .user_id = c && c->logged_in ? c->user_id : 0,
        .client_type = c && c->logged_in ? c->client_type : 0,
        .body = body,
        .body_len = len,
        .self = &inst,
        .flags = h->def.flags,
    };
    if (h->fn10) {
        h->fn10(inst.state, &req);
        return 0;
    }
    pb_arena arena;
    pb_arena_init(&arena);
    const ProtobufCMessage *msg = NULL;
    if (h->def.request) {
        msg = pb_request_decode(h->def.request, body, len, &arena);
        if (msg == NULL) {
            if (h->def.on_malformed)
                h->def.on_malformed(inst.state, &req);
            pb_arena_release(&arena);
            return 1;
        }
    }
    req.body_msg = msg;
    h->def.fn(inst.state, &req, msg);
    pb_arena_release(&arena);
    return 0;
}

int fakecore_call(uint16_t sid, uint16_t cid, uint16_t seq, uint64_t conn_id, const ProtobufCMessage *msg)
{
    size_t len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (len)
        protobuf_c_message_pack(msg, buf);
    int rc = fakecore_call_raw(sid, cid, seq, conn_id, buf, len);
    free(buf);
    return rc;
}

void fakecore_run_pending(void)
{
    struct imgate_worker w = {0};
    while (queue_head) {
        pending *p = queue_head;
        queue_head = p->next;
        if (queue_head == NULL)
            queue_tail = NULL;
        switch (p->kind) {
        case 0: {
            redisReply nil = {0};
            nil.type = REDIS_REPLY_NIL;
            if (p->redis_cb)
                p->redis_cb(inst.state, backend == FAKE_BACKEND_EMPTY ? &nil : NULL, p->arg);
            break;
        }
        case 1:
            p->job(&w, inst.state, p->arg);
            if (p->done)
                p->done(inst.state, p->arg, IMGATE_OK);
            break;
        case 2: {
            int rc = p->write(&w, inst.state, p->arg);
            int status = rc != 0 ? (rc == IMGATE_EUNAVAIL ? rc : IMGATE_EDB)
                                 : (backend == FAKE_BACKEND_EMPTY ? IMGATE_OK : IMGATE_EUNAVAIL);
            if (p->done)
                p->done(inst.state, p->arg, status);
            break;
        }
        case 3:
            p->work10(&w, p->arg);
            if (p->done10)
                p->done10(inst.state, p->arg);
            break;
        case 4: {
            uint32_t *masks = calloc(p->n_ids ? p->n_ids : 1, sizeof *masks);
            for (size_t i = 0; i < p->n_ids; i++)
                for (size_t k = 0; k < n_conns; k++)
                    if (conns[k].logged_in && conns[k].user_id == p->ids[i])
                        masks[i] |= imgate_client_class(conns[k].client_type);
            p->presence_cb(inst.state, p->arg, p->ids, masks, p->n_ids);
            free(masks);
            free(p->ids);
            break;
        }
        }
        free(p);
    }
}

size_t fakecore_count(void) { return n_events; }
const fake_event *fakecore_event(size_t i) { return i < n_events ? &events[i] : NULL; }

const fake_event *fakecore_find(fake_kind kind, uint16_t command_id)
{
    for (size_t i = 0; i < n_events; i++)
        if (events[i].kind == kind && (command_id == 0 || events[i].command_id == command_id))
            return &events[i];
    return NULL;
}

void fakecore_clear(void)
{
    for (size_t i = 0; i < n_events; i++)
        free(events[i].body);
    n_events = 0;
}
