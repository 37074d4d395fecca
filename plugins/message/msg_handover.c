/*
 * msg_handover.c — a connection's message order across reloads.
 *
 * Conversations live in a generation's memory, so after a reload the new
 * generation knows nothing of the rounds an old one still runs: a message the
 * new one takes could otherwise be numbered and stored before older messages
 * of the same connection that the old one has not finished. So each
 * connection's data slot (conn_data: it survives reloads) counts, per
 * generation, the messages admitted and not yet acked or refused, held ones
 * included. A generation holds a connection's new messages, in order, while
 * any older generation still has messages counted there; it looks again after
 * each Redis PING round trip, which also keeps the generation loaded while it
 * holds anything. Generations are ordered by their token (a monotonic clock
 * reading at init), so two reloads in quick succession still release each
 * generation's messages only after every older one's are done. Outside
 * reloads this costs one counter per message.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "message.h"

#define SLOT_MAGIC 0x6d736732u /* "msg2": this layout of the slot */
#define SLOT_GENERATIONS 4     /* generations with messages in flight on one connection at once */

typedef struct msg_conn {
    uint32_t magic;
    struct {
        uint64_t token; /* the generation */
        uint32_t count; /* its messages admitted and not done (0: the entry is free) */
    } gen[SLOT_GENERATIONS];
} msg_conn;

typedef struct held {
    msg *head, *tail;
} held;

static msg_conn *slot_of(msg_plugin *mp, uint64_t conn_id)
{
    msg_conn *s = msg_api->conn_data(mp->self, conn_id, sizeof *s);
    if (s != NULL && s->magic != SLOT_MAGIC) {
        memset(s, 0, sizeof *s); /* first use, or a slot laid out by another version */
        s->magic = SLOT_MAGIC;
    }
    return s;
}

/* Messages of generations older than this one still counted on the connection. */
static uint32_t older_in_flight(const msg_plugin *mp, const msg_conn *s)
{
    uint32_t n = 0;
    for (int i = 0; i < SLOT_GENERATIONS; i++)
        if (s->gen[i].count > 0 && s->gen[i].token < mp->token)
            n += s->gen[i].count;
    return n;
}

/* Counts `m` under this generation; 0 when every entry is taken by other generations. */
static int count_in(msg_plugin *mp, msg_conn *s)
{
    int free_entry = -1;
    for (int i = 0; i < SLOT_GENERATIONS; i++) {
        if (s->gen[i].count > 0 && s->gen[i].token == mp->token) {
            s->gen[i].count++;
            return 1;
        }
        if (s->gen[i].count == 0 && free_entry < 0)
            free_entry = i;
    }
    if (free_entry < 0)
        return 0;
    s->gen[free_entry].token = mp->token;
    s->gen[free_entry].count = 1;
    return 1;
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

static void release(msg_plugin *mp, uint64_t conn_id)
{
    held *h = u64map_del(&mp->held, conn_id);
    while (h != NULL && h->head) {
        msg *m = h->head;
        h->head = m->next;
        m->next = NULL;
        conv_submit(mp, m);
    }
    free(h);
}

/* Worker: a pause between two looks while Redis is unreachable (see poll_held). */
static void pause_work(imgate_worker *w, void *state, void *arg)
{
    (void)w;
    (void)state;
    (void)arg;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
}

static void paused(void *state, void *arg, int status)
{
    (void)status;
    poll_held(state, "", arg);
}

static void poll_held(void *state, const void *reply, void *arg)
{
    msg_plugin *mp = state;
    if (reply == NULL) {
        /* Redis unreachable: the PING fails at once, and asking again at once would spin the loop.
         * A job's completion, unlike a timer, is never cancelled by a reload: it paces the looks
         * and keeps this generation (and what it holds) alive. */
        msg_api->submit_job(mp->self, 0, pause_work, paused, arg); /* `paused` runs in every case */
        return;
    }
    mp->polling = 0;
    size_t n = 0, pos = 0;
    uint64_t key, *ready = malloc(mp->held.len * sizeof *ready);
    if (ready == NULL) {
        start_poll(mp);
        return;
    }
    while (u64map_next(&mp->held, &pos, &key, NULL)) {
        /* Read only: the slot belongs to no generation in particular. */
        msg_conn *s = msg_api->conn_data(mp->self, key, sizeof *s);
        if (s == NULL || s->magic != SLOT_MAGIC || older_in_flight(mp, s) == 0)
            ready[n++] = key; /* older messages done, or the connection gone (the conversation refuses) */
    }
    for (size_t i = 0; i < n; i++)
        release(mp, ready[i]);
    free(ready);
    if (mp->held.len > 0)
        start_poll(mp);
}

void handover_admit(msg_plugin *mp, msg *m)
{
    msg_conn *s = slot_of(mp, m->to.conn_id);
    m->counted = s != NULL && count_in(mp, s);
    held *h = u64map_get(&mp->held, m->to.conn_id);
    if (s == NULL || (h == NULL && older_in_flight(mp, s) == 0)) {
        conv_submit(mp, m);
        return;
    }
    if (h == NULL) {
        h = calloc(1, sizeof *h);
        if (h == NULL || u64map_put(&mp->held, m->to.conn_id, h) != 0) {
            free(h);
            conv_submit(mp, m); /* no memory to wait: order is the lesser loss */
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
    if (!m->counted)
        return;
    msg_conn *s = msg_api->conn_data(mp->self, m->to.conn_id, sizeof *s);
    if (s == NULL || s->magic != SLOT_MAGIC)
        return;
    for (int i = 0; i < SLOT_GENERATIONS; i++)
        if (s->gen[i].count > 0 && s->gen[i].token == mp->token) {
            s->gen[i].count--;
            return;
        }
}
