/* The plugin SDK header exactly as ABI 1.1 shipped it: a plugin built against it must keep loading.
 * (Test material: t/plugins/legacy11.c and t/example_out_of_tree.t build against it.) */
/*
 * imgate/plugin.h — the imgate plugin SDK. This header is the manual.
 *
 * A plugin is a shared object that imgated dlopen()s (RTLD_NOW | RTLD_LOCAL,
 * from a private copy of the file, so a rebuilt .so can be loaded next to the
 * running one). It exports exactly one data symbol, `imgate_plugin_descriptor`, declared
 * with IMGATE_PLUGIN_DEFINE(). The core checks that descriptor (magic, ABI
 * major/minor, struct size, build signature) before it runs any plugin code,
 * then calls init(), in which the plugin registers its command handlers.
 *
 * THREADS. imgated runs one event-loop thread that owns every connection,
 * session and timer, and a pool of worker threads for blocking work (SQL,
 * disk, password hashing). Unless a call below says otherwise it may be made
 * ONLY on the loop thread: from init(), a handler, a done callback, a Redis
 * callback, a timer or a close hook. Worker code (an imgate_work_fn) may use
 * only the calls marked "worker thread".
 *
 * CONNECTIONS are named by a 64-bit id, never by pointer. By the time an
 * asynchronous step completes the connection may be gone: sends to a gone id
 * are dropped and return IMGATE_ENOCONN, which is normal, not an error.
 *
 * RELOAD. On SIGHUP the core loads a new generation of every enabled plugin
 * and swaps it in atomically; the old generation's code stays loaded until
 * every handler call, worker job, Redis reply and timer that started in it has
 * finished, then its fini() runs and it is unloaded. A plugin therefore keeps
 * nothing that must survive a reload in its own statics: persistent state
 * belongs in MySQL, Redis or the core's session registry.
 *
 * BUILD. Compile with -fvisibility=hidden and link with -Wl,-z,defs against
 * the libraries you call (pkg-config imgate-plugin gives the flags for this
 * header and the TeamTalk protobuf library).
 *
 * ABI CHANGELOG (adding to the end of imgate_core_api or imgate_plugin bumps
 * the minor; changing or removing anything bumps the major):
 *   1.0  first release.
 *   1.1  node_info (this node's advertised address and load).
 *
 * Load rule: plugin major == core major and plugin minor <= core minor.
 */
#ifndef IMGATE_PLUGIN_H
#define IMGATE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IMGATE_PLUGIN_MAGIC 0x494d4750u /* "IMGP" */
#define IMGATE_ABI_MAJOR 1
#define IMGATE_ABI_MINOR 1

#define IMGATE_STR_(x) #x
#define IMGATE_STR(x) IMGATE_STR_(x)
/*
 * What the core compares byte for byte: the parts of the build that change
 * the binary interface without touching this header (pointer width, byte
 * order). A plugin built for another target is refused with a clear reason.
 */
#define IMGATE_BUILD_SIGNATURE                                                                     \
    "imgate-abi-" IMGATE_STR(IMGATE_ABI_MAJOR) ";ptr=" IMGATE_STR(__SIZEOF_POINTER__) ";order=" \
        IMGATE_STR(__BYTE_ORDER__)

/* Return codes of core calls. Zero is success; failures are negative. */
enum {
    IMGATE_OK = 0,
    IMGATE_EINVAL = -1,   /* bad argument */
    IMGATE_ENOCONN = -2,  /* the connection is gone (or never existed) */
    IMGATE_ESTATE = -3,   /* call not allowed now (e.g. register outside init) */
    IMGATE_EEXIST = -4,   /* (service, command) already registered in this generation */
    IMGATE_ENOMEM = -5,   /* allocation failed */
    IMGATE_EUNAVAIL = -6, /* the backing service (MySQL, Redis) is not reachable */
    IMGATE_ELIMIT = -7,   /* a configured limit refused it (queue full, output cap) */
};

/* Log levels for imgate_core_api.log. */
enum { IMGATE_LOG_ERROR = 0, IMGATE_LOG_WARN = 1, IMGATE_LOG_INFO = 2, IMGATE_LOG_DEBUG = 3 };

/* Handler flags for register_handler. */
enum {
    /*
     * The command may be dispatched before the connection has logged in.
     * The core always allows the login request (0x0001/0x0103) and answers
     * the heartbeat (0x0007/0x0701) itself; everything else is refused and
     * the connection closed, unless its handler carries this flag.
     */
    IMGATE_HANDLER_PRE_LOGIN = 1u << 0,
};

/* Which pool a worker's database handle comes from. */
enum { IMGATE_DB_MASTER = 0, IMGATE_DB_REPLICA = 1 };

/* Client classes (spec H.3): PC when (client_type & 0x10) == 0, else mobile. */
enum { IMGATE_CLASS_PC = 1u << 0, IMGATE_CLASS_MOBILE = 1u << 1, IMGATE_CLASS_ALL = 3u };

typedef struct imgate_instance imgate_instance; /* one loaded plugin in one generation (opaque) */
typedef struct imgate_worker imgate_worker;     /* a worker thread's context (opaque) */
typedef struct imgate_timer imgate_timer;       /* a plugin-owned timer (opaque) */
typedef struct imgate_core_api imgate_core_api;

/*
 * One incoming request, as handed to a handler. Everything it points to is
 * owned by the core and valid only until the handler returns: copy what an
 * asynchronous step needs.
 */
typedef struct imgate_request {
    uint64_t conn_id;
    uint16_t service_id;
    uint16_t command_id;
    uint16_t seq_num;    /* echo it in the reply (send(..., req->seq_num, ...)) */
    uint32_t user_id;    /* 0 before login */
    uint32_t client_type;/* 0 before login */
    const uint8_t *body; /* the protobuf body, possibly empty */
    size_t body_len;
} imgate_request;

/* Facts about a connection (conn_info). `address` is "ip:port" of the peer. */
typedef struct imgate_conn_info {
    uint64_t conn_id;
    uint32_t user_id;     /* 0 while not logged in */
    uint32_t client_type; /* TeamTalk ClientType, 0 while not logged in */
    int logged_in;        /* 1 after session_bind */
    int kicked;           /* 1 once kicked: the connection accepts nothing more */
    char address[64];
} imgate_conn_info;

/* This node as clients see it (node_info). Strings are owned by the core and
 * stay valid until the calling handler or callback returns. */
typedef struct imgate_node_info {
    const char *node;      /* [gateway] node */
    const char *public_ip; /* advertised first address (priorIP) */
    const char *backup_ip; /* advertised second address (backupIP) */
    uint16_t public_port;  /* advertised client port */
    int connections;       /* client connections open on this node now */
    int max_connections;   /* [gateway] max_connections */
} imgate_node_info;

/* A handler: runs on the loop thread. `state` is what init() stored. */
typedef void (*imgate_handler_fn)(void *state, const imgate_request *req);
/* Worker job: runs on a worker thread; may block; may call only "worker thread" calls. */
typedef void (*imgate_work_fn)(imgate_worker *w, void *arg);
/* Completion of a worker job: runs later on the loop thread, always exactly once. */
typedef void (*imgate_done_fn)(void *state, void *arg);
/*
 * Redis reply callback, on the loop thread. `reply` is a hiredis
 * `const redisReply *` (cast it; include <hiredis/hiredis.h>), owned by the
 * core and valid only during the callback; NULL when Redis is unreachable or
 * the command failed to be sent.
 */
typedef void (*imgate_redis_fn)(void *state, const void *reply, void *arg);
/* Timer callback, on the loop thread. */
typedef void (*imgate_timer_fn)(void *state, void *arg);
/* Called on the loop thread when a logged-in connection closes (any reason). */
typedef void (*imgate_close_hook_fn)(void *state, const imgate_conn_info *conn);

/*
 * The core's services. Append-only: new calls are added at the end with a
 * minor bump. A plugin that needs a call newer than its own minor must check
 * `api->size` first.
 */
struct imgate_core_api {
    uint32_t size;      /* sizeof(imgate_core_api) as the core built it */
    uint16_t abi_major; /* the core's ABI */
    uint16_t abi_minor;

    /* --- registration: ONLY inside init(), loop thread ------------------ */

    /* Routes (service_id, command_id) to `fn` in this generation. A duplicate
     * key (from this or another plugin) fails with IMGATE_EEXIST, and the
     * core then refuses the whole generation. */
    int (*register_handler)(imgate_instance *self, uint16_t service_id, uint16_t command_id,
                            uint32_t flags, imgate_handler_fn fn);
    /* Asks to be told when a logged-in connection closes. */
    int (*register_close_hook)(imgate_instance *self, imgate_close_hook_fn fn);

    /* --- sending: loop thread ------------------------------------------ */

    /* Queues one PDU (header built by the core) with `body` copied. Returns
     * IMGATE_ENOCONN if the connection is gone, IMGATE_ELIMIT if the
     * connection's output cap was exceeded (the core then closes it). */
    int (*send)(imgate_instance *self, uint64_t conn_id, uint16_t service_id, uint16_t command_id,
                uint16_t seq_num, const void *body, size_t body_len);
    /* Same, packing a protobuf-c message straight into the output buffer.
     * The message stays the caller's. NULL sends an empty body. */
    int (*send_message)(imgate_instance *self, uint64_t conn_id, uint16_t service_id,
                        uint16_t command_id, uint16_t seq_num, const ProtobufCMessage *msg);
    /* Sends to every logged-in connection of `user_id` on this node whose
     * class is in `class_mask` (IMGATE_CLASS_*), except `except_conn` (0 for
     * none). Returns how many connections it was queued to. */
    int (*send_to_user)(imgate_instance *self, uint32_t user_id, uint32_t class_mask,
                        uint64_t except_conn, uint16_t service_id, uint16_t command_id,
                        uint16_t seq_num, const ProtobufCMessage *msg);
    /* Closes the connection after its queued output is flushed. `reason` is
     * a short token for logs and metrics ("logout", "bad_request"). */
    int (*close)(imgate_instance *self, uint64_t conn_id, const char *reason);

    /* --- connections and sessions: loop thread ------------------------ */

    int (*conn_info)(imgate_instance *self, uint64_t conn_id, imgate_conn_info *out);
    /* Marks the connection logged in as `user_id` with `client_type`, and
     * applies the kick rules of spec H.3: every other connection of the user
     * in the same class receives IMKickUser{user_id, reason 1} and is then
     * closed after a short grace period. Returns how many were kicked. */
    int (*session_bind)(imgate_instance *self, uint64_t conn_id, uint32_t user_id,
                        uint32_t client_type);
    /* Kicks every connection of `user_id` in `class_mask` (except
     * `except_conn`) with IMKickUser{user_id, reason}. Returns the count. */
    int (*session_kick)(imgate_instance *self, uint32_t user_id, uint32_t class_mask,
                        uint64_t except_conn, uint32_t reason);
    /* Writes up to `max` connection ids of `user_id` in `class_mask` into
     * `out`; returns how many the user has (may exceed max). */
    int (*session_conns)(imgate_instance *self, uint32_t user_id, uint32_t class_mask,
                         uint64_t *out, int max);

    /* --- blocking work: submit on the loop thread ---------------------- */

    /* Runs work(w, arg) on a worker thread, then done(state, arg) on the
     * loop thread. Jobs with the same non-zero `conn_id` run and complete in
     * submission order. `arg` stays the plugin's: free it in done. Fails
     * with IMGATE_ELIMIT when the queue is full (done is then NOT called). */
    int (*submit)(imgate_instance *self, uint64_t conn_id, imgate_work_fn work,
                  imgate_done_fn done, void *arg);
    /* WORKER THREAD. This worker's MySQL connection (a `MYSQL *`) for the
     * pool, connecting or reconnecting as needed; NULL when the server is
     * unreachable. The replica pool falls back to the master when it has no
     * configuration of its own. Do not close it; do not keep it past the job. */
    void *(*db)(imgate_worker *w, int pool);
    /* WORKER THREAD. A prepared statement (`MYSQL_STMT *`) for `sql` on this
     * worker's connection, prepared once and cached per connection (keyed by
     * the SQL text). NULL when unreachable or the SQL does not prepare (the
     * reason is logged). Bind fresh parameters before each execute, and free
     * the result (mysql_stmt_free_result) when done; do not close it. */
    void *(*db_stmt)(imgate_worker *w, int pool, const char *sql);
    /* WORKER THREAD. Drops this worker's connection to `pool` after an error
     * that left it unusable (the next db() reconnects). */
    void (*db_discard)(imgate_worker *w, int pool);

    /* --- Redis: loop thread -------------------------------------------- */

    /* Sends one command (argv form, binary safe); cb runs on the loop with
     * the reply, or with NULL if Redis is unreachable. cb may be NULL. */
    int (*redis)(imgate_instance *self, imgate_redis_fn cb, void *arg, int argc,
                 const char **argv, const size_t *argvlen);

    /* --- timers: loop thread ------------------------------------------- */

    /* Calls fn after `ms` milliseconds, then every `ms` if `repeat`. The
     * core cancels all of a generation's timers when it is replaced. */
    imgate_timer *(*timer_start)(imgate_instance *self, uint32_t ms, int repeat,
                                 imgate_timer_fn fn, void *arg);
    /* Cancels (and frees) a timer; a one-shot timer that already fired is
     * freed by the core, so do not cancel it then. */
    void (*timer_cancel)(imgate_instance *self, imgate_timer *timer);

    /* --- configuration: loop thread (init included) -------------------- */

    /* The value of `key` in this plugin's [plugin.NAME] section, or NULL.
     * The string is owned by the core and lives as long as the generation. */
    const char *(*config_get)(imgate_instance *self, const char *key);
    /* Same, as an integer; `fallback` when absent or not a number. */
    long long (*config_get_int)(imgate_instance *self, const char *key, long long fallback);

    /* --- logging and metrics: ANY thread -------------------------------- */

    /* One log line; the core prefixes time, level and plugin=NAME. Write
     * the message as key=value fields. */
    void (*log)(imgate_instance *self, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Adds `delta` to the counter `name` (letters, digits, '_'), exported in
     * /metrics as imgate_plugin_<name>_total{plugin="NAME"}. */
    void (*metric_add)(imgate_instance *self, const char *name, uint64_t delta);

    /* --- ABI 1.1 --------------------------------------------------------- */

    /* Loop thread. Fills `out` with this node's advertised address and load
     * (what GET /msg_server reports). */
    int (*node_info)(imgate_instance *self, imgate_node_info *out);
};

/*
 * The descriptor a plugin exports. init() runs on the loop thread while the
 * new generation is being built: register handlers there, allocate state,
 * read configuration. Return 0 on success; anything else refuses the whole
 * generation (fini is then called if init succeeded for that plugin only).
 * fini() runs on the loop thread once nothing of the generation is in flight.
 */
typedef struct imgate_plugin {
    uint32_t magic;        /* IMGATE_PLUGIN_MAGIC */
    uint16_t abi_major;    /* IMGATE_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;    /* IMGATE_ABI_MINOR the plugin was built with */
    uint32_t struct_size;  /* sizeof(imgate_plugin) */
    const char *build_signature; /* IMGATE_BUILD_SIGNATURE */
    const char *name;      /* must equal the name it is enabled under */
    const char *version;   /* free text, logged */
    int (*init)(imgate_instance *self, const imgate_core_api *api, void **state);
    void (*fini)(void *state);
} imgate_plugin;

#define IMGATE_PLUGIN_SYMBOL "imgate_plugin_descriptor"

/* Declares the plugin's exported descriptor. */
#define IMGATE_PLUGIN_DEFINE(name_, version_, init_, fini_)                                 \
    __attribute__((visibility("default"))) const imgate_plugin imgate_plugin_descriptor = {            \
        IMGATE_PLUGIN_MAGIC, IMGATE_ABI_MAJOR, IMGATE_ABI_MINOR, sizeof(imgate_plugin),     \
        IMGATE_BUILD_SIGNATURE, (name_), (version_), (init_), (fini_)}

/*
 * Service ids: TeamTalk uses 0x0001..0x0008. imgate keeps 0x0009..0x0FFF for
 * itself; third-party plugins use 0x1000..0x7FFF (the example uses 0x1000).
 */
#define IMGATE_SID_THIRD_PARTY_FIRST 0x1000u

#ifdef __cplusplus
}
#endif

#endif
