/*
 * sessions.c — the core's session services, driven through the test-only
 * testkit plugin (t/plugins/testkit.c): the kick rules of protocol H.3, a kicked
 * connection accepting nothing, close hooks, the per-connection CID_MSG_DATA
 * rate limit, the PC and mobile idle timeouts, the output cap for a client
 * that does not read, a generation kept loaded past its reload drain
 * deadline while a job of it still runs, and the in-flight cap of tracked
 * requests when a malformed one is ended by its plugin.
 */
#include <signal.h>
#include <stdio.h>

#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"
#include "common.h"
#include "testkit_ids.h"
#include "imgate/teamtalk.h"

#define PC_WINDOWS CLIENT_TYPE_WINDOWS
#define PC_MAC CLIENT_TYPE_MAC
#define MOBILE_ANDROID CLIENT_TYPE_ANDROID

static harness *h;

/* Logs `c` in as user `uid` with `client_type`; returns how many were kicked, -1 on failure. */
static int bind_user(imgate_client *c, uint32_t uid, uint32_t client_type)
{
    char name[16];
    snprintf(name, sizeof name, "%u", uid);
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = name;
    req.password = (char *)"";
    req.online_status = IM__BASE_DEFINE__USER_STAT_TYPE__USER_STATUS_ONLINE;
    req.client_type = (IM__BaseDefine__ClientType)client_type;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, TESTKIT_SERVICE, TK_BIND, &req.base, TK_BIND_RSP, &pdu, 5000) != 0)
        return -1;
    IM__Login__IMLoginRes *res = im__login__imlogin_res__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int kicked = res ? (int)res->result_code : -1;
    if (res)
        im__login__imlogin_res__free_unpacked(res, NULL);
    return kicked;
}

/* 1 when a CID_MSG_DATA on `c` is acked within 800 ms: the connection is served. */
static int msg_acked(imgate_client *c)
{
    IM__Message__IMMsgData msg = IM__MESSAGE__IMMSG_DATA__INIT;
    msg.msg_type = IM__BASE_DEFINE__MSG_TYPE__MSG_TYPE_SINGLE_TEXT;
    uint16_t seq;
    imgate_client_pdu pdu;
    if (imgate_client_send_msg(c, SID_MSG, CID_MSG_DATA, &msg.base, &seq) != 0 || imgate_client_wait(c, CID_MSG_DATA_ACK, seq, &pdu, 800) != 0)
        return 0;
    imgate_client_pdu_free(&pdu);
    return 1;
}

static void test_kick_rules(void)
{
    imgate_client *pc1 = harness_connect(h, 0), *pc2 = harness_connect(h, 0), *mobile = harness_connect(h, 0);
    tap_is_int(bind_user(pc1, 1001, PC_WINDOWS), 0, "first PC login kicks nobody");
    tap_is_int(bind_user(mobile, 1001, MOBILE_ANDROID), 0, "PC + mobile: nobody kicked");
    tap_ok(heartbeat_ok(pc1) && heartbeat_ok(mobile), "both stay usable");

    long long t0 = mono_ms();
    tap_is_int(bind_user(pc2, 1001, PC_MAC), 1, "a second PC login (Mac after Windows) kicks one connection");
    tap_is_int(wait_kick(pc1, 1001), 1, "the older PC gets IMKickUser reason 1 (duplicate), seq 0");
    tap_ok(!msg_acked(pc1), "the kicked connection is served nothing more");
    tap_ok(heartbeat_ok(pc1), "but its heartbeats are still echoed: a client ignoring the kick is not cut off");
    tap_is_int(imgate_client_wait_closed(pc1, 3000), IMGATE_CLIENT_CLOSED, "it is closed after the kick linger");
    tap_ok(mono_ms() - t0 >= 400, "not before the linger (%lld ms)", mono_ms() - t0);
    tap_ok(heartbeat_ok(pc2) && heartbeat_ok(mobile), "the new PC and the mobile stay");

    /* The mobile kicks its PC (what CID_LOGIN_REQ_KICKPCCLIENT does). */
    uint16_t seq;
    imgate_client_send(mobile, TESTKIT_SERVICE, TK_KICK_PC, NULL, 0, &seq);
    tap_is_int(wait_kick(pc2, 1001), 2, "session_kick: the PC gets reason 2 (mobile kick)");
    tap_is_int(imgate_client_wait_closed(pc2, 3000), IMGATE_CLIENT_CLOSED, "and is closed");
    tap_ok(heartbeat_ok(mobile), "the mobile stays");

    imgate_client *other = harness_connect(h, 0);
    tap_is_int(bind_user(other, 1002, PC_WINDOWS), 0, "another user's PC login kicks nobody");
    imgate_client_close(other);
    imgate_client_close(pc1);
    imgate_client_close(pc2);
    imgate_client_close(mobile);

    int status;
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    char *m = http_get(h, 0, "/metrics", &status);
    tap_ok(m && strstr(m, "imgate_plugin_closed_kicked_total{plugin=\"testkit\"} 2"),
           "close hooks saw both kicked connections");
    tap_ok(m && strstr(m, "imgate_kicks_total{reason=\"duplicate\"} 1"), "kicks counted by reason");
    free(m);
}

static void test_unknown_after_login(void)
{
    imgate_client *c = harness_connect(h, 0);
    bind_user(c, 1500, PC_WINDOWS);
    uint16_t seq;
    imgate_client_send(c, 0x0999, 0x0001, "junk", 4, &seq);
    imgate_client_send(c, SID_BUDDY_LIST, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, NULL, 0, &seq); /* a real TeamTalk id no plugin here handles */
    tap_ok(heartbeat_ok(c), "unknown commands after login are not fatal");
    int status;
    char *m = http_get(h, 0, "/metrics", &status);
    tap_ok(m && strstr(m, "imgate_unknown_commands_total 2"), "and are counted");
    free(m);
    tap_ok(wait_log(h, 0, "event=unknown_command", 2000), "and logged");
    imgate_client_close(c);
}

static void test_msg_rate(void)
{
    imgate_client *c = harness_connect(h, 0);
    bind_user(c, 2001, PC_WINDOWS);
    IM__Message__IMMsgData msg = IM__MESSAGE__IMMSG_DATA__INIT;
    msg.from_user_id = 2001;
    msg.to_session_id = 2002;
    msg.msg_type = IM__BASE_DEFINE__MSG_TYPE__MSG_TYPE_SINGLE_TEXT;
    msg.msg_data.data = (uint8_t *)"hi";
    msg.msg_data.len = 2;
    for (int i = 0; i < 60; i++) {
        uint16_t seq;
        imgate_client_send_msg(c, SID_MSG, CID_MSG_DATA, &msg.base, &seq);
    }
    int acks = 0;
    imgate_client_pdu pdu;
    while (imgate_client_wait(c, CID_MSG_DATA_ACK, -1, &pdu, 1500) == 0) {
        acks++;
        imgate_client_pdu_free(&pdu);
    }
    /* 20 per one-second window; a burst can straddle two windows. */
    tap_ok(acks >= 20 && acks <= 40, "60 messages in a burst: %d accepted (limit 20/s per connection)", acks);
    tap_ok(heartbeat_ok(c), "the sender stays connected");
    imgate_client_close(c);
}

static void test_idle_timeouts(void)
{
    imgate_client *pc = harness_connect(h, 0), *mobile = harness_connect(h, 0);
    bind_user(pc, 3001, PC_WINDOWS);
    bind_user(mobile, 3002, MOBILE_ANDROID);
    long long t0 = mono_ms();
    int rc = imgate_client_wait_closed(pc, 5000);
    long long pc_ms = mono_ms() - t0;
    tap_is_int(rc, IMGATE_CLIENT_CLOSED, "a silent PC connection is closed");
    tap_ok(pc_ms >= 1400 && pc_ms <= 3500, "at the PC idle timeout of 1.5 s (%lld ms)", pc_ms);
    rc = imgate_client_wait_closed(mobile, 6000);
    long long mobile_ms = mono_ms() - t0;
    tap_is_int(rc, IMGATE_CLIENT_CLOSED, "a silent mobile connection is closed too");
    tap_ok(mobile_ms >= 2900 && mobile_ms <= 5500, "at the longer mobile idle timeout of 3 s (%lld ms)", mobile_ms);
    imgate_client_close(pc);
    imgate_client_close(mobile);

    /* Traffic keeps a connection alive past the timeout. */
    imgate_client *busy = harness_connect(h, 0);
    bind_user(busy, 3003, PC_WINDOWS);
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        struct timespec ts = {0, 500 * 1000000};
        nanosleep(&ts, NULL);
        ok &= heartbeat_ok(busy);
    }
    tap_ok(ok, "a PC sending heartbeats every 0.5 s outlives the 1.5 s idle timeout");
    imgate_client_close(busy);
}

static void test_output_cap(void)
{
    imgate_client *slow = harness_connect(h, 0);
    imgate_client *bystander = harness_connect(h, 0);
    /* Heartbeats are echoed body and all: a client that sends big ones and never
     * reads makes the server queue output until the 256 KiB cap cuts it off. */
    static uint8_t frame[16 * 1024];
    imgate_pdu_header hb;
    imgate_pdu_header_make(&hb, SID_OTHER, CID_OTHER_HEARTBEAT, 1, sizeof frame - 16);
    imgate_pdu_header_encode(&hb, frame);
    int sent = 0;
    long long end = mono_ms() + 20000;
    while (mono_ms() < end && sent < 4000) {
        if (imgate_client_send_raw(slow, frame, sizeof frame) != 0)
            break;
        sent++;
    }
    tap_ok(sent < 4000, "the server stopped taking data from a client that never reads (after %d frames)", sent);
    int status;
    char *m = http_get(h, 0, "/metrics", &status);
    tap_ok(m && strstr(m, "imgate_closes_total{reason=\"output_overflow\"} 1"),
           "it was disconnected for exceeding the output cap");
    free(m);
    tap_ok(heartbeat_ok(bystander), "other connections are unaffected");
    imgate_client_close(slow);
    imgate_client_close(bystander);
}

static void test_drain_deadline(void)
{
    imgate_client *c = harness_connect(h, 0);
    uint16_t seq;
    imgate_client_send(c, TESTKIT_SERVICE, TK_SLOW, NULL, 0, &seq); /* a 2 s job in generation 1 */
    struct timespec ts = {0, 200 * 1000000};
    nanosleep(&ts, NULL);
    harness_node_signal(h, 0, SIGHUP);
    tap_ok(wait_log(h, 0, "reload gen=2 status=done", 5000), "reload while a job of generation 1 runs");
    tap_ok(wait_log(h, 0, "event=generation_leaked gen=1", 3000),
           "past the 0.5 s drain deadline the busy generation is reported, not unloaded");
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, TK_SLOW_RSP, seq, &pdu, 5000), IMGATE_CLIENT_OK,
               "the job completes in its old code and answers");
    imgate_client_pdu_free(&pdu);
    tap_ok(wait_log(h, 0, "event=generation_freed gen=1 late=1", 3000), "then generation 1 is freed");
    tap_ok(heartbeat_ok(c), "the daemon is fine");
    imgate_client_close(c);
}

/* The testkit counter `name` on node `node` (0 when absent). */
static long metric(int node, const char *name)
{
    int status;
    char *m = http_get(h, node, "/metrics", &status);
    char needle[128];
    snprintf(needle, sizeof needle, "imgate_plugin_%s_total{plugin=\"testkit\"} ", name);
    const char *at = m ? strstr(m, needle) : NULL;
    long v = at ? atol(at + strlen(needle)) : 0;
    free(m);
    return v;
}

static void test_malformed_tracked(void)
{
    /* Node 1 allows 2 tracked requests in flight per connection. A malformed request between
     * valid slow ones is ended by its plugin (request_done in on_malformed, as the SDK says of
     * every tracked request): that must not free a slot another request holds. */
    imgate_client *c = harness_connect(h, 1);
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = (char *)"x";
    req.password = (char *)"";
    req.online_status = IM__BASE_DEFINE__USER_STAT_TYPE__USER_STATUS_ONLINE;
    req.client_type = (IM__BaseDefine__ClientType)PC_WINDOWS;
    uint16_t seq[4];
    imgate_client_send_msg(c, TESTKIT_SERVICE, TK_TRACKED_JOB, &req.base, &seq[0]);
    imgate_client_send(c, TESTKIT_SERVICE, TK_TRACKED_JOB, "\xff", 1, &seq[1]);
    imgate_client_send_msg(c, TESTKIT_SERVICE, TK_TRACKED_JOB, &req.base, &seq[2]);
    imgate_client_send_msg(c, TESTKIT_SERVICE, TK_TRACKED_JOB, &req.base, &seq[3]);
    struct timespec ts = {0, 400 * 1000000};
    nanosleep(&ts, NULL);
    tap_is_int(metric(1, "tracked_started"), 2,
               "max_inflight_per_conn = 2: a malformed request ended by its plugin frees no slot of the others");
    int answered = 0;
    for (int i = 0; i < 4; i++) {
        if (i == 1)
            continue;
        imgate_client_pdu pdu;
        if (imgate_client_wait(c, TK_TRACKED_JOB_RSP, seq[i], &pdu, 5000) == IMGATE_CLIENT_OK) {
            answered++;
            imgate_client_pdu_free(&pdu);
        }
    }
    tap_is_int(answered, 3, "the three valid requests are all answered");
    tap_is_int(metric(1, "tracked_started"), 3, "the third ran once a slot was free");
    imgate_client_close(c);
}

int main(void)
{
    h = harness_start("sessions");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "testkit",
                           "[gateway]\nkick_linger_ms = 500\nidle_timeout_pc_ms = 1500\nidle_timeout_mobile_ms = 3000\n"
                           "max_output = 256k\nmax_frame_prelogin = 64k\nlogin_timeout_ms = 600000\nreload_drain_ms = 500\n") != 0)
        tap_bail("imgated did not start");
    if (harness_node_start(h, "testkit", "[gateway]\nmax_inflight_per_conn = 2\n") != 1)
        tap_bail("imgated did not start");
    test_kick_rules();
    test_unknown_after_login();
    test_msg_rate();
    test_idle_timeouts();
    test_output_cap();
    test_drain_deadline();
    test_malformed_tracked();
    harness_stop(h);
    return tap_done();
}
