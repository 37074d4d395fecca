/*
 * login_ops.c — the login plugin under operations: MariaDB stopped (code 3,
 * the daemon stays up, logins work again once it is back) and SIGHUP
 * reloading the login plugin while 200 logged-in connections stay logged in
 * and keep getting answers; with Redis gone, logins follow [plugin.login]
 * redis_down (allow: no lockout check; refuse: code 3).
 */
#include <signal.h>
#include <time.h>

#include "login_util.h"

#define N_USERS 200

static harness *h;

static int query_shield(imgate_client *c, uint32_t uid)
{
    IM__Login__IMQueryPushShieldReq q = IM__LOGIN__IMQUERY_PUSH_SHIELD_REQ__INIT;
    q.user_id = uid;
    imgate_client_pdu pdu;
    if (imgate_client_call(c, SID_LOGIN, CID_LOGIN_REQ_QUERY_PUSH_SHIELD, &q.base, CID_LOGIN_RES_QUERY_PUSH_SHIELD, &pdu, 5000) != 0)
        return 0;
    IM__Login__IMQueryPushShieldRsp *r = im__login__imquery_push_shield_rsp__unpack(NULL, pdu.body_len, pdu.body);
    imgate_client_pdu_free(&pdu);
    int ok = r && r->user_id == uid && r->result_code == 0;
    if (r)
        im__login__imquery_push_shield_rsp__free_unpacked(r, NULL);
    return ok;
}

static void test_database_down(void)
{
    imgate_client *c = harness_connect(h, 0);
    tap_ok(login_ok(c, "alice", "alice123", CLIENT_WINDOWS), "login works with the database up");
    imgate_client_close(c);

    tap_is_int(harness_mysql_stop(h), 0, "MariaDB stopped");
    c = harness_connect(h, 0);
    char text[128];
    int rc = login_result(c, "alice", "alice123", text, sizeof text);
    tap_ok(rc == 3 && strcmp(text, "服务端异常") == 0, "login answers 3 (REFUSE_REASON_NO_DB_SERVER): %d %s", rc, text);
    tap_is_int(imgate_client_wait_closed(c, 3000), IMGATE_CLIENT_CLOSED, "and closes the connection");
    imgate_client_close(c);
    int status;
    char *body = http_get(h, 0, "/health", &status);
    tap_is_int(status, 200, "the daemon stays up");
    free(body);
    char out[64] = "";
    harness_redis(h, "EXISTS imgate:login:fail:user:alice", out, sizeof out);
    tap_is_str(out, "0", "a database outage is not counted as a failed password");

    tap_is_int(harness_mysql_start(h), 0, "MariaDB started again");
    /* Each worker reconnects on its own (after a short back-off once a connect
     * failed): "back" means a run of successes on consecutive connections, which
     * the core spreads over every worker. */
    int in_a_row = 0;
    long long end = mono_ms() + 15000;
    while (in_a_row < 8 && mono_ms() < end) {
        c = harness_connect(h, 0);
        int ok = login_ok(c, "alice", "alice123", CLIENT_WINDOWS);
        imgate_client_close(c);
        in_a_row = ok ? in_a_row + 1 : 0;
        if (!ok) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    tap_ok(in_a_row >= 8, "logins work again once the database is back (8 in a row)");
}

static void test_database_restart(void)
{
    /* Warm every worker's connection, restart MariaDB behind their backs, log in at once:
     * the stale connections must be replaced transparently, not fail a login each. */
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        imgate_client *c = harness_connect(h, 0);
        ok += login_ok(c, "alice", "alice123", CLIENT_WINDOWS);
        imgate_client_close(c);
    }
    tap_is_int(ok, 4, "logins before the restart");
    tap_ok(harness_mysql_stop(h) == 0 && harness_mysql_start(h) == 0, "MariaDB restarted");
    ok = 0;
    for (int i = 0; i < 4; i++) {
        imgate_client *c = harness_connect(h, 0);
        ok += login_ok(c, "alice", "alice123", CLIENT_WINDOWS);
        imgate_client_close(c);
    }
    tap_is_int(ok, 4, "every login right after the restart succeeds on its first try");
}

static void test_reload_with_sessions(void)
{
    static imgate_client *conns[N_USERS];
    char name[32];
    int logged = 0;
    for (int i = 0; i < N_USERS; i++) {
        conns[i] = harness_connect(h, 0);
        snprintf(name, sizeof name, "load%d", i + 1);
        logged += login_ok(conns[i], name, "pw", i % 2 ? CLIENT_ANDROID : CLIENT_WINDOWS);
    }
    tap_is_int(logged, N_USERS, "200 users logged in");

    /* A rebuilt login plugin: the same file installed again is new code to the loader. */
    if (harness_node_install_plugin(h, 0, "login", "login") != 0)
        tap_bail("cannot reinstall the login plugin");

    /* Requests keep flowing while the reload happens. */
    int answered_during = 0;
    harness_node_signal(h, 0, SIGHUP);
    for (int i = 0; i < 20; i++)
        answered_during += query_shield(conns[i], (uint32_t)(1000 + i + 1));
    tap_ok(wait_log(h, 0, "reload gen=2 status=done", 10000), "SIGHUP: login plugin reloaded (generation 2)");
    tap_is_int(answered_during, 20, "requests sent around the reload were all answered");

    int answered = 0;
    for (int i = 0; i < N_USERS; i++)
        answered += query_shield(conns[i], (uint32_t)(1000 + i + 1));
    tap_is_int(answered, N_USERS, "all 200 connections are still logged in and answered by the new code");

    imgate_client *late = harness_connect(h, 0);
    tap_ok(login_ok(late, "alice", "alice123", CLIENT_MAC), "new logins work after the reload");
    imgate_client_close(late);
    imgate_client *dup = harness_connect(h, 0);
    tap_ok(login_ok(dup, "load1", "pw", CLIENT_MAC), "a second PC login of a user from before the reload...");
    imgate_client_pdu pdu;
    tap_is_int(imgate_client_wait(conns[0], CID_LOGIN_KICK_USER, -1, &pdu, 3000), IMGATE_CLIENT_OK,
               "...kicks the old PC connection: sessions survived the reload");
    imgate_client_pdu_free(&pdu);
    imgate_client_close(dup);
    for (int i = 0; i < N_USERS; i++)
        imgate_client_close(conns[i]);
}

static void test_redis_down(void)
{
    char out[64] = "";
    harness_redis(h, "SHUTDOWN NOSAVE", out, sizeof out);
    imgate_client *c = harness_connect(h, 0);
    tap_ok(login_ok(c, "alice", "alice123", CLIENT_MAC), "Redis down, redis_down = allow: the login goes through");
    imgate_client_close(c);
    c = harness_connect(h, 1);
    char text[128];
    int rc = login_result(c, "alice", "alice123", text, sizeof text);
    tap_ok(rc == 3, "Redis down, redis_down = refuse: code 3 (%d %s)", rc, text);
    imgate_client_close(c);
    int status;
    char *m = http_get(h, 0, "/metrics", &status);
    tap_ok(m && strstr(m, "imgate_redis_errors_total"), "the Redis outage shows in /metrics");
    free(m);
}

int main(void)
{
    h = harness_start("login_ops");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, "login", "[gateway]\nkick_linger_ms = 300\n") != 0 ||
        harness_node_start(h, "login", "[plugin.login]\nredis_down = refuse\n") != 1)
        tap_bail("imgated did not start");
    add_user(h, 101, "alice", "alice123", 0);
    char out[64];
    if (harness_sql(h,
                    "INSERT INTO IMUser (id, sex, name, domain, nick, password, salt, phone, email, avatar, departId,"
                    " status, created, updated) SELECT 1000 + seq, 1, CONCAT('load', seq), '', CONCAT('Load ', seq),"
                    " MD5(CONCAT(MD5('pw'), '1111')), '1111', '', '', '', 1, 0, 1, 1 FROM seq_1_to_200",
                    out, sizeof out) != 0)
        tap_bail("cannot create the load users");
    test_database_down();
    test_database_restart();
    test_reload_with_sessions();
    test_redis_down();
    harness_stop(h);
    return tap_done();
}
