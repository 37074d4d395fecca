/*
 * imgate_client.c — PDU framing over one TCP connection: sequence numbers,
 * reassembly of frames split across reads, and the FIFO of PDUs set aside
 * while waiting for a particular reply.
 */
#include "imgate_client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imgate_net.h"

/* A PDU set aside by imgate_client_wait(), in arrival order. */
typedef struct queued_pdu {
    struct queued_pdu *next;
    imgate_client_pdu pdu;
} queued_pdu;

/* What the stream can still deliver; sticky once it leaves STREAM_OPEN. */
enum stream_state { STREAM_OPEN, STREAM_CLOSED, STREAM_BROKEN };

struct imgate_client {
    int fd;
    uint16_t next_seq;
    enum stream_state state;

    /* Bytes read but not yet returned as a PDU: a frame may arrive in pieces
     * across several calls, even across a timeout. */
    uint8_t *rbuf;
    size_t rlen;
    size_t rcap;

    queued_pdu *queue_head;
    queued_pdu *queue_tail;
};

const char *imgate_client_strerror(int code)
{
    switch (code) {
    case IMGATE_CLIENT_OK: return "ok";
    case IMGATE_CLIENT_TIMEOUT: return "timeout";
    case IMGATE_CLIENT_CLOSED: return "connection closed";
    case IMGATE_CLIENT_ERROR: return "error";
    default: return "unknown";
    }
}

void imgate_client_pdu_free(imgate_client_pdu *p)
{
    if (!p)
        return;
    free(p->body);
    memset(p, 0, sizeof *p);
}

imgate_client *imgate_client_connect(const char *host, uint16_t port, int timeout_ms)
{
    return imgate_client_connect_from(host, port, NULL, timeout_ms);
}

imgate_client *imgate_client_connect_from(const char *host, uint16_t port, const char *source_ip, int timeout_ms)
{
    imgate_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = imgate_net_connect_from(host, port, source_ip, timeout_ms);
    if (c->fd < 0) {
        int saved = errno;
        free(c);
        errno = saved;
        return NULL;
    }
    c->next_seq = 1;
    c->state = STREAM_OPEN;
    return c;
}

void imgate_client_close(imgate_client *c)
{
    if (!c)
        return;
    queued_pdu *q = c->queue_head;
    while (q) {
        queued_pdu *next = q->next;
        imgate_client_pdu_free(&q->pdu);
        free(q);
        q = next;
    }
    if (c->fd >= 0)
        close(c->fd);
    free(c->rbuf);
    free(c);
}

int imgate_client_fd(const imgate_client *c)
{
    return c ? c->fd : -1;
}

/* Maps a failed send's errno to a client code. */
static int send_failure(void)
{
    if (errno == EPIPE || errno == ECONNRESET)
        return IMGATE_CLIENT_CLOSED;
    if (errno == ETIMEDOUT)
        return IMGATE_CLIENT_TIMEOUT;
    return IMGATE_CLIENT_ERROR;
}

int imgate_client_send_raw(imgate_client *c, const void *bytes, size_t len)
{
    if (!c || (!bytes && len > 0)) {
        errno = EINVAL;
        return IMGATE_CLIENT_ERROR;
    }
    int64_t deadline = imgate_net_deadline(IMGATE_CLIENT_SEND_TIMEOUT_MS);
    if (imgate_net_write_all(c->fd, bytes, len, deadline) < 0)
        return send_failure();
    return IMGATE_CLIENT_OK;
}

/* Hands out the next seq: 1..65535 then 1 again; 0 belongs to server pushes. */
static uint16_t take_seq(imgate_client *c)
{
    uint16_t seq = c->next_seq;
    c->next_seq = (uint16_t)(seq + 1);
    if (c->next_seq == 0)
        c->next_seq = 1;
    return seq;
}

int imgate_client_send(imgate_client *c, uint16_t sid, uint16_t cid, const void *body, size_t len,
                       uint16_t *seq_out)
{
    if (!c || (!body && len > 0) || len > UINT32_MAX - IMGATE_PDU_HEADER_LEN) {
        errno = EINVAL;
        return IMGATE_CLIENT_ERROR;
    }
    uint16_t seq = take_seq(c);
    imgate_pdu_header h;
    imgate_pdu_header_make(&h, sid, cid, seq, len);
    uint8_t head[IMGATE_PDU_HEADER_LEN];
    imgate_pdu_header_encode(&h, head);

    /* One buffer so small PDUs leave in a single segment (TCP_NODELAY is on). */
    uint8_t *frame = malloc(IMGATE_PDU_HEADER_LEN + len);
    if (!frame)
        return IMGATE_CLIENT_ERROR;
    memcpy(frame, head, IMGATE_PDU_HEADER_LEN);
    if (len > 0)
        memcpy(frame + IMGATE_PDU_HEADER_LEN, body, len);
    int rc = imgate_client_send_raw(c, frame, IMGATE_PDU_HEADER_LEN + len);
    free(frame);
    if (rc == IMGATE_CLIENT_OK && seq_out)
        *seq_out = seq;
    return rc;
}

int imgate_client_send_msg(imgate_client *c, uint16_t sid, uint16_t cid, const ProtobufCMessage *msg,
                           uint16_t *seq_out)
{
    if (!msg)
        return imgate_client_send(c, sid, cid, NULL, 0, seq_out);
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *body = malloc(len ? len : 1);
    if (!body)
        return IMGATE_CLIENT_ERROR;
    protobuf_c_message_pack(msg, body);
    int rc = imgate_client_send(c, sid, cid, body, len, seq_out);
    free(body);
    return rc;
}

/*
 * Cuts one complete frame off the front of the read buffer.
 * Returns OK with *out filled, TIMEOUT when more bytes are needed, ERROR on a
 * bad length (the stream is then unusable: there is no way to resynchronise).
 */
static int take_buffered_frame(imgate_client *c, imgate_client_pdu *out)
{
    if (c->rlen < IMGATE_PDU_HEADER_LEN)
        return IMGATE_CLIENT_TIMEOUT;
    imgate_pdu_header h;
    imgate_pdu_header_decode(c->rbuf, &h);
    if (h.length < IMGATE_PDU_HEADER_LEN || h.length > IMGATE_CLIENT_MAX_FRAME) {
        c->state = STREAM_BROKEN;
        errno = EPROTO;
        return IMGATE_CLIENT_ERROR;
    }
    if (c->rlen < h.length)
        return IMGATE_CLIENT_TIMEOUT;

    size_t body_len = h.length - IMGATE_PDU_HEADER_LEN;
    uint8_t *body = NULL;
    if (body_len > 0) {
        body = malloc(body_len);
        if (!body)
            return IMGATE_CLIENT_ERROR;
        memcpy(body, c->rbuf + IMGATE_PDU_HEADER_LEN, body_len);
    }
    c->rlen -= h.length;
    memmove(c->rbuf, c->rbuf + h.length, c->rlen);
    out->h = h;
    out->body = body;
    out->body_len = body_len;
    return IMGATE_CLIENT_OK;
}

/* Reads whatever the socket has (at least one byte) into the buffer, waiting until the deadline. */
static int fill_buffer(imgate_client *c, int64_t deadline)
{
    if (c->rcap - c->rlen < 4096) {
        size_t ncap = c->rcap ? c->rcap * 2 : 16384;
        uint8_t *n = realloc(c->rbuf, ncap);
        if (!n)
            return IMGATE_CLIENT_ERROR;
        c->rbuf = n;
        c->rcap = ncap;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return IMGATE_CLIENT_OK;
        }
        if (n == 0) {
            c->state = STREAM_CLOSED;
            return IMGATE_CLIENT_CLOSED;
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET || errno == EPIPE) {
            c->state = STREAM_CLOSED;
            return IMGATE_CLIENT_CLOSED;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->state = STREAM_BROKEN;
            return IMGATE_CLIENT_ERROR;
        }
        int ready = imgate_net_wait(c->fd, POLLIN, deadline);
        if (ready == 0)
            return IMGATE_CLIENT_TIMEOUT;
        if (ready < 0)
            return IMGATE_CLIENT_ERROR;
    }
}

/* The next PDU from the socket (not the queue). */
static int read_frame(imgate_client *c, imgate_client_pdu *out, int64_t deadline)
{
    for (;;) {
        if (c->state == STREAM_BROKEN)
            return IMGATE_CLIENT_ERROR;
        int rc = take_buffered_frame(c, out);
        if (rc != IMGATE_CLIENT_TIMEOUT)
            return rc;
        /* A frame cut short by EOF is still just a closed connection. */
        if (c->state == STREAM_CLOSED)
            return IMGATE_CLIENT_CLOSED;
        rc = fill_buffer(c, deadline);
        if (rc != IMGATE_CLIENT_OK)
            return rc;
    }
}

static int queue_push(imgate_client *c, imgate_client_pdu *pdu)
{
    queued_pdu *q = malloc(sizeof *q);
    if (!q)
        return IMGATE_CLIENT_ERROR;
    q->next = NULL;
    q->pdu = *pdu;
    if (c->queue_tail)
        c->queue_tail->next = q;
    else
        c->queue_head = q;
    c->queue_tail = q;
    return IMGATE_CLIENT_OK;
}

static int pdu_matches(const imgate_client_pdu *p, uint16_t cid, int seq)
{
    return p->h.command_id == cid && (seq < 0 || p->h.seq_num == (uint16_t)seq);
}

/* Removes and returns the first queued PDU that matches (any PDU when match_all). */
static int queue_take(imgate_client *c, int match_all, uint16_t cid, int seq, imgate_client_pdu *out)
{
    queued_pdu *prev = NULL;
    for (queued_pdu *q = c->queue_head; q; prev = q, q = q->next) {
        if (!match_all && !pdu_matches(&q->pdu, cid, seq))
            continue;
        if (prev)
            prev->next = q->next;
        else
            c->queue_head = q->next;
        if (c->queue_tail == q)
            c->queue_tail = prev;
        *out = q->pdu;
        free(q);
        return 1;
    }
    return 0;
}

int imgate_client_recv(imgate_client *c, imgate_client_pdu *out, int timeout_ms)
{
    if (!c || !out)
        return IMGATE_CLIENT_ERROR;
    memset(out, 0, sizeof *out);
    if (queue_take(c, 1, 0, -1, out))
        return IMGATE_CLIENT_OK;
    return read_frame(c, out, imgate_net_deadline(timeout_ms));
}

int imgate_client_wait(imgate_client *c, uint16_t cid, int seq, imgate_client_pdu *out, int timeout_ms)
{
    if (!c || !out)
        return IMGATE_CLIENT_ERROR;
    memset(out, 0, sizeof *out);
    if (queue_take(c, 0, cid, seq, out))
        return IMGATE_CLIENT_OK;
    int64_t deadline = imgate_net_deadline(timeout_ms);
    for (;;) {
        imgate_client_pdu pdu = {0};
        int rc = read_frame(c, &pdu, deadline);
        if (rc != IMGATE_CLIENT_OK)
            return rc;
        if (pdu_matches(&pdu, cid, seq)) {
            *out = pdu;
            return IMGATE_CLIENT_OK;
        }
        if (queue_push(c, &pdu) != IMGATE_CLIENT_OK) {
            imgate_client_pdu_free(&pdu);
            return IMGATE_CLIENT_ERROR;
        }
    }
}

int imgate_client_call(imgate_client *c, uint16_t sid, uint16_t cid, const ProtobufCMessage *req,
                       uint16_t rsp_cid, imgate_client_pdu *out, int timeout_ms)
{
    uint16_t seq = 0;
    int rc = imgate_client_send_msg(c, sid, cid, req, &seq);
    if (rc != IMGATE_CLIENT_OK)
        return rc;
    return imgate_client_wait(c, rsp_cid, seq, out, timeout_ms);
}

int imgate_client_wait_closed(imgate_client *c, int timeout_ms)
{
    if (!c)
        return IMGATE_CLIENT_ERROR;
    imgate_client_pdu drop;
    while (queue_take(c, 1, 0, -1, &drop))
        imgate_client_pdu_free(&drop);
    c->rlen = 0;
    if (c->state == STREAM_CLOSED)
        return IMGATE_CLIENT_CLOSED;

    int64_t deadline = imgate_net_deadline(timeout_ms);
    uint8_t sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0)
            continue; /* whatever the server still says is irrelevant here */
        if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
            c->state = STREAM_CLOSED;
            return IMGATE_CLIENT_CLOSED;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return IMGATE_CLIENT_ERROR;
        int ready = imgate_net_wait(c->fd, POLLIN, deadline);
        if (ready == 0)
            return IMGATE_CLIENT_TIMEOUT;
        if (ready < 0)
            return IMGATE_CLIENT_ERROR;
    }
}
