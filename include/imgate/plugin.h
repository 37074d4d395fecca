/*
 * imgate/plugin.h — the imgate plugin SDK. This header is the manual.
 *
 * A plugin is a shared object that imgated dlopen()s (RTLD_NOW | RTLD_LOCAL,
 * from a private copy of the file, so a rebuilt .so can be loaded next to the
 * running one). It exports exactly one data symbol, `imgate_plugin_descriptor`,
 * declared with IMGATE_PLUGIN(). The core checks that descriptor (magic, ABI
 * major/minor, struct size, build signature) and the plugin's [plugin.NAME]
 * section against the keys the plugin declares, before it runs any plugin
 * code; then it calls init(), in which the plugin registers its handlers.
 *
 * THREADS. imgated runs one event-loop thread that owns every connection,
 * session and timer, and a pool of worker threads for blocking work (SQL,
 * disk, password hashing). Unless a call below says otherwise it may be made
 * ONLY on the loop thread: from init(), a handler, a done callback, a Redis
 * callback, a timer or a close hook. Worker code (an imgate_job_fn or
 * imgate_write_fn) may use only the calls marked "worker thread".
 *
 * CONNECTIONS are named by a 64-bit id, never by pointer. By the time an
 * asynchronous step completes the connection may be gone: sends to a gone id
 * are dropped and return IMGATE_ENOCONN, which is normal, not an error.
 * Everything a request handler needs for its answer travels in an
 * imgate_reply_to (a plain value: copy it into your job).
 *
 * RELOAD. On SIGHUP the core loads a new generation of every enabled plugin
 * and swaps it in atomically; the old generation's code stays loaded until
 * every handler call, worker job, Redis reply and timer that started in it has
 * finished, then its fini() runs and it is unloaded. A plugin therefore keeps
 * nothing that must survive a reload in its own statics: persistent state
 * belongs in MySQL, Redis, the core's session registry or a connection's data
 * slot (conn_data). The api table itself is one object for the daemon's life:
 * a plugin may keep the pointer in a file-scope static.
 *
 * IDS. <imgate/teamtalk.h> names every TeamTalk service id, command id and
 * enum value (SID_MSG, CID_MSG_DATA, CLIENT_TYPE_ANDROID, ...). Protocol facts
 * cited as "protocol X.n" are in the project's docs/protocol.md.
 *
 * BUILD. Compile with -fvisibility=hidden and link with -Wl,-z,defs against
 * the libraries you call (pkg-config imgate-plugin gives the flags for this
 * header and the TeamTalk protobuf library).
 *
 * ABI CHANGELOG (adding to the end of imgate_core_api, imgate_plugin,
 * imgate_request or imgate_conn_info bumps the minor; changing or removing
 * anything bumps the major):
 *   1.0  first release.
 *   1.1  node_info (this node's advertised address and load).
 *   1.2  imgate_request.self and .body_msg; imgate_conn_info.role; the
 *        descriptor's `config` (declared keys, checked before init);
 *        reply handles (reply, push), typed handler tables (register_handlers,
 *        the core unpacks and validates requests), worker jobs whose
 *        completion always runs (submit_job) and batched writes
 *        (submit_write), db_query / db_query_rows / db_exec with typed binds
 *        and transactions, delivery to users and broadcasts (deliver,
 *        deliver_many, broadcast) and presence, in-flight tracking
 *        (IMGATE_HANDLER_TRACKED, request_done), connection roles
 *        (conn_authorize) and per-connection plugin data (conn_data),
 *        services between plugins (export_service, import_service), typed
 *        config getters, metric handles, log rate limiting, login and kick
 *        hooks, drain hooks (register_drain_hook, conn_watch_drain),
 *        node_choose (the least loaded node of several).
 *
 * Load rule: plugin major == core major and plugin minor <= core minor. A
 * plugin built against an older minor is given the same table: it simply
 * does not know the newer calls.
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
#define IMGATE_ABI_MINOR 2

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

/* Return codes of core calls. Zero (or a count) is success; failures are negative. */
enum {
    IMGATE_OK = 0,
    IMGATE_EINVAL = -1,   /* bad argument */
    IMGATE_ENOCONN = -2,  /* the connection is gone (or never existed) */
    IMGATE_ESTATE = -3,   /* call not allowed now (e.g. register outside init) */
    IMGATE_EEXIST = -4,   /* (service, command) or service name already registered in this generation */
    IMGATE_ENOMEM = -5,   /* allocation failed */
    IMGATE_EUNAVAIL = -6, /* the backing service (MySQL, Redis) is not reachable, or did not answer in time */
    IMGATE_ELIMIT = -7,   /* a configured limit refused it (queue full, output cap) */
    IMGATE_EDB = -8,      /* (1.2) the database refused the statement (constraint, data too long); logged */
};

/* Log levels for imgate_core_api.log. */
enum { IMGATE_LOG_ERROR = 0, IMGATE_LOG_WARN = 1, IMGATE_LOG_INFO = 2, IMGATE_LOG_DEBUG = 3 };

/* Handler flags. */
enum {
    /*
     * The command may be dispatched before the connection has logged in.
     * The core always lets the login request (CID_LOGIN_REQ_USERLOGIN)
     * through and answers the heartbeat itself; everything else from a
     * connection that has not logged in is refused and the connection closed,
     * unless its handler carries this flag.
     */
    IMGATE_HANDLER_PRE_LOGIN = 1u << 0,
    /*
     * (1.2) Counts toward the connection's per-second message budget
     * ([gateway] msg_rate_per_second). Requests over it are dropped, as the
     * reference drops a client's 21st CID_MSG_DATA in a second.
     */
    IMGATE_HANDLER_RATE_LIMITED = 1u << 1,
    /*
     * (1.2) The request stays "in flight" until the plugin calls
     * request_done() with its reply handle (exactly once, whatever the
     * outcome). While a connection has [gateway] max_inflight_per_conn such
     * requests open, or the node has max_inflight in total, the core stops
     * reading from the connection (TCP backpressure) instead of queueing.
     */
    IMGATE_HANDLER_TRACKED = 1u << 2,
    /*
     * (1.2) Served only on connections this plugin authorised for its role
     * (conn_authorize); such connections reach nothing else but heartbeats.
     */
    IMGATE_HANDLER_ROLE_ONLY = 1u << 3,
};

/* Which pool a worker's database handle comes from. */
enum { IMGATE_DB_MASTER = 0, IMGATE_DB_REPLICA = 1 };

/* Client classes (protocol H.3): PC when (client_type & 0x10) == 0, else mobile. */
enum { IMGATE_CLASS_PC = 1u << 0, IMGATE_CLASS_MOBILE = 1u << 1, IMGATE_CLASS_ALL = 3u };

/* The class of a TeamTalk client type. Pure: any thread. */
static inline uint32_t imgate_client_class(uint32_t client_type)
{
    return (client_type & 0x10) ? IMGATE_CLASS_MOBILE : IMGATE_CLASS_PC;
}

typedef struct imgate_instance imgate_instance; /* one loaded plugin in one generation (opaque) */
typedef struct imgate_worker imgate_worker;     /* a worker thread's context (opaque) */
typedef struct imgate_timer imgate_timer;       /* a plugin-owned timer (opaque) */
typedef struct imgate_metric imgate_metric;     /* (1.2) a counter handle (opaque, owned by the core) */
typedef struct imgate_core_api imgate_core_api;

/*
 * One incoming request, as handed to a handler. Everything it points to is
 * owned by the core and valid only until the handler returns: copy what an
 * asynchronous step needs (IMGATE_REPLY_TO copies what a reply needs).
 */
typedef struct imgate_request {
    uint64_t conn_id;
    uint16_t service_id;
    uint16_t command_id;
    uint16_t seq_num;    /* echoed by reply() */
    uint32_t user_id;    /* 0 before login */
    uint32_t client_type;/* 0 before login */
    const uint8_t *body; /* the protobuf body, possibly empty */
    size_t body_len;
    /* --- 1.2 --- */
    imgate_instance *self;             /* the instance the handler belongs to */
    const ProtobufCMessage *body_msg;  /* typed handlers: the unpacked, validated body */
    uint32_t flags;                    /* the handler's IMGATE_HANDLER_* flags */
} imgate_request;

/* Facts about a connection (conn_info). `address` is "ip:port" of the peer. */
typedef struct imgate_conn_info {
    uint64_t conn_id;
    uint32_t user_id;     /* 0 while not logged in */
    uint32_t client_type; /* TeamTalk ClientType, 0 while not logged in */
    int logged_in;        /* 1 after session_bind */
    int kicked;           /* 1 once kicked: the connection accepts nothing more */
    char address[64];
    /* --- 1.2 --- */
    uint32_t role;        /* 0, or the role a plugin gave it with conn_authorize */
    size_t output_queued; /* bytes waiting to be written to the peer */
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

/*
 * (1.2) A reply handle: everything needed to answer one request later, as a
 * plain value. Copy it into whatever your asynchronous steps carry; it stays
 * valid whatever happens to the connection (a reply to a gone connection is
 * dropped). Fill it with IMGATE_REPLY_TO(req).
 */
typedef struct imgate_reply_to {
    imgate_instance *self;
    uint64_t conn_id;
    uint16_t service_id;
    uint16_t seq_num;
    uint32_t user_id;
    uint32_t client_type;
    uint32_t tracked; /* internal: 1 while an IMGATE_HANDLER_TRACKED request awaits request_done */
} imgate_reply_to;

static inline imgate_reply_to imgate_reply_to_request(const imgate_request *req)
{
    imgate_reply_to to = {req->self, req->conn_id, req->service_id, req->seq_num,
                          req->user_id, req->client_type, (req->flags & IMGATE_HANDLER_TRACKED) ? 1u : 0u};
    return to;
}
#define IMGATE_REPLY_TO(req) imgate_reply_to_request(req)

/* A handler (1.0 form): runs on the loop thread. `state` is what init() stored. */
typedef void (*imgate_handler_fn)(void *state, const imgate_request *req);
/*
 * (1.2) A typed handler: `body` is the request unpacked with the descriptor
 * the handler was registered with (cast it to that message type), in memory
 * the core frees when the handler returns. Required fields are present and
 * every enum field holds a value its enum defines (an optional one that does
 * not is treated as absent, as a proto2 parser does).
 */
typedef void (*imgate_typed_handler_fn)(void *state, const imgate_request *req, const ProtobufCMessage *body);

/* (1.2) One entry of a handler table (register_handlers). */
typedef struct imgate_handler_def {
    uint16_t service_id;
    uint16_t command_id;
    uint32_t flags;                              /* IMGATE_HANDLER_* */
    const ProtobufCMessageDescriptor *request;   /* NULL: the body is not decoded (body_msg NULL) */
    imgate_typed_handler_fn fn;
    /*
     * Called instead of fn when the body does not decode or validate. NULL
     * means what the reference does for almost every command: nothing is
     * answered and the connection stays. Either way the core counts it
     * (imgate_malformed_requests_total) and logs it, rate-limited. Such a
     * request is never in flight: req->flags lacks IMGATE_HANDLER_TRACKED,
     * so request_done on its handle does nothing (calling it is harmless).
     */
    imgate_handler_fn on_malformed;
} imgate_handler_def;

/* Worker job (1.0 form): runs on a worker thread; may block; may call only "worker thread" calls. */
typedef void (*imgate_work_fn)(imgate_worker *w, void *arg);
/* Completion of a 1.0 worker job: runs later on the loop thread. */
typedef void (*imgate_done_fn)(void *state, void *arg);
/* (1.2) Worker job: runs on a worker thread with the plugin's state. */
typedef void (*imgate_job_fn)(imgate_worker *w, void *state, void *arg);
/*
 * (1.2) Batched write: runs on a worker thread inside a transaction shared
 * with other writes (submit_write). Use db_exec / db_query only (no
 * db_begin/commit). Return 0, or non-zero when the write failed for a reason
 * of its own: the batch is then rolled back and every member rerun alone, so
 * one bad write never sinks the others.
 */
typedef int (*imgate_write_fn)(imgate_worker *w, void *state, void *arg);
/*
 * (1.2) Completion: runs on the loop thread, ALWAYS exactly once per
 * submission. status is IMGATE_OK when the job ran (for a write: it is
 * committed), or why it did not: IMGATE_ELIMIT / IMGATE_ENOMEM (refused, the
 * job never ran), IMGATE_EDB (this write failed and was rolled back),
 * IMGATE_EUNAVAIL (the database was unreachable or the commit's outcome is
 * unknown: treat it as not stored).
 */
typedef void (*imgate_job_done_fn)(void *state, void *arg, int status);
/*
 * Redis reply callback, on the loop thread. `reply` is a hiredis
 * `const redisReply *` (cast it; include <hiredis/hiredis.h>), owned by the
 * core and valid only during the callback; NULL when Redis is unreachable,
 * did not answer within [redis] timeout_ms, or the command failed to be sent.
 */
typedef void (*imgate_redis_fn)(void *state, const void *reply, void *arg);
/* Timer callback, on the loop thread. */
typedef void (*imgate_timer_fn)(void *state, void *arg);
/*
 * Called on the loop thread when a connection closes (any reason): for a 1.0
 * or 1.1 plugin only logged-in connections; from 1.2 on also connections the
 * plugin authorised for a role or gave a data slot. conn_data() still
 * returns the slot here (free what it points to); the core frees the slot
 * itself afterwards.
 */
typedef void (*imgate_close_hook_fn)(void *state, const imgate_conn_info *conn);
/*
 * (1.2) Called on the loop thread when a connection's queued output has
 * drained to the mark this plugin set with conn_watch_drain. `conn` describes
 * it, output_queued included.
 */
typedef void (*imgate_drain_hook_fn)(void *state, const imgate_conn_info *conn);
/* (1.2) Presence answer: masks[i] is the IMGATE_CLASS_* set online for ids[i] (0 = offline). */
typedef void (*imgate_presence_fn)(void *state, void *arg, const uint32_t *ids, const uint32_t *masks, size_t n);

/* (1.2) A role a plugin gives a connection that is not a logged-in user's (conn_authorize). */
typedef struct imgate_role {
    uint32_t role;            /* non-zero, the plugin's own numbering; reported in conn_info */
    uint32_t max_frame;       /* largest frame accepted, header included; 0 = [gateway] max_frame */
    uint32_t idle_timeout_ms; /* closed after this long without input; 0 = [gateway] idle_timeout_pc_ms */
    size_t max_output;        /* output queued beyond this closes it; 0 = [gateway] max_output */
} imgate_role;

/* (1.2) A typed value for db_query / db_exec. Build them with the IMGATE_DB_* initialisers. */
typedef struct imgate_db_bind {
    int type;       /* IMGATE_DB_TYPE_* */
    void *buf;      /* the value (parameter) or where to put it (result column) */
    size_t cap;     /* STR/BLOB result: buffer size (STR keeps one byte for the NUL) */
    size_t len;     /* BLOB parameter: its length; STR/BLOB result: the value's full length */
    int is_null;    /* parameter: bind SQL NULL; result: the column was NULL (buffer zeroed) */
    int truncated;  /* result: the value was longer than cap allows (buffer holds the prefix) */
} imgate_db_bind;
enum {
    IMGATE_DB_TYPE_U32 = 1, /* uint32_t */
    IMGATE_DB_TYPE_I64 = 2, /* int64_t */
    IMGATE_DB_TYPE_U64 = 3, /* uint64_t */
    IMGATE_DB_TYPE_STR = 4, /* parameter: NUL-terminated char *; result: char buffer of cap bytes */
    IMGATE_DB_TYPE_BLOB = 5 /* bytes: parameter buf+len; result buf+cap, len = full length */
};
#define IMGATE_DB_U32(p) {IMGATE_DB_TYPE_U32, (p), sizeof(uint32_t), 0, 0, 0}
#define IMGATE_DB_I64(p) {IMGATE_DB_TYPE_I64, (p), sizeof(int64_t), 0, 0, 0}
#define IMGATE_DB_U64(p) {IMGATE_DB_TYPE_U64, (p), sizeof(uint64_t), 0, 0, 0}
/* A string parameter (NUL-terminated), or a result into char array `arr` (sizeof is its size). */
#define IMGATE_DB_STR(p) {IMGATE_DB_TYPE_STR, (void *)(p), 0, 0, 0, 0}
#define IMGATE_DB_STR_OUT(arr) {IMGATE_DB_TYPE_STR, (arr), sizeof(arr), 0, 0, 0}
#define IMGATE_DB_BLOB(p, n) {IMGATE_DB_TYPE_BLOB, (void *)(p), 0, (n), 0, 0}
#define IMGATE_DB_BLOB_OUT(p, capacity) {IMGATE_DB_TYPE_BLOB, (p), (capacity), 0, 0, 0}

/* (1.2) Per-row callback of db_query_rows: the result binds hold the row; return 0 to go on, non-zero to stop. */
typedef int (*imgate_db_row_fn)(void *ctx);

/* (1.2) An imported service (import_service): the exporter's table and the state its calls take. */
typedef struct imgate_service {
    const void *table;  /* cast to the service's table type */
    void *state;        /* pass as the first argument of the table's calls */
    uint32_t version;   /* the version the exporter offers */
} imgate_service;
enum { IMGATE_IMPORT_OPTIONAL = 1u << 0 }; /* a missing export leaves table NULL instead of failing the load */

/*
 * (1.2) A configuration key a plugin declares in its descriptor. The core
 * checks [plugin.NAME] against the list before init(), on every reload and in
 * `imgated -t`: an unknown key or a bad value is an error "FILE:LINE: ...",
 * and the generation (or the check) fails. The typed getters then return the
 * checked value, or the default when the key is absent.
 */
typedef struct imgate_config_key {
    const char *name;
    int type;            /* IMGATE_CFG_* */
    long long min, max;  /* INT/SIZE: inclusive range; STRING: max length in bytes (0 = any) */
    const char *def;     /* default, as it would be written in the ini (NULL: INT 0, STRING "", BOOL no) */
    const char *choices; /* ENUM: the accepted words, '|'-separated ("allow|refuse") */
} imgate_config_key;
enum {
    IMGATE_CFG_INT = 1,    /* decimal integer */
    IMGATE_CFG_SIZE = 2,   /* bytes, with an optional k or m suffix ("32k") */
    IMGATE_CFG_BOOL = 3,   /* yes|no|true|false|1|0 */
    IMGATE_CFG_STRING = 4,
    IMGATE_CFG_ENUM = 5    /* one of `choices` */
};

/*
 * The core's services. Append-only: new calls are added at the end with a
 * minor bump. The table is one object for the daemon's life.
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
    /* Asks to be told when a connection closes (see imgate_close_hook_fn). */
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
    /* The 1.0 name of deliver() with a seq: every logged-in connection of
     * `user_id` whose class is in `class_mask`, except `except_conn` (0 for
     * none). Returns how many local connections it was queued to. */
    int (*send_to_user)(imgate_instance *self, uint32_t user_id, uint32_t class_mask,
                        uint64_t except_conn, uint16_t service_id, uint16_t command_id,
                        uint16_t seq_num, const ProtobufCMessage *msg);
    /* Closes the connection after its queued output is flushed. `reason` is
     * a short static token for logs and metrics ("logout", "bad_request"). */
    int (*close)(imgate_instance *self, uint64_t conn_id, const char *reason);

    /* --- connections and sessions: loop thread ------------------------ */

    int (*conn_info)(imgate_instance *self, uint64_t conn_id, imgate_conn_info *out);
    /* Marks the connection logged in as `user_id` with `client_type`, and
     * applies the kick rules of protocol H.3: every other connection of the
     * user in the same class receives IMKickUser{user_id, reason 1} and is
     * served nothing more. Returns how many were kicked, or IMGATE_ENOCONN. */
    int (*session_bind)(imgate_instance *self, uint64_t conn_id, uint32_t user_id,
                        uint32_t client_type);
    /* Kicks every connection of `user_id` in `class_mask` (except
     * `except_conn`) with IMKickUser{user_id, reason}. Returns the count. */
    int (*session_kick)(imgate_instance *self, uint32_t user_id, uint32_t class_mask,
                        uint64_t except_conn, uint32_t reason);
    /* Writes up to `max` connection ids of `user_id` in `class_mask` on this
     * node into `out`; returns how many the user has (may exceed max). */
    int (*session_conns)(imgate_instance *self, uint32_t user_id, uint32_t class_mask,
                         uint64_t *out, int max);

    /* --- blocking work (1.0): submit on the loop thread ----------------- */

    /* Runs work(w, arg) on a worker thread, then done(state, arg) on the
     * loop thread. Jobs with the same non-zero `conn_id` run and complete in
     * submission order. Fails with IMGATE_ELIMIT when the queue is full; done
     * is then NOT called (submit_job, 1.2, always calls it). */
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

    /* Sends one command (argv form, binary safe; argvlen NULL = strlen of
     * each). cb runs exactly once on the loop: with the reply, or with NULL
     * if Redis is unreachable or does not answer within [redis] timeout_ms.
     * cb may be NULL. Commands are pipelined on one link: replies come in
     * the order the commands were sent. */
    int (*redis)(imgate_instance *self, imgate_redis_fn cb, void *arg, int argc,
                 const char **argv, const size_t *argvlen);

    /* --- timers: loop thread ------------------------------------------- */

    /* Calls fn after `ms` milliseconds, then every `ms` if `repeat`. The
     * core cancels all of a generation's timers when it is replaced. */
    imgate_timer *(*timer_start)(imgate_instance *self, uint32_t ms, int repeat,
                                 imgate_timer_fn fn, void *arg);
    /* Cancels (and frees) a repeating timer, or a one-shot timer that has not
     * fired yet. A one-shot timer is freed by the core right after its
     * callback returns: forget the handle there (cancelling it inside its
     * own callback is allowed and does nothing more). */
    void (*timer_cancel)(imgate_instance *self, imgate_timer *timer);

    /* --- configuration: loop thread (init included) -------------------- */

    /* The value of `key` in this plugin's [plugin.NAME] section (for a
     * declared key: its default when absent), or NULL. The string is owned
     * by the core and lives as long as the generation. */
    const char *(*config_get)(imgate_instance *self, const char *key);
    /* Same, as an integer; `fallback` when absent. A value that is not a
     * number also gives `fallback`, and is logged as an error (declared keys
     * never get here: they are checked before init). */
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

    /* Loop thread (init included). Fills `out` with this node's advertised
     * address and load. (Which node a client should use: node_choose.) */
    int (*node_info)(imgate_instance *self, imgate_node_info *out);

    /* --- ABI 1.2: registration (ONLY inside init) ----------------------- */

    /* Registers a table of typed handlers (see imgate_handler_def). Fails
     * with the first entry's error (IMGATE_EEXIST refuses the generation). */
    int (*register_handlers)(imgate_instance *self, const imgate_handler_def *defs, size_t n);
    /* Offers `table` to other plugins of this generation under `name`
     * (convention "imgate.NAME") at `version`. The exporter's calls receive
     * the state its init() stored. IMGATE_EEXIST if the name is taken. */
    int (*export_service)(imgate_instance *self, const char *name, uint32_t version, const void *table);
    /* Asks for service `name` at `min_version` or later. `slot` (in your
     * state, which must stay put) is filled once every plugin's init has
     * run, before any request arrives, so enable order does not matter. A
     * missing service fails the whole load with a clear reason, unless
     * `flags` has IMGATE_IMPORT_OPTIONAL (slot->table then stays NULL). */
    int (*import_service)(imgate_instance *self, const char *name, uint32_t min_version, uint32_t flags,
                          imgate_service *slot);

    /* --- ABI 1.2: replying and delivering (loop thread) ----------------- */

    /* Answers the request behind `to` with `command_id` (its service, its
     * seq). The message stays the caller's; NULL sends an empty body.
     * IMGATE_ENOCONN when the connection is gone (normal). */
    int (*reply)(const imgate_reply_to *to, uint16_t command_id, const ProtobufCMessage *msg);
    /* For an IMGATE_HANDLER_TRACKED request: says it is finished (call it
     * exactly once, after the last reply; a no-op for untracked handles). */
    void (*request_done)(imgate_reply_to *to);
    /* A push (seq 0) to every connection of `user_id` in `class_mask` except
     * `except_conn` (0 = none), wherever the user is connected. This is the
     * one way to reach users: plugins never walk the session registry.
     * Returns how many connections on this node it was queued to. */
    int (*deliver)(imgate_instance *self, uint32_t user_id, uint32_t class_mask, uint64_t except_conn,
                   uint16_t service_id, uint16_t command_id, const ProtobufCMessage *msg);
    /* The same to many users; the message is packed once. */
    int (*deliver_many)(imgate_instance *self, const uint32_t *user_ids, size_t n, uint32_t class_mask,
                        uint64_t except_conn, uint16_t service_id, uint16_t command_id,
                        const ProtobufCMessage *msg);
    /* A push to every logged-in connection in `class_mask` (all nodes),
     * except `except_conn`. Returns the local count. */
    int (*broadcast)(imgate_instance *self, uint32_t class_mask, uint64_t except_conn, uint16_t service_id,
                     uint16_t command_id, const ProtobufCMessage *msg);
    /* Which classes each user has online (all nodes). cb runs exactly once,
     * on a later loop turn; ids are copied. */
    int (*presence)(imgate_instance *self, const uint32_t *user_ids, size_t n, imgate_presence_fn cb,
                    void *arg);

    /* --- ABI 1.2: connections (loop thread) ------------------------------ */

    /* Gives a connection that has not logged in a role of this plugin: the
     * login deadline no longer applies, `role` sets its frame cap, idle
     * timeout and output cap, only this plugin's IMGATE_HANDLER_ROLE_ONLY
     * handlers (and heartbeats) reach it, and this plugin's close hook sees
     * it close. IMGATE_ESTATE if it is logged in or already has a role. */
    int (*conn_authorize)(imgate_instance *self, uint64_t conn_id, const imgate_role *role);
    /* This plugin's data slot on the connection: `size` zeroed bytes owned
     * by the core, created on first use, kept across reloads (keyed by the
     * plugin's name; a larger size later grows it, zero-filled), freed after
     * the close hooks ran. NULL if the connection is gone. */
    void *(*conn_data)(imgate_instance *self, uint64_t conn_id, size_t size);
    /* Stops / resumes reading from a connection (nested: reading resumes
     * when every pause was resumed). For flow control between connections. */
    int (*conn_pause)(imgate_instance *self, uint64_t conn_id);
    int (*conn_resume)(imgate_instance *self, uint64_t conn_id);

    /* --- ABI 1.2: blocking work (submit on the loop thread) -------------- */

    /* Runs work(w, state, arg) on a worker thread, then done(state, arg,
     * status) on the loop thread: done ALWAYS runs exactly once (when the job
     * is refused, on a later loop turn, with the refusal as status). Jobs
     * with the same non-zero `order_key` (a connection, a conversation, a
     * group) run and complete in submission order. The return value repeats
     * the refusal for logging; act on the status in done only. */
    int (*submit_job)(imgate_instance *self, uint64_t order_key, imgate_job_fn work,
                      imgate_job_done_fn done, void *arg);
    /* A batched write on the master pool: writes queued on the same worker
     * run together in one transaction ([gateway] write_batch_max at most),
     * each done (in submission order) only after the COMMIT. Same ordering
     * and exactly-once rules as submit_job. */
    int (*submit_write)(imgate_instance *self, uint64_t order_key, imgate_write_fn write,
                        imgate_job_done_fn done, void *arg);
    /* WORKER THREAD. Runs `sql` (prepared once per connection, cached) with
     * `params`; if `cols` is given, fetches the first row into them. Returns
     * 1 when a row was fetched, 0 when there was none (or no result set),
     * IMGATE_EUNAVAIL when the database cannot be reached, IMGATE_EDB when it
     * refused the statement. A connection found stale (server restarted) is
     * replaced and the statement retried once, outside a transaction. */
    int (*db_query)(imgate_worker *w, int pool, const char *sql, imgate_db_bind *params, size_t n_params,
                    imgate_db_bind *cols, size_t n_cols);
    /* WORKER THREAD. Like db_query, calling row(ctx) after each row is
     * fetched into `cols`. Returns the number of rows, or an error. */
    int (*db_query_rows)(imgate_worker *w, int pool, const char *sql, imgate_db_bind *params, size_t n_params,
                         imgate_db_bind *cols, size_t n_cols, imgate_db_row_fn row, void *ctx);
    /* WORKER THREAD. INSERT / UPDATE / DELETE on the master pool: returns
     * the affected rows (>= 0) or an error as db_query; the new
     * AUTO_INCREMENT id goes to *insert_id when non-NULL. Retried once on a
     * stale connection only when the statement cannot have run. */
    int64_t (*db_exec)(imgate_worker *w, const char *sql, imgate_db_bind *params, size_t n_params,
                       uint64_t *insert_id);
    /* WORKER THREAD. An explicit transaction on the master pool for one job
     * (not inside submit_write, which has its own). IMGATE_OK or an error;
     * db_rollback also discards a broken connection. */
    int (*db_begin)(imgate_worker *w);
    int (*db_commit)(imgate_worker *w);
    void (*db_rollback)(imgate_worker *w);

    /* --- ABI 1.2: configuration (loop thread) ---------------------------- */

    /* The checked value of a DECLARED key (its default when absent). Asking
     * for an undeclared key is a plugin bug: logged, 0 / "" returned. */
    long long (*config_int)(imgate_instance *self, const char *key);
    int (*config_bool)(imgate_instance *self, const char *key);
    const char *(*config_str)(imgate_instance *self, const char *key);

    /* --- ABI 1.2: metrics and logs --------------------------------------- */

    /* Loop thread (init, typically). A handle on the counter `name` (as in
     * metric_add), registered once; NULL for an invalid name. Owned by the
     * core, valid for the daemon's life. */
    imgate_metric *(*metric_counter)(imgate_instance *self, const char *name);
    /* ANY thread. Adds to a counter from metric_counter (NULL is ignored). */
    void (*metric_inc)(imgate_metric *m, uint64_t delta);
    /* ANY thread. log(), but at most `per_second` lines per second for this
     * `key` (a short static token naming the event) across the node; the
     * next line after a quiet second says how many were suppressed. Use it
     * for anything a client or an outage can trigger at will. */
    void (*log_limited)(imgate_instance *self, int level, const char *key, int per_second, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

    /* ONLY inside init. Asks to be told, on the loop thread, each time a
     * connection of this node has just logged in (session_bind succeeded and
     * its kicks were sent): `conn` describes it, logged_in set. Presence
     * notifications hang off this and the close hook. */
    int (*register_login_hook)(imgate_instance *self, imgate_close_hook_fn fn);
    /* ONLY inside init. Asks to be told, on the loop thread, each time a
     * connection of this node is kicked (protocol H.3): it has just left the
     * user's session and is served nothing more, though it stays open for
     * [gateway] kick_linger_ms. `conn` has kicked set. For presence, a kick
     * is the user leaving that device: its close comes much later. */
    int (*register_kick_hook)(imgate_instance *self, imgate_close_hook_fn fn);

    /* ONLY inside init. The hook conn_watch_drain arms (see there). */
    int (*register_drain_hook)(imgate_instance *self, imgate_drain_hook_fn fn);
    /* Loop thread. Asks for this plugin's drain hook to run once for
     * `conn_id` as soon as the output queued to it is at or below
     * `low_water` bytes: after a write that gets it there, or on a later
     * loop turn if it already is. For flow control between connections:
     * pause the producer (conn_pause) while a consumer's output is high,
     * resume it from the hook. One watch per plugin and connection: a new
     * call replaces the mark. The watch is kept across reloads (the hook of
     * the plugin's current generation runs) and dropped when the connection
     * starts closing (its close hook is the last word). IMGATE_ESTATE if the
     * plugin registered no drain hook, IMGATE_ENOCONN if the connection is
     * gone or closing. */
    int (*conn_watch_drain)(imgate_instance *self, uint64_t conn_id, size_t low_water);
    /* Loop thread. The node a new client should be sent to: the least
     * loaded live node of the service that is not full (this one when it is
     * alone, or Redis cannot say). IMGATE_ELIMIT, with `out` describing this
     * node, when every node is full. What GET /msg_server answers. */
    int (*node_choose)(imgate_instance *self, imgate_node_info *out);
};

/*
 * The descriptor a plugin exports. init() runs on the loop thread while the
 * new generation is being built: register handlers there, allocate state,
 * read configuration. Return 0 on success; anything else refuses the whole
 * generation (fini is then called for the plugins whose init succeeded).
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
    /* --- 1.2 --- */
    const imgate_config_key *config; /* the [plugin.NAME] keys, ended by {NULL}; NULL = none checked */
} imgate_plugin;

#define IMGATE_PLUGIN_SYMBOL "imgate_plugin_descriptor"

/*
 * Declares the plugin's exported descriptor from designated initialisers:
 *
 *     IMGATE_PLUGIN(.name = "nick", .version = "1.0", .init = nick_init,
 *                   .fini = nick_fini, .config = nick_config);
 */
#define IMGATE_PLUGIN(...)                                                                          \
    __attribute__((visibility("default"))) const imgate_plugin imgate_plugin_descriptor = {         \
        .magic = IMGATE_PLUGIN_MAGIC, .abi_major = IMGATE_ABI_MAJOR, .abi_minor = IMGATE_ABI_MINOR,  \
        .struct_size = sizeof(imgate_plugin), .build_signature = IMGATE_BUILD_SIGNATURE, __VA_ARGS__}

/* The 1.0 form, kept for existing plugins. */
#define IMGATE_PLUGIN_DEFINE(name_, version_, init_, fini_) \
    IMGATE_PLUGIN(.name = (name_), .version = (version_), .init = (init_), .fini = (fini_))

/*
 * Service ids: TeamTalk uses 0x0001..0x0008. imgate keeps 0x0009..0x0FFF for
 * itself; third-party plugins use 0x1000..0x7FFF (the example uses 0x1000).
 */
#define IMGATE_SID_THIRD_PARTY_FIRST 0x1000u

#ifdef __cplusplus
}
#endif

#endif
