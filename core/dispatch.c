/* dispatch.c — see dispatch.h. */
#include "dispatch.h"

#include <stdio.h>
#include <string.h>

#include "generation.h"
#include "imgate/teamtalk.h"
#include "log.h"
#include "metrics.h"
#include "pb_request.h"
#include "pdu_metrics.h"
#include "server.h"

/* imgate_requests_refused_total{reason}: the handles are kept, refusals can come in floods. */
enum { R_KICKED, R_ROLE_GATE, R_AUTH_GATE, R_MSG_RATE, R_COUNT };
static const char *const refusal_names[R_COUNT] = {"kicked", "role_gate", "auth_gate", "msg_rate"};
static metric_series *refusals[R_COUNT];
static metric_series *unknown_commands;

static void refuse(int why)
{
    if (refusals[why] == NULL) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"", refusal_names[why]);
        refusals[why] = metrics_counter("imgate_requests_refused_total", labels);
    }
    metrics_inc(refusals[why], 1);
}

/* Runs the handler with the request (and, for typed handlers, its decoded body). */
static void invoke(conn *c, const handler_entry *e, const imgate_pdu_header *h, const uint8_t *body, size_t body_len)
{
    imgate_request req = {
        .conn_id = c->id,
        .service_id = h->service_id,
        .command_id = h->command_id,
        .seq_num = h->seq_num,
        .user_id = c->logged_in ? c->user_id : 0,
        .client_type = c->logged_in ? c->client_type : 0,
        .body = body,
        .body_len = body_len,
        .self = e->inst,
        .flags = e->flags,
    };
    generation *g = e->inst->gen;
    generation_ref(g);
    if (e->fn != NULL) {
        if (e->flags & IMGATE_HANDLER_TRACKED)
            conn_inflight_begin(c);
        e->fn(e->inst->state, &req);
        generation_unref(g);
        return;
    }
    pb_arena arena;
    pb_arena_init(&arena);
    const ProtobufCMessage *msg = NULL;
    if (e->request != NULL) {
        msg = pb_request_decode(e->request, body, body_len, &arena);
        if (msg == NULL) {
            metrics_inc(e->malformed, 1);
            log_limited(LOG_INFO, "core", "malformed_request", c->address, 20,
                        "event=malformed_request conn=%llu user=%u addr=%s service=0x%04x command=0x%04x len=%zu",
                        (unsigned long long)c->id, req.user_id, c->address, h->service_id, h->command_id, body_len);
            /* Nothing was counted in flight for it: its handle must not end another request. */
            req.flags &= ~(uint32_t)IMGATE_HANDLER_TRACKED;
            if (e->on_malformed)
                e->on_malformed(e->inst->state, &req);
            pb_arena_release(&arena);
            generation_unref(g);
            return;
        }
    }
    req.body_msg = msg;
    if (e->flags & IMGATE_HANDLER_TRACKED)
        conn_inflight_begin(c);
    e->typed(e->inst->state, &req, msg);
    pb_arena_release(&arena);
    generation_unref(g);
}

dispatch_result dispatch_frame(conn *c, const imgate_pdu_header *h, const uint8_t *frame)
{
    const uint8_t *body = frame + IMGATE_PDU_HEADER_LEN;
    size_t body_len = h->length - IMGATE_PDU_HEADER_LEN;
    generation *g = g_server.current;
    const handler_entry *e = generation_handler(g, h->service_id, h->command_id);
    int is_heartbeat = h->service_id == SID_OTHER && h->command_id == CID_OTHER_HEARTBEAT;

    if (is_heartbeat) {
        /* The reference echoes the heartbeat PDU unchanged, header included, on every kind of
         * connection (a kicked one too: the client keeps it alive until it goes itself). */
        pdu_metrics_in(h->service_id, h->command_id, h->length);
        conn_send_frame(c, frame, h->length);
        return DISPATCH_DONE;
    }
    /* Per-command series only for commands something handles: arbitrary ids from
     * clients must not grow /metrics without bound. */
    if (e != NULL)
        pdu_metrics_in(h->service_id, h->command_id, h->length);
    else
        pdu_metrics_in_bytes(h->length);

    if (c->kicked) {
        refuse(R_KICKED);
        return DISPATCH_DONE;
    }
    if (c->role) {
        /* A connection with a role reaches its owner's role-only handlers and nothing else. */
        if (e == NULL || !(e->flags & IMGATE_HANDLER_ROLE_ONLY) || strcmp(e->inst->name, c->role_owner) != 0) {
            refuse(R_ROLE_GATE);
            log_limited(LOG_INFO, "core", "role_gate", c->address, 20,
                        "event=role_gate conn=%llu addr=%s role=%u owner=%s service=0x%04x command=0x%04x",
                        (unsigned long long)c->id, c->address, c->role, c->role_owner, h->service_id, h->command_id);
            conn_close(c, "role_gate");
            return DISPATCH_DONE;
        }
    } else if (!c->logged_in) {
        int is_login = h->service_id == SID_LOGIN && h->command_id == CID_LOGIN_REQ_USERLOGIN;
        if (!is_login && !(e && (e->flags & IMGATE_HANDLER_PRE_LOGIN))) {
            /* The reference forwards such requests with user id 0 (protocol J.1); we refuse them. */
            refuse(R_AUTH_GATE);
            log_limited(LOG_INFO, "core", "auth_gate", c->address, 20,
                        "event=auth_gate conn=%llu addr=%s service=0x%04x command=0x%04x", (unsigned long long)c->id,
                        c->address, h->service_id, h->command_id);
            conn_close(c, "auth_gate");
            return DISPATCH_DONE;
        }
    } else if (e != NULL && (e->flags & IMGATE_HANDLER_ROLE_ONLY)) {
        e = NULL; /* role commands mean nothing on a user's connection */
    }
    if (e == NULL) {
        if (unknown_commands == NULL)
            unknown_commands = metrics_counter("imgate_unknown_commands_total", "");
        metrics_inc(unknown_commands, 1);
        log_limited(LOG_INFO, "core", "unknown_command", c->address, 20,
                    "event=unknown_command conn=%llu user=%u addr=%s service=0x%04x command=0x%04x len=%u",
                    (unsigned long long)c->id, c->user_id, c->address, h->service_id, h->command_id, h->length);
        return DISPATCH_DONE;
    }
    if ((e->flags & IMGATE_HANDLER_RATE_LIMITED) && ++c->rate_count > server_cfg()->msg_rate_per_second) {
        refuse(R_MSG_RATE);
        return DISPATCH_DONE;
    }
    if ((e->flags & IMGATE_HANDLER_TRACKED) && !conn_inflight_room(c)) {
        if (e->flags & IMGATE_HANDLER_RATE_LIMITED)
            c->rate_count--; /* it is not consumed yet: it comes back when there is room */
        return DISPATCH_BLOCKED;
    }
    invoke(c, e, h, body, body_len);
    return DISPATCH_DONE;
}
