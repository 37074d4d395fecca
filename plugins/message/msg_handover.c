/*
 * msg_handover.c — a connection's message order across a reload.
 *
 * Conversations live in a generation's memory, so after a reload the new
 * generation knows nothing of the rounds the old one still runs: a message
 * the new one takes could otherwise be numbered and stored before older
 * messages of the same connection that the old one has not finished. So each
 * connection's data slot (conn_data: it survives reloads) counts its messages
 * between the handler and their ack or refusal, per generation. A generation
 * that finds messages of an older one still counted there holds the
 * connection's new messages, in order, until those are done; it looks again
 * after each Redis PING round trip, which also keeps the generation loaded
 * while it holds anything. Outside reloads this costs one counter per message.
 */
#include <stdlib.h>

#include "message.h"

typedef struct msg_conn {
    uint64_t owner;    /* the generation counting `inflight` */
    uint32_t inflight; /* its messages not acked or refused yet */
    uint32_t older;    /* messages of replaced generations not acked or refused yet */
} msg_conn;

typedef struct held {
    msg *head, *tail;
} held;

static msg_conn *slot_of(msg_plugin *mp, uint64_t conn_id)
{
    msg_conn *s = msg_api->conn_data(mp->self, conn_id, sizeof *s);
    if (s != NULL && s->owner != mp->token) {
        /* First message of this generation on the connection: the rest belongs to older ones. */
        s->older += s->inflight;
        s->inflight = 0;
        s->owner = mp->token;
    }
    return s;
}

static void go(msg_plugin *mp, msg *m, msg_conn *s)
{
    if (s != NULL)
        s->inflight++;
    conv_submit(mp, m);
}

static void poll_held(void *state, const void *reply, void *arg);

static void start_poll(msg_plugin *mp)
{
    if (mp->polling)
        return;
    const char *argv[] = {"PING"};
    mp->polling = 1;
    if (msg_api->redis(mp->self, poll_held, NULL, 1, argv, NULL) != IMGATE_OK)
        mp->polling = 0; /* no memory: the next message of a held connection tries again */
}

static void poll_held(void *state, const void *reply, void *arg)
{
    msg_plugin *mp = state;
    mp->polling = 0;
    size_t n = 0, pos = 0;
    uint64_t key, *ready = malloc(mp->held.len * sizeof *ready);
    if (ready == NULL) {
        start_poll(mp);
        return;
    }
    while (u64map_next(&mp->held, &pos, &key, NULL)) {
        msg_conn *s = slot_of(mp, key);
        if (s == NULL || s->older == 0) /* the older messages are done (or the connection is gone) */
            ready[n++] = key;
    }
    for (size_t i = 0; i < n; i++) {
        held *h = u64map_del(&mp->held, ready[i]);
        msg_conn *s = slot_of(mp, ready[i]);
        while (h->head) {
            msg *m = h->head;
            h->head = m->next;
            m->next = NULL;
            go(mp, m, s);
        }
        free(h);
    }
    free(ready);
    if (mp->held.len > 0)
        start_poll(mp);
}

void handover_admit(msg_plugin *mp, msg *m)
{
    msg_conn *s = slot_of(mp, m->to.conn_id);
    held *h = u64map_get(&mp->held, m->to.conn_id);
    if (s == NULL || (s->older == 0 && h == NULL)) {
        go(mp, m, s);
        return;
    }
    if (h == NULL) {
        h = calloc(1, sizeof *h);
        if (h == NULL || u64map_put(&mp->held, m->to.conn_id, h) != 0) {
            free(h);
            go(mp, m, s); /* no memory to wait: order is the lesser loss */
            return;
        }
    }
    m->next = NULL;
    if (h->tail)
        h->tail->next = m;
    else
        h->head = m;
    h->tail = m;
    msg_api->metric_inc(mp->held_for_order, 1);
    start_poll(mp);
}

void handover_done(msg_plugin *mp, const msg *m)
{
    msg_conn *s = msg_api->conn_data(mp->self, m->to.conn_id, sizeof *s);
    if (s == NULL)
        return;
    uint32_t *count = s->owner == mp->token ? &s->inflight : &s->older;
    if (*count > 0)
        (*count)--;
}
