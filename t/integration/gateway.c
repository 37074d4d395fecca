/*
 * gateway.c — the core seen from a client: heartbeat echo, the HTTP
 * endpoints, the auth gate, malformed frames, the login deadline, and a
 * plugin reaching real MariaDB and Redis through worker jobs and the Redis
 * link.
 */
#include <sys/resource.h>

#include "common.h"
#include "imgate/teamtalk.h"

static harness *h;

static void test_heartbeat(void)
{
    imgate_client *c = harness_connect(h, 0);
    /* Android's header: version 6, reserved '0'. The echo must keep them. */
    uint8_t raw[16];
    imgate_pdu_header hb = {16, 6, 0, SID_OTHER, CID_OTHER_HEARTBEAT, 777, 0x30};
    imgate_pdu_header_encode(&hb, raw);
    imgate_client_send_raw(c, raw, sizeof raw);
    imgate_client_pdu pdu;
    int rc = imgate_client_wait(c, CID_OTHER_HEARTBEAT, 777, &pdu, 3000);
    tap_is_int(rc, IMGATE_CLIENT_OK, "heartbeat is answered");
    if (rc == IMGATE_CLIENT_OK) {
        tap_ok(pdu.h.length == 16 && pdu.h.version == 6 && pdu.h.reserved == 0x30 && pdu.h.service_id == 7,
               "heartbeat echoed unchanged (version %u reserved %u)", pdu.h.version, pdu.h.reserved);
        imgate_client_pdu_free(&pdu);
    }
    imgate_client_close(c);
}

static void test_http(void)
{
    int status;
    char *body = http_get(h, 0, "/health", &status);
    tap_ok(status == 200 && body && strstr(body, "\"status\":\"ok\""), "/health answers ok");
    free(body);

    body = http_get(h, 0, "/msg_server", &status);
    char want[256];
    snprintf(want, sizeof want,
             "{\"code\":0,\"msg\":\"\",\"priorIP\":\"127.0.0.1\",\"backupIP\":\"127.0.0.1\",\"msfsPrior\":\"http://127.0.0.1:8700/\","
             "\"msfsBackup\":\"http://127.0.0.1:8700/\",\"discovery\":\"http://127.0.0.1/api/discovery\",\"port\":\"%u\"}",
             harness_node_port(h, 0));
    tap_is_int(status, 200, "/msg_server status 200");
    tap_is_str(body, want, "/msg_server JSON as the reference login_server (port as a string)");
    free(body);
    body = http_get(h, 0, "/msg_server?from=android", &status);
    tap_ok(status == 200 && body && strstr(body, "\"priorIP\""), "any path starting with /msg_server is the query");
    free(body);
    body = http_get(h, 0, "/nothing", &status);
    tap_is_int(status, 404, "unknown paths get 404");
    free(body);
}

static void test_example_and_backends(void)
{
    imgate_client *c = harness_connect(h, 0);
    char *version = NULL;
    char *g = example_greeting(c, &version);
    tap_is_str(g, "hello from the example plugin", "pre-login plugin command answered");
    tap_is_str(version, "9.9", "plugin read its [plugin.example] section");
    free(g);
    free(version);

    for (int round = 1; round <= 2; round++) {
        Imgate__Example__ExampleStatsReq req = IMGATE__EXAMPLE__EXAMPLE_STATS_REQ__INIT;
        imgate_client_pdu pdu;
        int rc = imgate_client_call(c, EXAMPLE_SERVICE, EXAMPLE_CMD_STATS_REQ, &req.base, EXAMPLE_CMD_STATS_RSP,
                                    &pdu, 5000);
        Imgate__Example__ExampleStatsRsp *rsp =
            rc == 0 ? imgate__example__example_stats_rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
        if (rc == 0)
            imgate_client_pdu_free(&pdu);
        tap_ok(rsp != NULL, "stats reply %d arrives (worker job + Redis)", round);
        if (rsp) {
            tap_is_int(rsp->user_count, 0, "SQL ran on a worker against the real schema (no users yet)");
            tap_is_int(rsp->counter, round, "Redis INCR went through the core's async link");
            imgate__example__example_stats_rsp__free_unpacked(rsp, NULL);
        }
    }
    char out[64] = "";
    harness_redis(h, "GET imgate:example:counter", out, sizeof out);
    tap_is_str(out, "2", "the counter is really in Redis");
    imgate_client_close(c);
}

static void test_auth_gate(void)
{
    imgate_client *c = harness_connect(h, 0);
    /* A buddy-list request before login: refused, connection closed. */
    uint16_t seq;
    imgate_client_send(c, SID_BUDDY_LIST, CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, NULL, 0, &seq);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "request before login closes the connection");
    imgate_client_close(c);

    c = harness_connect(h, 0);
    imgate_client_send(c, 0x0999, 0x0999, NULL, 0, &seq);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "unknown command before login closes too");
    imgate_client_close(c);

    int status;
    char *m = http_get(h, 0, "/metrics", &status);
    tap_ok(m && strstr(m, "imgate_requests_refused_total{reason=\"auth_gate\"} 2"), "auth-gate refusals counted");
    tap_ok(m && strstr(m, "imgate_pdus_in_total{service=\"0x0007\",command=\"0x0701\"}"), "PDUs counted by command");
    tap_ok(m && strstr(m, "# TYPE imgate_connections gauge"), "connections gauge exported");
    tap_ok(m && strstr(m, "imgate_reloads_total 0"), "reload counter exported");
    tap_ok(m && !strstr(m, "0x0999"), "unknown command ids create no metric series (bounded /metrics)");
    tap_ok(m && strstr(m, "imgate_worker_queue_depth"), "worker queue depth exported");
    free(m);
}

static void test_bad_frames(void)
{
    imgate_client *bystander = harness_connect(h, 0);
    struct {
        uint32_t length;
        const char *what;
    } cases[] = {{0, "length 0"}, {5, "length 5"}, {15, "length 15"}, {16 * 1024 + 1, "over the pre-login cap"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        imgate_client *c = harness_connect(h, 0);
        uint8_t raw[16];
        imgate_pdu_header bad = {cases[i].length, 1, 0, SID_OTHER, CID_OTHER_HEARTBEAT, 1, 0};
        imgate_pdu_header_encode(&bad, raw);
        imgate_client_send_raw(c, raw, sizeof raw);
        tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "%s closes the connection",
                   cases[i].what);
        imgate_client_close(c);
    }
    /* A frame split across writes is still one frame. */
    imgate_client *c = harness_connect(h, 0);
    uint8_t raw[16];
    imgate_pdu_header hb = {16, 1, 0, SID_OTHER, CID_OTHER_HEARTBEAT, 9, 0};
    imgate_pdu_header_encode(&hb, raw);
    imgate_client_send_raw(c, raw, 7);
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    imgate_client_send_raw(c, raw + 7, 9);
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(c, CID_OTHER_HEARTBEAT, 9, &pdu, 3000), IMGATE_CLIENT_OK, "a header split in two writes is read whole");
    imgate_client_pdu_free(&pdu);
    imgate_client_close(c);

    uint16_t seq;
    imgate_client_send(bystander, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, &seq);
    tap_is_int(imgate_client_wait(bystander, CID_OTHER_HEARTBEAT, seq, &pdu, 3000), IMGATE_CLIENT_OK,
               "another connection kept working throughout");
    imgate_client_pdu_free(&pdu);
    imgate_client_close(bystander);
}

static void test_login_deadline(void)
{
    imgate_client *c = harness_connect(h, 0);
    long long t0 = mono_ms();
    /* Heartbeats do not count as logging in. */
    uint16_t seq;
    imgate_client_send(c, SID_OTHER, CID_OTHER_HEARTBEAT, NULL, 0, &seq);
    int rc = imgate_client_wait_closed(c, 6000);
    long long took = mono_ms() - t0;
    tap_is_int(rc, IMGATE_CLIENT_CLOSED, "a connection that never logs in is closed");
    tap_ok(took >= 1400 && took <= 4000, "closed at the configured deadline (1.5 s), took %lld ms", took);
    imgate_client_close(c);
}

/* A node started with a low soft descriptor limit raises it to fit max_connections. */
static void test_fd_limit(void)
{
    struct rlimit saved, low;
    getrlimit(RLIMIT_NOFILE, &saved);
    low = saved;
    low.rlim_cur = 1024; /* inherited by the node the harness forks */
    setrlimit(RLIMIT_NOFILE, &low);
    int n = harness_node_start(h, "example", "[gateway]\nmax_connections = 5000\n");
    setrlimit(RLIMIT_NOFILE, &saved);
    if (n < 0)
        tap_bail("third node did not start");
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)harness_node_pid(h, n));
    FILE *f = fopen(path, "r");
    long long soft = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Max open files", 14) == 0)
            sscanf(line + 14, "%lld", &soft);
    if (f)
        fclose(f);
    tap_ok(soft >= 5064, "started with a soft limit of 1024, imgated raised it for max_connections = 5000 (%lld)",
           soft);
}

static void test_full_node(void)
{
    /* Alone (no cluster): with other nodes sharing the Redis, /msg_server would name a free one. */
    int n = harness_node_start(h, "example", "[gateway]\nmax_connections = 1\n[cluster]\nenabled = no\n");
    if (n != 1)
        tap_bail("second node did not start");
    imgate_client *first = harness_connect(h, n);
    tap_ok(heartbeat_ok(first), "a node with max_connections = 1 serves its first client");
    imgate_client *second = harness_connect(h, n);
    tap_is_int(imgate_client_wait_closed(second, 3000), IMGATE_CLIENT_CLOSED, "the next connection is refused");
    imgate_client_close(second);
    int status;
    char *body = http_get(h, n, "/msg_server", &status);
    tap_is_str(body, "{\"code\":2,\"msg\":\"负载过高\"}", "/msg_server answers code 2 (full), as the reference");
    free(body);
    tap_ok(heartbeat_ok(first), "the first client is unaffected");
    imgate_client_close(first);
}

int main(void)
{
    h = harness_start("gateway");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "example",
                           "[gateway]\nlogin_timeout_ms = 1500\nmsfs_url = http://127.0.0.1:8700/\n"
                           "discovery_url = http://127.0.0.1/api/discovery\n[plugin.example]\nversion = 9.9\n") != 0)
        tap_bail("imgated did not start");
    test_heartbeat();
    test_http();
    test_example_and_backends();
    test_auth_gate();
    test_bad_frames();
    test_login_deadline();
    test_full_node();
    test_fd_limit();
    harness_stop(h);
    return tap_done();
}
