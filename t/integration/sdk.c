/*
 * sdk.c — the SDK 1.2 calls through the real protocol, driven by the
 * test-only plugins testkit (t/plugins/testkit.c), testsvc and legacy11:
 * typed handlers and malformed bodies, worker jobs whose completion always
 * runs (refusals included), typed SQL with a refused statement, batched
 * writes with one bad member, services between plugins (and a missing one
 * failing a reload), declared config (an error on reload keeps the old
 * generation), per-connection data across a reload, connection roles,
 * in-flight tracking with backpressure, presence, deliver_many, broadcast,
 * rate-limited logs, login hooks, and a plugin built against the ABI 1.1
 * header.
 */
#include <signal.h>
#include <stdio.h>

#include "IM.Login.pb-c.h"
#include "common.h"
#include "testkit_ids.h"
#include "imgate/plugin.h"
#include "imgate/teamtalk.h"
#include "testkit.pb-c.h"


static harness *h;
static char *base_ini;

/* Sends Req-like `msg` as (TESTKIT_SERVICE, cid) and returns the unpacked Rsp of `rsp_cid`, or NULL. */
static Imgate__Testkit__Rsp *call(imgate_client *c, uint16_t cid, const ProtobufCMessage *msg, uint16_t rsp_cid,
                                  int timeout_ms)
{
    imgate_client_pdu pdu;
    if (imgate_client_call(c, TESTKIT_SERVICE, cid, msg, rsp_cid, &pdu, timeout_ms) != 0)
        return NULL;
    Imgate__Testkit__Rsp *rsp = imgate__testkit__rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return rsp;
}

static void rsp_free(Imgate__Testkit__Rsp *r)
{
    if (r)
        imgate__testkit__rsp__free_unpacked(r, NULL);
}

/* The value of the /metrics line starting with `series` (name, labels and a space), or -1. */
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

static int bind_user(imgate_client *c, uint32_t uid, uint32_t client_type)
{
    char name[16];
    snprintf(name, sizeof name, "%u", uid);
    IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
    req.user_name = name;
    req.password = (char *)"";
    req.online_status = USER_STATUS_ONLINE;
    req.client_type = (IM__BaseDefine__ClientType)client_type;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, TESTKIT_SERVICE, TK_BIND, &req.base, TK_BIND_RSP, &pdu, 5000) != 0)
        return -1;
    imgate_client_pdu_free(&pdu);
    return 0;
}

static int reload_to(const char *ini, int gen, const char *status)
{
    char want[64];
    snprintf(want, sizeof want, "reload gen=%d status=%s", gen, status);
    if (ini)
        harness_node_rewrite_ini(h, 0, ini);
    harness_node_signal(h, 0, SIGHUP);
    return wait_log(h, 0, want, 5000);
}

/* The node's ini with `[plugin.testkit]` and `enable` replaced. */
static char *ini_with(const char *enable, const char *testkit_section)
{
    static char buf[16384];
    const char *en = strstr(base_ini, "enable=");
    const char *eol = en ? strchr(en, '\n') : NULL;
    if (en == NULL || eol == NULL)
        tap_bail("no enable line in the node's ini");
    const char *kit = strstr(base_ini, "[plugin.testkit]");
    if (kit == NULL)
        tap_bail("no [plugin.testkit] in the node's ini");
    snprintf(buf, sizeof buf, "%.*senable=%s%.*s%s\n", (int)(en - base_ini), base_ini, enable, (int)(kit - eol), eol,
             testkit_section);
    return buf;
}

static void test_typed(void)
{
    imgate_client *c = harness_connect(h, 0);
    Imgate__Testkit__Typed t = IMGATE__TESTKIT__TYPED__INIT;
    t.kind = IMGATE__TESTKIT__KIND__KIND_A;
    t.has_other = 1;
    t.other = IMGATE__TESTKIT__KIND__KIND_B;
    Imgate__Testkit__Kind many[] = {IMGATE__TESTKIT__KIND__KIND_A, (Imgate__Testkit__Kind)9,
                                    IMGATE__TESTKIT__KIND__KIND_B};
    t.n_many = 3;
    t.many = many;
    t.text = (char *)"héllo";
    Imgate__Testkit__Rsp *r = call(c, TK_TYPED, &t.base, TK_TYPED_RSP, 3000);
    tap_ok(r && r->a == 1 && r->b == 2 && r->c == 2 && strcmp(r->s, "héllo") == 0,
           "a typed handler gets the decoded body; a repeated enum drops its unknown value");
    rsp_free(r);

    t.other = (Imgate__Testkit__Kind)9;
    r = call(c, TK_TYPED, &t.base, TK_TYPED_RSP, 3000);
    tap_ok(r && r->b == 0, "an optional enum outside its range arrives as absent");
    rsp_free(r);

    t.kind = (Imgate__Testkit__Kind)9;
    r = call(c, TK_TYPED, &t.base, TK_TYPED_RSP, 800);
    tap_ok(r == NULL, "a required enum outside its range: the handler never runs, nothing is answered");
    rsp_free(r);
    tap_ok(heartbeat_ok(c), "and the connection is kept");
    tap_is_int(metric(0, "imgate_malformed_requests_total{service=\"0x7f00\",command=\"0x0010\"} "), 1,
               "the malformed request is counted per command");
    tap_ok(wait_log(h, 0, "event=malformed_request", 2000), "and logged");

    t.kind = IMGATE__TESTKIT__KIND__KIND_A;
    t.text = (char *)"abXcd";
    size_t len = protobuf_c_message_get_packed_size(&t.base);
    uint8_t buf[256];
    protobuf_c_message_pack(&t.base, buf);
    *(uint8_t *)memchr(buf, 'X', len) = 0;
    uint16_t seq;
    imgate_client_pdu pdu;
    imgate_client_send(c, TESTKIT_SERVICE, TK_TYPED, buf, len, &seq);
    tap_is_int(imgate_client_wait(c, TK_TYPED_RSP, seq, &pdu, 800), IMGATE_CLIENT_TIMEOUT,
               "a string field holding a NUL byte is malformed too");
    imgate_client_close(c);
}

static void test_jobs(void)
{
    imgate_client *c = harness_connect(h, 0);
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.has_a = req.has_b = 1;
    req.a = 10;
    req.b = 300;
    Imgate__Testkit__Rsp *r = call(c, TK_JOBS, &req.base, TK_JOBS_RSP, 10000);
    tap_ok(r && r->a == 3 && r->b == 7,
           "10 jobs against a queue of 3: 3 ran and 7 were refused, and every completion ran (%lld/%lld)",
           r ? (long long)r->a : -1, r ? (long long)r->b : -1);
    rsp_free(r);
    tap_ok(metric(0, "imgate_worker_jobs_refused_total ") >= 7, "refusals are counted");
    imgate_client_close(c);
}

static void test_db(void)
{
    imgate_client *c = harness_connect(h, 0);
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.s = (char *)"研发部 R&D";
    Imgate__Testkit__Rsp *r = call(c, TK_DB, &req.base, TK_DB_RSP, 5000);
    tap_ok(r && r->a > 0 && r->b == 1 && strcmp(r->s, "研发部 R&D") == 0,
           "db_exec inserts (insert id %lld) and db_query reads the UTF-8 text back", r ? (long long)r->a : -1);
    rsp_free(r);
    char long_name[80];
    memset(long_name, 'x', 70);
    long_name[70] = '\0';
    req.s = long_name;
    r = call(c, TK_DB, &req.base, TK_DB_RSP, 5000);
    tap_ok(r && r->a == IMGATE_EDB, "a value too long for the column is refused with IMGATE_EDB, never truncated");
    rsp_free(r);
    char out[64] = "";
    harness_sql(h, "SELECT COUNT(*) FROM IMDepart WHERE departName LIKE 'xxxx%'", out, sizeof out);
    tap_is_str(out, "0", "nothing of it was stored");
    tap_ok(heartbeat_ok(c), "the daemon is fine");
    imgate_client_close(c);
}

static void test_batched_writes(void)
{
    imgate_client *c = harness_connect(h, 1); /* node 0's queue holds 3 jobs */
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    uint32_t ids[] = {1, 2, 0, 3, 4, 5};
    req.n_ids = 6;
    req.ids = ids;
    req.s = (char *)"batch-";
    Imgate__Testkit__Rsp *r = call(c, TK_WRITES, &req.base, TK_WRITES_RSP, 8000);
    int ok = r && r->n_values == 6;
    for (size_t i = 0; ok && i < 6; i++)
        ok = r->values[i] == (ids[i] == 0 ? IMGATE_EDB : IMGATE_OK);
    tap_ok(ok, "six batched writes: the bad one fails alone, the other five are committed");
    rsp_free(r);
    char out[64] = "";
    harness_sql(h, "SELECT COUNT(*) FROM IMDepart WHERE departName LIKE 'batch-%'", out, sizeof out);
    tap_is_str(out, "5", "exactly the five good rows are in MySQL");
    tap_is_int(metric(1, "imgate_batched_writes_total "), 6, "the six went as one batch");
    tap_is_int(metric(1, "imgate_write_batch_fallbacks_total "), 1, "which was rolled back once and rerun write by write");
    imgate_client_close(c);
}

static void test_services_and_config(void)
{
    imgate_client *c = harness_connect(h, 0);
    Imgate__Testkit__Rsp *r = call(c, TK_SERVICE, NULL, TK_SERVICE_RSP, 3000);
    tap_ok(r && r->a == 42 && strcmp(r->s, "first") == 0, "testkit calls testsvc's exported service (42); label 'first'");
    rsp_free(r);

    /* conn_data: three requests, a reload, a fourth. */
    long long counts[4] = {0};
    for (int i = 0; i < 3; i++) {
        r = call(c, TK_CONN_DATA, NULL, TK_CONN_DATA_RSP, 3000);
        counts[i] = r ? r->a : -1;
        rsp_free(r);
    }
    tap_ok(counts[0] == 1 && counts[2] == 3, "a connection's data slot counts its requests");

    /* A config error on reload keeps the old generation, with the reason and its line. */
    tap_ok(reload_to(ini_with("testkit,testsvc,legacy11", "[plugin.testkit]\nlabel = second\nlimit = 1000\n"), 2,
                     "failed"),
           "a reload with limit = 1000 (declared 1..100) fails");
    tap_ok(wait_log(h, 0, "[plugin.testkit] limit: expected a number from 1 to 100, got '1000'", 2000),
           "the log gives the reason with FILE:LINE");
    r = call(c, TK_SERVICE, NULL, TK_SERVICE_RSP, 3000);
    tap_ok(r && strcmp(r->s, "first") == 0, "the old generation keeps serving with its own config");
    rsp_free(r);

    tap_ok(reload_to(ini_with("testkit,testsvc,legacy11", "[plugin.testkit]\nlabel = second\n"), 3, "done"),
           "a good reload succeeds");
    r = call(c, TK_CONN_DATA, NULL, TK_CONN_DATA_RSP, 3000);
    tap_ok(r && r->a == 4, "the data slot survived the reload (count %lld)", r ? (long long)r->a : -1);
    rsp_free(r);
    r = call(c, TK_SERVICE, NULL, TK_SERVICE_RSP, 3000);
    tap_ok(r && r->a == 42 && strcmp(r->s, "second") == 0, "the new generation has the new label");
    rsp_free(r);

    /* A required import that nobody exports fails the load, and says so. */
    if (harness_node_install_plugin(h, 0, "testkit_needs_peer", "testkit") != 0)
        tap_bail("cannot install testkit_needs_peer");
    tap_ok(reload_to(ini_with("testkit,legacy11", "[plugin.testkit]\nlabel = third\n"), 4, "failed"),
           "a testkit that requires testkit.peer, without testsvc: the reload fails");
    tap_ok(wait_log(h, 0, "imports service 'testkit.peer' (version 1 or later), which no enabled plugin exports", 2000),
           "with a clear reason");
    r = call(c, TK_SERVICE, NULL, TK_SERVICE_RSP, 3000);
    tap_ok(r && r->a == 42 && strcmp(r->s, "second") == 0, "the old generation keeps serving");
    rsp_free(r);
    tap_ok(reload_to(ini_with("testsvc,testkit,legacy11", "[plugin.testkit]\nlabel = third\n"), 5, "done"),
           "with testsvc enabled (after it: enable order does not matter) the same code loads");
    r = call(c, TK_SERVICE, NULL, TK_SERVICE_RSP, 3000);
    tap_ok(r && r->a == 42 && strcmp(r->s, "third") == 0, "and imports the service");
    rsp_free(r);
    imgate_client_close(c);
}

static void test_roles(void)
{
    imgate_client *plain = harness_connect(h, 1), *role = harness_connect(h, 1);
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.has_a = 1;
    req.a = 64 * 1024;
    Imgate__Testkit__Rsp *r = call(role, TK_AUTHORIZE, &req.base, TK_AUTHORIZE_RSP, 3000);
    tap_ok(r && r->a == 0, "conn_authorize gives a connection testkit's role");
    rsp_free(r);
    static char big[40 * 1024];
    memset(big, 'b', sizeof big - 1);
    req.a = 7;
    req.s = big;
    r = call(role, TK_ROLE_ECHO, &req.base, TK_ROLE_ECHO_RSP, 3000);
    tap_ok(r && r->a == 7 && strlen(r->s) == sizeof big - 1,
           "a role-only command works on it, with the role's 64 KiB frame cap (a 40 KiB frame)");
    rsp_free(r);
    struct timespec ts = {2, 200 * 1000000};
    nanosleep(&ts, NULL);
    tap_ok(heartbeat_ok(role), "the login deadline (1.5 s) does not apply to it");
    tap_is_int(imgate_client_wait_closed(plain, 100), IMGATE_CLIENT_CLOSED, "while a plain connection was closed by it");

    imgate_client *other = harness_connect(h, 1);
    req.s = (char *)"x";
    r = call(other, TK_ROLE_ECHO, &req.base, TK_ROLE_ECHO_RSP, 800);
    tap_ok(r == NULL, "a connection without the role cannot reach role-only commands");
    rsp_free(r);
    tap_is_int(imgate_client_wait_closed(other, 2000), IMGATE_CLIENT_CLOSED, "(refused before login: closed)");

    uint16_t seq;
    imgate_client_send(role, TESTKIT_SERVICE, TK_CONN_DATA, NULL, 0, &seq);
    tap_is_int(imgate_client_wait_closed(role, 2000), IMGATE_CLIENT_CLOSED,
               "a role connection sending anything else is closed");
    struct timespec settle = {0, 300 * 1000000};
    nanosleep(&settle, NULL);
    tap_is_int(metric(1, "imgate_plugin_roles_closed_total{plugin=\"testkit\"} "), 1,
               "and the role's plugin saw it close (close hook)");
    imgate_client_close(plain);
    imgate_client_close(other);
    imgate_client_close(role);
}

static void test_tracked(void)
{
    imgate_client *c = harness_connect(h, 1);
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.has_a = 1;
    req.a = 300;
    uint16_t seqs[6];
    long long t0 = mono_ms();
    for (int i = 0; i < 6; i++)
        imgate_client_send_msg(c, TESTKIT_SERVICE, TK_TRACKED, &req.base, &seqs[i]);
    int answered = 0, most = 0;
    for (int i = 0; i < 6; i++) {
        imgate_client_pdu pdu;
        if (imgate_client_wait(c, TK_TRACKED_RSP, seqs[i], &pdu, 5000) != 0)
            break;
        Imgate__Testkit__Rsp *r = imgate__testkit__rsp__unpack(NULL, pdu.body_len, pdu.body);
        if (r && r->a > most)
            most = (int)r->a;
        rsp_free(r);
        imgate_client_pdu_free(&pdu);
        answered++;
    }
    long long took = mono_ms() - t0;
    tap_is_int(answered, 6, "six tracked requests sent at once are all answered, in order");
    tap_is_int(most, 2, "never more than max_inflight_per_conn (2) were in flight: reading paused meanwhile");
    tap_ok(took >= 850, "so they took three rounds of 300 ms (%lld ms)", took);
    tap_ok(metric(1, "imgate_backpressure_total{scope=\"connection\"} ") >= 1, "the pauses are counted");
    imgate_client_close(c);
}

static void test_delivery(void)
{
    imgate_client *a = harness_connect(h, 0), *b = harness_connect(h, 0);
    long long logins_before = metric(0, "imgate_plugin_logins_seen_total{plugin=\"testkit\"} ");
    bind_user(a, 501, CLIENT_TYPE_WINDOWS);
    bind_user(b, 502, CLIENT_TYPE_ANDROID);
    tap_is_int(metric(0, "imgate_plugin_logins_seen_total{plugin=\"testkit\"} ") - logins_before, 2,
               "the login hook saw both logins");
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    uint32_t ids[] = {501, 502, 503};
    req.n_ids = 3;
    req.ids = ids;
    Imgate__Testkit__Rsp *r = call(a, TK_PRESENCE, &req.base, TK_PRESENCE_RSP, 3000);
    tap_ok(r && r->n_values == 3 && r->values[0] == IMGATE_CLASS_PC && r->values[1] == IMGATE_CLASS_MOBILE &&
               r->values[2] == 0,
           "presence: 501 on a PC, 502 on a mobile, 503 offline");
    rsp_free(r);

    uint32_t to[] = {502, 503};
    req.n_ids = 2;
    req.ids = to;
    req.s = (char *)"to many";
    r = call(a, TK_DELIVER, &req.base, TK_DELIVER_RSP, 3000);
    tap_ok(r && r->a == 1, "deliver_many reached the one connected target");
    rsp_free(r);
    imgate_client_pdu pdu;
    int got = imgate_client_wait(b, TK_PUSH, 0, &pdu, 3000) == 0;
    Imgate__Testkit__Rsp *push = got ? imgate__testkit__rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(push && strcmp(push->s, "to many") == 0, "502 received the push, seq 0");
    rsp_free(push);
    if (got)
        imgate_client_pdu_free(&pdu);

    req.n_ids = 0;
    req.s = (char *)"to all";
    r = call(a, TK_BROADCAST, &req.base, TK_BROADCAST_RSP, 3000);
    tap_ok(r && r->a >= 1, "broadcast queued to the other logged-in connections");
    rsp_free(r);
    got = imgate_client_wait(b, TK_PUSH, 0, &pdu, 3000) == 0;
    push = got ? imgate__testkit__rsp__unpack(NULL, pdu.body_len, pdu.body) : NULL;
    tap_ok(push && strcmp(push->s, "to all") == 0, "502 received the broadcast");
    rsp_free(push);
    if (got)
        imgate_client_pdu_free(&pdu);
    tap_is_int(imgate_client_wait(a, TK_PUSH, 0, &pdu, 500), IMGATE_CLIENT_TIMEOUT, "the sender's own connection did not");
    imgate_client_close(a);
    imgate_client_close(b);
}

static void test_log_limit(void)
{
    imgate_client *c = harness_connect(h, 0);
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.has_a = 1;
    req.a = 1000;
    imgate_client_pdu pdu;
    int rc = imgate_client_call(c, TESTKIT_SERVICE, TK_LOG_FLOOD, &req.base, TK_LOG_FLOOD_RSP, &pdu, 5000);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    tap_is_int(rc, 0, "a plugin logs 1000 lines of one event at once");
    char path[4096];
    snprintf(path, sizeof path, "%s/imgated.log", harness_node_dir(h, 0));
    FILE *f = fopen(path, "r");
    char line[4096];
    int lines = 0;
    while (f && fgets(line, sizeof line, f))
        lines += strstr(line, "event=flood") != NULL;
    if (f)
        fclose(f);
    tap_ok(lines >= 1 && lines <= 10, "at most 5 a second reach the log (%d did)", lines);
    tap_ok(metric(0, "imgate_log_suppressed_total{key=\"testkit.flood\"} ") >= 990, "the rest are counted as suppressed");
    imgate_client_close(c);
}

static void test_legacy_plugin(void)
{
    imgate_client *c = harness_connect(h, 0);
    imgate_client_pdu pdu;
    int rc = imgate_client_call(c, LEGACY_SERVICE, LEGACY_HELLO, NULL, LEGACY_HELLO_RSP, &pdu, 3000);
    int ok = rc == 0 && pdu.body_len == 12;
    uint32_t guard = ok ? imgate_get_u32(pdu.body + 8) : 0;
    uint64_t id = 0;
    for (int i = 0; ok && i < 8; i++)
        id = id << 8 | pdu.body[i];
    tap_ok(ok && id > 0, "a plugin built against the 1.1 header loads and answers (conn_info id %llu)",
           (unsigned long long)id);
    tap_ok(guard == 0xC0FFEE11u, "conn_info filled only the 1.1 struct it passed (guard %08x intact)", guard);
    if (rc == 0)
        imgate_client_pdu_free(&pdu);
    imgate_client_close(c);
}

int main(void)
{
    h = harness_start("sdk");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    const char *extra = "[gateway]\nworkers = 1\nworker_queue_max = 3\nlogin_timeout_ms = 600000\n"
                        "[plugin.testsvc]\nvalue = 42\n"
                        "[plugin.testkit]\nlabel = first\n";
    if (harness_node_start(h, "testkit,testsvc,legacy11", extra) != 0)
        tap_bail("node 0 did not start");
    if (harness_node_start(h, "testkit", "[gateway]\nlogin_timeout_ms = 1500\nmax_inflight_per_conn = 2\n") != 1)
        tap_bail("node 1 did not start");
    char path[4096];
    snprintf(path, sizeof path, "%s/imgated.ini", harness_node_dir(h, 0));
    FILE *f = fopen(path, "r");
    static char text[16384];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    base_ini = text;

    test_typed();
    test_jobs();
    test_db();
    test_batched_writes();
    test_legacy_plugin();
    test_delivery();
    test_log_limit();
    test_services_and_config();
    test_roles();
    test_tracked();
    harness_stop(h);
    return tap_done();
}
