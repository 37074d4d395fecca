/*
 * cluster.c — three imgated nodes sharing one MariaDB and one Redis act as
 * one service: presence of users on other nodes, deliveries and broadcasts
 * reaching their connections once each, kicks across nodes (duplicate login,
 * mobile kicks PC), /msg_server choosing the least loaded node, a node killed
 * with -9 dropping out within its TTL, and routing resuming after Redis
 * restarts. Driven through the test-only testkit plugin.
 */
#include <signal.h>
#include <stdio.h>

#include "IM.Login.pb-c.h"
#include "IM.Message.pb-c.h"
#include "common.h"
#include "imgate/plugin.h"
#include "testkit.pb-c.h"
#include "testkit_ids.h"

static harness *h;

static long long metric(int node, const char *series)
{
    int status;
    char *m = http_get(h, node, "/metrics", &status);
    char want[512];
    snprintf(want, sizeof want, "\n%s", series);
    const char *p = m ? strstr(m, want) : NULL;
    long long v = p ? atoll(p + strlen(want)) : -1;
    free(m);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static imgate_client *bound(int node, uint32_t uid, uint32_t client_type)
{
    imgate_client *c = harness_connect(h, node);
    char name[16];
    snprintf(name, sizeof name, "%u", uid);
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = name;
    req.password = (char *)"";
    req.online_status = USER_STATUS_ONLINE;
    req.client_type = (IM__BaseDefine__ClientType)client_type;
    imgate_client_pdu pdu;
    if (c == NULL || imgate_client_call(c, TESTKIT_SERVICE, TK_BIND, &req.base, TK_BIND_RSP, &pdu, 5000) != 0)
        tap_bail("cannot bind user %u on node %d", uid, node);
    imgate_client_pdu_free(&pdu);
    return c;
}

/* The classes `uid` has online anywhere, as node `c` sees them (testkit's presence call). */
static long long presence_of(imgate_client *c, uint32_t uid)
{
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.n_ids = 1;
    req.ids = &uid;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, TESTKIT_SERVICE, TK_PRESENCE, &req.base, TK_PRESENCE_RSP, &pdu, 3000) != 0)
        return -1;
    Imgate__Testkit__Rsp *r = imgate__testkit__rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    long long v = r && r->n_values == 1 ? r->values[0] : -1;
    if (r)
        imgate__testkit__rsp__free_unpacked(r, NULL);
    return v;
}

/* Polls presence until it equals `want` (announcements travel through Redis). */
static int presence_becomes(imgate_client *c, uint32_t uid, long long want, int timeout_ms)
{
    long long end = mono_ms() + timeout_ms;
    do {
        if (presence_of(c, uid) == want)
            return 1;
        sleep_ms(50);
    } while (mono_ms() < end);
    return 0;
}

static int pushes_received(imgate_client *c, const char *text, int wait_ms)
{
    int n = 0;
    imgate_client_pdu pdu;
    while (imgate_client_wait(c, TK_PUSH, 0, &pdu, n ? 300 : wait_ms) == 0) {
        Imgate__Testkit__Rsp *r = imgate__testkit__rsp__unpack(NULL, pdu.body_len, pdu.body);
        n += r && r->s && strcmp(r->s, text) == 0;
        if (r)
            imgate__testkit__rsp__free_unpacked(r, NULL);
        imgate_client_pdu_free(&pdu);
    }
    return n;
}

static int deliver(imgate_client *from, uint32_t to, const char *text)
{
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.n_ids = 1;
    req.ids = &to;
    req.s = (char *)text;
    imgate_client_pdu pdu;
    int rc = imgate_client_call(from, TESTKIT_SERVICE, TK_DELIVER, &req.base, TK_DELIVER_RSP, &pdu, 3000);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    return rc;
}

static int msg_acked(imgate_client *c)
{
    IM__Message__IMMsgData msg = IM__MESSAGE__IMMSG_DATA__INIT;
    msg.msg_type = MSG_TYPE_SINGLE_TEXT;
    uint16_t seq;
    imgate_client_pdu pdu;
    if (imgate_client_send_msg(c, SID_MSG, CID_MSG_DATA, &msg.base, &seq) != 0 ||
        imgate_client_wait(c, CID_MSG_DATA_ACK, seq, &pdu, 800) != 0)
        return 0;
    imgate_client_pdu_free(&pdu);
    return 1;
}

static void wait_cluster(int nodes)
{
    long long end = mono_ms() + 10000;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < nodes; i++)
            ok &= metric(i, "imgate_cluster_nodes ") == nodes;
        if (ok || mono_ms() > end)
            break;
        sleep_ms(100);
    }
    for (int i = 0; i < nodes; i++)
        tap_is_int(metric(i, "imgate_cluster_nodes "), nodes, "node %d sees %d live nodes", i, nodes);
}

static void test_presence_and_delivery(void)
{
    imgate_client *watcher = bound(0, 600, CLIENT_TYPE_WINDOWS);
    imgate_client *pc = bound(1, 700, CLIENT_TYPE_WINDOWS);
    tap_ok(presence_becomes(watcher, 700, IMGATE_CLASS_PC, 3000), "node 0 sees user 700's PC on node 1");
    imgate_client *phone = bound(0, 700, CLIENT_TYPE_ANDROID);
    tap_ok(presence_becomes(watcher, 700, IMGATE_CLASS_PC | IMGATE_CLASS_MOBILE, 3000),
           "and its phone on node 0: both classes");

    tap_is_int(deliver(watcher, 700, "hello 700"), 0, "a delivery to 700 from node 0");
    tap_is_int(pushes_received(pc, "hello 700", 3000), 1, "reaches the PC on node 1 once");
    tap_is_int(pushes_received(phone, "hello 700", 3000), 1, "and the phone on node 0 once");
    tap_ok(metric(0, "imgate_routed_out_total{kind=\"deliver\"} ") >= 1 &&
               metric(1, "imgate_routed_in_total{kind=\"deliver\"} ") >= 1,
           "one routed message out of node 0, into node 1");

    imgate_client *far = bound(2, 702, CLIENT_TYPE_IOS);
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.s = (char *)"to everyone";
    imgate_client_pdu pdu;
    if (imgate_client_call(watcher, TESTKIT_SERVICE, TK_BROADCAST, &req.base, TK_BROADCAST_RSP, &pdu, 3000) == 0)
        imgate_client_pdu_free(&pdu);
    tap_is_int(pushes_received(far, "to everyone", 3000), 1, "a broadcast on node 0 reaches node 2 once");
    tap_is_int(pushes_received(pc, "to everyone", 3000), 1, "and node 1 once");
    tap_is_int(pushes_received(watcher, "to everyone", 500), 0, "but not the sending connection");

    imgate_client_close(pc);
    tap_ok(presence_becomes(watcher, 700, IMGATE_CLASS_MOBILE, 3000), "the PC's disconnect on node 1 is seen on node 0");
    imgate_client_close(phone);
    imgate_client_close(far);
    imgate_client_close(watcher);
}

static void test_kicks(void)
{
    imgate_client *pc1 = bound(0, 800, CLIENT_TYPE_WINDOWS);
    imgate_client *phone = bound(0, 800, CLIENT_TYPE_ANDROID);
    imgate_client *watcher = bound(2, 801, CLIENT_TYPE_WINDOWS);
    tap_ok(presence_becomes(watcher, 800, IMGATE_CLASS_PC | IMGATE_CLASS_MOBILE, 3000), "user 800 on PC and phone, node 0");
    imgate_client *pc2 = bound(1, 800, CLIENT_TYPE_MAC);
    tap_is_int(wait_kick(pc1, 800), KICK_REASON_DUPLICATE_USER, "a PC login on node 1 kicks the PC on node 0 (reason 1)");
    tap_ok(!msg_acked(pc1), "which is served nothing more");
    tap_ok(msg_acked(phone), "the phone on node 0 stays");
    tap_ok(msg_acked(pc2), "the new PC on node 1 is served");

    /* The phone kicks the PC, which is on another node. */
    imgate_client_send(phone, TESTKIT_SERVICE, TK_KICK_PC, NULL, 0, NULL);
    tap_is_int(wait_kick(pc2, 800), KICK_REASON_MOBILE_KICK, "the phone on node 0 kicks the PC on node 1 (reason 2)");
    tap_ok(presence_becomes(watcher, 800, IMGATE_CLASS_MOBILE, 3000), "and everyone sees only the phone left");
    imgate_client_close(pc1);
    imgate_client_close(pc2);
    imgate_client_close(phone);
    imgate_client_close(watcher);
}

static void test_least_loaded(void)
{
    imgate_client *load[6];
    for (int i = 0; i < 4; i++)
        load[i] = harness_connect(h, 0);
    for (int i = 4; i < 6; i++)
        load[i] = harness_connect(h, 1);
    sleep_ms(1500); /* two registry refreshes */
    for (int node = 0; node < 3; node++) {
        int status;
        char *body = http_get(h, node, "/msg_server", &status);
        char want[32];
        snprintf(want, sizeof want, "\"port\":\"%u\"", harness_node_port(h, 2));
        tap_ok(body && strstr(body, want), "/msg_server on node %d names the least loaded node 2 (%s)", node,
               body ? body : "no answer");
        free(body);
    }
    for (int i = 0; i < 6; i++)
        imgate_client_close(load[i]);
}

static void test_node_death(void)
{
    imgate_client *watcher = bound(0, 900, CLIENT_TYPE_WINDOWS);
    imgate_client *doomed = bound(2, 901, CLIENT_TYPE_WINDOWS);
    tap_ok(presence_becomes(watcher, 901, IMGATE_CLASS_PC, 3000), "user 901 is online on node 2");
    long long t0 = mono_ms();
    harness_node_signal(h, 2, SIGKILL);
    tap_ok(presence_becomes(watcher, 901, 0, 5000), "node 2 killed (-9): its user shows offline on node 0 after %lld ms",
           mono_ms() - t0);
    tap_ok(mono_ms() - t0 < 4000, "within the node TTL (1.5 s) and a refresh or two");
    int status;
    char *body = http_get(h, 0, "/msg_server", &status);
    char dead[32];
    snprintf(dead, sizeof dead, "\"port\":\"%u\"", harness_node_port(h, 2));
    tap_ok(body && !strstr(body, dead) && strstr(body, "\"code\":0"), "/msg_server stops offering node 2");
    free(body);
    tap_is_int(deliver(watcher, 901, "to a dead node"), 0, "a delivery for its user does not disturb node 0");
    tap_is_int(metric(0, "imgate_cluster_nodes "), 2, "two live nodes remain");
    imgate_client_close(doomed);
    imgate_client_close(watcher);
}

static void test_redis_restart(void)
{
    imgate_client *a = bound(0, 950, CLIENT_TYPE_WINDOWS);
    imgate_client *b = bound(1, 951, CLIENT_TYPE_WINDOWS);
    tap_ok(presence_becomes(a, 951, IMGATE_CLASS_PC, 3000), "user 951 on node 1 is seen from node 0");
    tap_is_int(harness_redis_stop(h), 0, "Redis stops");
    tap_is_int(deliver(a, 950, "local while down"), 0, "a local delivery still works without Redis");
    tap_is_int(pushes_received(a, "local while down", 2000), 1, "and arrives");
    tap_is_int(harness_redis_start(h), 0, "Redis starts again, empty");
    tap_ok(presence_becomes(a, 951, IMGATE_CLASS_PC, 8000), "presence is rebuilt: node 0 sees 951 on node 1 again");
    int got = 0;
    long long end = mono_ms() + 8000;
    while (!got && mono_ms() < end) {
        deliver(a, 951, "after the restart");
        got = pushes_received(b, "after the restart", 500) > 0;
    }
    tap_ok(got, "routing resumes: a delivery from node 0 reaches node 1");
    tap_ok(metric(0, "imgate_routing_failures_total ") >= 0, "routing failures are counted in /metrics");
    imgate_client_close(a);
    imgate_client_close(b);
}

int main(void)
{
    h = harness_start("cluster");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    const char *ini = "[gateway]\nlogin_timeout_ms = 600000\nkick_linger_ms = 60000\n"
                      "[cluster]\nnode_ttl_ms = 1500\nrefresh_ms = 300\n";
    for (int i = 0; i < 3; i++)
        if (harness_node_start(h, "testkit", ini) != i)
            tap_bail("node %d did not start", i);
    wait_cluster(3);
    test_presence_and_delivery();
    test_kicks();
    test_least_loaded();
    test_node_death();
    test_redis_restart();
    harness_stop(h);
    return tap_done();
}
