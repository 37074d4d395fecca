/*
 * bench_msg_engine.c — see bench_msg_engine.h.
 *
 * One thread, one libevent base, one bufferevent per connection. A 2 ms tick
 * drives the phases (log in, warm up, measure, stop), paces senders when a
 * rate is given, expires messages whose ack is overdue, and keeps idle
 * connections alive. Without a rate a sender refills its window from the ack
 * handler, so the load is as fast as the server acknowledges.
 */
#include "bench_msg_engine.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"
#include "bench_histogram.h"
#include "bench_login_request.h"
#include "imgate/pdu.h"
#include "imgate/teamtalk.h"

#define TICK_MS 2
#define LOGINS_AT_ONCE 40
#define HEARTBEAT_NS (30LL * 1000000000LL)
#define MAX_FRAME (4u * 1024u * 1024u)
#define MIN_MSG_BYTES 24
#define MAX_MSG_BYTES 16384

typedef enum { C_IDLE, C_CONNECTING, C_LOGGING_IN, C_READY, C_DEAD } conn_state;

typedef struct inflight {
    uint16_t seq;
    int64_t sent_ns;
} inflight;

typedef struct engine engine;

typedef struct bconn {
    engine *e;
    uint32_t index;
    int sender;
    struct bufferevent *bev;
    conn_state state;
    char user[64];
    uint32_t user_id;
    uint32_t to_id;
    uint16_t next_seq;
    inflight *ring; /* FIFO of messages awaiting their ack (acks come in order) */
    unsigned head, count;
    int64_t next_send_ns;
    int64_t last_out_ns;
} bconn;

struct engine {
    const bench_options *opt;
    bench_msg_mode mode;
    struct event_base *base;
    struct event *tick;
    struct sockaddr_storage addr, receiver_addr; /* receiver_addr: --receiver-port (else = addr) */
    socklen_t addrlen, receiver_addrlen;
    bconn *conns;
    uint32_t n, n_senders, next_connect, logging_in, logins_ok, logins_failed;
    uint32_t window;
    int64_t interval_ns; /* per sender, 0 = as fast as acks come */
    int phase;           /* 0 logging in, 1 warm-up, 2 measuring, 3 done */
    int64_t t_start, t_measure, t_end, t_measured_end;
    /* counted inside the measured window */
    uint64_t sent, acked, delivered, timeouts, lost;
    bench_histogram *ack_lat, *dlv_lat;
    char password_md5[BENCH_MD5HEX_LEN];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int measuring(const engine *e) { return e->phase == 2; }

static void write_frame(bconn *c, uint16_t sid, uint16_t cid, uint16_t seq, const ProtobufCMessage *msg)
{
    uint8_t stack[1024];
    size_t len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t *buf = len + IMGATE_PDU_HEADER_LEN <= sizeof stack ? stack : malloc(len + IMGATE_PDU_HEADER_LEN);
    if (buf == NULL)
        return;
    imgate_pdu_header h;
    imgate_pdu_header_make(&h, sid, cid, seq, len);
    imgate_pdu_header_encode(&h, buf);
    if (len)
        protobuf_c_message_pack(msg, buf + IMGATE_PDU_HEADER_LEN);
    bufferevent_write(c->bev, buf, len + IMGATE_PDU_HEADER_LEN);
    c->last_out_ns = now_ns();
    if (buf != stack)
        free(buf);
}

/* --- sending ------------------------------------------------------------------------------------------ */

static void send_one(bconn *c, int64_t now)
{
    engine *e = c->e;
    size_t len = e->opt->msg_bytes;
    char body[MAX_MSG_BYTES];
    int n = snprintf(body, sizeof body, "T%" PRId64 ";", now);
    if ((size_t)n < len)
        memset(body + n, 'x', len - (size_t)n);
    IM__Message__IMMsgData m = IM__MESSAGE__IMMSG_DATA__INIT;
    m.from_user_id = c->user_id;
    m.to_session_id = c->to_id;
    m.msg_type = e->mode == BENCH_MSG_GROUP ? MSG_TYPE_GROUP_TEXT : MSG_TYPE_SINGLE_TEXT;
    m.msg_data.data = (uint8_t *)body;
    m.msg_data.len = len > (size_t)n ? len : (size_t)n;
    uint16_t seq = ++c->next_seq;
    if (seq == 0)
        seq = c->next_seq = 1;
    write_frame(c, SID_MSG, CID_MSG_DATA, seq, &m.base);
    inflight *slot = &c->ring[(c->head + c->count) % e->window];
    slot->seq = seq;
    slot->sent_ns = now;
    c->count++;
    if (measuring(e))
        e->sent++;
}

static void pump(bconn *c, int64_t now)
{
    engine *e = c->e;
    if (!c->sender || c->state != C_READY || e->phase < 1 || e->phase > 2)
        return;
    while (c->count < e->window) {
        if (e->interval_ns) {
            if (c->next_send_ns > now)
                break;
            c->next_send_ns += e->interval_ns;
            if (c->next_send_ns < now - 1000000000LL) /* fell a second behind: do not burst to catch up */
                c->next_send_ns = now;
        }
        send_one(c, now);
    }
}

/* --- receiving ------------------------------------------------------------------------------------------ */

static void connect_next(engine *e);
static int uses_receiver_addr(const engine *e, const bconn *c);
static void logged_in_all(engine *e);

static void login_finished(bconn *c, int ok)
{
    engine *e = c->e;
    e->logging_in--;
    if (ok) {
        e->logins_ok++;
        c->state = C_READY;
    } else {
        e->logins_failed++;
        c->state = C_DEAD;
        if (c->bev) {
            bufferevent_free(c->bev);
            c->bev = NULL;
        }
    }
    connect_next(e);
    if (e->logins_ok + e->logins_failed == e->n)
        logged_in_all(e);
}

static void on_ack(bconn *c, uint16_t seq, int64_t now)
{
    engine *e = c->e;
    /* Acks come in the order sent: anything older still waiting was refused. */
    while (c->count > 0) {
        inflight *head = &c->ring[c->head];
        c->head = (c->head + 1) % e->window;
        c->count--;
        if (head->seq == seq) {
            if (measuring(e)) {
                e->acked++;
                bench_histogram_record(e->ack_lat, (uint64_t)(now - head->sent_ns) / 1000);
            }
            break;
        }
        if (measuring(e))
            e->timeouts++;
    }
    pump(c, now);
}

static void on_delivery(bconn *c, const uint8_t *body, size_t len, int64_t now)
{
    engine *e = c->e;
    if (!measuring(e))
        return;
    IM__Message__IMMsgData *m = im__message__immsg_data__unpack(NULL, len, body);
    if (m == NULL)
        return;
    if (m->msg_data.len > 1 && m->msg_data.data[0] == 'T') {
        char t[32];
        size_t n = m->msg_data.len < sizeof t - 1 ? m->msg_data.len : sizeof t - 1;
        memcpy(t, m->msg_data.data + 1, n - 1);
        t[n - 1] = '\0';
        long long sent = strtoll(t, NULL, 10);
        if (sent > 0 && sent <= now)
            bench_histogram_record(e->dlv_lat, (uint64_t)(now - sent) / 1000);
    }
    e->delivered++;
    im__message__immsg_data__free_unpacked(m, NULL);
}

static void on_frame(bconn *c, const imgate_pdu_header *h, const uint8_t *body, size_t len)
{
    int64_t now = now_ns();
    switch (h->command_id) {
    case CID_LOGIN_RES_USERLOGIN: {
        if (c->state != C_LOGGING_IN)
            return;
        IM__Login__IMLoginRes *r = im__login__imlogin_res__unpack(NULL, len, body);
        int ok = r && r->result_code == 0 && r->user_info;
        if (ok)
            c->user_id = r->user_info->user_id;
        else
            fprintf(stderr, "imgate-bench: login as %s refused: %s\n", c->user,
                    r && r->result_string ? r->result_string : "unparsable reply");
        if (r)
            im__login__imlogin_res__free_unpacked(r, NULL);
        login_finished(c, ok);
        return;
    }
    case CID_MSG_DATA_ACK:
        if (c->sender)
            on_ack(c, h->seq_num, now);
        return;
    case CID_MSG_DATA:
        on_delivery(c, body, len, now);
        return;
    default:
        return;
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    bconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail < IMGATE_PDU_HEADER_LEN)
            return;
        uint8_t hb[IMGATE_PDU_HEADER_LEN];
        evbuffer_copyout(in, hb, sizeof hb);
        imgate_pdu_header h;
        imgate_pdu_header_decode(hb, &h);
        if (h.length < IMGATE_PDU_HEADER_LEN || h.length > MAX_FRAME) {
            fprintf(stderr, "imgate-bench: %s: bad frame length %u\n", c->user, h.length);
            bufferevent_free(c->bev);
            c->bev = NULL;
            c->state = C_DEAD;
            return;
        }
        if (avail < h.length)
            return;
        const uint8_t *frame = evbuffer_pullup(in, h.length);
        on_frame(c, &h, frame + IMGATE_PDU_HEADER_LEN, h.length - IMGATE_PDU_HEADER_LEN);
        if (c->bev == NULL)
            return;
        evbuffer_drain(in, h.length);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    bconn *c = arg;
    engine *e = c->e;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        IM__Login__IMLoginReq req;
        bench_login_request_init(&req, c->user, e->password_md5, e->opt->client_type, "imgate-bench");
        c->state = C_LOGGING_IN;
        write_frame(c, SID_LOGIN, CID_LOGIN_REQ_USERLOGIN, 1, &req.base);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        conn_state was = c->state;
        bufferevent_free(c->bev);
        c->bev = NULL;
        c->state = C_DEAD;
        if (was == C_CONNECTING || was == C_LOGGING_IN) {
            fprintf(stderr, "imgate-bench: %s: connection lost before login\n", c->user);
            c->state = C_LOGGING_IN; /* so login_finished counts it */
            login_finished(c, 0);
            return;
        }
        if (measuring(e))
            e->lost += 1 + c->count;
        c->count = 0;
    }
}

/* --- phases --------------------------------------------------------------------------------------------- */

static void connect_next(engine *e)
{
    while (e->next_connect < e->n && e->logging_in < LOGINS_AT_ONCE) {
        bconn *c = &e->conns[e->next_connect++];
        e->logging_in++;
        c->bev = bufferevent_socket_new(e->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            c->state = C_LOGGING_IN;
            login_finished(c, 0);
            continue;
        }
        bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        c->state = C_CONNECTING;
        int far = uses_receiver_addr(e, c);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)(far ? &e->receiver_addr : &e->addr),
                                       (int)(far ? e->receiver_addrlen : e->addrlen)) != 0) {
            fprintf(stderr, "imgate-bench: %s: connect: %s\n", c->user, strerror(errno));
            bufferevent_free(c->bev);
            c->bev = NULL;
            c->state = C_LOGGING_IN;
            login_finished(c, 0);
        }
    }
}

static void logged_in_all(engine *e)
{
    if (e->phase != 0)
        return;
    uint32_t usable = 0;
    for (uint32_t i = 0; i < e->n_senders; i++) {
        bconn *s = &e->conns[i];
        if (e->mode == BENCH_MSG_PAIRS) {
            bconn *r = &e->conns[e->n_senders + i];
            s->to_id = r->user_id;
            if (r->state != C_READY)
                s->sender = 0; /* nobody to send to */
        } else {
            s->to_id = e->opt->group_id;
        }
        if (s->sender && s->state == C_READY)
            usable++;
    }
    fprintf(stderr, "imgate-bench: %u of %u connections logged in; %u senders; %s\n", e->logins_ok, e->n, usable,
            e->opt->warmup_s > 0 ? "warming up" : "measuring");
    if (usable == 0) {
        e->phase = 3;
        event_base_loopbreak(e->base);
        return;
    }
    /* The offered rate is the total: spread it over the senders that can send. */
    if (e->opt->rate > 0)
        e->interval_ns = (int64_t)(1e9 * usable / e->opt->rate);
    int64_t now = now_ns();
    e->t_start = now;
    e->t_measure = now + (int64_t)(e->opt->warmup_s * 1e9);
    e->t_end = e->opt->total ? INT64_MAX : e->t_measure + (int64_t)(e->opt->duration_s * 1e9);
    e->phase = e->opt->warmup_s > 0 ? 1 : 2;
    for (uint32_t i = 0; i < e->n_senders; i++) {
        e->conns[i].next_send_ns = now + (e->interval_ns ? (int64_t)i * e->interval_ns / e->n_senders : 0);
        e->conns[i].last_out_ns = now;
        pump(&e->conns[i], now);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    engine *e = arg;
    if (e->phase == 0 || e->phase == 3)
        return;
    int64_t now = now_ns();
    if (e->phase == 1 && now >= e->t_measure)
        e->phase = 2;
    if (e->phase == 2 && (now >= e->t_end || (e->opt->total && e->acked >= e->opt->total))) {
        e->phase = 3;
        e->t_measured_end = now;
        event_base_loopbreak(e->base);
        return;
    }
    int64_t timeout = (int64_t)e->opt->timeout_ms * 1000000LL;
    for (uint32_t i = 0; i < e->n; i++) {
        bconn *c = &e->conns[i];
        if (c->state != C_READY)
            continue;
        while (c->count > 0 && now - c->ring[c->head].sent_ns > timeout) {
            c->head = (c->head + 1) % e->window;
            c->count--;
            if (measuring(e))
                e->timeouts++;
        }
        if (now - c->last_out_ns > HEARTBEAT_NS)
            write_frame(c, SID_OTHER, CID_OTHER_HEARTBEAT, 0, NULL);
        pump(c, now);
    }
}

/* --- report ---------------------------------------------------------------------------------------------- */

static void latency_row(FILE *out, const char *label, const bench_histogram *h)
{
    if (h->count == 0) {
        fprintf(out, "  %-14s (no samples)\n", label);
        return;
    }
    fprintf(out, "  %-14s p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f  (%llu samples)\n", label,
            bench_histogram_percentile(h, 50) / 1000.0, bench_histogram_percentile(h, 90) / 1000.0,
            bench_histogram_percentile(h, 99) / 1000.0, h->max / 1000.0, bench_histogram_mean(h) / 1000.0,
            (unsigned long long)h->count);
}

static void json_latency(FILE *out, const char *name, const bench_histogram *h)
{
    fprintf(out, "\"%s\":{\"count\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}", name,
            (unsigned long long)h->count, bench_histogram_percentile(h, 50) / 1000.0,
            bench_histogram_percentile(h, 90) / 1000.0, bench_histogram_percentile(h, 99) / 1000.0, h->max / 1000.0,
            bench_histogram_mean(h) / 1000.0);
}

static int report(engine *e, const char *name)
{
    const bench_options *o = e->opt;
    double secs = e->t_measured_end > e->t_measure ? (double)(e->t_measured_end - e->t_measure) / 1e9 : 0;
    double ack_rate = secs > 0 ? (double)e->acked / secs : 0, dlv_rate = secs > 0 ? (double)e->delivered / secs : 0;
    uint64_t abandoned = 0;
    for (uint32_t i = 0; i < e->n; i++)
        abandoned += e->conns[i].count;
    FILE *out = stdout;
    fprintf(out, "  %-14s %s\n", "scenario", name);
    if (o->receiver_port)
        fprintf(out, "  %-14s %s:%u (senders), :%u (receivers)\n", "target", o->host, (unsigned)o->port,
                (unsigned)o->receiver_port);
    else
        fprintf(out, "  %-14s %s:%u\n", "target", o->host, (unsigned)o->port);
    if (e->mode == BENCH_MSG_PAIRS)
        fprintf(out, "  %-14s %u pairs, window %u, %s\n", "load", e->n_senders, e->window,
                o->rate ? "paced" : "as fast as acked");
    else
        fprintf(out, "  %-14s group %u, %u members, %u senders, window %u, %s\n", "load", o->group_id, e->n,
                e->n_senders, e->window, o->rate ? "paced" : "as fast as acked");
    if (o->rate)
        fprintf(out, "  %-14s %.0f messages/s offered\n", "rate", o->rate);
    fprintf(out, "  %-14s %u of %u logged in\n", "connections", e->logins_ok, e->n);
    fprintf(out, "  %-14s %.2f s measured (after %.2f s warmup)\n", "duration", secs, o->warmup_s);
    fprintf(out, "  %-14s %llu messages\n", "sent", (unsigned long long)e->sent);
    fprintf(out, "  %-14s %llu (%.1f messages/s)\n", "acked", (unsigned long long)e->acked, ack_rate);
    fprintf(out, "  %-14s %llu (%.1f %s/s)\n", "delivered", (unsigned long long)e->delivered, dlv_rate,
            e->mode == BENCH_MSG_GROUP ? "deliveries" : "messages");
    fprintf(out, "  %-14s %llu no ack within %d ms or refused, %llu lost with a connection\n", "failed",
            (unsigned long long)e->timeouts, o->timeout_ms, (unsigned long long)e->lost);
    if (abandoned)
        fprintf(out, "  %-14s %llu (in flight when the time was up, not counted)\n", "abandoned",
                (unsigned long long)abandoned);
    latency_row(out, "ack ms", e->ack_lat);
    latency_row(out, "delivery ms", e->dlv_lat);
    fflush(out);
    if (o->json_path) {
        FILE *f = fopen(o->json_path, "w");
        if (f == NULL) {
            fprintf(stderr, "imgate-bench: cannot write %s: %s\n", o->json_path, strerror(errno));
            return 1;
        }
        fprintf(f,
                "{\"scenario\":\"%s\",\"host\":\"%s\",\"port\":%u,\"receiver_port\":%u,\"senders\":%u,\"connections\":%u,"
                "\"logged_in\":%u,\"window\":%u,\"rate_offered\":%.1f,\"msg_bytes\":%zu,\"group_id\":%u,"
                "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"sent\":%llu,\"acked\":%llu,\"delivered\":%llu,"
                "\"acked_per_s\":%.1f,\"delivered_per_s\":%.1f,\"failed\":%llu,\"lost\":%llu,\"abandoned\":%llu,",
                name, o->host, (unsigned)o->port, (unsigned)(o->receiver_port ? o->receiver_port : o->port),
                e->n_senders, e->n, e->logins_ok, e->window, o->rate, o->msg_bytes,
                o->group_id, o->warmup_s, secs, (unsigned long long)e->sent, (unsigned long long)e->acked,
                (unsigned long long)e->delivered, ack_rate, dlv_rate, (unsigned long long)e->timeouts,
                (unsigned long long)e->lost, (unsigned long long)abandoned);
        json_latency(f, "ack_ms", e->ack_lat);
        fputc(',', f);
        json_latency(f, "delivery_ms", e->dlv_lat);
        fputs("}\n", f);
        if (fclose(f) != 0)
            return 1;
    }
    return e->acked > 0 ? 0 : 1;
}

/* --- set-up ------------------------------------------------------------------------------------------------ */

static int resolve_port(const bench_options *o, uint16_t port_num, struct sockaddr_storage *addr, socklen_t *len)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)port_num);
    int rc = getaddrinfo(o->host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        fprintf(stderr, "imgate-bench: cannot resolve %s: %s\n", o->host, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int resolve(engine *e)
{
    const bench_options *o = e->opt;
    return resolve_port(o, o->port, &e->addr, &e->addrlen) < 0 ||
                   resolve_port(o, o->receiver_port ? o->receiver_port : o->port, &e->receiver_addr,
                                &e->receiver_addrlen) < 0
               ? -1
               : 0;
}

/* Which node a connection logs in to: with --receiver-port, pair receivers and every other
 * non-sending group member use the receiver address, so their deliveries cross nodes. */
static int uses_receiver_addr(const engine *e, const bconn *c)
{
    return !c->sender && (e->mode == BENCH_MSG_PAIRS || c->index % 2 == 1);
}

int bench_msg_run(const bench_options *opt, bench_msg_mode mode)
{
    const char *name = mode == BENCH_MSG_GROUP ? "group" : "msg";
    uint32_t p = opt->concurrency;
    uint32_t needed = mode == BENCH_MSG_PAIRS ? 2 * p : p;
    if (opt->users < needed) {
        fprintf(stderr, "imgate-bench: %s -c %u needs %u users (--users %u: PREFIX1..PREFIX%u)\n", name, p, needed,
                needed, needed);
        return 2;
    }
    if (mode == BENCH_MSG_GROUP && opt->group_id == 0) {
        fprintf(stderr, "imgate-bench: group needs --group-id (a group whose members are PREFIX1..PREFIX%u)\n", p);
        return 2;
    }
    if (opt->msg_bytes < MIN_MSG_BYTES || opt->msg_bytes > MAX_MSG_BYTES) {
        fprintf(stderr, "imgate-bench: --msg-bytes must be %d..%d\n", MIN_MSG_BYTES, MAX_MSG_BYTES);
        return 2;
    }
    engine e;
    memset(&e, 0, sizeof e);
    e.opt = opt;
    e.mode = mode;
    e.n = needed;
    e.n_senders = mode == BENCH_MSG_PAIRS ? p : (opt->senders < p ? opt->senders : p);
    e.window = opt->window ? opt->window : 1;
    if (bench_md5hex(opt->password, e.password_md5) < 0 || resolve(&e) < 0)
        return 1;
    e.conns = calloc(e.n, sizeof *e.conns);
    e.ack_lat = malloc(sizeof *e.ack_lat);
    e.dlv_lat = malloc(sizeof *e.dlv_lat);
    e.base = event_base_new();
    if (e.conns == NULL || e.ack_lat == NULL || e.dlv_lat == NULL || e.base == NULL) {
        fprintf(stderr, "imgate-bench: out of memory\n");
        return 1;
    }
    bench_histogram_reset(e.ack_lat);
    bench_histogram_reset(e.dlv_lat);
    int rc = 1;
    for (uint32_t i = 0; i < e.n; i++) {
        bconn *c = &e.conns[i];
        c->e = &e;
        c->index = i;
        c->sender = i < e.n_senders;
        snprintf(c->user, sizeof c->user, "%s%u", opt->prefix, i + 1);
        if (c->sender && (c->ring = calloc(e.window, sizeof *c->ring)) == NULL) {
            fprintf(stderr, "imgate-bench: out of memory\n");
            goto out;
        }
    }
    e.tick = event_new(e.base, -1, EV_PERSIST, on_tick, &e);
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(e.tick, &tv);
    fprintf(stderr, "imgate-bench: logging in %u connections\n", e.n);
    connect_next(&e);
    event_base_dispatch(e.base);
    if (e.phase == 3 && e.t_measured_end)
        rc = report(&e, name);
    else
        fprintf(stderr, "imgate-bench: %s: nothing measured (no usable sender)\n", name);
out:
    for (uint32_t i = 0; i < e.n; i++) {
        if (e.conns[i].bev)
            bufferevent_free(e.conns[i].bev);
        free(e.conns[i].ring);
    }
    if (e.tick)
        event_free(e.tick);
    event_base_free(e.base);
    free(e.conns);
    free(e.ack_lat);
    free(e.dlv_lat);
    return rc;
}
