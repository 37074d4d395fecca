/*
 * message_failures.c — nothing acknowledged is ever lost, under failure:
 *
 *   kill -9 of imgated in the middle of a burst: every acked message is in
 *     MySQL exactly once with its content and its acked id; a new node goes
 *     on with the next ids;
 *   MariaDB stopped mid-burst: no ack for what was not stored, the daemon
 *     stays up, and sending works again once MariaDB is back;
 *   a reload (SIGHUP) during a burst, and two in quick succession: every
 *     message acked, stored and delivered exactly once, in order;
 *   overload: at the in-flight caps the node stops reading the flooding
 *     connection (TCP backpressure) and still acks everything it accepted,
 *     in order, while another user's message goes through.
 */
#include <signal.h>
#include <unistd.h>

#include "message_util.h"

static harness *h;

enum { ALICE = 251, BOB = 252, CAROL = 253 };
#define SENDERS 4

/* A burst of numbered messages "TAG-i" and the acks that came back. */
typedef struct burst {
    const char *tag;
    int n;
    int seq_to_i[65536];
    uint32_t ack[20000];
    int acked;
} burst;

static burst *burst_new(const char *tag)
{
    burst *b = calloc(1, sizeof *b);
    b->tag = tag;
    for (int i = 0; i < 65536; i++)
        b->seq_to_i[i] = -1;
    return b;
}

static void burst_send(imgate_client *c, burst *b, uint32_t to, int count)
{
    char text[64];
    for (int k = 0; k < count; k++) {
        snprintf(text, sizeof text, "%s-%d", b->tag, b->n);
        int seq = msg_send_text(c, to, text);
        if (seq < 0)
            break;
        b->seq_to_i[seq] = b->n++;
    }
}

/* Reads until `until` acks in total, the connection closes, or nothing comes for quiet_ms. */
static void burst_read(imgate_client *c, burst *b, int until, int quiet_ms)
{
    imgate_client_pdu pdu;
    while (b->acked < until && imgate_client_recv(c, &pdu, quiet_ms) == 0) {
        if (pdu.h.command_id == CID_MSG_DATA_ACK) {
            IM__Message__IMMsgDataAck *a = im__message__immsg_data_ack__unpack(NULL, pdu.body_len, pdu.body);
            int i = b->seq_to_i[pdu.h.seq_num];
            if (a && i >= 0 && b->ack[i] == 0) {
                b->ack[i] = a->msg_id;
                b->acked++;
            }
            if (a)
                im__message__immsg_data_ack__free_unpacked(a, NULL);
        }
        imgate_client_pdu_free(&pdu);
    }
}

/* Every acked message is stored exactly once with its id; no stored content appears twice. */
static int burst_verify(burst *b, long long rel, int *stored_out)
{
    static char out[1 << 20];
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT content, msgId FROM IMMessage_%lld WHERE relateId = %lld AND content LIKE '%s-%%'",
             rel % 8, rel, b->tag);
    if (harness_sql(h, sql, out, sizeof out) != 0)
        return 0;
    static int count[20000];
    static uint32_t id_of[20000];
    memset(count, 0, sizeof count);
    int stored = 0, ok = 1;
    size_t taglen = strlen(b->tag);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int i;
        unsigned id;
        if (strncmp(line, b->tag, taglen) != 0 || sscanf(line + taglen, "-%d\t%u", &i, &id) != 2 || i < 0 || i >= 20000)
            continue;
        count[i]++;
        id_of[i] = id;
        stored++;
    }
    for (int i = 0; i < b->n; i++) {
        if (count[i] > 1)
            ok = 0; /* stored twice */
        if (b->ack[i] && (count[i] != 1 || id_of[i] != b->ack[i]))
            ok = 0; /* acked but missing, or under another id */
    }
    *stored_out = stored;
    return ok;
}

static void test_kill9(void)
{
    imgate_client *a = msg_login(h, 0, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *b = msg_login(h, 0, "bob", "bob123", CLIENT_WINDOWS);
    burst *k = burst_new("kill");
    burst_send(a, k, BOB, 5000);
    burst_read(a, k, 400, 5000);
    harness_node_signal(h, 0, SIGKILL);
    burst_read(a, k, k->n, 2000); /* acks already on their way */
    tap_ok(k->acked >= 400 && k->acked < k->n, "kill -9 in the middle of a burst: %d of %d acked before the end",
           k->acked, k->n);
    int exit_status = 0;
    harness_node_wait_exit(h, 0, 5000, &exit_status);
    long long rel = relation_of(h, ALICE, BOB);
    int stored = 0;
    tap_ok(burst_verify(k, rel, &stored), "every acked message is in MySQL exactly once, with its content and acked id");
    tap_diag("acked %d, stored %d, sent %d", k->acked, stored, k->n);
    tap_ok(stored >= k->acked, "nothing acked is missing (%d stored >= %d acked)", stored, k->acked);
    imgate_client_close(a);
    imgate_client_close(b);
    free(k);

    /* A new node: the next ids follow, nothing is stored twice. */
    if (harness_node_start(h, MSG_PLUGINS, "[gateway]\nmsg_rate_per_second = 100000\n") != 1)
        tap_bail("cannot start a second node");
    a = msg_login(h, 1, "alice", "alice123", CLIENT_WINDOWS);
    long long max = sql_num(h, "SELECT MAX(msgId) FROM IMMessage_%lld WHERE relateId = %lld", rel % 8, rel);
    uint32_t id = msg_ack_id(a, msg_send_text(a, BOB, "after the crash"), 5000);
    tap_ok(id > (uint32_t)max, "a message after the crash gets an id past every stored one (%u > %lld)", id, max);
    tap_is_int(sql_num(h, "SELECT COUNT(*) - COUNT(DISTINCT msgId) FROM IMMessage_%lld WHERE relateId = %lld", rel % 8, rel),
               0, "no msgId of the pair is stored twice");
    imgate_client_close(a);
}

static void test_mariadb_down(void)
{
    imgate_client *a = msg_login(h, 1, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *c = msg_login(h, 1, "carol", "carol123", CLIENT_WINDOWS);
    burst *d = burst_new("dbdown");
    burst_send(a, d, CAROL, 3000);
    burst_read(a, d, 300, 5000);
    int before = d->acked;
    tap_ok(harness_mysql_stop(h) == 0, "MariaDB stopped after %d acks", before);
    burst_read(a, d, d->n, 3000);
    tap_ok(d->acked < d->n, "with MariaDB down the rest is not acked (%d of %d acked)", d->acked, d->n);
    tap_ok(heartbeat_ok(a) && harness_node_signal(h, 1, 0) == 0, "the daemon is alive and serving");
    tap_ok(harness_mysql_start(h) == 0, "MariaDB is back");
    long long rel = relation_of(h, ALICE, CAROL);
    int stored = 0;
    tap_ok(burst_verify(d, rel, &stored), "every acked message is stored exactly once with its id");
    tap_diag("acked %d, stored %d, sent %d", d->acked, stored, d->n);
    uint32_t id = 0;
    for (int i = 0; i < 40 && id == 0; i++)
        id = msg_ack_id(a, msg_send_text(a, CAROL, "back again"), 1000);
    tap_ok(id > 0, "sending works again once MariaDB is back (id %u)", id);
    tap_is_int(sql_num(h, "SELECT COUNT(*) - COUNT(DISTINCT msgId) FROM IMMessage_%lld WHERE relateId = %lld", rel % 8, rel),
               0, "no msgId is stored twice");
    msg_drain(c, 100);
    imgate_client_close(a);
    imgate_client_close(c);
    free(d);
}

/* `reloads` SIGHUPs (1 or 2) between the thirds of a burst of 300 per sender; the pairs' ids
 * continue from `first_id`; `gen` is the generation the last reload makes. */
static void test_reload_burst(int reloads, uint32_t first_id, int gen)
{
    imgate_client *s[SENDERS], *r[SENDERS];
    burst *b[SENDERS];
    char name[32], tag[32];
    for (int i = 0; i < SENDERS; i++) {
        snprintf(name, sizeof name, "rs%d", i);
        s[i] = msg_login(h, 1, name, name, CLIENT_WINDOWS);
        snprintf(name, sizeof name, "rr%d", i);
        r[i] = msg_login(h, 1, name, name, CLIENT_WINDOWS);
        snprintf(tag, sizeof tag, "reload%dx%d", reloads, i);
        b[i] = burst_new(strdup(tag));
    }
    char done[64];
    int reloaded = 1;
    for (int third = 0; third < 3; third++) {
        for (int i = 0; i < SENDERS; i++)
            burst_send(s[i], b[i], 600 + i, 100);
        if (third < reloads) {
            /* One at a time (signals that arrive together are one reload); the next third goes to
             * the new generation while the older ones may still hold messages. */
            harness_node_signal(h, 1, SIGHUP);
            snprintf(done, sizeof done, "reload gen=%d status=done", gen - reloads + 1 + third);
            reloaded &= wait_log(h, 1, done, 10000);
        }
    }
    tap_ok(reloaded, "%s during the burst: generation %d is done", reloads > 1 ? "two SIGHUPs" : "SIGHUP", gen);
    int all_acked = 1, in_order = 1, stored_ok = 1, delivered_ok = 1;
    for (int i = 0; i < SENDERS; i++) {
        burst_read(s[i], b[i], 300, 10000);
        if (b[i]->acked != 300)
            all_acked = 0;
        for (int k = 0; k < 300; k++)
            if (b[i]->ack[k] != first_id + (uint32_t)k)
                in_order = 0;
        int stored = 0;
        if (!burst_verify(b[i], relation_of(h, 500 + i, 600 + i), &stored) || stored != 300)
            stored_ok = 0;
        for (int k = 0; k < 300; k++) {
            IM__Message__IMMsgData *m = msg_wait_data(r[i], 5000);
            char want[64];
            snprintf(want, sizeof want, "%s-%d", b[i]->tag, k);
            if (!m || m->msg_id != first_id + (uint32_t)k || m->msg_data.len != strlen(want) ||
                memcmp(m->msg_data.data, want, m->msg_data.len) != 0)
                delivered_ok = 0;
            msg_free_data(m);
            if (!m)
                break;
        }
        if (!nothing_of(r[i], CID_MSG_DATA, i == 0 ? 300 : 10))
            delivered_ok = 0; /* a duplicate */
    }
    int status = 0;
    char *metrics = http_get(h, 1, "/metrics", &status);
    const char *held = metrics ? strstr(metrics, "imgate_plugin_messages_held_across_reload_total{") : NULL;
    if (held)
        tap_diag("messages the new generation held until the old one's were done: %lld", atoll(strchr(held, ' ') + 1));
    free(metrics);
    tap_ok(all_acked, "every message sent across the reload%s is acked (4 x 300)", reloads > 1 ? "s" : "");
    tap_ok(in_order, "with ids %u..%u per conversation in the order sent", first_id, first_id + 299);
    tap_ok(stored_ok, "each stored exactly once");
    tap_ok(delivered_ok, "and delivered exactly once, in order");
    for (int i = 0; i < SENDERS; i++) {
        imgate_client_close(s[i]);
        imgate_client_close(r[i]);
        free((char *)b[i]->tag);
        free(b[i]);
    }
}

static void test_overload(void)
{
    if (harness_node_start(h, MSG_PLUGINS,
                           "[gateway]\nmsg_rate_per_second = 100000\nmax_inflight_per_conn = 4\nmax_inflight = 8\n") != 2)
        tap_bail("cannot start the overload node");
    imgate_client *a = msg_login(h, 2, "alice", "alice123", CLIENT_WINDOWS);
    imgate_client *c = msg_login(h, 2, "carol", "carol123", CLIENT_WINDOWS);
    imgate_client *bob = msg_login(h, 2, "bob", "bob123", CLIENT_WINDOWS);
    burst *o = burst_new("flood");
    burst_send(a, o, BOB, 2000);
    uint32_t id = msg_ack_id(c, msg_send_text(c, BOB, "meanwhile"), 10000);
    tap_ok(id > 0, "while alice floods, carol's message is acked");
    burst_read(a, o, 2000, 10000);
    int in_order = 1;
    for (int i = 1; i < o->n; i++)
        if (o->ack[i] != o->ack[i - 1] + 1)
            in_order = 0;
    tap_is_int(o->acked, 2000, "all 2000 flooded messages are acked");
    tap_ok(in_order, "in the order sent");
    int status = 0;
    char *metrics = http_get(h, 2, "/metrics", &status);
    const char *line = metrics ? strstr(metrics, "imgate_backpressure_total{scope=\"connection\"}") : NULL;
    tap_ok(line && atoll(line + strlen("imgate_backpressure_total{scope=\"connection\"}")) > 0,
           "the node stopped reading the flooding connection at its cap (imgate_backpressure_total)");
    free(metrics);
    msg_drain(bob, 100);
    imgate_client_close(a);
    imgate_client_close(c);
    imgate_client_close(bob);
    free(o);
}

int main(void)
{
    h = harness_start("message_failures");
    if (h == NULL)
        tap_bail("cannot start MariaDB/Redis");
    if (harness_node_start(h, MSG_PLUGINS, "[gateway]\nmsg_rate_per_second = 100000\n") != 0)
        tap_bail("imgated did not start");
    add_user(h, ALICE, "alice", "alice123", 0);
    add_user(h, BOB, "bob", "bob123", 0);
    add_user(h, CAROL, "carol", "carol123", 0);
    char name[32];
    for (int i = 0; i < SENDERS; i++) {
        snprintf(name, sizeof name, "rs%d", i);
        add_user(h, 500 + i, name, name, 0);
        snprintf(name, sizeof name, "rr%d", i);
        add_user(h, 600 + i, name, name, 0);
    }
    test_kill9();
    test_mariadb_down();
    test_reload_burst(1, 1, 2);
    test_reload_burst(2, 301, 4);
    test_overload();
    harness_stop(h);
    return tap_done();
}
