/* conn.c — see conn.h. */
#include "conn.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framing.h"
#include "imgate/pdu.h"
#include "imgate/plugin.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "session.h"

/* How long a closing connection may take to flush its output before it is dropped. */
#define FLUSH_DEADLINE_MS 5000

#define SID_LOGIN 0x0001
#define CID_LOGIN_REQ_USERLOGIN 0x0103
#define SID_OTHER 0x0007
#define CID_OTHER_HEARTBEAT 0x0701
#define SID_MSG 0x0003
#define CID_MSG_DATA 0x0301

conn *conn_find(uint64_t id) { return u64map_get(&g_server.conns, id); }

static void count_pdu(const char *dir, uint16_t sid, uint16_t cid, size_t bytes)
{
    char labels[64];
    snprintf(labels, sizeof labels, "service=\"0x%04x\",command=\"0x%04x\"", sid, cid);
    metrics_add(dir[0] == 'i' ? "imgate_pdus_in_total" : "imgate_pdus_out_total", labels, 1);
    metrics_add(dir[0] == 'i' ? "imgate_bytes_in_total" : "imgate_bytes_out_total", "", bytes);
}

static void run_close_hooks(conn *c)
{
    generation *g = g_server.current;
    if (g == NULL)
        return;
    imgate_conn_info info = {0};
    info.conn_id = c->id;
    info.user_id = c->user_id;
    info.client_type = c->client_type;
    info.logged_in = c->logged_in;
    info.kicked = c->kicked;
    snprintf(info.address, sizeof info.address, "%s", c->address);
    generation_ref(g);
    for (int i = 0; i < g->n_inst; i++)
        if (g->inst[i]->close_hook)
            g->inst[i]->close_hook(g->inst[i]->state, &info);
    generation_unref(g);
}

static void conn_free(conn *c)
{
    if (c->logged_in)
        run_close_hooks(c);
    session_unbind(c);
    u64map_del(&g_server.conns, c->id);
    g_server.n_conns--;
    metrics_set("imgate_connections", "", g_server.n_conns);
    log_debug("event=conn_closed conn=%llu addr=%s reason=%s", (unsigned long long)c->id, c->address,
              c->close_reason ? c->close_reason : "unknown");
    if (c->close_timer)
        event_free(c->close_timer);
    bufferevent_free(c->bev);
    free(c);
}

/* Frees once nothing runs on the connection's behalf and its output is gone. */
static void maybe_free(conn *c)
{
    if (!c->closing || c->in_dispatch)
        return;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_free(c);
}

static void on_close_timer(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (!c->closing) {
        /* The grace period of conn_close_after has passed. */
        conn_close(c, c->close_reason ? c->close_reason : "closed");
        return;
    }
    if (!c->in_dispatch)
        conn_free(c); /* flush deadline: give up on a peer that does not read */
}

static void arm_close_timer(conn *c, uint32_t ms)
{
    if (c->close_timer == NULL)
        c->close_timer = evtimer_new(g_server.base, on_close_timer, c);
    if (c->close_timer == NULL)
        return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->close_timer, &tv);
}

void conn_close(conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_reason = reason;
    char labels[96];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metrics_add("imgate_closes_total", labels, 1);
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        arm_close_timer(c, 0); /* free from a fresh stack, never under a caller */
    else
        arm_close_timer(c, FLUSH_DEADLINE_MS);
}

void conn_close_after(conn *c, uint32_t ms, const char *reason)
{
    if (c->closing)
        return;
    c->close_reason = reason;
    arm_close_timer(c, ms);
}

/* Appends 16 + len bytes; enforces the output cap. */
static int queue_output(conn *c, const uint8_t *header, const void *body, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) + IMGATE_PDU_HEADER_LEN + len > server_cfg()->max_output) {
        log_warn("event=output_overflow conn=%llu addr=%s queued=%zu", (unsigned long long)c->id, c->address,
                 evbuffer_get_length(out));
        conn_close(c, "output_overflow");
        return IMGATE_ELIMIT;
    }
    if (evbuffer_add(out, header, IMGATE_PDU_HEADER_LEN) != 0 || (len && evbuffer_add(out, body, len) != 0))
        return IMGATE_ENOMEM;
    return IMGATE_OK;
}

int conn_send(conn *c, uint16_t service_id, uint16_t command_id, uint16_t seq, const void *body, size_t len)
{
    if (c == NULL || c->closing)
        return IMGATE_ENOCONN;
    imgate_pdu_header h;
    uint8_t raw[IMGATE_PDU_HEADER_LEN];
    imgate_pdu_header_make(&h, service_id, command_id, seq, len);
    imgate_pdu_header_encode(&h, raw);
    int rc = queue_output(c, raw, body, len);
    if (rc == IMGATE_OK)
        count_pdu("out", service_id, command_id, IMGATE_PDU_HEADER_LEN + len);
    return rc;
}

int conn_send_message(conn *c, uint16_t service_id, uint16_t command_id, uint16_t seq, const ProtobufCMessage *msg)
{
    if (c == NULL || c->closing)
        return IMGATE_ENOCONN;
    size_t len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t small[1024];
    uint8_t *buf = len <= sizeof small ? small : malloc(len);
    if (buf == NULL)
        return IMGATE_ENOMEM;
    if (len)
        protobuf_c_message_pack(msg, buf);
    int rc = conn_send(c, service_id, command_id, seq, buf, len);
    if (buf != small)
        free(buf);
    return rc;
}

static void dispatch(conn *c, const imgate_pdu_header *h, const uint8_t *frame)
{
    const uint8_t *body = frame + IMGATE_PDU_HEADER_LEN;
    size_t body_len = h->length - IMGATE_PDU_HEADER_LEN;
    generation *g = g_server.current;
    const handler_entry *e = generation_handler(g, h->service_id, h->command_id);
    int is_heartbeat = h->service_id == SID_OTHER && h->command_id == CID_OTHER_HEARTBEAT;
    /* Per-command series only for commands something handles: arbitrary ids from
     * clients must not grow /metrics without bound. */
    if (e != NULL || is_heartbeat)
        count_pdu("in", h->service_id, h->command_id, h->length);
    else
        metrics_add("imgate_bytes_in_total", "", h->length);

    if (c->kicked) {
        metrics_add("imgate_requests_refused_total", "reason=\"kicked\"", 1);
        return;
    }
    if (is_heartbeat) {
        /* The reference echoes the heartbeat PDU unchanged, header included. */
        if (queue_output(c, frame, body, body_len) == IMGATE_OK)
            count_pdu("out", h->service_id, h->command_id, h->length);
        return;
    }
    int is_login = h->service_id == SID_LOGIN && h->command_id == CID_LOGIN_REQ_USERLOGIN;
    if (!c->logged_in && !is_login && !(e && (e->flags & IMGATE_HANDLER_PRE_LOGIN))) {
        /* The reference forwards such requests with user id 0 (spec J.1); we refuse them. */
        metrics_add("imgate_requests_refused_total", "reason=\"auth_gate\"", 1);
        log_info("event=auth_gate conn=%llu addr=%s service=0x%04x command=0x%04x", (unsigned long long)c->id,
                 c->address, h->service_id, h->command_id);
        conn_close(c, "auth_gate");
        return;
    }
    if (e == NULL) {
        metrics_add("imgate_unknown_commands_total", "", 1);
        log_info("event=unknown_command conn=%llu addr=%s service=0x%04x command=0x%04x len=%u",
                 (unsigned long long)c->id, c->address, h->service_id, h->command_id, h->length);
        return;
    }
    if (h->service_id == SID_MSG && h->command_id == CID_MSG_DATA &&
        ++c->msg_data_this_second > server_cfg()->msg_rate_per_second) {
        metrics_add("imgate_requests_refused_total", "reason=\"msg_rate\"", 1);
        return;
    }
    imgate_request req = {
        .conn_id = c->id,
        .service_id = h->service_id,
        .command_id = h->command_id,
        .seq_num = h->seq_num,
        .user_id = c->logged_in ? c->user_id : 0,
        .client_type = c->logged_in ? c->client_type : 0,
        .body = body,
        .body_len = body_len,
    };
    generation_ref(g);
    e->fn(e->inst->state, &req);
    generation_unref(g);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->last_recv_ms = now_ms();
    c->in_dispatch++;
    while (!c->closing) {
        size_t avail = evbuffer_get_length(in);
        uint8_t raw[IMGATE_PDU_HEADER_LEN];
        if (avail < IMGATE_PDU_HEADER_LEN)
            break;
        evbuffer_copyout(in, raw, sizeof raw);
        imgate_pdu_header h;
        uint32_t cap = c->logged_in ? server_cfg()->max_frame : server_cfg()->max_frame_prelogin;
        frame_status st = frame_check(raw, avail, cap, &h);
        if (st == FRAME_NEED_MORE)
            break;
        if (st != FRAME_COMPLETE) {
            log_info("event=bad_frame conn=%llu addr=%s reason=%s length=%u cap=%u", (unsigned long long)c->id,
                     c->address, frame_status_name(st), h.length, cap);
            conn_close(c, frame_status_name(st));
            break;
        }
        const uint8_t *frame = evbuffer_pullup(in, h.length);
        if (frame == NULL) {
            conn_close(c, "out_of_memory");
            break;
        }
        dispatch(c, &h, frame);
        evbuffer_drain(in, h.length);
    }
    c->in_dispatch--;
    maybe_free(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->closing)
        maybe_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (!c->closing) {
            c->closing = 1;
            c->close_reason = (what & BEV_EVENT_EOF) ? "peer_closed" : "io_error";
            char labels[64];
            snprintf(labels, sizeof labels, "reason=\"%s\"", c->close_reason);
            metrics_add("imgate_closes_total", labels, 1);
        }
        /* Nothing more can be written to a dead socket: drop pending output. */
        struct evbuffer *out = bufferevent_get_output(bev);
        evbuffer_drain(out, evbuffer_get_length(out));
        if (!c->in_dispatch)
            conn_free(c);
    }
}

static void format_address(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, len, "%s:%u", ip, port);
}

void conn_accept(evutil_socket_t fd, struct sockaddr *addr, int socklen)
{
    if (g_server.shutting_down || g_server.n_conns >= server_cfg()->max_connections) {
        metrics_add("imgate_connections_refused_total", "", 1);
        evutil_closesocket(fd);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->bev = bufferevent_socket_new(g_server.base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->id = ++g_server.next_conn_id;
    format_address(addr, c->address, sizeof c->address);
    c->accepted_ms = c->last_recv_ms = now_ms();
    if (u64map_put(&g_server.conns, c->id, c) != 0) {
        bufferevent_free(c->bev);
        free(c);
        return;
    }
    g_server.n_conns++;
    metrics_add("imgate_connections_accepted_total", "", 1);
    metrics_set("imgate_connections", "", g_server.n_conns);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    log_debug("event=conn_accepted conn=%llu addr=%s", (unsigned long long)c->id, c->address);
}

void conn_tick(void)
{
    const config *cfg = server_cfg();
    uint64_t now = now_ms();
    size_t pos = 0;
    void *v;
    while (u64map_next(&g_server.conns, &pos, NULL, &v)) {
        conn *c = v;
        c->msg_data_this_second = 0;
        if (c->closing || c->kicked)
            continue;
        if (!c->logged_in) {
            if (now - c->accepted_ms >= cfg->login_timeout_ms) {
                log_info("event=login_timeout conn=%llu addr=%s", (unsigned long long)c->id, c->address);
                conn_close(c, "login_timeout");
            }
            continue;
        }
        uint32_t idle = client_class(c->client_type) == IMGATE_CLASS_MOBILE ? cfg->idle_timeout_mobile_ms
                                                                             : cfg->idle_timeout_pc_ms;
        if (now - c->last_recv_ms >= idle) {
            log_info("event=idle_timeout conn=%llu user=%u addr=%s", (unsigned long long)c->id, c->user_id,
                     c->address);
            conn_close(c, "idle_timeout");
        }
    }
}

void conn_close_all(const char *reason)
{
    /* Collect first: conn_free edits the map we would be walking. */
    size_t n = g_server.conns.len, i = 0, pos = 0;
    conn **list = calloc(n + 1, sizeof *list);
    void *v;
    if (list == NULL)
        return;
    while (u64map_next(&g_server.conns, &pos, NULL, &v) && i < n)
        list[i++] = v;
    for (size_t k = 0; k < i; k++) {
        list[k]->closing = 1;
        list[k]->close_reason = reason;
        conn_free(list[k]);
    }
    free(list);
}
