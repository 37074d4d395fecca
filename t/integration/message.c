/*
 * message.c — single messages over the real protocol against real MariaDB and
 * Redis: ack after the row is stored (with the request's seq), ids 1, 2, 3
 * shared by both directions of a pair, copies to the receiver's PC and mobile
 * and the sender's other device but not the sending connection, a forged
 * from_user_id, exact bytes in MySQL, the unread counter, per-conversation
 * order with many messages in flight, one relation per pair when two nodes
 * see a pair's first messages at once, and every refusal (nothing stored, no
 * ack, the connection still usable).
 */
#include <time.h>

#include "message_util.h"

static harness *h;

enum { ALICE = 201, BOB = 202, CAROL = 203, GONE = 204 };

static void test_ack_ids_delivery(void)
{
    imgate_client *a_pc = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *a_mob = msg_login(h, 0, "alice", "alice123", CLIENT_ANDROID);
    imgate_client *b_pc = msg_login(h, 0, "bob", "bob123", CLIENT_MAC);
    imgate_client *b_mob = msg_login(h, 0, "bob", "bob123", CLIENT_IOS);
    imgate_client_pdu drain;
    while (imgate_client_wait(a_mob, 0x020e, -1, &drain, 300) == 0) /* PC-online notices */
        imgate_client_pdu_free(&drain);
    while (imgate_client_wait(b_mob, 0x020e, -1, &drain, 300) == 0)
        imgate_client_pdu_free(&drain);

    time_t before = time(NULL);
    int seq = msg_send_text(a_pc, BOB, "hello bob");
    IM__Message__IMMsgDataAck *ack = msg_wait_ack(a_pc, seq, 5000);
    tap_ok(ack != NULL, "the sender gets IMMsgDataAck with the request's seq (%d)", seq);
    if (ack) {
        tap_is_int(ack->user_id, ALICE, "ack user_id = sender");
        tap_is_int(ack->session_id, BOB, "ack session_id = receiver");
        tap_is_int(ack->msg_id, 1, "the first message of a pair is 1");
        tap_is_int(ack->session_type, SESSION_TYPE_SINGLE, "ack session_type single");
        im__message__immsg_data_ack__free_unpacked(ack, NULL);
    }
    long long rel = relation_of(h, ALICE, BOB);
    tap_ok(rel > 0, "an IMRelationShip row was created on first contact (%lld)", rel);
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMMessage_%lld WHERE relateId = %lld AND msgId = 1 AND fromId = %d "
                          "AND toId = %d AND content = 'hello bob' AND type = 1 AND status = 0",
                       rel % 8, rel, ALICE, BOB),
               1, "the row is in IMMessage_<relateId %% 8> when the ack arrives");
    imgate_client *receivers[] = {b_pc, b_mob, a_mob};
    const char *names[] = {"the receiver's PC", "the receiver's mobile", "the sender's other device"};
    for (int i = 0; i < 3; i++) {
        IM__Message__IMMsgData *m = msg_wait_data(receivers[i], 3000);
        tap_ok(m && m->from_user_id == ALICE && m->to_session_id == BOB && m->msg_id == 1 &&
                   m->msg_type == MSG_TYPE_SINGLE_TEXT && m->msg_data.len == 9 &&
                   memcmp(m->msg_data.data, "hello bob", 9) == 0 && m->create_time >= before &&
                   m->create_time <= time(NULL) + 1 && !m->has_attach_data,
               "%s receives the IMMsgData with id 1 and server time", names[i]);
        msg_free_data(m);
    }
    tap_ok(nothing_of(a_pc, CID_MSG_DATA, 500), "the sending connection gets no copy");

    /* Both directions share the sequence. */
    seq = msg_send_text(b_mob, ALICE, "hi alice");
    tap_is_int(msg_ack_id(b_mob, seq, 5000), 2, "the reply goes the other way: id 2");
    IM__Message__IMMsgData *m = msg_wait_data(a_pc, 3000);
    tap_ok(m && m->msg_id == 2 && m->from_user_id == BOB, "alice's PC receives it");
    msg_free_data(m);
    m = msg_wait_data(a_mob, 3000);
    tap_ok(m && m->msg_id == 2, "alice's mobile receives it");
    msg_free_data(m);
    m = msg_wait_data(b_pc, 3000);
    tap_ok(m && m->msg_id == 2, "bob's PC gets the copy of what his mobile sent");
    msg_free_data(m);
    seq = msg_send_text(a_pc, BOB, "third");
    tap_is_int(msg_ack_id(a_pc, seq, 5000), 3, "and 3");
    char key[64];
    snprintf(key, sizeof key, "GET msg_id_%lld", rel);
    tap_is_int(redis_num(h, key), 3, "msg_id_<relateId> counts 3");
    snprintf(key, sizeof key, "HGET unread_%d %d", BOB, ALICE);
    tap_is_int(redis_num(h, key), 2, "unread_<bob> field <alice> counts the 2 stored messages from alice");
    snprintf(key, sizeof key, "HGET unread_%d %d", ALICE, BOB);
    tap_is_int(redis_num(h, key), 1, "unread_<alice> field <bob> counts 1");
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMRecentSession WHERE ((userId = %d AND peerId = %d) OR (userId = %d "
                          "AND peerId = %d)) AND type = 1 AND status = 0 AND updated >= %lld",
                       ALICE, BOB, BOB, ALICE, (long long)before),
               2, "both IMRecentSession rows exist, status 0, updated now");
    for (int i = 0; i < 2; i++) {
        msg_free_data(msg_wait_data(b_pc, 2000));
        msg_free_data(msg_wait_data(b_mob, 2000));
        msg_free_data(msg_wait_data(a_mob, 2000));
    }
    imgate_client_close(a_pc);
    imgate_client_close(a_mob);
    imgate_client_close(b_pc);
    imgate_client_close(b_mob);
}

static void test_forged_sender_and_bytes(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *c = msg_login(h, 0, "carol", "carol123", CLIENT_WINDOWS);
    int seq = msg_send_as(a, CAROL, CAROL, MSG_TYPE_SINGLE_TEXT, "from alice really", 17);
    IM__Message__IMMsgDataAck *ack = msg_wait_ack(a, seq, 5000);
    tap_ok(ack && ack->user_id == ALICE && ack->session_id == CAROL,
           "a forged from_user_id (= carol, to carol) is ignored: alice's message to carol is acked");
    if (ack)
        im__message__immsg_data_ack__free_unpacked(ack, NULL);
    IM__Message__IMMsgData *m = msg_wait_data(c, 3000);
    tap_ok(m && m->from_user_id == ALICE, "carol receives it from alice");
    msg_free_data(m);
    long long rel = relation_of(h, ALICE, CAROL);
    tap_is_int(sql_num(h, "SELECT fromId FROM IMMessage_%lld WHERE relateId = %lld AND msgId = 1", rel % 8, rel),
               ALICE, "stored with fromId = alice");

    /* Exact bytes: multi-byte UTF-8 (2, 3 and 4 bytes), control characters and NUL. */
    static const uint8_t mixed[] = "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 \x01\x02\x1f\x7f tab\there \x00 end";
    size_t mixed_len = sizeof mixed - 1;
    seq = msg_send_as(a, 0, CAROL, MSG_TYPE_SINGLE_TEXT, mixed, mixed_len);
    uint32_t id = msg_ack_id(a, seq, 5000);
    tap_is_int(id, 2, "multi-byte UTF-8, control characters and a NUL: acked");
    char hex[512], want[512] = "", sql[256];
    for (size_t i = 0; i < mixed_len; i++)
        snprintf(want + 2 * i, 3, "%02X", mixed[i]);
    snprintf(sql, sizeof sql, "SELECT HEX(content) FROM IMMessage_%lld WHERE relateId = %lld AND msgId = 2", rel % 8, rel);
    harness_sql(h, sql, hex, sizeof hex);
    tap_is_str(hex, want, "MySQL holds exactly the bytes sent");
    m = msg_wait_data(c, 3000);
    tap_ok(m && m->msg_data.len == mixed_len && memcmp(m->msg_data.data, mixed, mixed_len) == 0,
           "and the receiver gets exactly those bytes");
    msg_free_data(m);

    /* The column's limit exactly: 4096 characters of 4 bytes each (16384 bytes). */
    size_t big_len = 4096 * 4;
    uint8_t *big = malloc(big_len);
    for (size_t i = 0; i < 4096; i++)
        memcpy(big + 4 * i, "\xf0\x9f\x98\x80", 4);
    seq = msg_send_as(a, 0, CAROL, MSG_TYPE_SINGLE_TEXT, big, big_len);
    tap_is_int(msg_ack_id(a, seq, 5000), 3, "4096 four-byte characters (the column's limit) are acked");
    tap_is_int(sql_num(h, "SELECT LENGTH(content) FROM IMMessage_%lld WHERE relateId = %lld AND msgId = 3", rel % 8, rel),
               (long long)big_len, "and stored whole (16384 bytes)");
    m = msg_wait_data(c, 3000);
    tap_ok(m && m->msg_data.len == big_len, "and delivered whole");
    msg_free_data(m);
    free(big);
    imgate_client_close(a);
    imgate_client_close(c);
}

/* A refused message: no ack, nothing stored, the connection still sends. */
static void expect_refused(imgate_client *c, int seq, const char *what, long long rows_before)
{
    tap_ok(msg_wait_ack(c, seq, 800) == NULL, "%s: no ack", what);
    tap_is_int(sql_num(h, "SELECT (SELECT COUNT(*) FROM IMMessage_0) + (SELECT COUNT(*) FROM IMMessage_1) + "
                          "(SELECT COUNT(*) FROM IMMessage_2) + (SELECT COUNT(*) FROM IMMessage_3) + "
                          "(SELECT COUNT(*) FROM IMMessage_4) + (SELECT COUNT(*) FROM IMMessage_5) + "
                          "(SELECT COUNT(*) FROM IMMessage_6) + (SELECT COUNT(*) FROM IMMessage_7)"),
               rows_before, "%s: nothing stored", what);
    tap_ok(heartbeat_ok(c), "%s: the connection stays usable", what);
}

static long long all_rows(void)
{
    return sql_num(h, "SELECT (SELECT COUNT(*) FROM IMMessage_0) + (SELECT COUNT(*) FROM IMMessage_1) + "
                      "(SELECT COUNT(*) FROM IMMessage_2) + (SELECT COUNT(*) FROM IMMessage_3) + "
                      "(SELECT COUNT(*) FROM IMMessage_4) + (SELECT COUNT(*) FROM IMMessage_5) + "
                      "(SELECT COUNT(*) FROM IMMessage_6) + (SELECT COUNT(*) FROM IMMessage_7)");
}

static void test_refusals(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    long long rows = all_rows();
    long long relations = sql_num(h, "SELECT COUNT(*) FROM IMRelationShip");

    expect_refused(a, msg_send_text(a, ALICE, "me to me"), "a message to oneself", rows);
    expect_refused(a, msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_TEXT, "", 0), "an empty msg_data", rows);
    expect_refused(a, msg_send_text(a, 999999, "nobody"), "an unknown receiver", rows);
    expect_refused(a, msg_send_text(a, GONE, "you left"), "a receiver who left (status 3)", rows);
    expect_refused(a, msg_send_text(a, 0, "zero"), "receiver id 0", rows);
    tap_is_int(sql_num(h, "SELECT COUNT(*) FROM IMRelationShip"), relations, "no relation was created for them");

    uint16_t s16;
    imgate_client_send(a, SID_MSG, CID_MSG_DATA, "\x08\xff\xff\xff\xff\xff\xff", 7, &s16);
    expect_refused(a, s16, "an unparsable body", rows);
    /* A body missing required fields (only to_session_id). */
    imgate_client_send(a, SID_MSG, CID_MSG_DATA, "\x10\xca\x01", 3, &s16);
    expect_refused(a, s16, "a body without its required fields", rows);
    expect_refused(a, msg_send_as(a, 0, BOB, 7, "what type", 9), "an unknown message type (7)", rows);

    size_t n = 4097;
    char *longer = malloc(n);
    memset(longer, 'x', n);
    expect_refused(a, msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_TEXT, longer, n),
                   "4097 characters (longer than the column holds)", rows);
    free(longer);
    expect_refused(a, msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_TEXT, "bad \xff\xfe bytes", 12),
                   "text that is not UTF-8 (the column could not hold it as sent)", rows);
    expect_refused(a, msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_TEXT, "\xed\xa0\x80", 3), "a UTF-16 surrogate", rows);
    expect_refused(a, msg_send_as(a, 0, BOB, MSG_TYPE_SINGLE_AUDIO, "\0\0\0\5", 4),
                   "audio of 4 bytes (duration, no sound)", rows);

    int seq = msg_send_text(a, BOB, "after the refusals");
    tap_ok(msg_ack_id(a, seq, 5000) > 0, "a good message afterwards is acked");
    imgate_client_close(a);
}

/* Many messages in flight from one connection: acked and delivered in the order sent. */
static void test_order(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *c = msg_login(h, 0, "carol", "carol123", CLIENT_WINDOWS);
    enum { N = 200 };
    int seqs[N];
    char text[32];
    for (int i = 0; i < N; i++) {
        snprintf(text, sizeof text, "order %d", i);
        seqs[i] = msg_send_text(a, CAROL, text);
    }
    uint32_t last = 0;
    int in_order = 1, acked = 0;
    for (int i = 0; i < N; i++) {
        uint32_t id = msg_ack_id(a, seqs[i], 10000);
        if (id == 0)
            continue;
        acked++;
        if (id != last + 1 && last != 0)
            in_order = 0;
        last = id;
    }
    tap_is_int(acked, N, "%d messages sent without waiting are all acked", N);
    tap_ok(in_order, "with consecutive ids in the order sent");
    int delivered_in_order = 1, got = 0;
    uint32_t prev = 0;
    for (int i = 0; i < N; i++) {
        IM__Message__IMMsgData *m = msg_wait_data(c, 5000);
        if (m == NULL)
            break;
        snprintf(text, sizeof text, "order %d", i);
        if (m->msg_data.len != strlen(text) || memcmp(m->msg_data.data, text, m->msg_data.len) != 0 ||
            (prev && m->msg_id != prev + 1))
            delivered_in_order = 0;
        prev = m->msg_id;
        got++;
        msg_free_data(m);
    }
    tap_is_int(got, N, "the receiver gets all %d", N);
    tap_ok(delivered_in_order, "in the order sent, ids consecutive");
    imgate_client_close(a);
    imgate_client_close(c);
}

/* Pairs whose first messages cross: each user on another node, both sending at once. */
static void test_relation_race(void)
{
    enum { PAIRS = 8 };
    imgate_client *x[PAIRS], *y[PAIRS];
    char user[32], pass[32];
    for (int i = 0; i < PAIRS; i++) {
        snprintf(user, sizeof user, "racex%d", i);
        snprintf(pass, sizeof pass, "racex%d", i);
        x[i] = msg_login(h, 0, user, pass, CLIENT_WINDOWS);
        snprintf(user, sizeof user, "racey%d", i);
        snprintf(pass, sizeof pass, "racey%d", i);
        y[i] = msg_login(h, 1, user, pass, CLIENT_WINDOWS);
    }
    int sx[PAIRS][3], sy[PAIRS][3];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < PAIRS; i++) {
            sx[i][k] = msg_send_text(x[i], 400 + i, "x first");
            sy[i][k] = msg_send_text(y[i], 300 + i, "y first");
        }
    int one_relation = 1, ids_ok = 1;
    for (int i = 0; i < PAIRS; i++) {
        int seen[7] = {0};
        for (int k = 0; k < 3; k++) {
            uint32_t a = msg_ack_id(x[i], sx[i][k], 10000), b = msg_ack_id(y[i], sy[i][k], 10000);
            if (a == 0 || a > 6 || b == 0 || b > 6 || seen[a]++ || seen[b]++)
                ids_ok = 0;
        }
        if (sql_num(h, "SELECT COUNT(*) FROM IMRelationShip WHERE smallId = %d AND bigId = %d", 300 + i, 400 + i) != 1)
            one_relation = 0;
        imgate_client_close(x[i]);
        imgate_client_close(y[i]);
    }
    tap_ok(one_relation, "%d pairs whose first messages crossed on two nodes: exactly one IMRelationShip row each",
           PAIRS);
    tap_ok(ids_ok, "and their 6 messages got ids 1..6, each once");
}

int main(void)
{
    h = harness_start("message");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    const char *ini = "[gateway]\nmsg_rate_per_second = 1000\n";
    if (harness_node_start(h, MSG_PLUGINS, ini) != 0 || harness_node_start(h, MSG_PLUGINS, ini) != 1)
        tap_bail("imgated did not start");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    add_user(h, CAROL, "carol", "carol123", 0);
    add_user(h, GONE, "gone", "gone123", 3);
    char name[32];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "racex%d", i);
        add_user(h, 300 + i, name, name, 0);
        snprintf(name, sizeof name, "racey%d", i);
        add_user(h, 400 + i, name, name, 0);
    }
    test_ack_ids_delivery();
    test_forged_sender_and_bytes();
    test_refusals();
    test_order();
    test_relation_race();
    harness_stop(h);
    return tap_done();
}
