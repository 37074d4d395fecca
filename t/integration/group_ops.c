/*
 * group_ops.c — the group plugin under operations: SIGHUP reloading it while
 * 20 logged-in clients keep sending every group command (each request
 * answered, the cache consistent with MySQL afterwards); MariaDB stopped
 * (writes answer "failed", nothing half-done, everything works again once it
 * is back); Redis gone (MySQL answers: lists, info, creates and changes go
 * on; the cache writes that failed are logged and retried).
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "group_util.h"

#define N_CLIENTS 20
#define FIRST_USER 301
#define ROUNDS 60

static harness *h;
static char out[4096], buf[4096];

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *o = fopen(to, "wb");
    char b[65536];
    size_t n;
    int rc = in && o ? 0 : -1;
    while (rc == 0 && (n = fread(b, 1, sizeof b, in)) > 0)
        if (fwrite(b, 1, n, o) != n)
            rc = -1;
    if (in)
        fclose(in);
    if (o && fclose(o) != 0)
        rc = -1;
    return rc;
}

/* Installs the built group plugin again: new code to the loader (a private copy per load). */
static void reinstall_group_plugin(void)
{
    char from[4096], tmp[4096], to[4096];
    snprintf(from, sizeof from, "%s/plugins/group/.libs/group.so", getenv("top_builddir"));
    snprintf(tmp, sizeof tmp, "%s/plugins/group.so.new", harness_node_dir(h, 0));
    snprintf(to, sizeof to, "%s/plugins/group.so", harness_node_dir(h, 0));
    if (copy_file(from, tmp) != 0 || rename(tmp, to) != 0)
        tap_bail("cannot reinstall %s", from);
}

/* Request number `round` of client i: a mix of every command. Returns the response id awaited. */
static uint16_t send_one(imgate_client *c, int i, int round, uint32_t tmp, uint32_t normal, uint16_t *seq)
{
    uint32_t other = FIRST_USER + N_CLIENTS - 1;
    switch ((round + i) % 4) {
    case 0: {
        IM__BaseDefine__GroupVersionInfo v[2], *p[2] = {&v[0], &v[1]};
        im__base_define__group_version_info__init(&v[0]);
        im__base_define__group_version_info__init(&v[1]);
        v[0].group_id = tmp;
        v[1].group_id = normal;
        IM__Group__IMGroupInfoListReq req = IM__GROUP__IMGROUP_INFO_LIST_REQ__INIT;
        req.n_group_version_list = 2;
        req.group_version_list = p;
        imgate_client_send_msg(c, SID_GROUP, CID_GROUP_INFO_REQUEST, &req.base, seq);
        return CID_GROUP_INFO_RESPONSE;
    }
    case 1: {
        IM__Group__IMNormalGroupListReq req = IM__GROUP__IMNORMAL_GROUP_LIST_REQ__INIT;
        imgate_client_send_msg(c, SID_GROUP, CID_GROUP_NORMAL_LIST_REQUEST, &req.base, seq);
        return CID_GROUP_NORMAL_LIST_RESPONSE;
    }
    case 2: {
        IM__Group__IMGroupShieldReq req = IM__GROUP__IMGROUP_SHIELD_REQ__INIT;
        req.group_id = tmp;
        req.shield_status = (uint32_t)(round / 4 % 2);
        imgate_client_send_msg(c, SID_GROUP, CID_GROUP_SHIELD_GROUP_REQUEST, &req.base, seq);
        return CID_GROUP_SHIELD_GROUP_RESPONSE;
    }
    default: {
        /* Client 0 created the group: it takes the last user out and puts it back, in turns.
         * The others (members of a temporary group) add a member who is already in. */
        IM__Group__IMGroupChangeMemberReq req = IM__GROUP__IMGROUP_CHANGE_MEMBER_REQ__INIT;
        req.change_type = i == 0 && round / 4 % 2 ? GROUP_MODIFY_TYPE_DEL : GROUP_MODIFY_TYPE_ADD;
        req.group_id = tmp;
        req.n_member_id_list = 1;
        req.member_id_list = &other;
        imgate_client_send_msg(c, SID_GROUP, CID_GROUP_CHANGE_MEMBER_REQUEST, &req.base, seq);
        return CID_GROUP_CHANGE_MEMBER_RESPONSE;
    }
    }
}

/* 1 when the cached members of `gid` are exactly MySQL's, at MySQL's version. */
static int cache_matches_mysql(uint32_t gid)
{
    char mysql_members[4096], mysql_version[64];
    sql1(h, mysql_members, sizeof mysql_members,
         "SELECT GROUP_CONCAT(userId ORDER BY userId) FROM IMGroupMember WHERE groupId = %u AND status = 0", gid);
    sql1(h, mysql_version, sizeof mysql_version, "SELECT version FROM IMGroup WHERE id = %u", gid);
    redis1(h, out, sizeof out, "HKEYS group_member_%u", gid);
    /* redis-cli prints one key per line: sort them numerically into "a,b,c". */
    uint32_t ids[256];
    size_t n = 0;
    for (char *tok = strtok(out, "\n"); tok && n < 256; tok = strtok(NULL, "\n"))
        ids[n++] = (uint32_t)atol(tok);
    sorted_text(ids, n, buf, sizeof buf);
    char cached_version[64];
    redis1(h, cached_version, sizeof cached_version, "HGET imgate:group:%u version", gid);
    int ok = strcmp(buf, mysql_members) == 0 && strcmp(cached_version, mysql_version) == 0;
    if (!ok)
        tap_diag("cache %s v%s, MySQL %s v%s", buf, cached_version, mysql_members, mysql_version);
    return ok;
}

static void test_reload_under_load(void)
{
    static imgate_client *c[N_CLIENTS];
    uint32_t ids[N_CLIENTS];
    char name[32];
    for (int i = 0; i < N_CLIENTS; i++) {
        snprintf(name, sizeof name, "user%02d", i + 1);
        c[i] = user_on(h, 0, name, i % 2 ? CLIENT_ANDROID : CLIENT_WINDOWS);
        ids[i] = FIRST_USER + (uint32_t)i;
    }
    uint32_t tmp = group_create(c[0], "under load", ids, N_CLIENTS);
    uint32_t normal = 950;
    sql1(h, out, sizeof out,
         "INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, created, updated) "
         "VALUES (950, 'Load', '', 301, 1, 20, 0, 1, 1, 1)");
    sql1(h, out, sizeof out,
         "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) SELECT 950, 300 + seq, 0, 1, 1 "
         "FROM seq_1_to_20");
    tap_ok(tmp > 0, "a temporary group of 20 users, and a normal one inserted by SQL");

    int sent = 0, answered = 0, reloads = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint16_t seqs[N_CLIENTS], want[N_CLIENTS];
        for (int i = 0; i < N_CLIENTS; i++) {
            want[i] = send_one(c[i], i, round, tmp, normal, &seqs[i]);
            sent++;
        }
        if (round == ROUNDS / 3 || round == 2 * ROUNDS / 3) {
            /* Mid-flight: 20 requests are on their way while the new generation is built. */
            reinstall_group_plugin();
            harness_node_signal(h, 0, SIGHUP);
            reloads++;
        }
        for (int i = 0; i < N_CLIENTS; i++) {
            imgate_client_pdu pdu;
            if (imgate_client_wait(c[i], want[i], seqs[i], &pdu, 10000) == 0) {
                answered++;
                imgate_client_pdu_free(&pdu);
            }
        }
    }
    tap_ok(wait_log(h, 0, "reload gen=2 status=done", 10000), "first reload done (generation 2)");
    tap_ok(wait_log(h, 0, "reload gen=3 status=done", 10000), "second reload done (generation 3)");
    tap_is_int(reloads, 2, "two reloads while requests were in flight");
    tap_is_int(answered, sent, "every one of the %d requests was answered", sent);
    tap_ok(!harness_node_log_contains(h, 0, "cache_write_lost") && !harness_node_log_contains(h, 0, "leaked"),
           "no cache write lost, no generation leaked");
    tap_ok(cache_matches_mysql(tmp), "afterwards the cached temporary group is MySQL's, version included");
    tap_ok(cache_matches_mysql(normal), "so is the normal one");
    IM__Group__IMGroupInfoListRsp *r = group_info1(c[5], tmp, 0);
    tap_ok(r && info_of(r, tmp) != NULL, "the new generation answers group info");
    if (r)
        group_free(r);
    for (int i = 0; i < N_CLIENTS; i++)
        imgate_client_close(c[i]);
}

static void test_database_down(void)
{
    imgate_client *a = user_on(h, 0, "user01", CLIENT_WINDOWS);
    uint32_t ids[] = {FIRST_USER, FIRST_USER + 1};
    uint32_t g = group_create(a, "before the outage", ids, 2);
    char before[64];
    sql1(h, before, sizeof before, "SELECT COUNT(*) FROM IMGroup");

    tap_is_int(harness_mysql_stop(h), 0, "MariaDB stopped");
    tap_is_int(group_create_result(a, GROUP_TYPE_TMP, "during", "", ids, 2), G_FAILED, "create: result 1 (failed)");
    tap_is_int(group_change1(a, g, GROUP_MODIFY_TYPE_ADD, FIRST_USER + 2), G_FAILED, "change: result 1");
    tap_is_int(group_shield(a, g, 1), G_FAILED, "shield: result 1");
    tap_is_int(listed_version(a, 950), -1,
               "normal list: no answer (an empty list would tell the client it is in no group)");
    tap_ok(heartbeat_ok(a), "the connection is still served");
    int status;
    char *body = http_get(h, 0, "/health", &status);
    tap_is_int(status, 200, "the daemon stays up");
    free(body);

    tap_is_int(harness_mysql_start(h), 0, "MariaDB started again");
    tap_is_str(sql1(h, out, sizeof out, "SELECT COUNT(*) FROM IMGroup"), before, "nothing was created meanwhile");
    tap_is_str(redis1(h, out, sizeof out, "HEXISTS group_member_%u %u", g, FIRST_USER + 2), "0",
               "and the cache did not take the refused change");
    int ok = 0;
    long long end = mono_ms() + 15000;
    while (!ok && mono_ms() < end) {
        ok = group_change1(a, g, GROUP_MODIFY_TYPE_ADD, FIRST_USER + 2) == G_OK;
        if (!ok) {
            struct timespec ts = {0, 200 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    tap_ok(ok, "changes work again once MariaDB is back");
    imgate_client_close(a);
}

static void test_redis_down(void)
{
    imgate_client *a = user_on(h, 0, "user01", CLIENT_WINDOWS);
    imgate_client *b = user_on(h, 0, "user02", CLIENT_WINDOWS);
    uint32_t ids[] = {FIRST_USER, FIRST_USER + 1};
    uint32_t g = group_create(a, "before Redis goes", ids, 2);
    harness_redis(h, "SHUTDOWN NOSAVE", out, sizeof out);

    tap_ok(listed_version(a, 950) > 0, "Redis down: the normal list is answered");
    IM__Group__IMGroupInfoListRsp *r = group_info1(a, 950, 0);
    const IM__BaseDefine__GroupInfo *gi = info_of(r, 950);
    tap_ok(gi && gi->n_group_member_list == 20, "Redis down: group info comes from MySQL");
    if (r)
        group_free(r);
    uint32_t g2 = group_create(a, "while Redis is down", ids, 2);
    tap_ok(g2 > 0, "Redis down: a group is created (MySQL is the truth)");
    IM__Group__IMGroupChangeMemberRsp *ch = group_change(a, g, GROUP_MODIFY_TYPE_ADD, (uint32_t[]){FIRST_USER + 3}, 1);
    tap_ok(ch && ch->result_code == G_OK, "Redis down: members change");
    if (ch)
        group_free(ch);
    IM__Group__IMGroupChangeMemberNotify *n = wait_group_notify(b, 3000);
    tap_ok(n && n->group_id == g, "Redis down: the notification still goes out");
    if (n)
        group_free(n);
    r = group_info1(b, g, 0);
    gi = info_of(r, g);
    tap_ok(gi && gi->version == 2 && gi->n_group_member_list == 3, "Redis down: info shows the change");
    if (r)
        group_free(r);
    tap_ok(wait_log(h, 0, "event=cache_write_failed", 5000), "the failed cache writes are logged and retried");
    imgate_client_close(a);
    imgate_client_close(b);
}

int main(void)
{
    h = harness_start("group_ops");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    /* A short Redis timeout keeps the outage test quick. */
    if (harness_node_start(h, "login,group",
                           "[redis]\ntimeout_ms = 500\n[plugin.group]\nwrites_per_minute = 100000\n") != 0)
        tap_bail("imgated did not start");
    char name[32];
    for (int i = 0; i < N_CLIENTS; i++) {
        snprintf(name, sizeof name, "user%02d", i + 1);
        group_add_user(h, FIRST_USER + (unsigned)i, name, 0);
    }
    test_reload_under_load();
    test_database_down();
    test_redis_down();
    harness_stop(h);
    return tap_done();
}
