/*
 * message_ids.c — message ids that survive Redis losing its counters
 * (protocol E; never restart at 1, never hand out a stored id twice):
 * after FLUSHALL a pair and a group continue past the stored maximum; two
 * nodes that both find the counter missing at once give distinct ids; a
 * counter behind MySQL (an old snapshot restored) or holding garbage is
 * caught and raised before anything is stored twice.
 */
#include "message_util.h"

static harness *h;

enum { ALICE = 241, BOB = 242 };
#define GID 70

/* Rows of a relation whose msgId is not unique (0 when all are). */
static long long duplicates(long long rel)
{
    return sql_num(h, "SELECT COUNT(*) - COUNT(DISTINCT msgId) FROM IMMessage_%lld WHERE relateId = %lld", rel % 8, rel);
}

static void test_flushall(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *b = msg_login(h, 1, "bob", "bob123", CLIENT_WINDOWS);
    for (int i = 1; i <= 5; i++)
        if (msg_ack_id(a, msg_send_text(a, BOB, "before"), 5000) != (uint32_t)i)
            tap_bail("setup message %d", i);
    long long rel = relation_of(h, ALICE, BOB);
    harness_redis(h, "FLUSHALL", NULL, 0);
    tap_is_int(msg_ack_id(a, msg_send_text(a, BOB, "after flush"), 5000), 6,
               "after FLUSHALL the pair's next id is 6 (re-seeded from MySQL's 5), not 1");
    char key[64];
    snprintf(key, sizeof key, "GET msg_id_%lld", rel);
    tap_is_int(redis_num(h, key), 6, "msg_id_<relateId> is back, at 6");

    /* Both nodes find the counter missing at the same moment. */
    harness_redis(h, "FLUSHALL", NULL, 0);
    int sa[10], sb[10];
    for (int i = 0; i < 10; i++) {
        sa[i] = msg_send_text(a, BOB, "race a");
        sb[i] = msg_send_text(b, ALICE, "race b");
    }
    int seen[40] = {0}, ok = 1;
    for (int i = 0; i < 10; i++) {
        uint32_t x = msg_ack_id(a, sa[i], 10000), y = msg_ack_id(b, sb[i], 10000);
        if (x < 7 || x > 26 || y < 7 || y > 26 || seen[x]++ || seen[y]++)
            ok = 0;
    }
    tap_ok(ok, "two nodes re-seeding at once: 20 messages get 20 distinct ids, 7..26");
    tap_is_int(duplicates(rel), 0, "no msgId is stored twice");
    tap_is_int(sql_num(h, "SELECT MAX(msgId) FROM IMMessage_%lld WHERE relateId = %lld", rel % 8, rel), 26,
               "MySQL's largest id is 26");

    /* A counter behind MySQL: it hands out stored ids, which the write refuses and re-seeds past. */
    snprintf(key, sizeof key, "SET msg_id_%lld 3", rel);
    harness_redis(h, key, NULL, 0);
    tap_is_int(msg_ack_id(a, msg_send_text(a, BOB, "stale counter"), 5000), 27,
               "a counter set back to 3 (an old snapshot): the message is stored as 27, not 4");
    tap_is_int(duplicates(rel), 0, "and id 4 is not stored twice");
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMMessage_%lld WHERE relateId = %lld AND content = 'stale counter'",
                       rel % 8, rel), 1, "the message is stored once");
    snprintf(key, sizeof key, "SET msg_id_%lld garbage", rel);
    harness_redis(h, key, NULL, 0);
    tap_is_int(msg_ack_id(a, msg_send_text(a, BOB, "garbage counter"), 5000), 28,
               "a counter holding garbage is re-seeded too (28)");
    msg_drain(a, 200);
    msg_drain(b, 200);
    imgate_client_close(a);
    imgate_client_close(b);
}

static void test_group_flush(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    for (int i = 1; i <= 3; i++)
        if (msg_ack_id(a, msg_send_as(a, 0, GID, MSG_TYPE_GROUP_TEXT, "g", 1), 5000) != (uint32_t)i)
            tap_bail("group setup message %d", i);
    harness_redis(h, "FLUSHALL", NULL, 0);
    tap_is_int(msg_ack_id(a, msg_send_as(a, 0, GID, MSG_TYPE_GROUP_TEXT, "g after", 7), 5000), 4,
               "after FLUSHALL the group's next id is 4 (membership rebuilt, counter re-seeded)");
    tap_is_int(redis_num(h, "GET group_msg_id_70"), 4, "group_msg_id_<gid> is back, at 4");
    harness_redis(h, "SET group_msg_id_70 1", NULL, 0);
    tap_is_int(msg_ack_id(a, msg_send_as(a, 0, GID, MSG_TYPE_GROUP_TEXT, "g stale", 7), 5000), 5,
               "a group counter behind MySQL: stored as 5, not 2");
    tap_is_int(sql_num(h, "SELECT COUNT(*) - COUNT(DISTINCT msgId) FROM IMGroupMessage_%d WHERE groupId = %d", GID % 8, GID),
               0, "no group msgId is stored twice");
    imgate_client_close(a);
}

int main(void)
{
    h = harness_start("message_ids");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    const char *ini = "[gateway]\nmsg_rate_per_second = 1000\n";
    if (harness_node_start(h, MSG_PLUGINS, ini) != 0 || harness_node_start(h, MSG_PLUGINS, ini) != 1)
        tap_bail("imgated did not start");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    sql_do(h, "INSERT INTO IMGroup (id, name, creator, type, userCnt, status, version, created, updated) VALUES "
              "(%d, 'ids', %d, 2, 2, 0, 1, 1, 1)", GID, ALICE);
    sql_do(h, "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (%d, %d, 0, 1, 1), "
              "(%d, %d, 0, 1, 1)", GID, ALICE, GID, BOB);
    test_flushall();
    test_group_flush();
    harness_stop(h);
    return tap_done();
}
