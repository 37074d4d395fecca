/*
 * conn.h — client connections: reading and framing, the auth gate, dispatch
 * to plugin handlers, bounded output, timeouts. Loop thread only.
 */
#ifndef IMGATE_CONN_H
#define IMGATE_CONN_H

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct bufferevent;
struct event;
struct sockaddr;

typedef struct conn {
    uint64_t id;
    struct bufferevent *bev;
    char address[64];
    uint32_t user_id;
    uint32_t client_type;
    int logged_in;
    int kicked;
    int closing;           /* no more input is processed; freed once output is flushed */
    int in_dispatch;       /* a handler is running: freeing is deferred */
    const char *close_reason;
    uint64_t accepted_ms;
    uint64_t last_recv_ms;
    uint32_t msg_data_this_second;
    struct event *close_timer;
    struct conn *user_prev, *user_next; /* session registry list */
} conn;

/* The listener's accept callback. */
void conn_accept(evutil_socket_t fd, struct sockaddr *addr, int socklen);
conn *conn_find(uint64_t id);
/* Queues a PDU; IMGATE_ELIMIT closes the connection (output cap exceeded). */
int conn_send(conn *c, uint16_t service_id, uint16_t command_id, uint16_t seq, const void *body, size_t len);
int conn_send_message(conn *c, uint16_t service_id, uint16_t command_id, uint16_t seq, const ProtobufCMessage *msg);
/* Stops reading now and frees the connection once its output is written
 * (bounded by a short deadline). `reason` is a static token. */
void conn_close(conn *c, const char *reason);
/* Like conn_close, but first waits `ms` (a kicked client reads its notice). */
void conn_close_after(conn *c, uint32_t ms, const char *reason);
/* Once a second: login deadline, idle timeouts, message-rate windows. */
void conn_tick(void);
/* Closes every connection at once (shutdown). */
void conn_close_all(const char *reason);

#endif
