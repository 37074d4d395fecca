/*
 * conn.h — client connections as transport: accepting, reading and framing,
 * bounded output, closing, timeouts, flow control (pauses and the in-flight
 * caps), roles and per-plugin data slots. What a frame means is dispatch.c's
 * business; who is logged in is session.c's. Loop thread only.
 *
 * The connection table is this file's own: other files find a connection by
 * id (conn_find) and never walk the table.
 */
#ifndef IMGATE_CONN_H
#define IMGATE_CONN_H

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "imgate/plugin.h"

struct bufferevent;
struct event;
struct evbuffer_cb_entry;
struct sockaddr;

/* A plugin's data on one connection (conn_data), keyed by the plugin's name so it outlives reloads. */
typedef struct conn_slot {
    struct conn_slot *next;
    char owner[65];
    size_t size;
    void *data;
} conn_slot;

/* A plugin waiting for the connection's output to drain (conn_watch_drain), keyed by its name. */
typedef struct conn_watch {
    struct conn_watch *next;
    char owner[65];
    size_t low_water;
} conn_watch;

typedef struct conn {
    uint64_t id;
    struct bufferevent *bev;
    char address[64];
    uint32_t user_id;
    uint32_t client_type;
    int logged_in;
    int kicked;            /* refused everything but heartbeats since kicked_ms */
    int closing;           /* no more input is processed; freed once output is flushed */
    int in_dispatch;       /* input is being processed: freeing is deferred */
    const char *close_reason;
    uint64_t accepted_ms;
    uint64_t last_recv_ms;
    uint64_t kicked_ms;
    uint32_t rate_count;   /* IMGATE_HANDLER_RATE_LIMITED requests this second */

    /* a role given by a plugin (conn_authorize) */
    uint32_t role;
    char role_owner[65];
    uint32_t role_max_frame;
    uint32_t role_idle_ms;
    size_t role_max_output;

    /* flow control: reading stops while any of these holds */
    int plugin_pauses;     /* conn_pause nesting */
    int inflight;          /* IMGATE_HANDLER_TRACKED requests not yet done */
    int blocked;           /* a tracked request waits in the input buffer for capacity */
    int waiting_global;    /* blocked on the node-wide cap: on the waiters list */
    struct event *resume_ev;

    struct event *close_timer;
    struct evbuffer_cb_entry *output_watch; /* keeps the node's queued-output total */
    conn_slot *slots;
    conn_watch *watches;      /* drain watches, run from the write callback */
    struct event *drain_ev;   /* checks the watches on a later loop turn */
    struct conn *user_prev, *user_next; /* session registry list (session.c) */
} conn;

/* The listener's accept callback. */
void conn_accept(evutil_socket_t fd, struct sockaddr *addr, int socklen);
conn *conn_find(uint64_t id);
/* Open client connections. */
int conn_count(void);
/* Queues a PDU; IMGATE_ELIMIT closes the connection (output cap exceeded). */
int conn_send(conn *c, uint16_t service_id, uint16_t command_id, uint16_t seq, const void *body, size_t len);
int conn_send_message(conn *c, uint16_t service_id, uint16_t command_id, uint16_t seq, const ProtobufCMessage *msg);
/* Queues a frame exactly as given (16-byte header included): the heartbeat echo. */
int conn_send_frame(conn *c, const uint8_t *frame, size_t len);
/* Stops reading now and frees the connection once its output is written
 * (bounded by a short deadline). `reason` is a static token. */
void conn_close(conn *c, const char *reason);
/* Like conn_close, but first waits `ms`. */
void conn_close_after(conn *c, uint32_t ms, const char *reason);
/* Sends IMKickUser{user, reason} and marks the connection kicked: from now on
 * it is answered heartbeats only, and closed after [gateway] kick_linger_ms
 * unless the client closes it first. The session registry forgets it. */
void conn_kick(conn *c, uint32_t reason);
/* Once a second: login deadline, idle timeouts, kick lingers, rate windows. */
void conn_tick(void);
/* Closes every connection at once (shutdown). */
void conn_close_all(const char *reason);

/* Runs every plugin's login hook for a connection that has just logged in. */
void conn_run_login_hooks(conn *c);

/* The largest frame this connection may send now. */
uint32_t conn_max_frame(const conn *c);

/* Roles and data slots (see imgate_role, conn_data in plugin.h). */
int conn_authorize(conn *c, const char *owner, const imgate_role *role);
void *conn_data(conn *c, const char *owner, size_t size);
int conn_has_data(const conn *c, const char *owner);

/* Arms `owner`'s drain watch (see conn_watch_drain in plugin.h). 0, or an IMGATE_* code. */
int conn_watch_drain(conn *c, const char *owner, size_t low_water);

/* Plugin flow control (conn_pause / conn_resume). */
void conn_pause(conn *c);
void conn_resume(conn *c);

/*
 * In-flight accounting for IMGATE_HANDLER_TRACKED requests. conn_inflight_room
 * says whether one more may start now; when not, the connection is blocked
 * (reading stops, the request stays buffered) until conn_inflight_end frees
 * room. conn_inflight_begin counts a started one.
 */
int conn_inflight_room(conn *c);
void conn_inflight_begin(conn *c);
void conn_inflight_end(uint64_t conn_id);
/* Tracked requests in flight on this node. */
int conn_inflight_total(void);
/* Bytes queued for writing on every connection of this node. */
size_t conn_output_total(void);

#endif
