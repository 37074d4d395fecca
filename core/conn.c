/* conn.c — see conn.h. */
#include "conn.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "IM.Login.pb-c.h"
#include "dispatch.h"
#include "framing.h"
#include "generation.h"
#include "imgate/pdu.h"
#include "imgate/teamtalk.h"
#include "log.h"
#include "metrics.h"
#include "pdu_metrics.h"
#include "server.h"
#include "session.h"
#include "u64map.h"

/* How long a closing connection may take to flush its output before it is dropped. */
#define FLUSH_DEADLINE_MS 5000

static u64map conns; /* conn id -> conn* */
static int n_conns;
static uint64_t next_conn_id;
static int inflight_total;
static size_t output_total; /* bytes queued for writing, all connections (output_watch) */
/* Connections blocked on the node-wide in-flight cap, oldest first (ids: they may close meanwhile). */
static uint64_t *waiters;
static size_t n_waiters, cap_waiters;

static metric_series *m_connections, *m_accepted, *m_refused;

conn *conn_find(uint64_t id) { return u64map_get(&conns, id); }
int conn_count(void) { return n_conns; }
int conn_inflight_total(void) { return inflight_total; }
size_t conn_output_total(void) { return output_total; }

static metric_series *m_output_total;

/* Every change of a connection's output buffer, added or written out. */
static void on_output_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    output_total += info->n_added;
    output_total -= info->n_deleted < output_total ? info->n_deleted : output_total;
    metrics_gauge_set(m_output_total, (int64_t)output_total);
}

static metric_series *closes_counter(const char *reason)
{
    char labels[96];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    return metrics_counter("imgate_closes_total", labels);
}

static void describe(const conn *c, imgate_conn_info *info)
{
    memset(info, 0, sizeof *info);
    info->conn_id = c->id;
    info->user_id = c->user_id;
    info->client_type = c->client_type;
    info->logged_in = c->logged_in;
    info->kicked = c->kicked;
    info->role = c->role;
    snprintf(info->address, sizeof info->address, "%s", c->address);
    info->output_queued = evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Runs the hook of every plugin that has one (login: offset of login_hook, ...). */
static void run_hooks(conn *c, size_t hook_offset)
{
    generation *g = g_server.current;
    if (g == NULL)
        return;
    imgate_conn_info info;
    describe(c, &info);
    generation_ref(g);
    for (int i = 0; i < g->n_inst; i++) {
        imgate_close_hook_fn fn = *(imgate_close_hook_fn *)((char *)g->inst[i] + hook_offset);
        if (fn)
            fn(g->inst[i]->state, &info);
    }
    generation_unref(g);
}

void conn_run_login_hooks(conn *c) { run_hooks(c, offsetof(imgate_instance, login_hook)); }

static void run_close_hooks(conn *c)
{
    generation *g = g_server.current;
    if (g == NULL)
        return;
    imgate_conn_info info;
    describe(c, &info);
    generation_ref(g);
    for (int i = 0; i < g->n_inst; i++) {
        imgate_instance *inst = g->inst[i];
        if (inst->close_hook == NULL)
            continue;
        /* 1.0/1.1 plugins were promised logged-in connections only. */
        int wants = c->logged_in;
        if (inst->desc->abi_minor >= 2)
            wants = wants || strcmp(c->role_owner, inst->name) == 0 || conn_has_data(c, inst->name);
        if (wants)
            inst->close_hook(inst->state, &info);
    }
    generation_unref(g);
}

static void remove_waiter(uint64_t id)
{
    for (size_t i = 0; i < n_waiters; i++)
        if (waiters[i] == id) {
            memmove(&waiters[i], &waiters[i + 1], (n_waiters - i - 1) * sizeof *waiters);
            n_waiters--;
            return;
        }
}

static void drop_watches(conn *c)
{
    while (c->watches) {
        conn_watch *w = c->watches;
        c->watches = w->next;
        free(w);
    }
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

static void conn_free(conn *c)
{
    run_close_hooks(c);
    drop_watches(c);
    session_unbind(c);
    if (c->waiting_global)
        remove_waiter(c->id);
    u64map_del(&conns, c->id);
    n_conns--;
    metrics_gauge_set(m_connections, n_conns);
    log_debug("event=conn_closed conn=%llu addr=%s reason=%s", (unsigned long long)c->id, c->address,
              c->close_reason ? c->close_reason : "unknown");
    while (c->slots) {
        conn_slot *s = c->slots;
        c->slots = s->next;
        free(s->data);
        free(s);
    }
    if (c->close_timer)
        event_free(c->close_timer);
    if (c->resume_ev)
        event_free(c->resume_ev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (c->output_watch)
        evbuffer_remove_cb_entry(out, c->output_watch);
    size_t left = evbuffer_get_length(out);
    output_total -= left < output_total ? left : output_total;
    if (c->drain_ev)
        event_free(c->drain_ev);
    bufferevent_free(c->bev);
    free(c);
    server_descriptor_freed();
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
        /* The wait of conn_close_after has passed. */
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
    metrics_inc(closes_counter(reason), 1);
    bufferevent_disable(c->bev, EV_READ);
    drop_watches(c); /* the write callback now only waits for the output to be gone */
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

/* A connection that has not logged in (or was kicked) is owed little: its small cap keeps a
 * crowd of them from pinning memory with echoed heartbeats they never read. */
static size_t output_cap(const conn *c)
{
    const config *cfg = server_cfg();
    if (c->role)
        return c->role_max_output ? c->role_max_output : cfg->max_output;
    return c->logged_in && !c->kicked ? cfg->max_output : cfg->max_output_prelogin;
}

/* Appends 16 + len bytes; enforces the connection's cap and the node's budget. */
static int queue_output(conn *c, const uint8_t *header, const void *body, size_t len)
{
    const config *cfg = server_cfg();
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t after = evbuffer_get_length(out) + IMGATE_PDU_HEADER_LEN + len;
    if (after > output_cap(c)) {
        log_limited(LOG_WARN, "core", "output_overflow", c->address, 20, "event=output_overflow conn=%llu addr=%s queued=%zu",
                    (unsigned long long)c->id, c->address, evbuffer_get_length(out));
        conn_close(c, "output_overflow");
        return IMGATE_ELIMIT;
    }
    /* Over the node's budget, whoever holds more than a small queue is cut as a slow reader;
     * connections that keep up (small queues) are still served. */
    if (output_total + IMGATE_PDU_HEADER_LEN + len > cfg->max_output_total && after > cfg->max_output_prelogin) {
        log_limited(LOG_WARN, "core", "output_budget", NULL, 20,
                    "event=output_budget conn=%llu addr=%s queued=%zu node_queued=%zu", (unsigned long long)c->id,
                    c->address, evbuffer_get_length(out), output_total);
        conn_close(c, "output_budget");
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
        pdu_metrics_out(service_id, command_id, IMGATE_PDU_HEADER_LEN + len);
    return rc;
}

int conn_send_frame(conn *c, const uint8_t *frame, size_t len)
{
    if (c == NULL || c->closing || len < IMGATE_PDU_HEADER_LEN)
        return IMGATE_ENOCONN;
    int rc = queue_output(c, frame, frame + IMGATE_PDU_HEADER_LEN, len - IMGATE_PDU_HEADER_LEN);
    if (rc == IMGATE_OK)
        pdu_metrics_out(imgate_get_u16(frame + 8), imgate_get_u16(frame + 10), len);
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
    /* An empty body passes no buffer at all (nothing of `small` is read then). */
    int rc = conn_send(c, service_id, command_id, seq, len ? buf : NULL, len);
    if (buf != small)
        free(buf);
    return rc;
}

void conn_kick(conn *c, uint32_t reason)
{
    IM__Login__IMKickUser kick = IM__LOGIN__IMKICK_USER__INIT;
    kick.user_id = c->user_id;
    kick.kick_reason = (IM__BaseDefine__KickReasonType)reason;
    conn_send_message(c, SID_LOGIN, CID_LOGIN_KICK_USER, 0, &kick.base);
    log_info("event=kick conn=%llu user=%u client_type=%u reason=%u", (unsigned long long)c->id, c->user_id,
             c->client_type, reason);
    metrics_add("imgate_kicks_total", reason == KICK_REASON_DUPLICATE_USER ? "reason=\"duplicate\"" : "reason=\"mobile_kick\"", 1);
    c->kicked = 1;
    c->kicked_ms = now_ms();
    run_hooks(c, offsetof(imgate_instance, kick_hook));
}

uint32_t conn_max_frame(const conn *c)
{
    const config *cfg = server_cfg();
    if (c->role)
        return c->role_max_frame ? c->role_max_frame : cfg->max_frame;
    return c->logged_in ? cfg->max_frame : cfg->max_frame_prelogin;
}

static int reading_allowed(const conn *c) { return !c->closing && c->plugin_pauses == 0 && !c->blocked; }

static void update_reading(conn *c)
{
    if (reading_allowed(c))
        bufferevent_enable(c->bev, EV_READ);
    else
        bufferevent_disable(c->bev, EV_READ);
}

/* Frames everything buffered and dispatches it, until the buffer is short, the
 * connection closes, or a tracked request must wait for capacity. */
static void process_input(conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->in_dispatch++;
    while (!c->closing && reading_allowed(c)) {
        size_t avail = evbuffer_get_length(in);
        uint8_t raw[IMGATE_PDU_HEADER_LEN];
        if (avail < IMGATE_PDU_HEADER_LEN)
            break;
        evbuffer_copyout(in, raw, sizeof raw);
        imgate_pdu_header h;
        uint32_t cap = conn_max_frame(c);
        frame_status st = frame_check(raw, avail, cap, &h);
        if (st == FRAME_NEED_MORE)
            break;
        if (st != FRAME_COMPLETE) {
            log_limited(LOG_INFO, "core", "bad_frame", c->address, 20,
                        "event=bad_frame conn=%llu addr=%s reason=%s length=%u cap=%u", (unsigned long long)c->id,
                        c->address, frame_status_name(st), h.length, cap);
            conn_close(c, frame_status_name(st));
            break;
        }
        const uint8_t *frame = evbuffer_pullup(in, h.length);
        if (frame == NULL) {
            conn_close(c, "out_of_memory");
            break;
        }
        if (dispatch_frame(c, &h, frame) == DISPATCH_BLOCKED)
            break; /* the frame stays buffered until there is room for it */
        evbuffer_drain(in, h.length);
    }
    c->in_dispatch--;
    update_reading(c);
    maybe_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    c->last_recv_ms = now_ms();
    process_input(c);
}

static void on_resume(evutil_socket_t fd, short what, void *arg) { process_input(arg); }

/* Reading may go on again: process what is already buffered from a fresh stack. */
static void schedule_resume(conn *c)
{
    if (c->closing || !reading_allowed(c))
        return;
    if (c->resume_ev == NULL)
        c->resume_ev = event_new(g_server.base, -1, 0, on_resume, c);
    if (c->resume_ev)
        event_active(c->resume_ev, EV_TIMEOUT, 0);
}

/* The largest mark still watched: libevent calls on_write whenever the output is at or below it. */
static void set_write_mark(conn *c)
{
    size_t mark = 0;
    for (const conn_watch *w = c->watches; w; w = w->next)
        if (w->low_water > mark)
            mark = w->low_water;
    bufferevent_setwatermark(c->bev, EV_WRITE, mark, 0);
}

/* Runs the drain hooks whose mark the output has reached, each in its plugin's current generation. */
static void run_drain_watches(conn *c)
{
    size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));
    char due[8][65];
    int n_due = 0;
    for (conn_watch **pp = &c->watches; *pp && n_due < 8;) {
        conn_watch *w = *pp;
        if (queued > w->low_water) {
            pp = &w->next;
            continue;
        }
        snprintf(due[n_due++], sizeof due[0], "%s", w->owner);
        *pp = w->next;
        free(w);
    }
    if (n_due == 0)
        return;
    set_write_mark(c);
    generation *g = g_server.current;
    if (g == NULL)
        return;
    uint64_t id = c->id;
    generation_ref(g);
    c->in_dispatch++; /* a hook may close it: free it here, not under the hook */
    for (int i = 0; i < n_due && !c->closing; i++) {
        imgate_instance *inst = generation_instance(g, due[i]);
        if (inst == NULL || inst->drain_hook == NULL)
            continue; /* the plugin is gone, or no longer watches */
        imgate_conn_info info;
        describe(c, &info);
        inst->drain_hook(inst->state, &info);
    }
    c->in_dispatch--;
    generation_unref(g);
    if (conn_find(id) == c)
        maybe_free(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->closing)
        maybe_free(c);
    else if (c->watches)
        run_drain_watches(c);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (!c->closing && c->watches)
        run_drain_watches(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (!c->closing) {
            c->closing = 1;
            c->close_reason = (what & BEV_EVENT_EOF) ? "peer_closed" : "io_error";
            metrics_inc(closes_counter(c->close_reason), 1);
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
    if (m_connections == NULL) {
        m_connections = metrics_gauge("imgate_connections", "");
        m_accepted = metrics_counter("imgate_connections_accepted_total", "");
        m_refused = metrics_counter("imgate_connections_refused_total", "");
    }
    if (g_server.shutting_down || n_conns >= server_cfg()->max_connections || !server_client_fits()) {
        metrics_inc(m_refused, 1);
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
    c->id = ++next_conn_id;
    format_address(addr, c->address, sizeof c->address);
    c->accepted_ms = c->last_recv_ms = now_ms();
    if (u64map_put(&conns, c->id, c) != 0) {
        bufferevent_free(c->bev);
        free(c);
        return;
    }
    n_conns++;
    metrics_inc(m_accepted, 1);
    metrics_gauge_set(m_connections, n_conns);
    if (m_output_total == NULL)
        m_output_total = metrics_gauge("imgate_output_queued_bytes", "");
    c->output_watch = evbuffer_add_cb(bufferevent_get_output(c->bev), on_output_change, c);
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
    while (u64map_next(&conns, &pos, NULL, &v)) {
        conn *c = v;
        c->rate_count = 0;
        if (c->closing)
            continue;
        if (c->kicked) {
            /* The reference never closes a kicked connection; clients that treat a close
             * as a network drop reconnect and kick back. It goes only after a long linger. */
            if (now - c->kicked_ms >= cfg->kick_linger_ms)
                conn_close(c, "kicked");
            else if (now - c->last_recv_ms >= cfg->idle_timeout_mobile_ms)
                conn_close(c, "idle_timeout");
            continue;
        }
        if (!c->logged_in && !c->role) {
            if (now - c->accepted_ms >= cfg->login_timeout_ms) {
                log_limited(LOG_INFO, "core", "login_timeout", NULL, 20, "event=login_timeout conn=%llu addr=%s",
                            (unsigned long long)c->id, c->address);
                conn_close(c, "login_timeout");
            }
            continue;
        }
        uint32_t idle;
        if (c->role)
            idle = c->role_idle_ms ? c->role_idle_ms : cfg->idle_timeout_pc_ms;
        else
            idle = imgate_client_class(c->client_type) == IMGATE_CLASS_MOBILE ? cfg->idle_timeout_mobile_ms
                                                                              : cfg->idle_timeout_pc_ms;
        if (now - c->last_recv_ms >= idle) {
            log_limited(LOG_INFO, "core", "idle_timeout", NULL, 20, "event=idle_timeout conn=%llu user=%u role=%u addr=%s",
                        (unsigned long long)c->id, c->user_id, c->role, c->address);
            conn_close(c, "idle_timeout");
        }
    }
}

void conn_close_all(const char *reason)
{
    /* Collect first: conn_free edits the map we would be walking. */
    size_t n = conns.len, i = 0, pos = 0;
    conn **list = calloc(n + 1, sizeof *list);
    void *v;
    if (list == NULL)
        return;
    while (u64map_next(&conns, &pos, NULL, &v) && i < n)
        list[i++] = v;
    for (size_t k = 0; k < i; k++) {
        list[k]->closing = 1;
        list[k]->close_reason = reason;
        conn_free(list[k]);
    }
    free(list);
    u64map_free(&conns);
    free(waiters);
    waiters = NULL;
    n_waiters = cap_waiters = 0;
}

/* --- roles and data slots --------------------------------------------------------------------- */

int conn_authorize(conn *c, const char *owner, const imgate_role *role)
{
    if (c->closing || c->kicked)
        return IMGATE_ENOCONN;
    if (c->logged_in || c->role)
        return IMGATE_ESTATE;
    if (role == NULL || role->role == 0)
        return IMGATE_EINVAL;
    c->role = role->role;
    snprintf(c->role_owner, sizeof c->role_owner, "%s", owner);
    c->role_max_frame = role->max_frame;
    c->role_idle_ms = role->idle_timeout_ms;
    c->role_max_output = role->max_output;
    c->last_recv_ms = now_ms();
    log_debug("event=conn_authorized conn=%llu owner=%s role=%u", (unsigned long long)c->id, owner, role->role);
    return IMGATE_OK;
}

int conn_has_data(const conn *c, const char *owner)
{
    for (const conn_slot *s = c->slots; s; s = s->next)
        if (strcmp(s->owner, owner) == 0)
            return 1;
    return 0;
}

void *conn_data(conn *c, const char *owner, size_t size)
{
    for (conn_slot *s = c->slots; s; s = s->next) {
        if (strcmp(s->owner, owner) != 0)
            continue;
        if (size > s->size) {
            uint8_t *grown = realloc(s->data, size);
            if (grown == NULL)
                return NULL;
            memset(grown + s->size, 0, size - s->size);
            s->data = grown;
            s->size = size;
        }
        return s->data;
    }
    conn_slot *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->data = calloc(1, size ? size : 1);
    if (s->data == NULL) {
        free(s);
        return NULL;
    }
    snprintf(s->owner, sizeof s->owner, "%s", owner);
    s->size = size;
    s->next = c->slots;
    c->slots = s;
    return s->data;
}

int conn_watch_drain(conn *c, const char *owner, size_t low_water)
{
    if (c->closing)
        return IMGATE_ENOCONN;
    conn_watch *w = c->watches;
    while (w && strcmp(w->owner, owner) != 0)
        w = w->next;
    if (w == NULL) {
        w = calloc(1, sizeof *w);
        if (w == NULL)
            return IMGATE_ENOMEM;
        snprintf(w->owner, sizeof w->owner, "%s", owner);
        w->next = c->watches;
        c->watches = w;
    }
    w->low_water = low_water;
    set_write_mark(c);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= low_water) {
        /* No write will come to say so: look again from a fresh stack. */
        if (c->drain_ev == NULL)
            c->drain_ev = event_new(g_server.base, -1, 0, on_drain_check, c);
        if (c->drain_ev == NULL)
            return IMGATE_ENOMEM;
        event_active(c->drain_ev, EV_TIMEOUT, 0);
    }
    return IMGATE_OK;
}

/* --- flow control ------------------------------------------------------------------------------ */

void conn_pause(conn *c)
{
    c->plugin_pauses++;
    update_reading(c);
}

void conn_resume(conn *c)
{
    if (c->plugin_pauses == 0)
        return;
    if (--c->plugin_pauses == 0)
        schedule_resume(c);
}

int conn_inflight_room(conn *c)
{
    const config *cfg = server_cfg();
    if (c->inflight >= cfg->max_inflight_per_conn) {
        c->blocked = 1;
        metrics_add("imgate_backpressure_total", "scope=\"connection\"", 1);
        return 0;
    }
    if (inflight_total >= cfg->max_inflight) {
        c->blocked = 1;
        metrics_add("imgate_backpressure_total", "scope=\"node\"", 1);
        if (!c->waiting_global) {
            if (n_waiters == cap_waiters) {
                size_t ncap = cap_waiters ? cap_waiters * 2 : 64;
                uint64_t *n = realloc(waiters, ncap * sizeof *n);
                if (n == NULL)
                    return 0; /* it stays blocked until its own requests finish */
                waiters = n;
                cap_waiters = ncap;
            }
            waiters[n_waiters++] = c->id;
            c->waiting_global = 1;
        }
        return 0;
    }
    return 1;
}

void conn_inflight_begin(conn *c)
{
    c->inflight++;
    inflight_total++;
}

static void unblock(conn *c)
{
    if (!c->blocked)
        return;
    c->blocked = 0;
    schedule_resume(c);
}

void conn_inflight_end(uint64_t conn_id)
{
    if (inflight_total > 0)
        inflight_total--;
    conn *c = conn_find(conn_id);
    if (c != NULL && c->inflight > 0) {
        c->inflight--;
        if (!c->waiting_global)
            unblock(c);
    }
    /* Room on the node: wake the oldest waiter (it re-checks its own cap). */
    const config *cfg = server_cfg();
    while (n_waiters > 0 && inflight_total < cfg->max_inflight) {
        uint64_t id = waiters[0];
        memmove(&waiters[0], &waiters[1], (n_waiters - 1) * sizeof *waiters);
        n_waiters--;
        conn *w = conn_find(id);
        if (w == NULL)
            continue;
        w->waiting_global = 0;
        unblock(w);
        break;
    }
}
