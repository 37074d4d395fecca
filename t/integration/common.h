/*
 * common.h — small helpers shared by the integration tests (header-only).
 */
#ifndef IMGATE_T_COMMON_H
#define IMGATE_T_COMMON_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "IM.Login.pb-c.h"
#include "example.pb-c.h"
#include "example_ids.h"
#include "harness.h"
#include "imgate/teamtalk.h"
#include "imgate_client.h"
#include "imgate_http.h"
#include "tap.h"


static inline long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Asks the example plugin for its greeting; returns a malloc'd copy or NULL. */
static inline char *example_greeting(imgate_client *c, char **version_out)
{
    Imgate__Example__ExampleReq req = IMGATE__EXAMPLE__EXAMPLE_REQ__INIT;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, EXAMPLE_SERVICE, EXAMPLE_CMD_REQ, &req.base, EXAMPLE_CMD_RSP, &pdu, 5000) != 0)
        return NULL;
    Imgate__Example__ExampleRsp *rsp = imgate__example__example_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    if (rsp == NULL)
        return NULL;
    char *g = strdup(rsp->greeting);
    if (version_out)
        *version_out = strdup(rsp->version);
    imgate__example__example_rsp__free_unpacked(rsp, NULL);
    return g;
}

/* GET path on the node's HTTP port; returns the body (caller frees) and the status. */
static inline char *http_get(harness *h, int node, const char *path, int *status)
{
    char *body = NULL;
    *status = 0;
    if (imgate_http_get("127.0.0.1", harness_node_http_port(h, node), path, status, &body, 5000) != 0)
        return NULL;
    return body;
}

/* 1 when a heartbeat on `c` is echoed within 3 s: the connection is open and served. */
static inline int heartbeat_ok(imgate_client *c)
{
    uint16_t seq;
    imgate_client_pdu pdu;
    if (imgate_client_send(c, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, &seq) != 0 || imgate_client_wait(c, CID_OTHER_HEARTBEAT, seq, &pdu, 3000) != 0)
        return 0;
    imgate_client_pdu_free(&pdu);
    return 1;
}

/* Waits for IMKickUser for `uid` (a push: seq 0); returns its reason, or -1. */
static inline int wait_kick(imgate_client *c, uint32_t uid)
{
    imgate_client_pdu pdu;
    if (imgate_client_wait(c, CID_LOGIN_KICK_USER, -1, &pdu, 3000) != 0)
        return -1;
    IM__Login__IMKickUser *k = im__login__imkick_user__unpack(NULL, pdu.body_len, pdu.body);
    int reason = (k && k->user_id == uid && pdu.h.seq_num == 0) ? (int)k->kick_reason : -1;
    if (k)
        im__login__imkick_user__free_unpacked(k, NULL);
    imgate_client_pdu_free(&pdu);
    return reason;
}

/* Polls the node's log for `needle` for up to timeout_ms. */
static inline int wait_log(harness *h, int node, const char *needle, int timeout_ms)
{
    long long end = mono_ms() + timeout_ms;
    do {
        if (harness_node_log_contains(h, node, needle))
            return 1;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    } while (mono_ms() < end);
    return 0;
}

#endif
