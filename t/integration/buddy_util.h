/*
 * buddy_util.h — what the buddy plugin's tests share: users and departments
 * written straight into MySQL, the buddy requests as a client sends them, the
 * pages of a paged reply, and waiting for (or for the absence of) a push.
 */
#ifndef IMGATE_T_BUDDY_UTIL_H
#define IMGATE_T_BUDDY_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "IM.Buddy.pb-c.h"
#include "imgate/teamtalk.h"
#include "login_util.h"

/* attach_data of every page of a paged reply but the last (plugins/buddy/paged_sync.h). */
#define BUDDY_PAGE_MORE "imgate-more"

/* Runs SQL built like printf; bails out when MariaDB refuses it. */
static inline void sqlf(harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void sqlf(harness *h, const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    char out[256];
    if (harness_sql(h, sql, out, sizeof out) != 0)
        tap_bail("SQL failed: %s", sql);
}

/* The first column of the first row of a query, as a number (-1 when none). */
static inline long long sql_num(harness *h, const char *sql)
{
    char out[64] = "";
    if (harness_sql(h, sql, out, sizeof out) != 0 || out[0] == '\0')
        return -1;
    return atoll(out);
}

/* A user with the reference password form, in department `dept`, changed at `updated`. */
static inline void buddy_add_user(harness *h, unsigned id, const char *name, unsigned dept, int status,
                                  unsigned updated)
{
    sqlf(h,
         "INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId, status,"
         " created, updated, push_shield_status, sign_info) VALUES (%u, 1, '%s', '%s_dom', 'Nick %s',"
         " MD5(CONCAT(MD5('%s123'), '4321')), '4321', '139%08u', '%s@example.com', 'http://av/%s.png', %u, %d,"
         " 1600000000, %u, 0, 'sign of %s')",
         id, name, name, name, name, id, name, name, dept, status, updated, name);
}

static inline void buddy_add_department(harness *h, unsigned id, const char *name, unsigned parent, unsigned updated)
{
    sqlf(h,
         "INSERT INTO IMDepart (id, departName, priority, parentId, status, created, updated) VALUES (%u, '%s', %u, %u,"
         " 0, 1600000000, %u)",
         id, name, id, parent, updated);
}

/* Logs in `name` (password NAME123, as buddy_add_user stores it); bails out on failure. */
static inline imgate_client *buddy_login(harness *h, int node, const char *name, uint32_t client_type)
{
    imgate_client *c = harness_connect(h, node);
    char pw[64];
    snprintf(pw, sizeof pw, "%s123", name);
    if (c == NULL || !login_ok(c, name, pw, client_type))
        tap_bail("cannot log in as %s", name);
    return c;
}

/* Sends `req` and waits for `rsp_cid` with its seq; the unpacked reply or NULL. */
static inline imgate_client_pdu *buddy_call_pdu(imgate_client *c, uint16_t cid, const ProtobufCMessage *req,
                                                uint16_t rsp_cid, int timeout_ms)
{
    static imgate_client_pdu pdu;
    imgate_client_pdu_free(&pdu);
    if (imgate_client_call(c, SID_BUDDY_LIST, cid, req, rsp_cid, &pdu, timeout_ms) != 0)
        return NULL;
    return &pdu;
}

/* All the pages of one paged reply (IMAllUserRsp or IMDepartmentRsp): the raw PDUs in order. */
typedef struct buddy_pages {
    imgate_client_pdu pdu[64];
    size_t n;
    int complete; /* the last page (no PAGE_MORE marker) arrived */
} buddy_pages;

static inline int buddy_marker_more(protobuf_c_boolean has, ProtobufCBinaryData d)
{
    return has && d.len == strlen(BUDDY_PAGE_MORE) && memcmp(d.data, BUDDY_PAGE_MORE, d.len) == 0;
}

static inline void buddy_pages_free(buddy_pages *p)
{
    for (size_t i = 0; i < p->n; i++)
        imgate_client_pdu_free(&p->pdu[i]);
    p->n = 0;
}

/* Sends an IMAllUserReq from `since` and collects its pages. */
static inline void buddy_all_users(imgate_client *c, uint32_t since, buddy_pages *out)
{
    memset(out, 0, sizeof *out);
    IM__Buddy__IMAllUserReq req = IM__BUDDY__IMALL_USER_REQ__INIT;
    req.latest_update_time = since;
    uint16_t seq;
    if (imgate_client_send_msg(c, SID_BUDDY_LIST, CID_BUDDY_LIST_ALL_USER_REQUEST, &req.base, &seq) != 0)
        return;
    while (out->n < 64) {
        imgate_client_pdu *p = &out->pdu[out->n];
        if (imgate_client_wait(c, CID_BUDDY_LIST_ALL_USER_RESPONSE, seq, p, 20000) != 0)
            return;
        out->n++;
        IM__Buddy__IMAllUserRsp *rsp = im__buddy__imall_user_rsp__unpack(NULL, p->body_len, p->body);
        if (rsp == NULL)
            return;
        int more = buddy_marker_more(rsp->has_attach_data, rsp->attach_data);
        im__buddy__imall_user_rsp__free_unpacked(rsp, NULL);
        if (!more) {
            out->complete = 1;
            return;
        }
    }
}

/* Waits up to timeout_ms for a push `cid` (seq 0); its PDU in *out. 1 when one came. */
static inline int buddy_wait_push(imgate_client *c, uint16_t cid, imgate_client_pdu *out, int timeout_ms)
{
    return imgate_client_wait(c, cid, 0, out, timeout_ms) == 0;
}

/* An IMUserStatNotify push about `uid`, if one arrives within timeout_ms: its status, else -1.
 * Notifies about other users are skipped. */
static inline int buddy_wait_stat(imgate_client *c, uint32_t uid, int timeout_ms)
{
    long long end = mono_ms() + timeout_ms;
    for (;;) {
        long long left = end - mono_ms();
        if (left < 0)
            return -1;
        imgate_client_pdu pdu;
        if (imgate_client_wait(c, CID_BUDDY_LIST_STATUS_NOTIFY, 0, &pdu, (int)left) != 0)
            return -1;
        IM__Buddy__IMUserStatNotify *n = im__buddy__imuser_stat_notify__unpack(NULL, pdu.body_len, pdu.body);
        imgate_client_pdu_free(&pdu);
        int status = -1;
        if (n && n->user_stat && n->user_stat->user_id == uid)
            status = (int)n->user_stat->status;
        if (n)
            im__buddy__imuser_stat_notify__free_unpacked(n, NULL);
        if (status >= 0)
            return status;
    }
}

/* Drops every PDU already received or arriving within timeout_ms. */
static inline void buddy_drain(imgate_client *c, int timeout_ms)
{
    imgate_client_pdu pdu;
    while (imgate_client_recv(c, &pdu, timeout_ms) == 0)
        imgate_client_pdu_free(&pdu);
}

/* The value of a plugin counter in /metrics (imgate_plugin_<name>_total{plugin="buddy"}), or -1. */
static inline long long buddy_metric(harness *h, int node, const char *name)
{
    int status;
    char *body = http_get(h, node, "/metrics", &status);
    if (body == NULL)
        return -1;
    char needle[160];
    snprintf(needle, sizeof needle, "imgate_plugin_%s_total{plugin=\"buddy\"} ", name);
    char *p = strstr(body, needle);
    long long v = p ? atoll(p + strlen(needle)) : -1;
    free(body);
    return v;
}

#endif
