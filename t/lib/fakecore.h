/*
 * fakecore.h — a fake imgate_core_api for testing a plugin's handlers without
 * a daemon, MariaDB or Redis.
 *
 * The plugin's sources are linked into the test program; fakecore runs its
 * descriptor's init() with a table of recording functions, keeps the handlers
 * it registers, and lets the test call one with a request message: the body
 * is packed and decoded exactly as the core does (unknown enums, NUL in
 * strings), then the handler runs. What the handler does through the api
 * (replies, closes, deliveries, kicks, Redis commands, jobs) is recorded as
 * events. Asynchronous steps are queued: fakecore_run_pending() completes them
 * the way a daemon whose MySQL and Redis are down would (Redis replies NULL,
 * db calls fail with IMGATE_EUNAVAIL), each exactly once.
 *
 * Single-threaded; one fake core per process.
 */
#ifndef IMGATE_FAKECORE_H
#define IMGATE_FAKECORE_H

#include <stddef.h>
#include <stdint.h>

#include <imgate/plugin.h>

typedef enum fake_kind {
    FAKE_SEND,      /* send/send_message/reply: conn_id, service, command, seq, body */
    FAKE_DELIVER,   /* deliver/deliver_many/send_to_user/broadcast: user_id (0 for broadcast), class_mask */
    FAKE_CLOSE,     /* close: conn_id, text = reason */
    FAKE_KICK,      /* session_kick: user_id, class_mask, except_conn, reason */
    FAKE_BIND,      /* session_bind: conn_id, user_id, reason = client type */
    FAKE_REDIS,     /* redis: text = the command's words joined by spaces (an EVAL's script as <script>) */
    FAKE_JOB,       /* submit/submit_job/submit_write */
    FAKE_LOG        /* log/log_limited: text = the line */
} fake_kind;

typedef struct fake_event {
    fake_kind kind;
    uint64_t conn_id;
    uint16_t service_id, command_id, seq_num;
    uint32_t user_id, class_mask, reason;
    uint64_t except_conn;
    uint8_t *body;
    size_t body_len;
    char text[256];
} fake_event;

/* Starts the plugin: `ini` is the text of its [plugin.NAME] section body ("key = value\n"...),
 * checked against its declared keys first. Returns init's result (or -1 on a config error). */
int fakecore_start(const imgate_plugin *desc, const char *ini);
void fakecore_stop(void);

/* Declares a connection the handlers may ask about. logged_in = 0 for a fresh one. */
void fakecore_conn(uint64_t conn_id, uint32_t user_id, uint32_t client_type, int logged_in, const char *address);

/* Calls the handler of (sid, cid) on `conn_id` with `msg` packed as the body (NULL = empty).
 * Returns 0 when a handler ran (or its on_malformed), -1 when none is registered, 1 when the
 * body was malformed and nothing ran. */
int fakecore_call(uint16_t sid, uint16_t cid, uint16_t seq, uint64_t conn_id, const ProtobufCMessage *msg);
/* Same with raw body bytes. */
int fakecore_call_raw(uint16_t sid, uint16_t cid, uint16_t seq, uint64_t conn_id, const uint8_t *body, size_t len);

/* Completes every queued asynchronous step (and those they queue), as described above. */
void fakecore_run_pending(void);

/* The recorded events, oldest first; fakecore_clear forgets them. */
size_t fakecore_count(void);
const fake_event *fakecore_event(size_t i);
/* The first event of `kind` (and, if non-zero, command id), or NULL. */
const fake_event *fakecore_find(fake_kind kind, uint16_t command_id);
void fakecore_clear(void);

/* How the fake backends answer asynchronous steps (fakecore_run_pending). */
typedef enum fake_backend {
    FAKE_BACKEND_DOWN,  /* Redis replies NULL, every db call fails with IMGATE_EUNAVAIL (the default) */
    FAKE_BACKEND_EMPTY  /* Redis replies nil, queries find no row, writes affect one row (insert id 1) */
} fake_backend;
void fakecore_backend(fake_backend mode);

/* The handlers the plugin registered: how many, and the (service, command) of the i-th. */
size_t fakecore_handler_count(void);
void fakecore_handler(size_t i, uint16_t *sid, uint16_t *cid);

/* Node facts node_info reports. */
void fakecore_node(const char *public_ip, uint16_t port, int connections, int max_connections);

#endif
