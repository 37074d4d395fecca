/*
 * hardening.c — a node under a hostile or unlucky environment:
 *   - descriptors run out (an exhausted soft limit, a plugin holding every
 *     descriptor, idle HTTP connections): accepting pauses instead of
 *     spinning and flooding the log, resumes when descriptors free, and
 *     /health keeps answering;
 *   - clients that never log in nor read cannot pin memory; the node's
 *     queued output has a budget;
 *   - a Redis or a MariaDB that stops answering (SIGSTOP): logins are
 *     answered within bounds (allowed without the lockout, or refused with
 *     code 3) and everything works again once it answers;
 *   - log floods from a client are cut down and counted;
 *   - two devices of one user whose clients reconnect whenever the server
 *     closes do not kick each other in a loop;
 *   - a killed node's plugin copy directory is cleaned up by the next start.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "IM.Login.pb-c.h"
#include "common.h"
#include "login_util.h"
#include "testkit.pb-c.h"
#include "testkit_ids.h"

static harness *h;

/* CPU seconds (user + system) the node has used so far. */
static double cpu_seconds(int node)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)harness_node_pid(h, node));
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kib(int node)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)harness_node_pid(h, node));
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

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

static int count_log(int node, const char *needle)
{
    char path[4096], line[4096];
    snprintf(path, sizeof path, "%s/imgated.log", harness_node_dir(h, node));
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

static int health_ok(int node)
{
    int status = 0;
    char *body = http_get(h, node, "/health", &status);
    free(body);
    return status == 200;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static Imgate__Testkit__Rsp *testkit_call(imgate_client *c, uint16_t cid, uint32_t a, uint16_t rsp_cid)
{
    Imgate__Testkit__Req req = IMGATE__TESTKIT__REQ__INIT;
    req.has_a = 1;
    req.a = a;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, TESTKIT_SERVICE, cid, &req.base, rsp_cid, &pdu, 10000) != 0)
        return NULL;
    Imgate__Testkit__Rsp *r = imgate__testkit__rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    return r;
}

/* --- descriptors -------------------------------------------------------------------------------- */

static void test_idle_http(void)
{
    int fds[40];
    for (int i = 0; i < 40; i++) {
        imgate_client *c = imgate_client_connect("127.0.0.1", harness_node_http_port(h, 0), 3000);
        fds[i] = c ? dup(imgate_client_fd(c)) : -1;
        imgate_client_close(c);
    }
    sleep_ms(300);
    tap_ok(health_ok(0), "with 40 idle HTTP connections open (cap 20), /health is still answered");
    tap_ok(metric(0, "imgate_http_connections ") <= 20, "no more than 20 HTTP connections are held");
    tap_ok(metric(0, "imgate_http_connections_evicted_total ") >= 20, "the oldest idle ones made room");
    for (int i = 0; i < 40; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void test_soft_limit(void)
{
    /* An operator lowers the node's descriptor limit under it. */
    struct rlimit low = {300, 300};
    tap_ok(prlimit(harness_node_pid(h, 0), RLIMIT_NOFILE, &low, NULL) == 0, "the node's limit is lowered to 300");
    sleep_ms(1300); /* the tick re-reads it */
    enum { N = 400 };
    imgate_client *c[N];
    for (int i = 0; i < N; i++)
        c[i] = imgate_client_connect("127.0.0.1", harness_node_port(h, 0), 3000);
    sleep_ms(500);
    double cpu0 = cpu_seconds(0);
    int open = 0;
    for (int i = 0; i < N; i++)
        if (c[i] && heartbeat_ok(c[i]))
            open++;
    double cpu = cpu_seconds(0) - cpu0;
    tap_ok(open > 100 && open < 300, "400 clients: the node kept what its budget allows (%d) and closed the rest", open);
    tap_ok(health_ok(0), "/health is still answered: its descriptors are reserved");
    tap_ok(cpu < 1.0, "without spinning (%.2f s of CPU while serving the heartbeats)", cpu);
    for (int i = 0; i < N; i++)
        imgate_client_close(c[i]);
    struct rlimit back = {65536, 65536};
    prlimit(harness_node_pid(h, 0), RLIMIT_NOFILE, &back, NULL);
    sleep_ms(1300);
}

static void test_exhaustion(void)
{
    imgate_client *hog = harness_connect(h, 0);
    Imgate__Testkit__Rsp *r = testkit_call(hog, TK_HOG_FDS, 1, TK_HOG_FDS_RSP);
    tap_ok(r && r->a > 100, "a plugin takes every descriptor left (%lld)", r ? (long long)r->a : -1);
    if (r)
        imgate__testkit__rsp__free_unpacked(r, NULL);
    int logged_before = count_log(0, "event=accept_failed");
    double cpu0 = cpu_seconds(0);
    imgate_client *late = imgate_client_connect("127.0.0.1", harness_node_port(h, 0), 3000);
    sleep_ms(2500);
    double cpu = cpu_seconds(0) - cpu0;
    int logged = count_log(0, "event=accept_failed") - logged_before;
    tap_ok(cpu < 0.5, "a connection it cannot accept does not make the node spin (%.2f s of CPU in 2.5 s)", cpu);
    tap_ok(logged >= 1 && logged <= 4, "the failures are logged once a second, with a count (%d lines)", logged);
    r = testkit_call(hog, TK_HOG_FDS, 0, TK_HOG_FDS_RSP);
    if (r)
        imgate__testkit__rsp__free_unpacked(r, NULL);
    tap_ok(late && heartbeat_ok(late), "once descriptors are free the waiting client is accepted and served");
    imgate_client *fresh = harness_connect(h, 0);
    tap_ok(heartbeat_ok(fresh), "and new ones too");
    tap_ok(metric(0, "imgate_accept_errors_total ") >= 1, "the failed accepts are counted");
    imgate_client_close(late);
    imgate_client_close(fresh);
    imgate_client_close(hog);
}

/* --- memory ----------------------------------------------------------------------------------------- */

/* `n` connections that send 16 KiB heartbeats and never read, for `ms`. */
static void flood_unread(int node, int n, int ms, int bind_first)
{
    imgate_client **c = calloc((size_t)n, sizeof *c);
    static uint8_t frame[16 * 1024];
    imgate_pdu_header hb;
    imgate_pdu_header_make(&hb, SID_OTHER, CID_OTHER_HEARTBEAT, 1, sizeof frame - 16);
    imgate_pdu_header_encode(&hb, frame);
    for (int i = 0; i < n; i++) {
        c[i] = harness_connect(h, node);
        if (bind_first && c[i]) {
            char name[16];
            snprintf(name, sizeof name, "%d", 7000 + i);
            IM__Login__IMLoginReq req = IM__LOGIN__IMLOGIN_REQ__INIT;
            req.user_name = name;
            req.password = (char *)"";
            req.online_status = USER_STATUS_ONLINE;
            req.client_type = CLIENT_TYPE_ANDROID;
            imgate_client_pdu pdu;
            if (imgate_client_call(c[i], TESTKIT_SERVICE, TK_BIND, &req.base, TK_BIND_RSP, &pdu, 3000) == 0)
                imgate_client_pdu_free(&pdu);
        }
    }
    long long end = mono_ms() + ms;
    while (mono_ms() < end)
        for (int i = 0; i < n; i++)
            if (c[i] && imgate_client_send_raw(c[i], frame, sizeof frame) != 0) {
                imgate_client_close(c[i]);
                c[i] = NULL;
            }
    for (int i = 0; i < n; i++)
        imgate_client_close(c[i]);
    free(c);
}

static void test_prelogin_memory(void)
{
    long before = rss_kib(0);
    flood_unread(0, 100, 4000, 0);
    long after = rss_kib(0);
    tap_ok(after - before < 40 * 1024,
           "100 clients echoing heartbeats they never read, before login: RSS grew %ld KiB (cap 64 KiB each)",
           after - before);
    tap_ok(metric(0, "imgate_closes_total{reason=\"output_overflow\"} ") >= 90, "they were cut at the pre-login cap");
}

static void test_output_budget(void)
{
    flood_unread(1, 30, 4000, 1);
    tap_ok(metric(1, "imgate_closes_total{reason=\"output_budget\"} ") >= 1,
           "logged-in clients that never read hit the node's 1 MiB output budget and are cut");
    tap_ok(health_ok(1), "the node is fine");
}

/* --- hung backends ----------------------------------------------------------------------------------- */

static long long timed_login(int node, const char *user, const char *pw, int *code)
{
    imgate_client *c = connect_from(h, node, "127.0.0.20");
    long long t0 = mono_ms();
    char text[128];
    *code = login_result(c, user, pw, text, sizeof text);
    long long took = mono_ms() - t0;
    imgate_client_close(c);
    return took;
}

static void test_hung_redis(void)
{
    int code;
    harness_service_signal(h, "redis", SIGSTOP);
    long long took = timed_login(2, "ivy", "ivy123", &code);
    tap_ok(code == 0 && took < 3000, "Redis hung: with redis_down = allow a login still succeeds, in %lld ms", took);
    took = timed_login(2, "ivy", "ivy123", &code);
    tap_ok(code == 0 && took < 3000, "and the next one too (%lld ms)", took);
    tap_ok(metric(2, "imgate_redis_errors_total{kind=\"timeout\"} ") >= 1, "the stall is detected as a timeout");
    harness_service_signal(h, "redis", SIGCONT);
    sleep_ms(1500);
    char out[64] = "";
    timed_login(2, "ivy", "wrong", &code);
    harness_redis(h, "ZCARD imgate:login:fail:user:ivy", out, sizeof out);
    tap_is_str(out, "1", "once Redis answers again, failures are counted again");
}

static void test_hung_mysql(void)
{
    int code;
    harness_service_signal(h, "mysql", SIGSTOP);
    long long worst = 0;
    int refused = 0;
    for (int i = 0; i < 4; i++) {
        long long took = timed_login(2, "ivy", "ivy123", &code);
        if (took > worst)
            worst = took;
        refused += code == 3;
    }
    tap_is_int(refused, 4, "MariaDB hung: every login is refused with code 3 (service unavailable)");
    tap_ok(worst < 7000, "each within a bounded time (worst %lld ms; job timeout 1 s, read timeout 2 s)", worst);
    harness_service_signal(h, "mysql", SIGCONT);
    int ok = 0;
    long long end = mono_ms() + 15000;
    while (!ok && mono_ms() < end) {
        timed_login(2, "ivy", "ivy123", &code);
        ok = code == 0;
        if (!ok)
            sleep_ms(300);
    }
    tap_ok(ok, "once MariaDB answers again, logins succeed");
}

/* --- log floods --------------------------------------------------------------------------------------- */

static void test_log_flood(void)
{
    imgate_client *c = connect_from(h, 2, "127.0.0.21");
    tap_ok(login_ok(c, "ivy", "ivy123", CLIENT_WINDOWS), "a logged-in client");
    int before = count_log(2, "event=unknown_command");
    for (int i = 0; i < 3000; i++)
        imgate_client_send(c, 0x0999, (uint16_t)(i % 50), NULL, 0, NULL);
    tap_ok(heartbeat_ok(c), "sends 3000 unknown commands and stays connected");
    int lines = count_log(2, "event=unknown_command") - before;
    tap_ok(lines >= 1 && lines <= 10, "they cost %d log lines, not 3000", lines);
    tap_ok(metric(2, "imgate_log_suppressed_total{key=\"unknown_command\"} ") >= 2990, "the rest are counted");
    imgate_client_close(c);
}

/* --- kicks between two reconnecting devices ------------------------------------------------------------- */

static void test_kick_loop(void)
{
    /* Two PCs of one user whose clients ignore IMKickUser and reconnect whenever the server
     * closes: with kicked connections kept open, the first kick ends it. */
    imgate_client *dev[2] = {NULL, NULL};
    int logins = 0;
    long long end = mono_ms() + 6000;
    while (mono_ms() < end) {
        for (int d = 0; d < 2; d++) {
            if (dev[d] != NULL) {
                imgate_client_pdu pdu;
                int rc = imgate_client_recv(dev[d], &pdu, 50);
                if (rc == IMGATE_CLIENT_OK)
                    imgate_client_pdu_free(&pdu); /* a kick, ignored */
                else if (rc == IMGATE_CLIENT_CLOSED || rc == IMGATE_CLIENT_ERROR) {
                    imgate_client_close(dev[d]);
                    dev[d] = NULL;
                }
                continue;
            }
            dev[d] = connect_from(h, 2, d ? "127.0.0.31" : "127.0.0.30");
            if (login_ok(dev[d], "jack", "jack123", d ? CLIENT_MAC : CLIENT_WINDOWS))
                logins++;
        }
    }
    tap_is_int(logins, 2, "two devices that reconnect on close logged in twice in 6 s, not in a loop");
    tap_ok(metric(2, "imgate_kicks_total{reason=\"duplicate\"} ") == 1, "one kick");
    imgate_client_close(dev[0]);
    imgate_client_close(dev[1]);
}

/* --- stale plugin copy directories ----------------------------------------------------------------------- */

static void test_stale_copy_dirs(void)
{
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0); /* a pid that is surely gone now */
    char dead[4096], file[4200];
    snprintf(dead, sizeof dead, "%s/imgated-plugins-hardening%d", tmp, (int)getpid());
    mkdir(dead, 0700);
    snprintf(file, sizeof file, "%s/owner.pid", dead);
    FILE *f = fopen(file, "w");
    fprintf(f, "%d\n", (int)child);
    fclose(f);
    snprintf(file, sizeof file, "%s/login.gen3.so", dead);
    f = fopen(file, "w");
    fclose(f);
    int node = harness_node_start(h, "testkit", NULL);
    tap_ok(node >= 0, "a node starts");
    struct stat st;
    tap_ok(stat(dead, &st) != 0, "the copy directory of an imgated killed before it could clean up is removed");
    tap_ok(wait_log(h, node, "event=stale_plugin_dirs_removed", 1000), "and the start says so");
    /* The live nodes' own directories are left alone: they still reload. */
    harness_node_signal(h, 0, SIGHUP);
    tap_ok(wait_log(h, 0, "reload gen=2 status=done", 5000), "a running node's copy directory was not touched");
}

int main(void)
{
    h = harness_start("hardening");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "testkit", "[gateway]\nlogin_timeout_ms = 600000\nmax_connections = 10000\n"
                                         "[http]\nmax_connections = 20\ntimeout_ms = 60000\n") != 0)
        tap_bail("node 0 did not start");
    if (harness_node_start(h, "testkit", "[gateway]\nmax_output_total = 1m\nlogin_timeout_ms = 600000\n") != 1)
        tap_bail("node 1 did not start");
    if (harness_node_start(h, "login", "[gateway]\njob_timeout_ms = 1000\n"
                                       "[mysql.master]\nread_timeout_s = 2\nconnect_timeout_s = 1\n"
                                       "[mysql.replica]\nread_timeout_s = 2\nconnect_timeout_s = 1\n"
                                       "[redis]\ntimeout_ms = 500\n") != 2)
        tap_bail("node 2 did not start");
    add_user(h, 201, "ivy", "ivy123", 0);
    add_user(h, 202, "jack", "jack123", 0);

    test_idle_http();
    test_exhaustion();
    test_soft_limit();
    test_prelogin_memory();
    test_output_budget();
    test_log_flood();
    test_kick_loop();
    test_hung_redis();
    test_hung_mysql();
    test_stale_copy_dirs();
    harness_stop(h);
    return tap_done();
}
