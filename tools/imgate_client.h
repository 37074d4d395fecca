/*
 * imgate_client.h — a small blocking TeamTalk PDU client over TCP.
 *
 * Used by imgate-cli, the load generator and the test suite. One
 * `imgate_client` per connection, no global state, so any number of
 * connections can live in one process (one thread per connection at a time).
 *
 * Reading: PDUs are returned in arrival order. imgate_client_wait() looks for
 * one particular reply; every other PDU that arrives meanwhile (server pushes,
 * other replies) is kept in a FIFO and handed out first by later
 * imgate_client_recv() / imgate_client_wait() calls, so nothing is lost.
 *
 * Timeouts are in milliseconds: 0 = do not block, negative = wait forever.
 * Functions returning int use the IMGATE_CLIENT_* codes below.
 */
#ifndef IMGATE_CLIENT_H
#define IMGATE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "imgate/pdu.h"

#define IMGATE_CLIENT_OK 0
#define IMGATE_CLIENT_TIMEOUT (-1) /* nothing (complete) arrived in time */
#define IMGATE_CLIENT_CLOSED (-2)  /* the peer closed or reset the connection */
#define IMGATE_CLIENT_ERROR (-3)   /* bad frame (length < 16 or too big) or I/O error */

/* Largest incoming frame accepted (header included); bigger ones are IMGATE_CLIENT_ERROR. */
#define IMGATE_CLIENT_MAX_FRAME (64u * 1024u * 1024u)

/* How long a send may block on a peer that does not read. */
#define IMGATE_CLIENT_SEND_TIMEOUT_MS 10000

typedef struct imgate_client imgate_client;

/* One received PDU. `body` is malloc'd (NULL when body_len is 0). */
typedef struct {
    imgate_pdu_header h;
    uint8_t *body;
    size_t body_len;
} imgate_client_pdu;

/* Frees the body and resets the struct; safe on a zeroed or already freed pdu. */
void imgate_client_pdu_free(imgate_client_pdu *p);

/* Connects (TCP_NODELAY). Returns NULL with errno set on failure (ETIMEDOUT, ECONNREFUSED, ...). */
imgate_client *imgate_client_connect(const char *host, uint16_t port, int timeout_ms);
/* Same, from a chosen local address (NULL = any), e.g. 127.0.0.2 to appear as another host. */
imgate_client *imgate_client_connect_from(const char *host, uint16_t port, const char *source_ip, int timeout_ms);

/* Closes the socket and frees everything, queued PDUs included. NULL is accepted. */
void imgate_client_close(imgate_client *c);

/* The socket, for callers that want to poll() several connections. */
int imgate_client_fd(const imgate_client *c);

/*
 * Sends one PDU: header (version 1, flag 0, reserved 0) + `len` body bytes.
 * Assigns the connection's next seq (1, 2, ... 65535, 1: 0 is skipped because
 * the server uses it for pushes) and stores it in *seq_out if non-NULL.
 */
int imgate_client_send(imgate_client *c, uint16_t sid, uint16_t cid, const void *body, size_t len,
                       uint16_t *seq_out);

/* Same, with the body packed from a protobuf-c message (NULL = empty body). */
int imgate_client_send_msg(imgate_client *c, uint16_t sid, uint16_t cid, const ProtobufCMessage *msg,
                           uint16_t *seq_out);

/* Writes arbitrary bytes (malformed frames in tests). Does not consume a seq. */
int imgate_client_send_raw(imgate_client *c, const void *bytes, size_t len);

/* The next PDU in arrival order (the queue first). On success the caller frees *out. */
int imgate_client_recv(imgate_client *c, imgate_client_pdu *out, int timeout_ms);

/*
 * Waits for the first PDU with command id `cid` and, if seq >= 0, that seq.
 * Other PDUs arriving meanwhile are queued for later recv/wait calls.
 */
int imgate_client_wait(imgate_client *c, uint16_t cid, int seq, imgate_client_pdu *out, int timeout_ms);

/* send_msg, then wait for `rsp_cid` carrying the request's seq. */
int imgate_client_call(imgate_client *c, uint16_t sid, uint16_t cid, const ProtobufCMessage *req,
                       uint16_t rsp_cid, imgate_client_pdu *out, int timeout_ms);

/*
 * Waits for the server to close the connection, discarding whatever it sends
 * (queued PDUs too). IMGATE_CLIENT_CLOSED once closed, IMGATE_CLIENT_TIMEOUT
 * otherwise (or IMGATE_CLIENT_ERROR on a local failure).
 */
int imgate_client_wait_closed(imgate_client *c, int timeout_ms);

/* A short name for an IMGATE_CLIENT_* code, for diagnostics. */
const char *imgate_client_strerror(int code);

#endif
